//===----------------------------------------------------------------------===//
//
// hwkeys: Platform
//
//===----------------------------------------------------------------------===//

import KernelInterfaces
import X86

/// The bare-metal platform: ACPI-style topology and memory map from the configuration, the emulated
/// clock, and the machine's disks (``Machine/disks``, ``Machine/attachDisk(named:size:)``).
extension Machine: KernelPlatform {
    public var cpus: [any X86Processor] { processors }

    public func package(ofCPU cpu: Int) -> Int { cpu / configuration.cpusPerPackage }

    public var packageCount: Int { configuration.packages }

    public var memoryMap: [Range<UInt64>] { [0..<configuration.memoryBytes] }

    public func memoryPackage(ofAddress address: UInt64) -> Int { configuration.homePackage(ofDRAMAddress: address) }
}
