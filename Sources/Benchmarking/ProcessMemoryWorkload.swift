//===----------------------------------------------------------------------===//
//
// hwkeys: Benchmarking
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase
import Kernel
import Platform
import X86

/// The process-memory workload `hwkeys benchmark` measures (issue 5 "Performance"): a process's anonymous
/// mapping under an MKTME KeyID, first touched, written and read through the whole kernel path — VMA checks,
/// page-table walks in DRAM, faults with the flush-and-zero rule, and the encrypting memory system.
///
/// The KeyID comes from the real `mktme` key type (revised design): a `type=cpu` key (AES-XTS-128) added to
/// the shell's session keyring, which takes its KeyID at the first `encrypt_mprotect` and gives it back,
/// cleared, when the mapping's pages go. Plain functions: no timing here beyond what the caller asks for, no
/// output formatting.
public final class ProcessMemoryWorkload {
    /// The machine (seeded, one package, default cache).
    public let machine: Machine
    /// Its kernel.
    public let kernel: Kernel
    /// The mapping's length.
    public let bytes: Int
    /// The process and its mapping.
    public let pid: Int32
    public let address: UInt64
    /// The `mktme` key the mapping is encrypted with.
    public let serial: Int32
    private let buffer: UnsafeMutableRawBufferPointer

    /// Boots a kernel on a machine with room for `bytes` of process memory and maps them (not yet touched).
    public init(bytes: Int) throws(HWKeysError) {
        precondition(bytes > 0 && bytes % 4096 == 0, "the workload maps whole pages")
        self.bytes = bytes
        var config = MachineConfiguration()
        config.seed = 1
        config.packages = 1
        config.cpusPerPackage = 1
        config.memoryBytes = UInt64(bytes) + (16 << 20)
        machine = try Machine.create(configuration: config)
        kernel = try Kernel.boot(platform: machine, commandLine: config.effectiveKernelCommandLine)
        pid = try kernel.createProcess(parent: ProcessTable.shellPID, name: "bench", exec: true)
        serial = try kernel.keys.addKey(
            type: "mktme",
            description: "benchmark",
            payload: SecretBytes(Array("type=cpu".utf8)),
            keyring: KeySpecial.session,
            pid: pid
        )
        address = try kernel.mmap(pid: pid, length: UInt64(bytes), protection: .none, shared: false)
        buffer = .allocate(byteCount: bytes, alignment: 64)
        for index in 0..<bytes { buffer[index] = UInt8(truncatingIfNeeded: index &* 7) }
    }

    deinit { buffer.deallocate() }

    /// `encrypt_mprotect` of the whole mapping with the key (discarding any pages), then one write of the whole
    /// mapping: every page faults in (flush of the old alias, zeroing through the key's KeyID) and is written.
    public func encryptAndFirstTouch() throws(HWKeysError) {
        try kernel.encryptMprotect(pid: pid, address: address, length: UInt64(bytes), protection: .rw, serial: serial)
        try write()
    }

    /// One write of the whole mapping from a host buffer.
    public func write() throws(HWKeysError) {
        try kernel.writeMemory(pid: pid, address: address, from: UnsafeRawBufferPointer(buffer))
    }

    /// One read of the whole mapping into the host buffer.
    public func read() throws(HWKeysError) {
        try kernel.readMemory(pid: pid, address: address, into: buffer)
    }

    /// The emulated cycles charged so far.
    public var emulatedCycles: UInt64 { machine.counters.total }
}
