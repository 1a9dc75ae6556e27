//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

import Foundation
import HWKeysBase
import KernelInterfaces

/// Hibernation to the swap disk (docs/contract.md §4, S4; docs/hibernation.md), in the manner of Linux's swsusp.
/// The swap disk is the one `resume=` names (``Kernel/resumeDevice``); without it there is no hibernation.
///
/// The image is a **plaintext** copy of every allocated frame: each is read through its own KeyID's
/// alias, as swsusp reads through the kernel's direct map, so MKTME-encrypted memory is decrypted on its
/// way to disk. The kernel's bookkeeping (its saved state: processes, page allocator, key service, crypt
/// volumes — addresses and counters, no secrets) goes into the image too, so an S4 followed by a power loss
/// still resumes, as Linux resumes from `resume=` at the next boot.
///
/// Layout, in 4 KiB blocks (pages, as swsusp writes them) of the swap disk:
///
/// | block | contents |
/// |---|---|
/// | 0 | header: magic `HWKEYS-S1SUSPEND` (16 bytes), version u32 = 1, reserved u32, state bytes u64, frame count u64, first state block u64 (1), first table block u64, first data block u64, blocks used u64; the rest zero |
/// | 1 … | the kernel's saved state (``Kernel/encodeState()``) |
/// | table | per frame 16 bytes: frame number u64, KeyID u16, six zero bytes, ascending by frame |
/// | data | one block per frame, in table order: the frame's contents in plaintext |
///
/// All integers little-endian. The header is written last, so a failed write leaves no valid image, and
/// resume overwrites it with zeros (Linux restores the swap signature); the data blocks stay on the disk
/// until reused — plaintext of the memory the kernel had when it hibernated.
final class SwapHibernation: HibernationImage {
    /// The swap device of kernels saved before `resume=` existed (``Kernel/Image`` version 1): they used the
    /// disk named `swap`, the one `machine create --swap` attaches.
    static let legacyDeviceName = "swap"
    static let magic: [UInt8] = Array("HWKEYS-S1SUSPEND".utf8)
    static let version: UInt32 = 1
    static let blockSize = PageAllocator.pageSize
    static let tableEntrySize = 16

    unowned let kernel: Kernel
    let disk: any BlockDevice

    init(kernel: Kernel, disk: any BlockDevice) {
        self.kernel = kernel
        self.disk = disk
    }

    /// The parsed header of a valid image.
    struct Header: Equatable {
        var stateBytes: UInt64
        var frameCount: UInt64
        var stateBlock: UInt64
        var tableBlock: UInt64
        var dataBlock: UInt64
        var blocksUsed: UInt64

        /// The layout for `stateBytes` of kernel state and `frameCount` frames.
        init(stateBytes: Int, frameCount: Int) {
            let block = SwapHibernation.blockSize
            self.stateBytes = UInt64(stateBytes)
            self.frameCount = UInt64(frameCount)
            stateBlock = 1
            tableBlock = stateBlock + UInt64((stateBytes + block - 1) / block)
            dataBlock = tableBlock + UInt64((frameCount * SwapHibernation.tableEntrySize + block - 1) / block)
            blocksUsed = dataBlock + UInt64(frameCount)
        }

        func encoded() -> [UInt8] {
            var bytes = SwapHibernation.magic
            append(SwapHibernation.version, to: &bytes)
            append(UInt32(0), to: &bytes)
            for field in [stateBytes, frameCount, stateBlock, tableBlock, dataBlock, blocksUsed] {
                append(field, to: &bytes)
            }
            return bytes + [UInt8](repeating: 0, count: SwapHibernation.blockSize - bytes.count)
        }

        /// Parses and checks a header block against the disk's size; nil if it is not a valid image.
        init?(_ bytes: [UInt8], diskBlocks: Int) {
            guard bytes.count == SwapHibernation.blockSize, Array(bytes[0..<16]) == SwapHibernation.magic,
                Self.read(UInt32.self, bytes, 16) == SwapHibernation.version, Self.read(UInt32.self, bytes, 20) == 0,
                bytes[72...].allSatisfy({ $0 == 0 })
            else { return nil }
            let stateBytes = Self.read(UInt64.self, bytes, 24)
            let frameCount = Self.read(UInt64.self, bytes, 32)
            guard stateBytes > 0, stateBytes <= 1 << 30, frameCount <= UInt64(diskBlocks) else { return nil }
            let expected = Header(stateBytes: Int(stateBytes), frameCount: Int(frameCount))
            guard Self.read(UInt64.self, bytes, 40) == expected.stateBlock,
                Self.read(UInt64.self, bytes, 48) == expected.tableBlock,
                Self.read(UInt64.self, bytes, 56) == expected.dataBlock,
                Self.read(UInt64.self, bytes, 64) == expected.blocksUsed,
                expected.blocksUsed <= UInt64(diskBlocks)
            else { return nil }
            self = expected
        }

