//===----------------------------------------------------------------------===//
//
// hwkeys: Benchmarking
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase
import Platform
import X86

/// One measurement: host wall time for `bytes` of work, and the emulated cycles the machine charged for it
/// (docs/design.md rule 5: the two are reported apart, never mixed).
public struct MemoryBenchmarkResult: Sendable, Hashable {
    /// `memory-writeback`, `memory-fill` or `line-engine`.
    public let name: String
    /// The algorithm of the KeyID (or key) measured.
    public let algorithm: TMEAlgorithm
    /// Bytes moved through the engine.
    public let bytes: Int
    /// Host wall time, in seconds.
    public let seconds: Double
    /// Emulated cycles charged per 4 KiB page (nil for the raw line engine, which is not a machine).
    public let emulatedCyclesPerPage: Double?

    /// Host throughput in GB/s (10^9 bytes per second).
    public var gigabytesPerSecond: Double { seconds > 0 ? Double(bytes) / seconds / 1e9 : 0 }
}

/// The memory-path measurements `hwkeys benchmark` reports beside the raw line engine (issue 3: target
/// ≥ 0.5× the raw line engine). Plain functions: no argument parsing, no output formatting.
///
/// Each builds a seeded one-package machine without the kernel and with the default cache, programs KeyID 1
/// with SET_KEY_DIRECT, runs the workload once untimed (so host page faults of the sparse DRAM are not
/// measured), then times a second run.
public enum MemoryBenchmarks {
    /// 64 MiB, as the issue asks.
    public static let defaultBytes = 64 << 20

    /// `memory-writeback`: page-sized stores through KeyID 1 over `bytes` of DRAM; every line is written back
    /// (evicted by later stores, the rest by a final WBINVD), so every byte passes the encrypting engine.
    public static func writeback(
        bytes: Int = defaultBytes,
        algorithm: TMEAlgorithm = .aesXTS128,
        cacheLines: Int = MachineConfiguration().cacheLines
    ) throws(HWKeysError) -> MemoryBenchmarkResult {
        let bench = try Bench(bytes: bytes, algorithm: algorithm, cacheLines: cacheLines)
        bench.storeAll()
        let (seconds, cycles) = bench.measure { bench.storeAll() }
        return MemoryBenchmarkResult(
            name: "memory-writeback",
            algorithm: algorithm,
            bytes: bench.pages * 4096,
            seconds: seconds,
            emulatedCyclesPerPage: Double(cycles) / Double(bench.pages)
        )
    }

    /// `memory-fill`: page-sized loads through KeyID 1 over `bytes` of ciphertext in DRAM; every line misses
    /// and is filled (decrypted), the clean victims are dropped.
    public static func fill(
        bytes: Int = defaultBytes,
        algorithm: TMEAlgorithm = .aesXTS128,
        cacheLines: Int = MachineConfiguration().cacheLines
    ) throws(HWKeysError) -> MemoryBenchmarkResult {
        let bench = try Bench(bytes: bytes, algorithm: algorithm, cacheLines: cacheLines)
        bench.storeAll()
        bench.loadAll()
        let (seconds, cycles) = bench.measure { bench.loadAll() }
        return MemoryBenchmarkResult(
            name: "memory-fill",
            algorithm: algorithm,
            bytes: bench.pages * 4096,
            seconds: seconds,
            emulatedCyclesPerPage: Double(cycles) / Double(bench.pages)
        )
    }

