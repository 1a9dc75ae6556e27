//===----------------------------------------------------------------------===//
//
// hwkeys: Benchmarking
//
//===----------------------------------------------------------------------===//

import HWKeysBase
import Kernel
import X86

/// Process memory through the modelled kernel (issue 5 "Performance"): `encrypt-mprotect-first-touch`,
/// `process-write` and `process-read` over a 64 MiB mapping under an MKTME KeyID (AES-XTS-128), reported as
/// host GB/s and emulated cycles per page beside the raw line engine. Each runs the whole sequence once
/// untimed first, so host page faults of the sparse DRAM are not measured.
public enum ProcessMemoryBenchmarks {
    /// Measures the three workloads on one machine.
    public static func run(bytes: Int = MemoryBenchmarks.defaultBytes) throws(HWKeysError) -> [MemoryBenchmarkResult] {
        let workload = try ProcessMemoryWorkload(bytes: max(4096, bytes / 4096 * 4096))
        try workload.encryptAndFirstTouch()
        try workload.read()
        let pages = workload.bytes / 4096
        func measure(
            _ name: String,
            _ body: () throws(HWKeysError) -> Void
        ) throws(HWKeysError) -> MemoryBenchmarkResult {
            let cycles = workload.emulatedCycles
            let start = ContinuousClock.now
            try body()
            let seconds = MemoryBenchmarks.seconds(ContinuousClock.now - start)
            return MemoryBenchmarkResult(
                name: name,
                algorithm: .aesXTS128,
                bytes: workload.bytes,
                seconds: seconds,
                emulatedCyclesPerPage: Double(workload.emulatedCycles &- cycles) / Double(pages)
            )
        }
        return [
            try measure("encrypt-mprotect-first-touch") { () throws(HWKeysError) in try workload.encryptAndFirstTouch()
            },
            try measure("process-write") { () throws(HWKeysError) in try workload.write() },
            try measure("process-read") { () throws(HWKeysError) in try workload.read() },
        ]
    }
}
