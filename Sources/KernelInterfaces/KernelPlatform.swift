//===----------------------------------------------------------------------===//
//
// hwkeys: KernelInterfaces
//
//===----------------------------------------------------------------------===//

import HWKeysBase
import X86

/// What an operating system gets from the platform besides its processors: topology (ACPI MADT / SRAT),
/// the memory map (e820), a clock source and block devices. Together with `X86Processor` this is the
/// whole interface the modelled kernel uses (docs/design.md rule 1): the bare-metal `Platform.Machine`
/// implements it, and a hypervisor can provide a virtual platform with the same shape.
///
/// Whether the processors are virtual is not a platform property: the kernel reads CPUID.1:ECX[31] (the
/// hypervisor-present bit) on its boot CPU, as Linux sets `X86_FEATURE_HYPERVISOR`.
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

    /// The block devices (non-volatile disks), in name order.
    var disks: [any BlockDevice] { get }
    /// The disk named `name`, if attached.
    func disk(named name: String) -> (any BlockDevice)?
    /// Attaches a new, empty disk (a crypt volume's backing device). Throws `EINVAL` (its message says why)
    /// for a bad or used name, a bad size, or when no more disks fit (``DiskLimits``).
    func attachDisk(named name: String, size: UInt64) throws(HWKeysError) -> any BlockDevice
}

extension KernelPlatform {
    /// A platform without storage (e.g. a guest given no virtual disks): no disks.
    public var disks: [any BlockDevice] { [] }
    /// A platform without storage has no disk of any name.
    public func disk(named name: String) -> (any BlockDevice)? { nil }
    /// A platform without storage cannot attach disks.
    public func attachDisk(named name: String, size: UInt64) throws(HWKeysError) -> any BlockDevice {
        throw .einval("this platform has no storage to attach a disk to")
    }
}