        private func append<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
            withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
        }

        private static func read<T: FixedWidthInteger>(_ type: T.Type, _ bytes: [UInt8], _ offset: Int) -> T {
            var value: T = 0
            for index in 0..<MemoryLayout<T>.size { value |= T(bytes[offset + index]) << (8 * index) }
            return value
        }
    }

    // MARK: HibernationImage

    /// Writes the image: every allocated frame in plaintext (through its KeyID alias), the table, the
    /// kernel's state, then the header. ENOSPC if the swap disk is too small (nothing valid is left).
    func write() throws(HWKeysError) {
        let frames = kernel.pages.allocated.sorted
        kernel.printk(
            "PM",
            "Creating hibernation image: \(frames.count) pages (\(frames.count * 4) kB) to \(disk.name)"
        )
        let state: Data
        do {
            state = try kernel.encodeState()
        } catch {
            throw HWKeysError(.EIO, "cannot encode the kernel state for the image: \(error)")
        }
        let header = Header(stateBytes: state.count, frameCount: frames.count)
        guard header.blocksUsed <= UInt64(Self.diskBlocks(disk)) else {
            throw HWKeysError(
                .ENOSPC,
                "the image needs \(header.blocksUsed) blocks of 4 KiB; swap disk \(disk.name) has \(Self.diskBlocks(disk))"
            )
        }
        // Invalidate any older image first, so a partial write never looks valid.
        Self.discard(on: disk)
        let block = UInt64(Self.blockSize)
        state.withUnsafeBytes { disk.write(header.stateBlock * block, from: $0) }
        var table = [UInt8](repeating: 0, count: frames.count * Self.tableEntrySize)
        for (index, entry) in frames.enumerated() {
            withUnsafeBytes(of: entry.key.littleEndian) {
                table.replaceSubrange(index * 16..<index * 16 + 8, with: $0)
            }
            withUnsafeBytes(of: entry.value.keyID.littleEndian) {
                table.replaceSubrange(index * 16 + 8..<index * 16 + 10, with: $0)
            }
        }
        table.withUnsafeBytes { disk.write(header.tableBlock * block, from: $0) }
        withUnsafeTemporaryAllocation(byteCount: Self.blockSize, alignment: 64) { page in
            for (index, entry) in frames.enumerated() {
                // swsusp reads each page through the kernel's mapping of it: plaintext.
                kernel.physical.read(entry.key << 12, keyID: entry.value.keyID, into: page)
                disk.write((header.dataBlock + UInt64(index)) * block, from: UnsafeRawBufferPointer(page))
            }
            page.initializeMemory(as: UInt8.self, repeating: 0)
        }
        header.encoded().withUnsafeBytes { disk.write(0, from: $0) }
    }

    /// Writes the image's KeyID-0 frames back through the direct map (the heap, key payloads, page tables).
    func restoreKernelMemory() throws(HWKeysError) {
        try restoreFrames(kernelMemory: true)
        kernel.printk("PM", "Restored kernel memory from the hibernation image")
    }

    /// Writes the remaining frames back through their KeyIDs' aliases (after MKTME keys were programmed
    /// again), then invalidates the image header.
    func restoreEncryptedMemory() throws(HWKeysError) {
        try restoreFrames(kernelMemory: false)
        Self.discard(on: disk)
        kernel.printk("PM", "Image restored; hibernation image on \(disk.name) invalidated")
    }

    // MARK: Reading

    private func restoreFrames(kernelMemory: Bool) throws(HWKeysError) {
        guard let header = Self.header(on: disk) else {
            throw HWKeysError(.EIO, "no valid hibernation image on \(disk.name)")
        }
        let entries = try table(header)
        let block = UInt64(Self.blockSize)
        withUnsafeTemporaryAllocation(byteCount: Self.blockSize, alignment: 64) { page in
            for (index, entry) in entries.enumerated() where (entry.keyID == 0) == kernelMemory {
                disk.read((header.dataBlock + UInt64(index)) * block, into: page)
                kernel.physical.write(entry.frame << 12, keyID: entry.keyID, from: UnsafeRawBufferPointer(page))
            }
            page.initializeMemory(as: UInt8.self, repeating: 0)
        }
    }

    /// The frame table, checked against the (restored) page allocator: the same frames with the same KeyIDs.
    private func table(_ header: Header) throws(HWKeysError) -> [(frame: UInt64, keyID: UInt16)] {
        var bytes = [UInt8](repeating: 0, count: Int(header.frameCount) * Self.tableEntrySize)
        bytes.withUnsafeMutableBytes { disk.read(header.tableBlock * UInt64(Self.blockSize), into: $0) }
        var entries: [(frame: UInt64, keyID: UInt16)] = []
        entries.reserveCapacity(Int(header.frameCount))
        for index in 0..<Int(header.frameCount) {
            var frame: UInt64 = 0
            var keyID: UInt16 = 0
            for byte in 0..<8 { frame |= UInt64(bytes[index * 16 + byte]) << (8 * byte) }
            for byte in 0..<2 { keyID |= UInt16(bytes[index * 16 + 8 + byte]) << (8 * byte) }
            entries.append((frame, keyID))
        }
        let allocated = kernel.pages.allocated.sorted
        guard allocated.count == entries.count,
            zip(allocated, entries).allSatisfy({ $0.key == $1.frame && $0.value.keyID == $1.keyID })
        else {
            throw HWKeysError(.EIO, "the hibernation image's page table does not match the kernel it carries")
        }
        return entries
    }

    /// Whole 4 KiB blocks on `disk`.
    static func diskBlocks(_ disk: any BlockDevice) -> Int { Int(disk.size / UInt64(blockSize)) }

    /// The valid image header on `disk`, if any.
    static func header(on disk: any BlockDevice) -> Header? {
        guard disk.size >= UInt64(blockSize) else { return nil }
        var bytes = [UInt8](repeating: 0, count: blockSize)
        bytes.withUnsafeMutableBytes { disk.read(0, into: $0) }
        return Header(bytes, diskBlocks: diskBlocks(disk))
    }

    /// Zeroes the header block (the image is no longer valid; its data blocks stay on the disk).
    static func discard(on disk: any BlockDevice) {
        guard disk.size >= UInt64(blockSize), header(on: disk) != nil else { return }
        [UInt8](repeating: 0, count: blockSize).withUnsafeBytes { disk.write(0, from: $0) }
    }
}

