//===----------------------------------------------------------------------===//
//
// hwkeys: KernelTests
//
//===----------------------------------------------------------------------===//

import HWKeysBase
import KernelInterfaces
import Platform
import X86

/// A processor that forwards every instruction to a machine's processor and records what the kernel
/// handed the hardware: each `MKTME_KEY_PROGRAM_STRUCT` PCONFIG read (the 192 bytes, loaded from the
/// structure's address just before the instruction) and every RDRAND result. RDRAND can be made to fail.
final class RecordingCPU: X86Processor {
    let host: any X86Processor
    /// The structures PCONFIG was given, in order.
    var pconfigStructures: [[UInt8]] = []
    /// Every value RDRAND returned, in order.
    var rdrandValues: [UInt64] = []
    /// While true, RDRAND reports failure (CF = 0).
    var failRDRAND = false
    /// While true, CPUID.19H:EBX[0] (AESKLE) reads 0 even with CR4.KL set, as when firmware leaves the AES
    /// Key Locker instructions disabled (docs/research/keylocker-research.md §1.1: setting CR4.KL "does not
    /// always enable the feature").
    var hideAESKLE = false
    /// Rewrites CPUID results (a hypervisor's CPUID is software-controlled).
    var cpuidFilter: ((UInt32, UInt32, CPUIDResult) -> CPUIDResult)?

    init(_ host: any X86Processor) { self.host = host }

    var cpuNumber: Int { host.cpuNumber }
    var cpl: Int {
        get { host.cpl }
        set { host.cpl = newValue }
    }

    func cpuid(leaf: UInt32, subleaf: UInt32) -> CPUIDResult {
        var result = host.cpuid(leaf: leaf, subleaf: subleaf)
        if hideAESKLE, leaf == CPUIDLeaf.keyLockerLeaf { result.ebx &= ~CPUIDBit.klAESKLEEBX }
        return cpuidFilter?(leaf, subleaf, result) ?? result
    }
    func rdmsr(_ msr: UInt32) throws(X86Fault) -> UInt64 { try host.rdmsr(msr) }
    func wrmsr(_ msr: UInt32, _ value: UInt64) throws(X86Fault) { try host.wrmsr(msr, value) }
    func readCR4() throws(X86Fault) -> UInt64 { try host.readCR4() }
    func writeCR4(_ value: UInt64) throws(X86Fault) { try host.writeCR4(value) }
    func load(_ address: PhysicalAddress, into buffer: UnsafeMutableRawBufferPointer) {
        host.load(address, into: buffer)
    }
    func store(_ address: PhysicalAddress, from buffer: UnsafeRawBufferPointer) { host.store(address, from: buffer) }
    func clflush(_ address: PhysicalAddress) { host.clflush(address) }
    func clflush(_ address: PhysicalAddress, length: Int) { host.clflush(address, length: length) }
    func wbinvd() throws(X86Fault) { try host.wbinvd() }
    func rdrand() -> UInt64? {
        guard !failRDRAND, let value = host.rdrand() else { return nil }
        rdrandValues.append(value)
        return value
    }
    func pconfig(leaf: UInt32, structure: PhysicalAddress) throws(X86Fault) -> PCONFIGResult {
        var bytes = [UInt8](repeating: 0, count: MKTMEKeyProgramLayout.size)
        bytes.withUnsafeMutableBytes { host.load(structure, into: $0) }
        pconfigStructures.append(bytes)
        return try host.pconfig(leaf: leaf, structure: structure)
    }
    func withXMMRegisters<R, E: Error>(_ body: (UnsafeMutableRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try host.withXMMRegisters(body)
    }
    func loadiwkey(eax: UInt32, src1: Int, src2: Int) throws(X86Fault) -> Bool {
        try host.loadiwkey(eax: eax, src1: src1, src2: src2)
    }
    func encodekey128(src: UInt32) throws(X86Fault) -> UInt32 { try host.encodekey128(src: src) }
    func encodekey256(src: UInt32) throws(X86Fault) -> UInt32 { try host.encodekey256(src: src) }
    func aeskl(_ operation: AESKLOperation, xmm: Int, handle: UnsafeRawBufferPointer) throws(X86Fault) -> Bool {
        try host.aeskl(operation, xmm: xmm, handle: handle)
    }
    func aeswidekl(_ operation: AESKLOperation, handle: UnsafeRawBufferPointer) throws(X86Fault) -> Bool {
        try host.aeswidekl(operation, handle: handle)
    }
}

/// A machine whose processors are ``RecordingCPU``s (no disks).
final class RecordingPlatform: KernelPlatform {
    let machine: Machine
    let recorders: [RecordingCPU]

    init(_ machine: Machine, configure: (RecordingCPU) -> Void = { _ in }) {
        self.machine = machine
        recorders = machine.processors.map { RecordingCPU($0) }
        recorders.forEach(configure)
    }

    var cpus: [any X86Processor] { recorders }
    func package(ofCPU cpu: Int) -> Int { machine.package(ofCPU: cpu) }
    var packageCount: Int { machine.packageCount }
    var memoryMap: [Range<UInt64>] { machine.memoryMap }
    func memoryPackage(ofAddress address: UInt64) -> Int { machine.memoryPackage(ofAddress: address) }
    var nanoseconds: UInt64 { machine.nanoseconds }

    /// Every structure PCONFIG was given on any CPU.
    var pconfigStructures: [[UInt8]] { recorders.flatMap(\.pconfigStructures) }
    /// Every RDRAND value on any CPU.
    var rdrandValues: [UInt64] { recorders.flatMap(\.rdrandValues) }
}
