//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase

/// The `keyring` key type: a key whose payload is a set of links to other keys
/// (`security/keys/keyring.c`). Created with an empty payload; reading it yields the linked serials as
/// native-endian (little-endian) 32-bit integers, which is what `keyctl list` parses. It has no update
/// operation. Linking, unlinking, searching and clearing are service operations
/// (`KeyRetentionService+Keyring.swift`); revoking a keyring drops all its links (`keyring_revoke`).
public final class KeyringType: ReadableKeyType {
    public let name = "keyring"

    public init() {}

    public func preparse(_ prep: inout KeyPreparsedPayload, kernel: Kernel) throws(HWKeysError) {
        // keyring_preparse: a keyring is created empty.
        guard prep.data.count == 0 else { throw .einval("a keyring is created with an empty payload") }
        prep.quotaLength = 0
    }

    public func instantiate(_ key: inout Key, _ prep: KeyPreparsedPayload, kernel: Kernel) throws(HWKeysError) {}

    public func read(_ key: Key, kernel: Kernel) throws(HWKeysError) -> SecretBytes {
        var bytes: [UInt8] = []
        for serial in key.links { withUnsafeBytes(of: serial.littleEndian) { bytes.append(contentsOf: $0) } }
        return SecretBytes(bytes)
    }

    /// `description: N` (links), or `description: empty`.
    public func describe(_ key: Key) -> String {
        let count = key.contents?.count ?? 0
        return key.description + (count == 0 ? ": empty" : ": \(count)")
    }
}
