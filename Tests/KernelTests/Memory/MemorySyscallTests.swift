//===----------------------------------------------------------------------===//
//
// hwkeys: KernelTests
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase
import KernelInterfaces
import Platform
import TestSupport
import Testing
import X86

@testable import Kernel

/// mmap, munmap, mprotect and process access: Linux's errno for each bad argument, with nothing changed.
@Suite struct MemorySyscallTests {
    @Test func mmapIsTopDownPageRoundedAndMergesAlikeNeighbours() throws {
        let (_, kernel) = try bootedKernel()
        let first = try kernel.mmap(pid: shell, length: 100, protection: .rw, shared: false)
        #expect(first == AddressSpace.mmapBase - 0x1000)
        let second = try kernel.mmap(pid: shell, length: 0x2000, protection: .rw, shared: false)
        #expect(second == first - 0x2000)
        // Adjacent and alike: one VMA, as Linux's vma_merge makes it.
        #expect(kernel.vmas(shell).map(\.start) == [second])
        #expect(kernel.vmas(shell)[0].end == AddressSpace.mmapBase)
        let shared = try kernel.mmap(pid: shell, length: 0x1000, protection: .rw, shared: true)
        #expect(kernel.vmas(shell).count == 2)
        #expect(kernel.vmas(shell)[0].shared && kernel.vmas(shell)[0].start == shared)
        // Nothing allocated until touched.
        #expect(kernel.memoryManager.spaces[shell]?.root == nil)
    }

    @Test func mmapErrors() throws {
        let (_, kernel) = try bootedKernel()
        let before = kernel.memorySnapshot()
        expectErrno(.EINVAL) { _ = try kernel.mmap(pid: shell, length: 0, protection: .rw, shared: false) }
        expectErrno(.ENOMEM) { _ = try kernel.mmap(pid: shell, length: 1 << 47, protection: .rw, shared: false) }
        expectErrno(.ENOMEM) { _ = try kernel.mmap(pid: shell, length: UInt64.max, protection: .rw, shared: false) }
        expectErrno(.ESRCH) { _ = try kernel.mmap(pid: 4242, length: 4096, protection: .rw, shared: false) }
        #expect(kernel.memorySnapshot() == before)
        // The whole range below mmap_base can be taken once, then there is no room.
        _ = try kernel.mmap(
            pid: shell,
            length: AddressSpace.mmapBase - AddressSpace.mmapMin,
            protection: .none,
            shared: false
        )
        expectErrno(.ENOMEM) { _ = try kernel.mmap(pid: shell, length: 4096, protection: .rw, shared: false) }
    }

    @Test func writeThenReadBackAndUntouchedPagesReadZerosWithoutAllocating() throws {
        let (_, kernel) = try bootedKernel()
        let base = try kernel.mmap(pid: shell, length: 0x4000, protection: .rw, shared: false)
        let free = kernel.pages.freeFrames
        #expect(try kernel.read(shell, base, 0x4000) == [UInt8](repeating: 0, count: 0x4000))
        #expect(kernel.pages.freeFrames == free)
        // A write across a page boundary faults in two pages (plus the four tables of the first walk).
        let data = testPattern(200)
        try kernel.write(shell, base + 0x1000 - 100, data)
        #expect(kernel.pages.freeFrames == free - 2 - 4)
        #expect(try kernel.read(shell, base + 0x1000 - 100, 200) == data)
        #expect(try kernel.read(shell, base, 0x1000 - 100) == [UInt8](repeating: 0, count: 0x1000 - 100))
        #expect(try kernel.memoryManager.residentPages(kernel.memoryManager.spaces[shell]!, base, base + 0x4000) == 2)
    }

