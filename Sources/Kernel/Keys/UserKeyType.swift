//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase

/// The `user` key type: an arbitrary blob of 1–32767 bytes that user space may read and update
/// (`security/keys/user_defined.c`). The blob lives in kernel memory (emulated DRAM); the key holds its
/// address.
public final class UserKeyType: UpdatableKeyType, ReadableKeyType {
    public let name = "user"

    public init() {}

    public func preparse(_ prep: inout KeyPreparsedPayload, kernel: Kernel) throws(HWKeysError) {
        try UserPayload.preparse(&prep)
    }

    public func instantiate(_ key: inout Key, _ prep: KeyPreparsedPayload, kernel: Kernel) throws(HWKeysError) {
        try UserPayload.instantiate(&key, prep, kernel: kernel)
    }

    public func update(_ key: inout Key, _ prep: KeyPreparsedPayload, kernel: Kernel) throws(HWKeysError) {
        try UserPayload.update(&key, prep, kernel: kernel)
    }

    public func revoke(_ key: inout Key, kernel: Kernel) { UserPayload.revoke(&key, kernel: kernel) }

    public func read(_ key: Key, kernel: Kernel) throws(HWKeysError) -> SecretBytes {
        guard let data = key.payload.data else { return SecretBytes(count: 0) }
        return kernel.readKernelMemory(data)
    }

    public func describe(_ key: Key) -> String { UserPayload.describe(key) }
}

/// The `logon` key type: a `user` payload that never leaves the kernel — no read operation, so
/// `keyctl read` is EOPNOTSUPP — and a description that must be `prefix:…`
/// (`security/keys/user_defined.c`, `logon_vet_description`).
public final class LogonKeyType: UpdatableKeyType {
    public let name = "logon"

    public init() {}

    public func vetDescription(_ description: String) throws(HWKeysError) {
        // Require a "qualified" description: a non-empty prefix before a colon.
        guard let colon = description.firstIndex(of: ":"), colon != description.startIndex else {
            throw .einval("logon key descriptions must be of the form 'prefix:name'")
        }
    }

    public func preparse(_ prep: inout KeyPreparsedPayload, kernel: Kernel) throws(HWKeysError) {
        try UserPayload.preparse(&prep)
    }

    public func instantiate(_ key: inout Key, _ prep: KeyPreparsedPayload, kernel: Kernel) throws(HWKeysError) {
        try UserPayload.instantiate(&key, prep, kernel: kernel)
    }

    public func update(_ key: inout Key, _ prep: KeyPreparsedPayload, kernel: Kernel) throws(HWKeysError) {
        try UserPayload.update(&key, prep, kernel: kernel)
    }

    public func revoke(_ key: inout Key, kernel: Kernel) { UserPayload.revoke(&key, kernel: kernel) }

    public func describe(_ key: Key) -> String { UserPayload.describe(key) }
}

/// The operations `user` and `logon` share (`user_preparse`, `user_update`, `user_revoke`,
/// `user_describe`).
enum UserPayload {
    /// The largest `user` payload (`user_preparse`: 32767 bytes).
    static let maximumLength = 32767

    static func preparse(_ prep: inout KeyPreparsedPayload) throws(HWKeysError) {
        guard (1...maximumLength).contains(prep.data.count) else {
            throw .einval("user and logon payloads are 1 to \(maximumLength) bytes, got \(prep.data.count)")
        }
        prep.quotaLength = prep.data.count
    }

    static func instantiate(_ key: inout Key, _ prep: KeyPreparsedPayload, kernel: Kernel) throws(HWKeysError) {
        key.payload.data = try kernel.storeInKernelMemory(prep.data)
    }

    /// Stores the new blob, frees the old one (`kfree_sensitive`), and — as `user_update` does with
    /// `key->expiry = prep->expiry` — clears any timeout.
    static func update(_ key: inout Key, _ prep: KeyPreparsedPayload, kernel: Kernel) throws(HWKeysError) {
        let fresh = try kernel.storeInKernelMemory(prep.data)
        if let old = key.payload.data { kernel.freeKernelMemory(old) }
        key.payload.data = fresh
        key.expiry = nil
    }

    /// Frees the blob at once and releases its quota (`user_revoke`: `key_payload_reserve(key, 0)`).
    static func revoke(_ key: inout Key, kernel: Kernel) {
        if let data = key.payload.data { kernel.freeKernelMemory(data) }
        key.payload.data = nil
        key.payload.dataLength = 0
    }

    /// `description: datalen`.
    static func describe(_ key: Key) -> String { "\(key.description): \(key.payload.dataLength)" }
}
