//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

import HWCrypto
import Platform
import X86

/// The process-memory workload `hwkeys benchmark` measures (issue 5 "Performance"): a process's anonymous
/// mapping under an MKTME KeyID, first touched, written and read through the whole kernel path — VMA checks,
/// page-table walks in DRAM, faults with the flush-and-zero rule, and the encrypting memory system.
///
/// The KeyID comes from a minimal stand-in for the `mktme` key type that programs KeyID 1 with PCONFIG
/// SET_KEY_DIRECT (AES-XTS-128, a fixed key) on every package through the processor interface, the way the
/// kernel programs keys; it only counts references. Plain functions: no timing here beyond what the caller
/// asks for, no output formatting.
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
    private let buffer: UnsafeMutableRawBufferPointer

    /// Boots a kernel on a machine with room for `bytes` of process memory and maps them (not yet touched).
    public init(bytes: Int) throws {
        precondition(bytes > 0 && bytes % 4096 == 0, "the workload maps whole pages")
        self.bytes = bytes
        var config = MachineConfiguration()
        config.seed = 1
        config.packages = 1
        config.cpusPerPackage = 1
        config.memoryBytes = UInt64(bytes) + (16 << 20)
        machine = try Machine.create(configuration: config)
        kernel = try Kernel.boot(platform: machine, commandLine: "")
        kernel.memoryEncryption = try BenchmarkKeyID(kernel: kernel)
        pid = try kernel.createProcess(parent: ProcessTable.shellPID, name: "bench", exec: true)
        address = try kernel.mmap(pid: pid, length: UInt64(bytes), protection: .none, shared: false)
        buffer = .allocate(byteCount: bytes, alignment: 64)
        for index in 0..<bytes { buffer[index] = UInt8(truncatingIfNeeded: index &* 7) }
    }

    deinit { buffer.deallocate() }

    /// `encrypt_mprotect` of the whole mapping to KeyID 1 (discarding any pages), then one write of the whole
    /// mapping: every page faults in (flush of the old alias, zeroing through KeyID 1) and is written.
    public func encryptAndFirstTouch() throws {
        try kernel.encryptMprotect(pid: pid, address: address, length: UInt64(bytes), protection: .rw, serial: 1)
        try write()
    }

    /// One write of the whole mapping from a host buffer.
    public func write() throws {
        try kernel.writeMemory(pid: pid, address: address, from: UnsafeRawBufferPointer(buffer))
    }

    /// One read of the whole mapping into the host buffer.
    public func read() throws {
        try kernel.readMemory(pid: pid, address: address, into: buffer)
    }

    /// The emulated cycles charged so far.
    public var emulatedCycles: UInt64 { machine.counters.total }
}

/// KeyID 1, programmed once with a fixed key; serial 1 names it. References are only counted.
private final class BenchmarkKeyID: MemoryEncryptionKeys {
    var references = 0

    init(kernel: Kernel) throws {
        var structure = [UInt8](repeating: 0, count: MKTMEKeyProgramLayout.size)
        let key = [UInt8](repeating: 0x11, count: 16)
        let tweak = [UInt8](repeating: 0x22, count: 16)
        structure.withUnsafeMutableBytes { out in
            key.withUnsafeBytes { k in
                tweak.withUnsafeBytes { t in
                    MKTMEKeyProgramLayout.encode(
                        keyID: 1,
                        keyIDControl: MKTMEKeyProgramLayout.keyIDControl(command: .setKeyDirect, algorithm: .aesXTS128),
                        keyField1: k,
                        keyField2: t,
                        into: out
                    )
                }
            }
        }
        let allocation = try kernel.storeInKernelMemory(SecretBytes(structure))
        defer { kernel.freeKernelMemory(allocation) }
        for package in 0..<kernel.platform.packageCount {
            guard let cpu = kernel.leadCPU(ofPackage: package) else { continue }
            let result = try cpu.pconfig(
                leaf: PCONFIGLeaf.mktmeKeyProgram,
                structure: PhysicalAddress(allocation.segments[0].address)
            )
            guard result.status == .success else {
                throw KernelError(.EIO, "benchmark KeyID programming failed: \(result.status.name)")
            }
        }
    }

    func keyIDForEncryptMprotect(serial: Int32, pid: Int32) throws(KernelError) -> UInt16 {
        guard serial == 1 else { throw KernelError(.ENOKEY, "the benchmark has only key 1") }
        references += 1
        return 1
    }

    func retainKeyID(_ keyID: UInt16, count: Int) { references += count }
    func releaseKeyID(_ keyID: UInt16, count: Int) { references -= count }
}
