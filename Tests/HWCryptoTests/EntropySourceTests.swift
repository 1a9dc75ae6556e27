//===----------------------------------------------------------------------===//
//
// hwkeys: HWCryptoTests
//
//===----------------------------------------------------------------------===//

import HWCrypto
import TestSupport
import Testing

@Suite("Entropy sources")
struct EntropySourceTests {
    struct Document: Decodable {
        var cases: [Case]
    }

    struct Case: Decodable {
        var seed: DecimalUInt64
        var first: HexField
        var laterStart: DecimalUInt64
        var later: HexField
    }

    static let cases: [Case] = {
        do {
            return try VectorFiles.json(Document.self, at: "generated/entropy.json").cases
        } catch {
            fatalError("generated/entropy.json: \(error)")
        }
    }()

    private func draw(_ source: some EntropySource, _ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        bytes.withUnsafeMutableBytes { source.fill($0) }
        return bytes
    }

    /// The stream is exactly what the doc comment defines (twin: Scripts/gen_entropy_stream.py).
    @Test func seededStreamMatchesTheIndependentTwin() {
        for twin in Self.cases {
            let source = SeededEntropySource(seed: twin.seed.value)
            #expect(draw(source, twin.first.bytes.count) == twin.first.bytes, "seed \(twin.seed.value)")
            #expect(source.blocksConsumed == UInt64(twin.first.bytes.count / 16))
            let later = SeededEntropySource(seed: twin.seed.value, blocksConsumed: twin.laterStart.value)
            #expect(
                draw(later, twin.later.bytes.count) == twin.later.bytes,
                "seed \(twin.seed.value) from block \(twin.laterStart.value)"
            )
        }
    }

    @Test func sameSeedSameBytesOtherSeedOtherBytes() {
        let a = SeededEntropySource(seed: 99)
        let b = SeededEntropySource(seed: 99)
        let c = SeededEntropySource(seed: 100)
        let fromA = draw(a, 100)
        #expect(fromA == draw(b, 100))
        #expect(fromA != draw(c, 100))
        #expect(a.seed == 99 && a.blocksConsumed == b.blocksConsumed)
    }

    /// Each fill consumes whole blocks, so (seed, blocksConsumed) is the whole state.
    @Test(arguments: [1, 5, 16, 17, 33, 64])
    func resumesFromBlocksConsumed(firstDraw: Int) {
        let original = SeededEntropySource(seed: 7)
        _ = draw(original, firstDraw)
        #expect(original.blocksConsumed == UInt64((firstDraw + 15) / 16))
        let resumed = SeededEntropySource(seed: original.seed, blocksConsumed: original.blocksConsumed)
        #expect(draw(original, 48) == draw(resumed, 48))
        #expect(original.blocksConsumed == resumed.blocksConsumed)
    }

    @Test func rangeDrawsStayInRangeAndReachBothEnds() {
        let source = SeededEntropySource(seed: 3)
        var seen: Set<UInt64> = []
        for _ in 0..<400 {
            let value = source.next(in: 10...13)
            #expect((10...13).contains(value))
            seen.insert(value)
        }
        #expect(seen == [10, 11, 12, 13])
        _ = source.next(in: 0...UInt64.max)
    }

    @Test func secretBytesComeFromTheStream() {
        let a = SeededEntropySource(seed: 11)
        let b = SeededEntropySource(seed: 11)
        #expect(a.secretBytes(count: 24).revealedBytes() == draw(b, 24))
    }

    @Test func systemSourceFillsEveryLength() {
        let source = SystemEntropySource()
        for count in [0, 1, 7, 8, 9, 64] {
            // 64 random bytes are all zero with probability 2^-512; shorter draws are only filled.
            let bytes = draw(source, count)
            #expect(bytes.count == count)
            if count == 64 { #expect(bytes.contains { $0 != 0 }) }
        }
    }
}
