//===----------------------------------------------------------------------===//
//
// hwkeys: KernelTests
//
//===----------------------------------------------------------------------===//

import Foundation
import HWCrypto
import HWKeysBase
import Platform
import TestSupport
import Testing
import X86

@testable import Kernel

/// The modelled oops (docs/robustness.md): kernel data in DRAM that contradicts the kernel's bookkeeping —
/// written by a kernel write primitive, `hw store`, `hw poke-dram` — ends in a `BUG:` line in dmesg and the
/// command's EFAULT, with nothing changed; paths that cannot fail (exit) report it and leak what the entry
/// named. Each of these used to trap the host process.
@Suite struct KernelOopsTests {
    /// A kernel with one private mapping of `pages` touched pages in the shell.
    func mapped(pages: Int = 2) throws -> (Machine, Kernel, UInt64) {
        let (machine, kernel) = try bootedKernel { $0.memoryBytes = 8 << 20 }
        let base = try kernel.mmap(pid: shell, length: UInt64(pages) << 12, protection: .rw, shared: false)
        try kernel.write(shell, base, [UInt8](repeating: 0x42, count: pages << 12))
        try kernel.add("user", "token", "in a heap frame")
        return (machine, kernel, base)
    }

    /// The DRAM address of the leaf entry of `address` in `pid`'s tables.
    func leafSlot(_ kernel: Kernel, _ pid: Int32, _ address: UInt64) throws -> UInt64 {
        var table = try #require(kernel.memoryManager.spaces[pid]?.root)
        for level in stride(from: 3, to: 0, by: -1) {
            let entry = kernel.physical.readUInt64(
                table << 12 + UInt64(PageTableEntry.index(address, level: level) * 8)
            )
            table = kernel.keyIDLayout.frame(ofEntry: entry)
        }
        return table << 12 + UInt64(PageTableEntry.index(address, level: 0) * 8)
    }

    /// The DRAM address of the level-`level` table entry (3 = PML4E) covering `address`.
    func tableSlot(_ kernel: Kernel, _ pid: Int32, _ address: UInt64, level: Int) throws -> UInt64 {
        var table = try #require(kernel.memoryManager.spaces[pid]?.root)
        for walked in stride(from: 3, to: level, by: -1) {
            let entry = kernel.physical.readUInt64(
                table << 12 + UInt64(PageTableEntry.index(address, level: walked) * 8)
            )
            table = kernel.keyIDLayout.frame(ofEntry: entry)
        }
        return table << 12 + UInt64(PageTableEntry.index(address, level: level) * 8)
    }

    func oopsLines(_ kernel: Kernel) -> [String] {
        kernel.log.lines.map(\.text).filter { $0.hasPrefix("BUG: ") }
    }

