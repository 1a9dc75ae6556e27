//===----------------------------------------------------------------------===//
//
// hwkeys: Platform
//
//===----------------------------------------------------------------------===//

import HWKeysBase
import KernelInterfaces

extension Machine {
    /// The name of the swap disk `machine create --swap` attaches (the hibernation image's device; the
    /// kernel finds it through `resume=`, see ``MachineConfiguration/effectiveKernelCommandLine``).
    public static let swapDiskName = "swap"

    /// Every disk, in name order (what the debug monitor and the state file see).
    public var emulatedDisks: [EmulatedDisk] { blockDevices.all }

    /// The disk named `name`, if attached.
    public func emulatedDisk(named name: String) -> EmulatedDisk? { blockDevices[name] }

    /// Every disk, in name order.
    public var disks: [any BlockDevice] { blockDevices.all }

    /// The disk named `name`, if attached.
    public func disk(named name: String) -> (any BlockDevice)? { blockDevices[name] }

    /// Attaches a new, empty disk of `size` bytes (a crypt volume's backing device; what `losetup` on a
    /// fresh file would give). Disks are never detached: like the swap disk, they persist with the
    /// machine across every power transition.
    ///
    /// - Throws: `EINVAL` for a bad name (1–64 of letters, digits, `.`, `_`, `-`), a name in use, a size
    ///   that is not whole 512-byte sectors or above 64 GiB, or more than 64 disks (``DiskLimits``).
    public func attachDisk(named name: String, size: UInt64) throws(HWKeysError) -> any BlockDevice {
        if let problem = blockDevices.problem(name: name, size: size) { throw .einval(problem) }
        let device = EmulatedDisk(name: name, size: size, pageSource: diskSource)
        blockDevices.insert(device)
        return device
    }

    /// The first error a disk's page source reported, if any. A command that sees one must not commit.
    public var diskPageSourceError: (any Error)? {
        for device in blockDevices.all { if let error = device.pageSourceError { return error } }
        return nil
    }
}
