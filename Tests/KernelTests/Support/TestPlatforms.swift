//===----------------------------------------------------------------------===//
//
// hwkeys: KernelTests
//
//===----------------------------------------------------------------------===//

import Foundation
import HWKeysBase
import KernelInterfaces
import Platform
import X86

@testable import Kernel

/// A processor as a hypervisor shows it to its guest: every instruction goes to the wrapped processor,
/// except that CPUID.1:ECX[31] (hypervisor present, SDM Vol. 2A Table 3-10 "not used" on bare metal)
/// reads as 1, as KVM's CPUID does.
final class GuestCPU: X86Processor {
    let host: any X86Processor
    init(_ host: any X86Processor) { self.host = host }

    var cpuNumber: Int { host.cpuNumber }
    var cpl: Int {
        get { host.cpl }
        set { host.cpl = newValue }
    }

    func cpuid(leaf: UInt32, subleaf: UInt32) -> CPUIDResult {
        var result = host.cpuid(leaf: leaf, subleaf: subleaf)
        if leaf == 1 { result.ecx |= 1 << 31 }
        return result
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
    func rdrand() -> UInt64? { host.rdrand() }
    func pconfig(leaf: UInt32, structure: PhysicalAddress) throws(X86Fault) -> PCONFIGResult {
        try host.pconfig(leaf: leaf, structure: structure)
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

/// A disk that is not Platform's: bytes in a host array, for a platform that is not a `Machine`.
final class RAMDisk: BlockDevice {
    let name: String
    var bytes: [UInt8]
    var size: UInt64 { UInt64(bytes.count) }

    init(name: String, size: Int) {
        self.name = name
        bytes = [UInt8](repeating: 0, count: size)
    }

    func read(_ offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) {
        precondition(offset <= size && UInt64(buffer.count) <= size - offset, "RAM disk read out of range")
        let start = Int(offset)
        bytes.withUnsafeBytes {
            buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[start..<start + buffer.count]))
        }
    }

    func write(_ offset: UInt64, from buffer: UnsafeRawBufferPointer) {
        precondition(offset <= size && UInt64(buffer.count) <= size - offset, "RAM disk write out of range")
        bytes.replaceSubrange(Int(offset)..<Int(offset) + buffer.count, with: buffer)
    }
}

/// A platform that is not a `Machine`: the kernel sees only `KernelPlatform`, so it boots on this as on
/// bare metal. Processors, memory and clock come from a machine (as a hypervisor's come from its host);
/// the disks are ``RAMDisk``s; `guest` wraps every processor in a ``GuestCPU``.
final class InterfaceOnlyPlatform: KernelPlatform {
    let machine: Machine
    private let processors: [any X86Processor]
    private var attached: [String: RAMDisk] = [:]

    init(_ machine: Machine, guest: Bool = false, disks: [RAMDisk] = []) {
        self.machine = machine
        processors = machine.processors.map { guest ? GuestCPU($0) : $0 as any X86Processor }
        for disk in disks { attached[disk.name] = disk }
    }

    var cpus: [any X86Processor] { processors }
    func package(ofCPU cpu: Int) -> Int { cpu / machine.configuration.cpusPerPackage }
    var packageCount: Int { machine.configuration.packages }
    var memoryMap: [Range<UInt64>] { [0..<machine.configuration.memoryBytes] }
    func memoryPackage(ofAddress address: UInt64) -> Int { machine.configuration.homePackage(ofDRAMAddress: address) }
    var nanoseconds: UInt64 { machine.nanoseconds }

    var disks: [any BlockDevice] { attached.keys.sorted().map { attached[$0]! } }
    func disk(named name: String) -> (any BlockDevice)? { attached[name] }
    func attachDisk(named name: String, size: UInt64) throws(HWKeysError) -> any BlockDevice {
        if let problem = DiskLimits.nameProblem(name) ?? DiskLimits.sizeProblem(size) { throw .einval(problem) }
        guard attached[name] == nil, size <= 64 << 20 else { throw .einval("name in use or too large") }
        let disk = RAMDisk(name: name, size: Int(size))
        attached[name] = disk
        return disk
    }
}

/// The kernel state `state` (``Kernel/encodeState()``) as a hwkeys without `resume=` saved it: image
/// version 1, no `resumeDevice`, and the command line without the `resume=swap` the bootloader adds now.
/// Padded with spaces (JSON whitespace) to its old length, so it fits the place of the original in a
/// hibernation image.
func legacyKernelState(_ state: Data) throws -> Data {
    var text = String(decoding: state, as: UTF8.self)
    // Sorted keys: the top-level `version` is the object's last key, `resumeDevice` appears only there.
    guard text.hasSuffix(",\"version\":2}") else { throw CocoaError(.coderInvalidValue) }
    text = String(text.dropLast(",\"version\":2}".count)) + ",\"version\":1}"
    text = text.replacingOccurrences(of: "\"resumeDevice\":\"swap\",", with: "")
    text = text.replacingOccurrences(of: " resume=swap\",", with: "\",")
    text = text.replacingOccurrences(of: "\"commandLine\":\"resume=swap\",", with: "\"commandLine\":\"\",")
    let bytes = Array(text.utf8)
    precondition(bytes.count <= state.count)
    return Data(bytes + [UInt8](repeating: 0x20, count: state.count - bytes.count))
}