extension Kernel {
    /// The swap device that the `resume=` of boot command line `commandLine` names, if the platform has
    /// it (nil too for a command line that does not parse: such a kernel does not boot).
    static func resumeDisk(on platform: any KernelPlatform, commandLine: String) -> (any BlockDevice)? {
        guard let name = (try? KernelCommandLine(commandLine))?.resumeDevice else { return nil }
        return platform.disk(named: name)
    }

    /// The kernel state saved in a valid hibernation image on the swap device that `resume=` in the boot
    /// command line `commandLine` names, or nil when there is none (then a power-on boots fresh). Read at
    /// power-on and resume, before any kernel runs, as Linux's `software_resume()` checks the `resume=`
    /// device early in boot.
    public static func hibernationImageState(on platform: any KernelPlatform, commandLine: String) -> Data? {
        guard let disk = resumeDisk(on: platform, commandLine: commandLine) else { return nil }
        return imageState(on: disk)
    }

    /// The kernel state in a valid image on `disk`, if any.
    private static func imageState(on disk: any BlockDevice) -> Data? {
        guard let header = SwapHibernation.header(on: disk) else { return nil }
        var state = Data(count: Int(header.stateBytes))
        state.withUnsafeMutableBytes { disk.read(header.stateBlock * UInt64(SwapHibernation.blockSize), into: $0) }
        return state
    }

    /// Invalidates a hibernation image on the `resume=` device of `commandLine` (after a failed resume).
    public static func discardHibernationImage(on platform: any KernelPlatform, commandLine: String) {
        if let disk = resumeDisk(on: platform, commandLine: commandLine) { SwapHibernation.discard(on: disk) }
    }

    /// Resumes the kernel saved in the hibernation image on the `resume=` device of boot command line
    /// `commandLine`: rebuilds it from the saved state (``restore(platform:state:)``), then runs
    /// ``resumed(from:)`` for S4, which writes memory back from the image around the other subsystems'
    /// resume work. The saved kernel must use the same swap device (its own `resume=`, or `swap` for a
    /// kernel saved before `resume=` existed); otherwise the image is refused with EINVAL.
    ///
    /// - Returns: nil when there is no valid image.
    public static func resumeFromHibernation(
        platform: any KernelPlatform,
        commandLine: String
    ) throws(HWKeysError) -> Kernel? {
        guard let disk = resumeDisk(on: platform, commandLine: commandLine), let state = imageState(on: disk) else {
            return nil
        }
        let kernel = try restore(platform: platform, state: state)
        guard kernel.resumeDevice == disk.name else {
            throw HWKeysError(
                .EINVAL,
                "the image on \(disk.name) holds a kernel whose swap device is \(kernel.resumeDevice ?? "none")"
            )
        }
        try kernel.resumed(from: .hibernate)
        return kernel
    }
}
