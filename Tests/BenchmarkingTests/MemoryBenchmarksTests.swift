//===----------------------------------------------------------------------===//
//
// hwkeys: BenchmarkingTests
//
//===----------------------------------------------------------------------===//

import Platform
import Testing
import X86

@testable import Benchmarking

/// The memory benchmarks run and report what they measured (no timing assertions: numbers come from
/// `hwkeys benchmark`, never from tests).
@Suite struct MemoryBenchmarksTests {
    @Test(arguments: TMEAlgorithm.allCases)
    func benchmarksReportTheirWorkAndEmulatedCycles(algorithm: TMEAlgorithm) throws {
        let writeback = try MemoryBenchmarks.writeback(bytes: 256 << 10, algorithm: algorithm, cacheLines: 1024)
        #expect(writeback.name == "memory-writeback")
        #expect(writeback.bytes == 256 << 10)
        #expect(writeback.algorithm == algorithm)
        // Every line written back once: 48 pages evicted, 16 by WBINVD.
        let expected =
            Double(
                48 * 64 * CostItem.lineWriteback.cycles + CostItem.wbinvd.cycles
                    + 16 * 64 * CostItem.wbinvdPerDirtyLine.cycles
            ) / 64
        #expect(writeback.emulatedCyclesPerPage == expected)
        let fill = try MemoryBenchmarks.fill(bytes: 256 << 10, algorithm: algorithm, cacheLines: 1024)
        #expect(fill.name == "memory-fill")
        #expect(fill.emulatedCyclesPerPage == Double(64 * CostItem.lineFill.cycles))
        let engine = MemoryBenchmarks.lineEngine(bytes: 256 << 10, algorithm: algorithm)
        #expect(engine.name == "line-engine")
        #expect(engine.emulatedCyclesPerPage == nil)
        #expect(engine.bytes == 256 << 10)
        // Each workload was timed (a clock that was never read leaves 0); the value itself is not asserted.
        #expect([engine, writeback, fill].allSatisfy { $0.seconds > 0 && $0.seconds.isFinite })
    }
}

/// The process-memory benchmarks run through the kernel and report their work.
@Suite struct ProcessMemoryBenchmarksTests {
    @Test func firstTouchPaysForTheFlushesThatWritesDoNot() throws {
        let results = try ProcessMemoryBenchmarks.run(bytes: 256 << 10)
        #expect(results.map(\.name) == ["encrypt-mprotect-first-touch", "process-write", "process-read"])
        #expect(results.allSatisfy { $0.bytes == 256 << 10 && $0.algorithm == .aesXTS128 && $0.seconds > 0 })
        let firstTouch = try #require(results[0].emulatedCyclesPerPage)
        let write = try #require(results[1].emulatedCyclesPerPage)
        // Each page: 64 CLFLUSHes when encrypt_mprotect frees it, 64 more when the fault reallocates it.
        #expect(firstTouch - write >= Double(128 * CostItem.clflush.cycles))
    }
}
