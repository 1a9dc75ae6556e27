//===----------------------------------------------------------------------===//
//
// hwkeys: HWCrypto
//
//===----------------------------------------------------------------------===//

import Crypto
import CryptoExtras
import Foundation

/// The Key Locker handle wrap, exactly as docs/contract.md §3 chooses (the SDM names AES-GCM-SIV but not the
/// construction, so handles are not portable to real silicon):
///
/// AES-256-GCM-SIV (RFC 8452) keyed with the IWKey encryption key, nonce = integrity key bytes 0–11,
/// associated data = handle bytes 0–15 (the AAD) followed by integrity key bytes 12–15, plaintext = the
/// AES key. Handle = AAD (16) ‖ tag (16) ‖ wrapped key (16 or 32).
public enum KeyLockerWrap {
    /// Size of an AES-128 handle (384 bits).
    public static let handle128Size = 48
    /// Size of an AES-256 handle (512 bits).
    public static let handle256Size = 64

    /// Wraps `key` (16 or 32 bytes) under the IWKey (`encryptionKey` 32 bytes, `integrityKey` 16 bytes)
    /// with the 16-byte `aad`, and returns the handle.
    public static func wrap(
        key: SecretBytes,
        aad: [UInt8],
        encryptionKey: SecretBytes,
        integrityKey: SecretBytes
    ) -> [UInt8] {
        precondition(key.count == 16 || key.count == 32, "Key Locker wraps AES-128 or AES-256 keys")
        precondition(aad.count == 16 && encryptionKey.count == 32 && integrityKey.count == 16)
        let (symmetricKey, nonce, associatedData) = parameters(
            aad: aad,
            encryptionKey: encryptionKey,
            integrityKey: integrityKey
        )
        do {
            let box = try key.withUnsafeBytes { plaintext in
                try AES.GCM._SIV.seal(plaintext, using: symmetricKey, nonce: nonce, authenticating: associatedData)
            }
            return aad + Array(box.tag) + Array(box.ciphertext)
        } catch {
            // GCM-SIV sealing fails only for invalid key or nonce sizes, ruled out above.
            preconditionFailure("AES-GCM-SIV seal failed: \(error)")
        }
    }

    /// Unwraps and authenticates a 48- or 64-byte handle under the IWKey. Returns nil if the handle does
    /// not authenticate (any changed bit of handle or IWKey).
    public static func unwrap(
        handle: UnsafeRawBufferPointer,
        encryptionKey: SecretBytes,
        integrityKey: SecretBytes
    ) -> SecretBytes? {
        guard handle.count == handle128Size || handle.count == handle256Size else { return nil }
        precondition(encryptionKey.count == 32 && integrityKey.count == 16)
        let aad = Array(handle[0..<16])
        let (symmetricKey, nonce, associatedData) = parameters(
            aad: aad,
            encryptionKey: encryptionKey,
            integrityKey: integrityKey
        )
        guard
            let box = try? AES.GCM._SIV.SealedBox(
                nonce: nonce,
                ciphertext: UnsafeRawBufferPointer(rebasing: handle[32..<handle.count]),
                tag: UnsafeRawBufferPointer(rebasing: handle[16..<32])
            )
        else { return nil }
        guard var plaintext = try? AES.GCM._SIV.open(box, using: symmetricKey, authenticating: associatedData) else {
            return nil
        }
        let secret = plaintext.withUnsafeBytes { SecretBytes(copying: $0) }
        plaintext.resetBytes(in: 0..<plaintext.count)
        return secret
    }

    private static func parameters(
        aad: [UInt8],
        encryptionKey: SecretBytes,
        integrityKey: SecretBytes
    ) -> (SymmetricKey, AES.GCM._SIV.Nonce, [UInt8]) {
        let symmetricKey = encryptionKey.withUnsafeBytes { SymmetricKey(data: $0) }
        let nonce = integrityKey.withUnsafeBytes { bytes in
            // 12 bytes is the valid GCM-SIV nonce size; the initializer cannot fail here.
            try! AES.GCM._SIV.Nonce(data: UnsafeRawBufferPointer(rebasing: bytes[0..<12]))
        }
        let associatedData = aad + integrityKey.withUnsafeBytes { Array($0[12..<16]) }
        return (symmetricKey, nonce, associatedData)
    }
}
