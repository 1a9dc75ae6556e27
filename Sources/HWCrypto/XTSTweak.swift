//===----------------------------------------------------------------------===//
//
// hwkeys: HWCrypto
//
//===----------------------------------------------------------------------===//

import CAESNI

/// XTS tweak arithmetic for AES-XTS composed from single-block or eight-block instructions, the way the
/// Linux `aeskl` driver builds XTS from AESENCWIDE256KL (IEEE Std 1619-2018 §5.1–§5.2).
///
/// `XTSKey` does whole data units itself; these helpers are for callers that run the block cipher
/// elsewhere (emulated Key Locker instructions): compute the tweaks T_j = T_0·α^j once per data unit and
/// XOR them in before and after the cipher. Both wrap CAESNI and allocate nothing.
public enum XTSTweak {
    /// Writes T_j = `first`·α^j in GF(2^128) (little-endian convention of IEEE 1619 §5.2) for
    /// j = 0 ..< `tweaks.count / 16` into `tweaks`.
    ///
    /// - Parameters:
    ///   - first: T_0, 16 bytes (the encrypted tweak input of the data unit).
    ///   - tweaks: the output, a whole number of 16-byte blocks; must not overlap `first`.
    public static func sequence(from first: UnsafeRawBufferPointer, into tweaks: UnsafeMutableRawBufferPointer) {
        precondition(first.count == 16, "an XTS tweak is 16 bytes")
        precondition(tweaks.count % 16 == 0, "XTS tweaks are whole 16-byte blocks")
        guard !tweaks.isEmpty else { return }
        hwk_xts_tweak_sequence(
            first.baseAddress!.assumingMemoryBound(to: UInt8.self),
            tweaks.baseAddress!.assumingMemoryBound(to: UInt8.self),
            tweaks.count / 16
        )
    }

    /// `destination[k] = a[k] ^ b[k]` for every byte of `destination`.
    ///
    /// - Parameters:
    ///   - a: at least `destination.count` bytes; may be `destination` itself.
    ///   - b: at least `destination.count` bytes; may be `destination` itself.
    ///   - destination: the output; must not partially overlap `a` or `b`.
    public static func xor(
        _ a: UnsafeRawBufferPointer,
        _ b: UnsafeRawBufferPointer,
        into destination: UnsafeMutableRawBufferPointer
    ) {
        precondition(a.count >= destination.count && b.count >= destination.count, "XOR operands too short")
        guard !destination.isEmpty else { return }
        hwk_xor_bytes(
            destination.baseAddress!.assumingMemoryBound(to: UInt8.self),
            a.baseAddress!.assumingMemoryBound(to: UInt8.self),
            b.baseAddress!.assumingMemoryBound(to: UInt8.self),
            destination.count
        )
    }
}
