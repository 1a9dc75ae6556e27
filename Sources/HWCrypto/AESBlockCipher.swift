//===----------------------------------------------------------------------===//
//
// hwkeys: HWCrypto
//
//===----------------------------------------------------------------------===//

import CAESNI
import Crypto
import CryptoExtras

/// An expanded AES-128 or AES-256 key that encrypts or decrypts many 16-byte blocks per call (ECB).
///
/// This is the primitive under Key Locker's AES*KL instructions: one "instruction" is one full AES
/// encryption (FIPS 197) of each block. The expanded schedule lives in zeroizing memory.
public final class AESBlockCipher {
    /// The key length in bytes (16 or 32).
    public let keyLength: Int
    /// The implementation in use.
    public let path: AESPath

    private let native: UnsafeMutablePointer<hwk_aes_key>?
    private let portableKey: SymmetricKey?

    /// Expands `key` (16 or 32 bytes).
    ///
    /// - Parameters:
    ///   - key: the AES key, 16 bytes (AES-128) or 32 bytes (AES-256).
    ///   - path: the implementation; it must be in ``AESEngine/availablePaths``.
    public init(key: UnsafeRawBufferPointer, path: AESPath = AESEngine.defaultPath) {
        (keyLength, self.path, native, portableKey) = Self.expand(key, path: path)
    }

    /// Expands a secret key (16 or 32 bytes).
    ///
    /// - Parameters:
    ///   - key: the AES key, 16 or 32 bytes.
    ///   - path: the implementation; it must be in ``AESEngine/availablePaths``.
    public init(key: SecretBytes, path: AESPath = AESEngine.defaultPath) {
        (keyLength, self.path, native, portableKey) = key.withUnsafeBytes { Self.expand($0, path: path) }
    }

    private static func expand(
        _ key: UnsafeRawBufferPointer,
        path: AESPath
    ) -> (Int, AESPath, UnsafeMutablePointer<hwk_aes_key>?, SymmetricKey?) {
        precondition(key.count == 16 || key.count == 32, "AES keys are 16 or 32 bytes")
        precondition(AESEngine.availablePaths.contains(path), "AES path \(path) is not available on this CPU")
        if path == .portable {
            return (key.count, path, nil, SymmetricKey(data: key))
        }
        let schedule = UnsafeMutablePointer<hwk_aes_key>.allocate(capacity: 1)
        hwk_aes_expand(schedule, key.baseAddress!.assumingMemoryBound(to: UInt8.self), key.count)
        return (key.count, path, schedule, nil)
    }

    deinit {
        if let native {
            hwk_secure_zero(native, MemoryLayout<hwk_aes_key>.size)
            native.deallocate()
        }
    }

    /// Encrypts `blocks` in place (FIPS 197 cipher on each 16-byte block).
    ///
    /// - Parameter blocks: whole 16-byte blocks; its length must be a multiple of 16.
    public func encrypt(_ blocks: UnsafeMutableRawBufferPointer) {
        precondition(blocks.count % 16 == 0, "AES works on whole 16-byte blocks")
        guard !blocks.isEmpty else { return }
        if let native {
            let pointer = blocks.baseAddress!.assumingMemoryBound(to: UInt8.self)
            hwk_aes_encrypt_blocks(path.cPath, native, pointer, pointer, blocks.count / 16)
        } else {
            PortableAES.permute(blocks, key: portableKey!, inverse: false)
        }
    }

    /// Decrypts `blocks` in place (FIPS 197 inverse cipher on each 16-byte block).
    ///
    /// - Parameter blocks: whole 16-byte blocks; its length must be a multiple of 16.
    public func decrypt(_ blocks: UnsafeMutableRawBufferPointer) {
        precondition(blocks.count % 16 == 0, "AES works on whole 16-byte blocks")
        guard !blocks.isEmpty else { return }
        if let native {
            let pointer = blocks.baseAddress!.assumingMemoryBound(to: UInt8.self)
            hwk_aes_decrypt_blocks(path.cPath, native, pointer, pointer, blocks.count / 16)
        } else {
            PortableAES.permute(blocks, key: portableKey!, inverse: true)
        }
    }
}

/// The portable path: one block at a time through swift-crypto's raw AES block function (which
/// expands the key on every call; there is no multi-block entry point). No allocation per block.
enum PortableAES {
    static func permute(_ blocks: UnsafeMutableRawBufferPointer, key: SymmetricKey, inverse: Bool) {
        var offset = 0
        while offset < blocks.count {
            var block = UnsafeMutableRawBufferPointer(start: blocks.baseAddress! + offset, count: 16)
            do {
                if inverse {
                    try AES.inversePermute(&block, key: key)
                } else {
                    try AES.permute(&block, key: key)
                }
            } catch {
                // Only thrown for wrong block or key sizes, which the callers rule out.
                preconditionFailure("AES.permute rejected a 16-byte block: \(error)")
            }
            offset += 16
        }
    }
}