    @Test func accessHonoursProtectionWithEFAULTAndChangesNothing() throws {
        let (_, kernel) = try bootedKernel()
        let readOnly = try kernel.mmap(pid: shell, length: 0x1000, protection: .r, shared: false)
        let none = try kernel.mmap(pid: shell, length: 0x1000, protection: .none, shared: false)
        let writable = try kernel.mmap(pid: shell, length: 0x1000, protection: .rw, shared: false)
        let before = kernel.memorySnapshot()
        expectErrno(.EFAULT) { try kernel.write(shell, readOnly, [1]) }
        expectErrno(.EFAULT) { _ = try kernel.read(shell, none, 1) }
        expectErrno(.EFAULT) { try kernel.write(shell, 0x1000, [1]) }
        // Straddling into an unmapped page: nothing written, not even the mapped part.
        expectErrno(.EFAULT) { try kernel.write(shell, AddressSpace.mmapBase - 8, [UInt8](repeating: 7, count: 16)) }
        expectErrno(.EFAULT) { try kernel.write(shell, UInt64.max - 4, [1, 2, 3, 4, 5, 6, 7, 8]) }
        // A range wrapping past 2^64 is named by its start and length, never by a wrapped end below its start.
        let wrapped = #expect(throws: HWKeysError.self) {
            try kernel.write(shell, UInt64.max - 4, [1, 2, 3, 4, 5, 6, 7, 8])
        }
        #expect(
            wrapped?.message == "process \(shell) cannot write 8 bytes at 0xfffffffffffffffb: unmapped or not writable"
        )
        expectErrno(.ESRCH) { _ = try kernel.read(4242, writable, 1) }
        #expect(kernel.memorySnapshot() == before)
        #expect(try kernel.read(shell, readOnly, 4) == [0, 0, 0, 0])
    }

    @Test func aWriteThatCannotGetMemoryIsENOMEMAndAllocatesNothing() throws {
        let (_, kernel) = try bootedKernel { $0.memoryBytes = 4 << 20 }
        let length: UInt64 = 4 << 20
        let base = try kernel.mmap(pid: shell, length: length, protection: .rw, shared: false)
        let before = kernel.memorySnapshot()
        expectErrno(.ENOMEM) { try kernel.write(shell, base, [UInt8](repeating: 1, count: Int(length))) }
        #expect(kernel.memorySnapshot() == before)
        try kernel.write(shell, base, [UInt8](repeating: 1, count: 0x10000))
    }

    @Test func munmapSplitsFreesAndAcceptsHoles() throws {
        let (_, kernel) = try bootedKernel()
        let base = try kernel.mmap(pid: shell, length: 0x4000, protection: .rw, shared: false)
        try kernel.write(shell, base, [UInt8](repeating: 9, count: 0x4000))
        let free = kernel.pages.freeFrames
        try kernel.munmap(pid: shell, address: base + 0x1000, length: 0x1001)  // rounds up to two pages
        #expect(
            kernel.vmas(shell).map { [$0.start, $0.end] } == [[base, base + 0x1000], [base + 0x3000, base + 0x4000]]
        )
        #expect(kernel.pages.freeFrames == free + 2)
        expectErrno(.EFAULT) { _ = try kernel.read(shell, base + 0x1000, 1) }
        #expect(try kernel.read(shell, base + 0x3000, 2) == [9, 9])
        // A hole in the range is fine.
        try kernel.munmap(pid: shell, address: base, length: 0x4000)
        #expect(kernel.vmas(shell).isEmpty)
        #expect(kernel.pages.freeFrames == free + 4)
    }

    @Test func munmapErrors() throws {
        let (_, kernel) = try bootedKernel()
        let base = try kernel.mmap(pid: shell, length: 0x2000, protection: .rw, shared: false)
        let before = kernel.memorySnapshot()
        expectErrno(.EINVAL) { try kernel.munmap(pid: shell, address: base + 1, length: 0x1000) }
        expectErrno(.EINVAL) { try kernel.munmap(pid: shell, address: base, length: 0) }
        expectErrno(.EINVAL) { try kernel.munmap(pid: shell, address: AddressSpace.taskSize, length: 0x2000) }
        expectErrno(.EINVAL) { try kernel.munmap(pid: shell, address: base, length: UInt64.max) }
        expectErrno(.ESRCH) { try kernel.munmap(pid: 4242, address: base, length: 0x1000) }
        #expect(kernel.memorySnapshot() == before)
    }

    @Test func mprotectSplitsMergesAndRewritesThePageTableEntries() throws {
        let (_, kernel) = try bootedKernel()
        let base = try kernel.mmap(pid: shell, length: 0x3000, protection: .rw, shared: false)
        try kernel.write(shell, base + 0x1000, [1, 2, 3])
        try kernel.mprotect(pid: shell, address: base + 0x1000, length: 0x1000, protection: .r)
        #expect(kernel.vmas(shell).map(\.protection) == [.rw, .r, .rw])
        // The leaf entry in DRAM lost R/W and kept its frame.
        let entry = try kernel.translate(pid: shell, address: base + 0x1000).entry
        #expect(entry & PageTableEntry.writable == 0 && entry & PageTableEntry.present != 0)
        expectErrno(.EFAULT) { try kernel.write(shell, base + 0x1000, [9]) }
        #expect(try kernel.read(shell, base + 0x1000, 3) == [1, 2, 3])
        try kernel.mprotect(pid: shell, address: base + 0x1000, length: 0x1000, protection: .rw)
        #expect(kernel.vmas(shell).count == 1)
        #expect(try kernel.translate(pid: shell, address: base + 0x1000).entry & PageTableEntry.writable != 0)
        try kernel.mprotect(pid: shell, address: base, length: 0x3000, protection: .none)
        let protNone = try kernel.translate(pid: shell, address: base + 0x1000).entry
        #expect(protNone & PageTableEntry.present == 0 && protNone & PageTableEntry.protNone != 0)
    }

    @Test func mprotectErrorsChangeNothing() throws {
        let (_, kernel) = try bootedKernel()
        let low = try kernel.mmap(pid: shell, length: 0x1000, protection: .rw, shared: false)
        _ = try kernel.mmap(pid: shell, length: 0x1000, protection: .r, shared: false)
        let lowest = try kernel.mmap(pid: shell, length: 0x1000, protection: .rw, shared: false)
        try kernel.munmap(pid: shell, address: lowest + 0x1000, length: 0x1000)  // a hole
        let before = kernel.memorySnapshot()
        expectErrno(.EINVAL) { try kernel.mprotect(pid: shell, address: low + 1, length: 0x1000, protection: .r) }
        expectErrno(.ENOMEM) { try kernel.mprotect(pid: shell, address: lowest, length: 0x3000, protection: .r) }
        expectErrno(.ENOMEM) { try kernel.mprotect(pid: shell, address: 0x10000, length: 0x1000, protection: .r) }
        expectErrno(.ENOMEM) { try kernel.mprotect(pid: shell, address: low, length: UInt64.max, protection: .r) }
        #expect(kernel.memorySnapshot() == before)
        try kernel.mprotect(pid: shell, address: low, length: 0, protection: .r)
        #expect(kernel.memorySnapshot() == before)
    }

    @Test func pageTablesLiveInDRAMUnderKeyIDZero() throws {
        let (machine, kernel) = try bootedKernel()
        let base = try kernel.mmap(pid: shell, length: 0x1000, protection: .rw, shared: false)
        try kernel.write(shell, base, [0x42])
        let space = try #require(kernel.memoryManager.spaces[shell])
        let root = try #require(space.root)
        #expect(space.tableFrames.count == 4)
        for frame in space.tableFrames { #expect(kernel.pages.frame(frame)?.owner == .pageTable) }
        // Walk by hand through the direct map: PML4 → PDPT → PD → PT → the leaf translate() reports.
        var table = root
        for level in stride(from: 3, through: 1, by: -1) {
            let entry = kernel.physical.readUInt64((table << 12) + UInt64(PageTableEntry.index(base, level: level) * 8))
            #expect(entry & PageTableEntry.present != 0)
            table = kernel.keyIDLayout.frame(ofEntry: entry)
        }
        let leafAddress = (table << 12) + UInt64(PageTableEntry.index(base, level: 0) * 8)
        let leaf = kernel.physical.readUInt64(leafAddress)
        let translation = try kernel.translate(pid: shell, address: base + 5)
        #expect(leaf == translation.entry)
        #expect(translation.physicalAddress == kernel.keyIDLayout.frame(ofEntry: leaf) << 12 | 5)
        // On the bus the entry is TME ciphertext, not the entry's bytes.
        for cpu in 0..<kernel.platform.cpus.count { try kernel.platform.cpus[cpu].wbinvd() }
        var plain = [UInt8](repeating: 0, count: 8)
        withUnsafeBytes(of: leaf.littleEndian) { plain = Array($0) }
        #expect(machine.dramBytes(leafAddress, 8) != plain)
    }

    @Test func forkCopiesMemoryAndExitFreesEverything() throws {
        let (_, kernel) = try bootedKernel()
        let free = kernel.pages.freeFrames
        let parent = try kernel.createProcess(parent: shell, exec: true)
        let base = try kernel.mmap(pid: parent, length: 0x3000, protection: .rw, shared: false)
        try kernel.write(parent, base, text: "parent data")
        try kernel.write(parent, base + 0x2000, text: "third page")
        let child = try kernel.createProcess(parent: parent, exec: false)
        #expect(kernel.vmas(child) == kernel.vmas(parent))
        #expect(try kernel.read(child, base, 11) == Array("parent data".utf8))
        #expect(try kernel.read(child, base + 0x2000, 10) == Array("third page".utf8))
        #expect(
            try kernel.translate(pid: child, address: base).physicalAddress
                != kernel.translate(pid: parent, address: base).physicalAddress
        )
        try kernel.write(child, base, text: "child")
        #expect(try kernel.read(parent, base, 6) == Array("parent".utf8))
        try kernel.exitProcess(child)
        try kernel.exitProcess(parent)
        #expect(kernel.memoryManager.spaces[child] == nil && kernel.memoryManager.spaces[parent] == nil)
        #expect(kernel.pages.freeFrames == free)
    }

    @Test func spawnStartsWithAnEmptyAddressSpace() throws {
        let (_, kernel) = try bootedKernel()
        _ = try kernel.mmap(pid: shell, length: 0x1000, protection: .rw, shared: false)
        let child = try kernel.createProcess(parent: shell, exec: true)
        #expect(kernel.vmas(child).isEmpty)
    }

    @Test func stateRoundTripsAddressSpaces() throws {
        let (machine, kernel) = try bootedKernel()
        let base = try kernel.mmap(pid: shell, length: 0x2000, protection: .rw, shared: false)
        try kernel.write(shell, base + 0x1800, text: "kept across save and restore")
        try kernel.mprotect(pid: shell, address: base, length: 0x1000, protection: .r)
        let shared = try kernel.mmap(pid: shell, length: 0x1000, protection: .rw, shared: true)
        try kernel.write(shell, shared, text: "shared")
        let encoded = try kernel.encodeState()
        let restored = try Kernel.restore(platform: machine, state: encoded)
        #expect(try restored.encodeState() == encoded)
        #expect(restored.vmas(shell) == kernel.vmas(shell))
        #expect(restored.memoryManager.sharedObjects == kernel.memoryManager.sharedObjects)
        #expect(try restored.read(shell, shared, 6) == Array("shared".utf8))
        #expect(try restored.read(shell, base + 0x1800, 28) == Array("kept across save and restore".utf8))
        #expect(try restored.sysfsRead("/proc/\(shell)/smaps") == kernel.sysfsRead("/proc/\(shell)/smaps"))
        #expect(restored.keyIDMappings === restored.memoryManager)
    }

    @Test func procMapsAndSmaps() throws {
        let (_, kernel) = try bootedKernel()
        let base = try kernel.mmap(pid: shell, length: 0x2000, protection: .rw, shared: false)
        try kernel.write(shell, base, [1])
        let maps = try kernel.sysfsRead("/proc/\(shell)/maps")
        #expect(maps == "\(String(base, radix: 16))-\(String(base + 0x2000, radix: 16)) rw-p 00000000 00:00 0")
        let smaps = try kernel.sysfsRead("/proc/\(shell)/smaps")
        #expect(smaps.contains("Size:                  8 kB"))
        #expect(smaps.contains("Rss:                   4 kB"))
        #expect(smaps.contains("KeyID:                 0"))
        let child = try kernel.createProcess(parent: shell, exec: true)
        #expect(try kernel.sysfsRead("/proc/\(child)/maps") == "")
        try kernel.exitProcess(child)
        expectErrno(.ENOENT) { _ = try kernel.sysfsRead("/proc/\(child)/maps") }
    }

    @Test func sharedMappingsStaySharedAcrossFork() throws {
        let (_, kernel) = try bootedKernel()
        let free = kernel.pages.freeFrames
        let parent = try kernel.createProcess(parent: shell, exec: true)
        let base = try kernel.mmap(pid: parent, length: 0x3000, protection: .rw, shared: true)
        try kernel.write(parent, base, text: "written before fork")
        let child = try kernel.createProcess(parent: parent, exec: false)
        #expect(try kernel.read(child, base, 19) == Array("written before fork".utf8))
        // A page the parent never touched, written by the child, is the parent's too.
        try kernel.write(child, base + 0x1000, text: "from the child")
        #expect(try kernel.read(parent, base + 0x1000, 14) == Array("from the child".utf8))
        try kernel.write(parent, base, text: "WRITTEN")
        #expect(try kernel.read(child, base, 7) == Array("WRITTEN".utf8))
        // Fork copied no page-table entries for the shared VMA (Linux lets faults fill them): the child's
        // first write maps the object's existing frame.
        expectErrno(.ENOENT) { _ = try kernel.translate(pid: child, address: base) }
        try kernel.write(child, base + 7, text: "!")
        #expect(try kernel.read(parent, base, 8) == Array("WRITTEN!".utf8))
        #expect(
            try kernel.translate(pid: child, address: base).physicalAddress
                == kernel.translate(pid: parent, address: base).physicalAddress
        )
        // Split and re-merged by mprotect, unmapped by one process: the pages live on for the other.
        try kernel.mprotect(pid: parent, address: base + 0x1000, length: 0x1000, protection: .r)
        try kernel.mprotect(pid: parent, address: base + 0x1000, length: 0x1000, protection: .rw)
        #expect(kernel.vmas(parent).count == 1)
        try kernel.munmap(pid: parent, address: base, length: 0x3000)
        #expect(try kernel.read(child, base + 0x1000, 14) == Array("from the child".utf8))
        #expect(kernel.memoryManager.sharedObjects.count == 1)
        try kernel.exitProcess(child)
        try kernel.exitProcess(parent)
        #expect(kernel.memoryManager.sharedObjects.isEmpty)
        #expect(kernel.pages.freeFrames == free)
    }

    @Test func privateMappingsAreCopiedAtFork() throws {
        let (_, kernel) = try bootedKernel()
        let base = try kernel.mmap(pid: shell, length: 0x1000, protection: .rw, shared: false)
        try kernel.write(shell, base, text: "mine")
        let child = try kernel.createProcess(parent: shell, exec: false)
        try kernel.write(child, base, text: "copy")
        #expect(try kernel.read(shell, base, 4) == Array("mine".utf8))
        #expect(kernel.memoryManager.sharedObjects.isEmpty)
    }
}
