//===----------------------------------------------------------------------===//
//
// hwkeys: KernelInterfaces
//
//===----------------------------------------------------------------------===//

/// A non-volatile disk as the kernel drives it (a swap device for hibernation images, the backing device
/// of a crypt volume): a name, a size, and reads and writes of byte ranges — what Linux's block layer
/// offers a filesystem or dm-crypt once the request queue is hidden.
///
/// Sizes are whole sectors of ``DiskLimits/sectorSize`` bytes. What a disk holds is exactly what a stolen
/// disk shows; a disk knows nothing of keys. Implemented by Platform's emulated disks and, later, by a
/// hypervisor's virtual disks.
public protocol BlockDevice: AnyObject {
    /// The disk's name (`swap`, a crypt volume's name): what `resume=` and crypt volumes refer to.
    var name: String { get }
    /// Capacity in bytes, a multiple of ``DiskLimits/sectorSize``.
    var size: UInt64 { get }

    /// Reads raw bytes at byte `offset`. The range must lie inside the disk (checking it is the caller's
    /// job: out of range is host misuse, a precondition failure).
    func read(_ offset: UInt64, into buffer: UnsafeMutableRawBufferPointer)

    /// Writes raw bytes at byte `offset`. The range must lie inside the disk.
    func write(_ offset: UInt64, from buffer: UnsafeRawBufferPointer)
}
