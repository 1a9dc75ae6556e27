//===----------------------------------------------------------------------===//
//
// hwkeys: HWCrypto
//
//===----------------------------------------------------------------------===//

import CAESNI

/// A zeroizing buffer for host-side secrets (emulated-hardware keys, key material in transit).
///
/// The storage is wiped when the buffer is released, equality is constant-time, and the value never
/// prints its contents: `description` is `<redacted N bytes>`. It is deliberately neither `Codable` nor
/// `Sendable`: secrets cross storage boundaries only through explicit, reviewed encoders.
/// (Modelled on swift-crypto's `SecureBytes`.)
public final class SecretBytes {
    private let storage: UnsafeMutableRawBufferPointer

    /// The number of bytes held.
    public var count: Int { storageCount }

    /// A buffer of `count` zero bytes.
    public init(count: Int) {
        precondition(count >= 0, "SecretBytes count must be non-negative")
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 32)
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        storage = buffer
        storageCount = count
    }

    /// A copy of `bytes`.
    public convenience init(copying bytes: UnsafeRawBufferPointer) {
        self.init(count: bytes.count)
        if let base = bytes.baseAddress, !bytes.isEmpty {
            UnsafeMutableRawPointer(storage.baseAddress!).copyMemory(from: base, byteCount: bytes.count)
        }
    }

    /// A copy of `bytes`.
    public convenience init(_ bytes: some Sequence<UInt8>) {
        let array = Array(bytes)
        self.init(count: array.count)
        array.withUnsafeBytes {
            UnsafeMutableRawPointer(storage.baseAddress!).copyMemory(from: $0.baseAddress!, byteCount: $0.count)
        }
    }

    private let storageCount: Int

    deinit {
        hwk_secure_zero(storage.baseAddress, storage.count)
        storage.deallocate()
    }

    /// Calls `body` with the secret bytes. Do not let the pointer escape.
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(rebasing: storage[0..<storageCount]))
    }

    /// Calls `body` with the secret bytes, writable. Do not let the pointer escape.
    public func withUnsafeMutableBytes<R, E: Error>(
        _ body: (UnsafeMutableRawBufferPointer) throws(E) -> R
    ) throws(E) -> R {
        try body(UnsafeMutableRawBufferPointer(rebasing: storage[0..<storageCount]))
    }

    /// Overwrites every byte with zero.
    public func wipe() {
        hwk_secure_zero(storage.baseAddress, storage.count)
    }

    /// A fresh copy (an independent zeroizing buffer).
    public func copy() -> SecretBytes {
        withUnsafeBytes { SecretBytes(copying: $0) }
    }

    /// A copy of the bytes in `range` as a new secret.
    public func slice(_ range: Range<Int>) -> SecretBytes {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "SecretBytes slice out of range")
        return withUnsafeBytes { SecretBytes(copying: UnsafeRawBufferPointer(rebasing: $0[range])) }
    }

    /// The concatenation of `parts`, as a new secret.
    public static func concatenating(_ parts: SecretBytes...) -> SecretBytes {
        let result = SecretBytes(count: parts.reduce(0) { $0 + $1.count })
        var offset = 0
        result.withUnsafeMutableBytes { out in
            for part in parts {
                part.withUnsafeBytes { bytes in
                    if !bytes.isEmpty {
                        (out.baseAddress! + offset).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
                    }
                }
                offset += part.count
            }
        }
        return result
    }

    /// XORs `other` (same length) into this buffer.
    public func formXor(_ other: SecretBytes) {
        precondition(other.count == count, "SecretBytes XOR needs equal lengths")
        withUnsafeMutableBytes { mine in
            other.withUnsafeBytes { theirs in
                for index in 0..<mine.count { mine[index] ^= theirs[index] }
            }
        }
    }

    /// True when every byte is zero (constant-time in the length).
    public var isZero: Bool {
        withUnsafeBytes { bytes in bytes.reduce(UInt8(0)) { $0 | $1 } == 0 }
    }

    /// The bytes, for the few places whose purpose is to reveal them (the debug monitor, explicit
    /// state encoders). Everything else keeps secrets inside `SecretBytes`.
    public func revealedBytes() -> [UInt8] {
        withUnsafeBytes { Array($0) }
    }
}

extension SecretBytes: Equatable {
    /// Constant-time comparison (in the length of the shorter operand).
    public static func == (lhs: SecretBytes, rhs: SecretBytes) -> Bool {
        guard lhs.count == rhs.count else { return false }
        return lhs.withUnsafeBytes { a in
            rhs.withUnsafeBytes { b in
                var difference: UInt8 = 0
                for index in 0..<a.count { difference |= a[index] ^ b[index] }
                return difference == 0
            }
        }
    }
}

extension SecretBytes: CustomStringConvertible, CustomDebugStringConvertible {
    public var description: String { "<redacted \(count) bytes>" }
    public var debugDescription: String { description }
}
