//===----------------------------------------------------------------------===//
//
// hwkeys: Platform
//
//===----------------------------------------------------------------------===//

import HWKeysBase
import X86

/// What an operating system gets from the platform besides its processors: topology (ACPI MADT / SRAT),
/// the memory map (e820), a clock source, and sleep-state entry (ACPI). Together with `X86Processor` this
/// is the whole interface the modelled kernel uses (design.md rule 1), so a hypervisor can later provide
/// a virtual platform with the same shape.
public protocol KernelPlatform: AnyObject {
    /// The logical processors, indexed by Linux CPU number.
    var cpus: [any X86Processor] { get }
    /// The package (socket) of CPU `cpu` (ACPI/CPUID topology).
    func package(ofCPU cpu: Int) -> Int
    /// The number of packages.
    var packageCount: Int { get }
    /// Usable RAM as DRAM address ranges (e820), ascending.
    var memoryMap: [Range<UInt64>] { get }
    /// The package whose memory controller serves DRAM address `address` (ACPI SRAT/HMAT).
    func memoryPackage(ofAddress address: UInt64) -> Int
    /// Emulated time in nanoseconds (the clock source).
    var nanoseconds: UInt64 { get }
    /// Whether the processors are virtual (CPUID.1:ECX[31], the hypervisor bit). False on bare metal.
    var isVirtualMachine: Bool { get }

    /// The block devices (non-volatile disks), in name order.
    var disks: [BlockDevice] { get }
    /// The disk named `name`, if attached.
    func disk(named name: String) -> BlockDevice?
    /// Attaches a new, empty disk (a crypt volume's backing device). Throws for a bad or used name or size.
    func attachDisk(named name: String, size: UInt64) throws(HWKeysError) -> BlockDevice
}

extension KernelPlatform {
    /// A platform without storage (e.g. a guest given no virtual disks): no disks.
    public var disks: [BlockDevice] { [] }
    /// A platform without storage has no disk of any name.
    public func disk(named name: String) -> BlockDevice? { nil }
    /// A platform without storage cannot attach disks.
    public func attachDisk(named name: String, size: UInt64) throws(HWKeysError) -> BlockDevice {
        throw .einval("this platform has no storage to attach a disk to")
    }
}

extension Machine: KernelPlatform {
    public var cpus: [any X86Processor] { processors }

    public func package(ofCPU cpu: Int) -> Int { cpu / configuration.cpusPerPackage }

    public var packageCount: Int { configuration.packages }

    public var memoryMap: [Range<UInt64>] { [0..<configuration.memoryBytes] }

    public func memoryPackage(ofAddress address: UInt64) -> Int { configuration.homePackage(ofDRAMAddress: address) }

    public var isVirtualMachine: Bool { false }
}