    /// The reported trap: `hw store` over a PTE so that it names frame 0, then `proc munmap`.
    @Test func munmapOfAPTENamingFrame0IsEFAULTAndChangesNothing() throws {
        let (_, kernel, base) = try mapped()
        let slot = try leafSlot(kernel, shell, base)
        let entry = kernel.physical.readUInt64(slot)
        kernel.physical.writeUInt64(slot, entry & 0xFFF)  // frame 0, flags kept
        let before = kernel.memorySnapshot()
        expectErrno(.EFAULT) { try kernel.munmap(pid: shell, address: base, length: 0x2000) }
        #expect(kernel.memorySnapshot() == before)
        #expect(
            oopsLines(kernel).contains {
                $0.hasPrefix("BUG: Bad page map: pte") && $0.contains("frame 0 is not allocated")
            }
        )
        // Unmapping only the good page works; exit cannot fail and leaks the frame the entry lost.
        try kernel.munmap(pid: shell, address: base + 0x1000, length: 0x1000)
        let child = try kernel.createProcess(parent: shell, exec: true)
        #expect(throws: Never.self) { try kernel.exitProcess(child) }
        let free = kernel.pages.freeFrames
        try kernel.exitProcess(shell)
        #expect(kernel.pages.freeFrames > free)
        #expect(oopsLines(kernel).count == 2)
    }

    @Test func aPTENamingAnotherKindOfFrameOrKeyIDIsRefusedByEverythingThatFreesOrCopies() throws {
        let (_, kernel, base) = try mapped()
        let slot = try leafSlot(kernel, shell, base)
        let entry = kernel.physical.readUInt64(slot)
        let heapFrame = try #require(kernel.pages.allocated.sorted.first { $0.value.owner == .kernelHeap }?.key)
        for bad in [
            entry & ~kernel.keyIDLayout.addressMask & ~UInt64(0xFFF) | heapFrame << 12 | entry & 0xFFF,  // a heap frame
            entry | 1 << UInt64(kernel.keyIDLayout.keyIDShift),  // the right frame under KeyID 1
        ] {
            kernel.physical.writeUInt64(slot, bad)
            let before = kernel.memorySnapshot()
            expectErrno(.EFAULT) { try kernel.munmap(pid: shell, address: base, length: 0x1000) }
            expectErrno(.EFAULT) { _ = try kernel.createProcess(parent: shell, exec: false) }
            #expect(kernel.memorySnapshot() == before)
            #expect(kernel.processes.processes.count == 2)
        }
        kernel.physical.writeUInt64(slot, entry)
        try kernel.munmap(pid: shell, address: base, length: 0x1000)
    }

    @Test func reservedBitsInALeafFailTheAccessAndAWriteStoresNothing() throws {
        let (_, kernel, base) = try mapped()
        let slot = try leafSlot(kernel, shell, base + 0x1000)
        kernel.physical.writeUInt64(slot, kernel.physical.readUInt64(slot) | 1 << 51)
        expectErrno(.EFAULT) { _ = try kernel.read(shell, base, 0x2000) }
        expectErrno(.EFAULT) { try kernel.write(shell, base, [UInt8](repeating: 7, count: 0x2000)) }
        #expect(try kernel.read(shell, base, 16) == [UInt8](repeating: 0x42, count: 16))
    }

    @Test(arguments: [3, 2, 1])
    func aTableEntryThatIsNotThisProcessesTableIsEFAULTEverywhere(level: Int) throws {
        let (_, kernel, base) = try mapped()
        let other = try kernel.createProcess(parent: shell, uid: 1000, exec: true)
        let theirs = try kernel.mmap(pid: other, length: 0x1000, protection: .rw, shared: false)
        try kernel.write(other, theirs, text: "theirs")
        let slot = try tableSlot(kernel, shell, base, level: level)
        let entry = kernel.physical.readUInt64(slot)
        let foreign = try #require(kernel.memoryManager.spaces[other]?.root)
        for bad in [entry & 0xFFF | foreign << 12, entry | 1 << 7, entry | 1 << 50] {
            kernel.physical.writeUInt64(slot, bad)
            let before = kernel.memorySnapshot()
            expectErrno(.EFAULT) { _ = try kernel.read(shell, base, 8) }
            expectErrno(.EFAULT) { try kernel.write(shell, base, [1]) }
            expectErrno(.EFAULT) { try kernel.mprotect(pid: shell, address: base, length: 0x2000, protection: .r) }
            expectErrno(.EFAULT) { try kernel.munmap(pid: shell, address: base, length: 0x2000) }
            expectErrno(.EFAULT) { _ = try kernel.translate(pid: shell, address: base) }
            expectErrno(.EFAULT) { _ = try kernel.sysfsRead("/proc/\(shell)/smaps") }
            #expect(kernel.memorySnapshot() == before)
        }
        // The other process is untouched; the shell's exit skips the bad table and frees the rest.
        #expect(try kernel.read(other, theirs, 6) == Array("theirs".utf8))
        try kernel.exitProcess(shell)
        #expect(oopsLines(kernel).contains { $0.contains("Bad page table entry") })
        #expect(try kernel.read(other, theirs, 6) == Array("theirs".utf8))
    }

    @Test func rotationChecksEveryPageBeforeMovingAny() throws {
        let (_, kernel) = try mktmeKernel(.revised) { $0.memoryBytes = 8 << 20 }
        let serial = try kernel.addMKTME("tenant", "type=cpu")
        let base = try kernel.mmap(pid: shell, length: 0x2000, protection: .rw, shared: false)
        try kernel.encryptMprotect(pid: shell, address: base, length: 0x2000, protection: .rw, serial: serial)
        try kernel.write(shell, base, [UInt8](repeating: 9, count: 0x2000))
        let slot = try leafSlot(kernel, shell, base + 0x1000)
        let entry = kernel.physical.readUInt64(slot)
        kernel.physical.writeUInt64(slot, entry & ~kernel.keyIDLayout.keyIDMask)  // KeyID 0
        let keyID = kernel.mk.keyID(ofKey: serial)
        expectErrno(.EFAULT) { try kernel.update(serial, "type=cpu") }
        #expect(kernel.mk.keyID(ofKey: serial) == keyID)
        #expect(try kernel.read(shell, base, 16) == [UInt8](repeating: 9, count: 16))
        kernel.physical.writeUInt64(slot, entry)
        try kernel.update(serial, "type=cpu")
        #expect(kernel.mk.keyID(ofKey: serial) != keyID)
        #expect(try kernel.read(shell, base + 0x1000, 16) == [UInt8](repeating: 9, count: 16))
    }

    @Test func freeingAnAllocationTheHeapDidNotMakeIsReportedAndLeaked() throws {
        let (_, kernel, base) = try mapped()
        let user = try kernel.translate(pid: shell, address: base).physicalAddress
        let free = kernel.pages.freeFrames
        kernel.freeKernelMemory(KernelAllocation(segments: [.init(address: user, length: 4096)], sizeClass: 0))
        #expect(kernel.pages.freeFrames == free)
        #expect(try kernel.read(shell, base, 4) == [0x42, 0x42, 0x42, 0x42])
        let chunk = try kernel.allocateKernelMemory(40)
        kernel.freeKernelMemory(chunk)
        kernel.freeKernelMemory(chunk)  // a double free
        #expect(oopsLines(kernel).count == 2)
        #expect(oopsLines(kernel).allSatisfy { $0.hasPrefix("BUG: Bad kfree") })
        #expect(kernel.pages.free(0) == false)
    }
}