    /// `line-engine`: the raw XTS line engine encrypting `bytes` between two host buffers, 64 lines (one page)
    /// per call with consecutive sequence numbers: the ceiling the memory path is measured against.
    public static func lineEngine(
        bytes: Int = defaultBytes,
        algorithm: TMEAlgorithm = .aesXTS128
    ) -> MemoryBenchmarkResult {
        let pages = max(1, bytes / 4096)
        let source = UnsafeMutableRawPointer.allocate(byteCount: pages * 4096, alignment: 64)
        let destination = UnsafeMutableRawPointer.allocate(byteCount: pages * 4096, alignment: 64)
        defer {
            source.deallocate()
            destination.deallocate()
        }
        source.initializeMemory(as: UInt8.self, repeating: 0x5A, count: pages * 4096)
        destination.initializeMemory(as: UInt8.self, repeating: 0, count: pages * 4096)
        let key =
            [UInt8](repeating: 0x11, count: algorithm.keyLength) + [UInt8](repeating: 0x22, count: algorithm.keyLength)
        let xts = key.withUnsafeBytes {
            XTSKey(
                dataKey: UnsafeRawBufferPointer(rebasing: $0[0..<algorithm.keyLength]),
                tweakKey: UnsafeRawBufferPointer(rebasing: $0[algorithm.keyLength...])
            )
        }
        func run() {
            for page in 0..<pages {
                xts.encryptLines(
                    from: source + page * 4096,
                    to: destination + page * 4096,
                    firstSequence: UInt64(page * 64),
                    count: 64
                )
            }
        }
        run()
        let start = ContinuousClock.now
        run()
        return MemoryBenchmarkResult(
            name: "line-engine",
            algorithm: algorithm,
            bytes: pages * 4096,
            seconds: seconds(ContinuousClock.now - start),
            emulatedCyclesPerPage: nil
        )
    }

    static func seconds(_ duration: Duration) -> Double {
        let (whole, attoseconds) = duration.components
        return Double(whole) + Double(attoseconds) / 1e18
    }

    /// A machine with KeyID 1 programmed and a one-page buffer.
    private final class Bench {
        let machine: Machine
        let cpu: LogicalProcessor
        let pages: Int
        let page: UnsafeMutableRawBufferPointer

        init(bytes: Int, algorithm: TMEAlgorithm, cacheLines: Int) throws(HWKeysError) {
            pages = max(1, bytes / 4096)
            var config = MachineConfiguration()
            config.seed = 1
            config.bootKernel = false
            config.cacheLines = cacheLines
            config.memoryBytes = max(UInt64(pages) * 4096, 1 << 20)
            machine = try Machine.create(configuration: config)
            cpu = machine.processor(0)!
            page = .allocate(byteCount: 4096, alignment: 64)
            for index in 0..<4096 { page[index] = UInt8(truncatingIfNeeded: index &* 7) }

            var structure = [UInt8](repeating: 0, count: MKTMEKeyProgramLayout.size)
            let key = [UInt8](repeating: 0x11, count: algorithm.keyLength)
            let tweak = [UInt8](repeating: 0x22, count: algorithm.keyLength)
            structure.withUnsafeMutableBytes { out in
                key.withUnsafeBytes { k in
                    tweak.withUnsafeBytes { t in
                        MKTMEKeyProgramLayout.encode(
                            keyID: 1,
                            keyIDControl: MKTMEKeyProgramLayout.keyIDControl(
                                command: .setKeyDirect,
                                algorithm: algorithm
                            ),
                            keyField1: k,
                            keyField2: t,
                            into: out
                        )
                    }
                }
            }
            let outcome = structure.withUnsafeBytes { bytes in
                Result { () throws(X86Fault) in try cpu.pconfig(leaf: 0, structureBytes: bytes) }
            }
            let result: PCONFIGResult
            switch outcome {
            case .success(let value): result = value
            case .failure(let fault): throw HWKeysError(fault)
            }
            precondition(result.status == .success, "benchmark KeyID programming failed: \(result.status.name)")
        }

        deinit { page.deallocate() }

        func address(_ page: Int) -> PhysicalAddress {
            machine.keyIDLayout.address(PhysicalAddress(UInt64(page) * 4096), withKeyID: 1)
        }

        func storeAll() {
            for index in 0..<pages { cpu.store(address(index), from: UnsafeRawBufferPointer(page)) }
            do { try cpu.wbinvd() } catch { preconditionFailure("WBINVD at CPL0 faulted: \(error)") }
        }

        func loadAll() {
            for index in 0..<pages { cpu.load(address(index), into: page) }
        }

        /// Host seconds and emulated cycles of `body`.
        func measure(_ body: () -> Void) -> (Double, UInt64) {
            let cycles = machine.counters.total
            let start = ContinuousClock.now
            body()
            let elapsed = MemoryBenchmarks.seconds(ContinuousClock.now - start)
            return (elapsed, machine.counters.total &- cycles)
        }
    }
}
