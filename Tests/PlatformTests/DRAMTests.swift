//===----------------------------------------------------------------------===//
//
// hwkeys: PlatformTests
//
//===----------------------------------------------------------------------===//

import TestSupport
import Testing

@testable import Platform

/// A page source backed by a dictionary, standing in for the state file.
final class DictionaryPageSource: DRAMPageSource {
    var pages: [UInt64: [UInt8]] = [:]
    var loads: [UInt64] = []
    var failing = false

    struct Failure: Error {}

    func loadPage(_ frame: UInt64, into page: UnsafeMutableRawBufferPointer) throws -> Bool {
        loads.append(frame)
        if failing { throw Failure() }
        guard let bytes = pages[frame] else { return false }
        bytes.withUnsafeBytes { page.copyMemory(from: $0) }
        return true
    }
}

@Suite struct DRAMTests {
    @Test func untouchedDRAMReadsZeroAndStaysClean() {
        let dram = DRAM(size: 1 << 20)
        var bytes = [UInt8](repeating: 0xAA, count: 100)
        bytes.withUnsafeMutableBytes { dram.read(0x1234, into: $0) }
        #expect(bytes.allSatisfy { $0 == 0 })
        #expect(dram.dirtyFrames.isEmpty)
    }

    @Test func writesSpanningPagesMarkEveryPageDirty() {
        let dram = DRAM(size: 1 << 20)
        let data = (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        data.withUnsafeBytes { dram.write(4096 - 100, from: $0) }
        #expect(dram.dirtyFrames == [0, 1, 2])
        var back = [UInt8](repeating: 0, count: data.count)
        back.withUnsafeMutableBytes { dram.read(4096 - 100, into: $0) }
        #expect(back == data)
        dram.clearDirty()
        #expect(dram.dirtyFrames.isEmpty)
    }

    @Test func storedPagesLoadLazilyOnFirstTouchOnly() {
        let source = DictionaryPageSource()
        source.pages[3] = [UInt8](repeating: 0x5A, count: 4096)
        let dram = DRAM(size: 1 << 20, pageSource: source)
        #expect(source.loads.isEmpty)
        var byte: [UInt8] = [0]
        byte.withUnsafeMutableBytes { dram.read(3 * 4096 + 17, into: $0) }
        #expect(byte == [0x5A])
        byte.withUnsafeMutableBytes { dram.read(3 * 4096 + 18, into: $0) }
        #expect(source.loads == [3])
        #expect(dram.dirtyFrames.isEmpty)
    }

    @Test func pageSourceFailureIsRecordedNotFatal() {
        let source = DictionaryPageSource()
        source.failing = true
        let dram = DRAM(size: 1 << 20, pageSource: source)
        var byte: [UInt8] = [1]
        byte.withUnsafeMutableBytes { dram.read(0, into: $0) }
        #expect(byte == [0])
        #expect(dram.pageSourceError != nil)
    }

    @Test(
        arguments: [
            (0, 4096, true), (1 << 20 - 1, 1, true), (1 << 20 - 1, 2, false), (1 << 20, 0, true),
            (UInt64.max, 1, false),
        ] as [(UInt64, Int, Bool)]
    )
    func containsChecksBoundsWithoutOverflow(address: UInt64, count: Int, expected: Bool) {
        #expect(DRAM(size: 1 << 20).contains(address, count: count) == expected)
    }
}