/// Saved kernels (the state file's `kernel` component, the hibernation image's state) are
/// attacker-writable: bookkeeping that later code relies on is checked when they are restored (EIO), so
/// nothing traps afterwards (docs/robustness.md).
@Suite struct KernelImageValidationTests {
    /// The saved state as JSON of a kernel with a touched page and a user key (so frames are allocated),
    /// changed by `change`, restored.
    func restore(
        _ change: (inout [String: Any]) throws -> Void,
        prepare: (Kernel) throws -> Void = { _ in }
    ) throws -> Result<Kernel, HWKeysError> {
        let (machine, kernel) = try bootedKernel { $0.memoryBytes = 8 << 20 }
        let base = try kernel.mmap(pid: shell, length: 0x2000, protection: .rw, shared: false)
        try kernel.write(shell, base, [1])
        try kernel.add("user", "token", "payload")
        try prepare(kernel)
        var object = try #require(try JSONSerialization.jsonObject(with: try kernel.encodeState()) as? [String: Any])
        try change(&object)
        let state = try JSONSerialization.data(withJSONObject: object)
        do {
            return .success(try Kernel.restore(platform: machine, state: state))
        } catch {
            return .failure(error)
        }
    }

    func expectEIO(
        _ change: (inout [String: Any]) throws -> Void,
        prepare: (Kernel) throws -> Void = { _ in },
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        switch try restore(change, prepare: prepare) {
        case .success: Issue.record("the change restored", sourceLocation: sourceLocation)
        case .failure(let error): #expect(error.errno == .EIO, "\(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func theUnchangedStateRestores() throws {
        guard case .success = try restore({ _ in }) else {
            Issue.record("unchanged state refused")
            return
        }
    }

    @Test func pageAllocatorRecordsAreChecked() throws {
        // An allocated frame under a KeyID that does not exist (trapped in the alias at hibernation).
        try expectEIO { object in
            var pages = object["pages"] as! [String: Any]
            var allocated = pages["allocated"] as! [[String: Any]]
            var first = allocated[0]["value"] as! [String: Any]
            first["keyID"] = 4000
            allocated[0]["value"] = first
            pages["allocated"] = allocated
            object["pages"] = pages
        }
        // A high-water mark beyond the frames (freeFrames underflowed).
        try expectEIO { object in
            var pages = object["pages"] as! [String: Any]
            pages["highWater"] = 1 << 40
            object["pages"] = pages
        }
        // A free frame that is also allocated.
        try expectEIO(
            { object in
                var pages = object["pages"] as! [String: Any]
                let allocated = pages["allocated"] as! [[String: Any]]
                pages["freeStack"] = [allocated[0]["key"]!]
                object["pages"] = pages
            }
        )
    }

    @Test func heapAndAllocationsAreChecked() throws {
        try expectEIO { object in
            var heap = object["heap"] as! [String: Any]
            heap["freeChunks"] = [[0x12345]] + [[Int]](repeating: [], count: 7)
            object["heap"] = heap
        }
        try expectEIO { object in
            var heap = object["heap"] as! [String: Any]
            heap["freeChunks"] = [[Int]](repeating: [], count: 3)
            object["heap"] = heap
        }
        // A Key Locker remembered key of an impossible shape: a decoding error, reported as EIO.
        try expectEIO(
            { object in
                var keyLocker = object["keyLocker"] as! [String: Any]
                keyLocker["rememberedKey"] = ["segments": [["address": 4096, "length": -48]], "sizeClass": 64]
                object["keyLocker"] = keyLocker
            },
            prepare: { try $0.keyLockerManager.setMode("native_kernel_key_remember") }
        )
    }

    @Test func processesLogAndAddressSpacesAreChecked() throws {
        try expectEIO { object in
            var processes = object["processes"] as! [String: Any]
            processes["nextPID"] = Int(Int32.max)
            object["processes"] = processes
        }
        try expectEIO { object in
            var log = object["log"] as! [String: Any]
            log["dropped"] = -1
            object["log"] = log
        }
        let vmaChanges: [(inout [String: Any]) -> Void] = [
            { vma in vma["end"] = 0x7FFF_FFFF_F000 + 0x1000 },  // beyond user space
            { vma in vma["keyID"] = 1 << 10 },  // a KeyID that does not exist (64 do)
            { vma in vma["start"] = (vma["end"] as! Int) + 0x1000 },  // start after end
        ]
        for change in vmaChanges {
            try expectEIO(
                { object in
                    var memory = object["memory"] as! [String: Any]
                    var spaces = memory["spaces"] as! [[String: Any]]
                    var space = spaces[0]["value"] as! [String: Any]
                    var vmas = space["vmas"] as! [[String: Any]]
                    change(&vmas[0])
                    space["vmas"] = vmas
                    spaces[0]["value"] = space
                    memory["spaces"] = spaces
                    object["memory"] = memory
                }
            )
        }
        // A page-table frame that is not a page table.
        try expectEIO(
            { object in
                var memory = object["memory"] as! [String: Any]
                var spaces = memory["spaces"] as! [[String: Any]]
                var space = spaces[0]["value"] as! [String: Any]
                space["tableFrames"] = (space["tableFrames"] as! [Int]) + [0]
                spaces[0]["value"] = space
                memory["spaces"] = spaces
                object["memory"] = memory
            }
        )
    }
}
