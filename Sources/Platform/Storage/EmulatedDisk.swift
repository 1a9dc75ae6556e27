//===----------------------------------------------------------------------===//
//
// hwkeys: Platform
//
//===----------------------------------------------------------------------===//

import HWKeysBase
import KernelInterfaces

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Supplies a disk's stored blocks on first touch (the machine image's `disk:<name>` page spaces).
public protocol BlockDevicePageSource: AnyObject {
    /// Copies stored block `index` of disk `disk` into `block` (``EmulatedDisk/blockSize`` bytes) and returns
    /// true, or returns false if the block was never stored (it then reads as zeros). Throws if the store
    /// cannot be read.
    func loadBlock(disk: String, index: Int, into block: UnsafeMutableRawBufferPointer) throws -> Bool
}

/// An emulated non-volatile disk: a swap device for hibernation images or the backing store of a crypt
/// volume (docs/design.md "Persistence": non-volatile parts are kept apart from volatile ones). The kernel
/// drives it as a `KernelInterfaces.BlockDevice`.
///
/// What it holds is exactly what a stolen disk shows (`hw disk`): ciphertext for a crypt volume,
/// plaintext for a hibernation image. It knows nothing of keys.
///
/// Sparse, like ``DRAM``: storage is kept in 4 KiB blocks (eight 512-byte sectors); a block is loaded
/// from the ``BlockDevicePageSource`` on first touch, a write marks it dirty, and a commit saves only
/// dirty blocks (all-zero blocks are deleted rather than stored). A never-written disk costs nothing.
/// Disks survive every power transition: they are not part of `platform.volatile`.
///
/// Offsets are bytes from the start of the disk; callers check ranges first (out-of-range access is a
/// precondition failure: host misuse).
public final class EmulatedDisk: BlockDevice {
    /// Bytes per sector (the logical block size a kernel addresses).
    public static let sectorSize = DiskLimits.sectorSize
    /// Bytes per stored block (the page size of the disk's page space).
    public static let blockSize = 4096

    /// The disk's name (`swap`, a crypt volume's name); also its page space `disk:<name>`.
    public let name: String
    /// Capacity in bytes, a multiple of ``sectorSize``.
    public let size: UInt64

    /// Loaded blocks (authoritative in host memory). Blocks known to be absent from the store and never
    /// written are not allocated.
    private var blocks: [Int: UnsafeMutableRawPointer] = [:]
    /// Blocks looked up in the store and found absent (they read as zeros).
    private var absent: Set<Int> = []
    /// Blocks written since the last ``clearDirty()``.
    private var dirty: Set<Int> = []
    private let pageSource: (any BlockDevicePageSource)?

    /// The first error the page source reported, if any. A command that sees one must not commit.
    public private(set) var pageSourceError: (any Error)?

    /// A disk of `size` bytes whose stored blocks come from `pageSource` (nil: a new, empty disk).
    init(name: String, size: UInt64, pageSource: (any BlockDevicePageSource)?) {
        precondition(size > 0 && size % UInt64(Self.sectorSize) == 0, "disk size must be whole sectors")
        self.name = name
        self.size = size
        self.pageSource = pageSource
    }

    deinit {
        // A swap disk holds plaintext of memory: wipe host copies before returning them.
        for (_, block) in blocks {
            memset(block, 0, Self.blockSize)
            block.deallocate()
        }
    }

    /// The number of 4 KiB blocks, the last possibly partly beyond ``size``.
    public var blockCount: Int { Int((size + UInt64(Self.blockSize) - 1) / UInt64(Self.blockSize)) }

    /// True when `[offset, offset + count)` lies inside the disk.
    public func contains(_ offset: UInt64, count: Int) -> Bool {
        count >= 0 && offset <= size && UInt64(count) <= size - offset
    }

    // MARK: Blocks

    /// The loaded block `index`, loading it (or a zero block) on first touch; nil for a block that is
    /// absent from the store when `create` is false.
    private func block(_ index: Int, create: Bool) -> UnsafeMutableRawPointer? {
        if let loaded = blocks[index] { return loaded }
        if !absent.contains(index), let pageSource {
            let fresh = Self.zeroBlock()
            let found: Bool
            do {
                found = try pageSource.loadBlock(
                    disk: name,
                    index: index,
                    into: UnsafeMutableRawBufferPointer(start: fresh, count: Self.blockSize)
                )
            } catch {
                if pageSourceError == nil { pageSourceError = error }
                memset(fresh, 0, Self.blockSize)
                found = false
            }
            if found || create {
                blocks[index] = fresh
                return fresh
            }
            fresh.deallocate()
            absent.insert(index)
            return nil
        }
        guard create else { return nil }
        let fresh = Self.zeroBlock()
        blocks[index] = fresh
        absent.remove(index)
        return fresh
    }

