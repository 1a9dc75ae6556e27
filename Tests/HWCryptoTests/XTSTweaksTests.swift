//===----------------------------------------------------------------------===//
//
// hwkeys: HWCryptoTests
//
//===----------------------------------------------------------------------===//

import Testing

@testable import HWCrypto

/// `XTSTweaks` against IEEE 1619 §5.2's multiplication by α written out bit by bit here.
@Suite struct XTSTweaksTests {
    /// T·α on the little-endian 128-bit integer: shift left one bit, reduce by x^128 = x^7 + x^2 + x + 1.
    static func timesAlpha(_ t: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 16)
        var carry: UInt8 = 0
        for i in 0..<16 {
            out[i] = (t[i] << 1) | carry
            carry = t[i] >> 7
        }
        if carry != 0 { out[0] ^= 0x87 }
        return out
    }

    @Test(arguments: [0, 1, 7, 8, 9, 16, 31, 256])
    func applyXorsEveryBlockWithItsTweakAndSavesThem(blocks: Int) {
        let first: [UInt8] = (0..<16).map { UInt8(truncatingIfNeeded: $0 &* 73 &+ 0xF1) }
        let data: [UInt8] = (0..<16 * blocks).map { UInt8(truncatingIfNeeded: $0 &* 29 &+ 5) }
        var expectedTweaks: [UInt8] = []
        var t = first
        for _ in 0..<blocks {
            expectedTweaks += t
            t = Self.timesAlpha(t)
        }
        var work = data
        var tweaks = [UInt8](repeating: 0, count: 16 * blocks)
        work.withUnsafeMutableBytes { w in
            tweaks.withUnsafeMutableBytes { s in
                first.withUnsafeBytes { f in XTSTweaks.apply(to: w, first: f, saving: s) }
            }
        }
        #expect(tweaks == expectedTweaks)
        #expect(work == zip(data, expectedTweaks).map { $0 ^ $1 })
        work.withUnsafeMutableBytes { w in tweaks.withUnsafeBytes { XTSTweaks.xor(w, with: $0) } }
        #expect(work == data)
    }
}
