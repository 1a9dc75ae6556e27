//===----------------------------------------------------------------------===//
//
// hwkeys: HWCrypto
//
//===----------------------------------------------------------------------===//

import CAESNI

/// The tweak half of AES-XTS (IEEE Std 1619-2018 §5.2–§5.3) for XTS composed from separate block-cipher
/// operations, as Key Locker drivers compose it from AES*KL instructions: block j of a data unit is
/// XORed with T·α^j before and after the cipher, T being the encrypted tweak input.
public enum XTSTweaks {
    /// XORs block j of `data` with T·α^j (j = 0 ..< data.count / 16), where T is `first`, and stores the
    /// tweaks in `tweaks` for ``xor(_:with:)`` after the cipher.
    ///
    /// - Precondition: `data.count` is a multiple of 16 and `tweaks` is at least as long; no overlap.
    @inline(__always)
    public static func apply(
        to data: UnsafeMutableRawBufferPointer,
        first: UnsafeRawBufferPointer,
        saving tweaks: UnsafeMutableRawBufferPointer
    ) {
        precondition(data.count % 16 == 0 && tweaks.count >= data.count && first.count == 16)
        guard data.count > 0 else { return }
        hwk_xts_xor_tweaks(
            data.baseAddress!.assumingMemoryBound(to: UInt8.self),
            tweaks.baseAddress!.assumingMemoryBound(to: UInt8.self),
            first.baseAddress!.assumingMemoryBound(to: UInt8.self),
            data.count / 16
        )
    }

    /// `data[k] ^= tweaks[k]`, then `tweaks[k] = 0`, for every byte of `data`, in one pass: the XOR after
    /// the cipher, leaving no tweak behind (tweaks derive from the tweak key).
    ///
    /// - Precondition: `tweaks` is at least as long as `data`; no overlap.
    @inline(__always)
    public static func xorClearing(_ data: UnsafeMutableRawBufferPointer, with tweaks: UnsafeMutableRawBufferPointer) {
        precondition(tweaks.count >= data.count)
        guard data.count > 0 else { return }
        hwk_xor_bytes_clearing(
            data.baseAddress!.assumingMemoryBound(to: UInt8.self),
            tweaks.baseAddress!.assumingMemoryBound(to: UInt8.self),
            data.count
        )
    }

    /// `data[k] ^= tweaks[k]` for every byte of `data` (the XOR after the cipher).
    @inline(__always)
    public static func xor(_ data: UnsafeMutableRawBufferPointer, with tweaks: UnsafeRawBufferPointer) {
        precondition(tweaks.count >= data.count)
        guard data.count > 0 else { return }
        let d = data.baseAddress!.assumingMemoryBound(to: UInt8.self)
        hwk_xor_bytes(d, d, tweaks.baseAddress!.assumingMemoryBound(to: UInt8.self), data.count)
    }
}