    private static func zeroBlock() -> UnsafeMutableRawPointer {
        let block = UnsafeMutableRawPointer.allocate(byteCount: blockSize, alignment: 64)
        memset(block, 0, blockSize)
        return block
    }

    /// Blocks written since the last ``clearDirty()``, ascending.
    public var dirtyBlocks: [Int] { dirty.sorted() }

    /// Forgets which blocks were written (after they were saved).
    public func clearDirty() { dirty.removeAll() }

    /// Calls `body` with the contents of block `index` (read-only; for saving).
    public func withBlock<R>(_ index: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        precondition(index >= 0 && index < blockCount, "disk block out of range")
        if let loaded = block(index, create: false) {
            return try body(UnsafeRawBufferPointer(start: loaded, count: Self.blockSize))
        }
        return try withUnsafeTemporaryAllocation(byteCount: Self.blockSize, alignment: 64) { zeros in
            zeros.initializeMemory(as: UInt8.self, repeating: 0)
            return try body(UnsafeRawBufferPointer(zeros))
        }
    }

    // MARK: Access

    /// Reads raw bytes (what the platters hold). The range must lie inside the disk.
    public func read(_ offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) {
        precondition(contains(offset, count: buffer.count), "disk read out of range")
        forEachBlock(offset, buffer.count) { index, blockOffset, bufferOffset, length in
            let destination = buffer.baseAddress! + bufferOffset
            if let loaded = block(index, create: false) {
                destination.copyMemory(from: loaded + blockOffset, byteCount: length)
            } else {
                memset(destination, 0, length)
            }
        }
    }

    /// Writes raw bytes. The range must lie inside the disk.
    public func write(_ offset: UInt64, from buffer: UnsafeRawBufferPointer) {
        precondition(contains(offset, count: buffer.count), "disk write out of range")
        forEachBlock(offset, buffer.count) { index, blockOffset, bufferOffset, length in
            let loaded = block(index, create: true)!
            (loaded + blockOffset).copyMemory(from: buffer.baseAddress! + bufferOffset, byteCount: length)
            dirty.insert(index)
        }
    }

    private func forEachBlock(_ offset: UInt64, _ count: Int, _ body: (Int, Int, Int, Int) -> Void) {
        var done = 0
        while done < count {
            let current = offset + UInt64(done)
            let index = Int(current / UInt64(Self.blockSize))
            let blockOffset = Int(current % UInt64(Self.blockSize))
            let length = min(count - done, Self.blockSize - blockOffset)
            body(index, blockOffset, done, length)
            done += length
        }
    }
}

/// The machine's disks, by name (kept in name order so images encode deterministically).
/// Disks are sparse, so even the largest (``DiskLimits``) costs only its touched blocks.
public struct BlockDeviceSet {
    /// Most disks per machine.
    static let maximumCount = DiskLimits.maximumCount

    private(set) var devices: [String: EmulatedDisk] = [:]

    /// Every disk, in name order.
    public var all: [EmulatedDisk] { devices.keys.sorted().map { devices[$0]! } }

    subscript(name: String) -> EmulatedDisk? { devices[name] }

    /// Why `name` and `size` cannot make a new disk, or nil if they can.
    public func problem(name: String, size: UInt64) -> String? {
        if let problem = DiskLimits.nameProblem(name) { return problem }
        guard devices[name] == nil else { return "a disk named '\(name)' exists" }
        guard devices.count < Self.maximumCount else { return "a machine has at most \(Self.maximumCount) disks" }
        return DiskLimits.sizeProblem(size)
    }

    mutating func insert(_ device: EmulatedDisk) { devices[device.name] = device }

    // MARK: Image (part of platform.nonvolatile)

    /// Section `disks` v1: count, then each disk's name and size. Contents are stored separately, block
    /// by block, in the `disk:<name>` page spaces.
    func encode(into writer: inout ImageWriter) {
        writer.section("disks", version: 1)
        let sorted = all
        writer.u32(UInt32(sorted.count))
        for device in sorted {
            writer.string(device.name)
            writer.u64(device.size)
        }
    }

    static func decode(
        from reader: inout ImageReader,
        pageSource: (any BlockDevicePageSource)?
    ) throws(HWKeysError) -> BlockDeviceSet {
        try reader.section("disks", maxVersion: 1)
        let count = Int(try reader.u32())
        guard count <= maximumCount else {
            throw .unreadableImage("machine image: \(count) disks (at most \(maximumCount))")
        }
        var set = BlockDeviceSet()
        for _ in 0..<count {
            let name = try reader.string()
            let size = try reader.u64()
            if let problem = set.problem(name: name, size: size) { throw .unreadableImage("machine image: \(problem)") }
            set.insert(EmulatedDisk(name: name, size: size, pageSource: pageSource))
        }
        return set
    }
}
