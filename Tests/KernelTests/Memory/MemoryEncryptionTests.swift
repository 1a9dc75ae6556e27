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

/// encrypt_mprotect (docs/contract.md §6 "Common to both") against a directly programmed KeyID, the references it
/// moves, the DRAM it leaves behind, and rotation through the ``KeyIDMappings`` seam.
@Suite struct MemoryEncryptionTests {
    @Test func withoutMKTMEItIsEOPNOTSUPP() throws {
        let (_, kernel) = try bootedKernel()
        kernel.memoryEncryption = nil  // as on a machine without MKTME
        let base = try kernel.mmap(pid: shell, length: 0x1000, protection: .rw, shared: false)
        let before = kernel.memorySnapshot()
        expectErrno(.EOPNOTSUPP) {
            try kernel.encryptMprotect(pid: shell, address: base, length: 0x1000, protection: .rw, serial: 7)
        }
        #expect(kernel.memorySnapshot() == before)
    }

    @Test func badArgumentsChangeNothingAndLeaveNoReference() throws {
        let (_, kernel, keys) = try memoryKernel()
        try keys.program(serial: 7, keyID: 1, key: keyA)
        let base = try kernel.mmap(pid: shell, length: 0x3000, protection: .rw, shared: false)
        let shared = try kernel.mmap(pid: shell, length: 0x1000, protection: .rw, shared: true)
        try kernel.write(shell, base, text: "keep me")
        try kernel.munmap(pid: shell, address: base + 0x1000, length: 0x1000)  // a hole
        let before = kernel.memorySnapshot()
        // Alignment is checked before the key is looked up.
        expectErrno(.EINVAL) {
            try kernel.encryptMprotect(pid: shell, address: base + 8, length: 0x1000, protection: .rw, serial: 7)
        }
        expectErrno(.EINVAL) {
            try kernel.encryptMprotect(pid: shell, address: base, length: 0x800, protection: .rw, serial: 7)
        }
        #expect(keys.lookups == 0)
        expectErrno(.ENOKEY) {
            try kernel.encryptMprotect(pid: shell, address: base, length: 0x1000, protection: .rw, serial: 99)
        }
        // Range errors come before the key is asked (so no KeyID is taken): a hole, a shared mapping, an
        // unmapped range, a range leaving user space.
        expectErrno(.ENOMEM) {
            try kernel.encryptMprotect(pid: shell, address: base, length: 0x3000, protection: .rw, serial: 7)
        }
        expectErrno(.EINVAL) {
            try kernel.encryptMprotect(pid: shell, address: shared, length: 0x1000, protection: .rw, serial: 7)
        }
        expectErrno(.ENOMEM) {
            try kernel.encryptMprotect(pid: shell, address: 0x10000, length: 0x1000, protection: .rw, serial: 7)
        }
        expectErrno(.ENOMEM) {
            try kernel.encryptMprotect(
                pid: shell,
                address: base,
                length: 0xFFFF_FFFF_FFFF_F000,
                protection: .rw,
                serial: 7
            )
        }
        expectErrno(.ESRCH) {
            try kernel.encryptMprotect(pid: 4242, address: base, length: 0x1000, protection: .rw, serial: 7)
        }
        #expect(keys.lookups == 1)
        #expect(keys.references.isEmpty)
        #expect(kernel.memorySnapshot() == before)
        #expect(try kernel.read(shell, base, 7) == Array("keep me".utf8))
        // Zero length: the key is still looked up (the RFC's syscall calls lookup_user_key before
        // do_mprotect_ext returns 0 for an empty range), nothing else happens.
        let lookups = keys.lookups
        expectErrno(.ENOKEY) {
            try kernel.encryptMprotect(pid: shell, address: base, length: 0, protection: .rw, serial: 99)
        }
        try kernel.encryptMprotect(pid: shell, address: base, length: 0, protection: .rw, serial: 7)
        #expect(keys.lookups == lookups + 2)
        #expect(keys.references.isEmpty && kernel.memorySnapshot() == before)
    }

    @Test func itDiscardsPagesSetsTheKeyIDAndMovesReferences() throws {
        let (_, kernel, keys) = try memoryKernel()
        try keys.program(serial: 7, keyID: 1, key: keyA)
        let base = try kernel.mmap(pid: shell, length: 0x4000, protection: .rw, shared: false)
        try kernel.write(shell, base, [UInt8](repeating: 0x55, count: 0x4000))
        let free = kernel.pages.freeFrames
        try kernel.encryptMprotect(pid: shell, address: base + 0x1000, length: 0x2000, protection: .r, serial: 7)
        // Split in three; the middle has the KeyID and the new protection; its two pages are gone.
        #expect(kernel.vmas(shell).map(\.keyID) == [0, 1, 0])
        #expect(kernel.vmas(shell).map(\.protection) == [.rw, .r, .rw])
        #expect(kernel.pages.freeFrames == free + 2)
        #expect(try kernel.read(shell, base + 0x1000, 0x2000) == [UInt8](repeating: 0, count: 0x2000))
        #expect(try kernel.read(shell, base, 1) == [0x55])
        // One reference for the VMA (the caller's own was dropped at the end).
        #expect(keys.references == [1: 1])
        #expect(kernel.memoryManager.users(ofKeyID: 1) == 1)
        // Pages faulted in later take one each.
        try kernel.mprotect(pid: shell, address: base + 0x1000, length: 0x2000, protection: .rw)
        try kernel.write(shell, base + 0x1000, [UInt8](repeating: 0xAA, count: 0x2000))
        #expect(keys.references == [1: 3])
        #expect(try kernel.translate(pid: shell, address: base + 0x1000).keyID == 1)
        // Plain mprotect keeps the KeyID.
        try kernel.mprotect(pid: shell, address: base, length: 0x4000, protection: .r)
        #expect(kernel.vmas(shell).map(\.keyID) == [0, 1, 0])
        #expect(try kernel.read(shell, base + 0x1000, 2) == [0xAA, 0xAA])
        // munmap returns every reference.
        try kernel.munmap(pid: shell, address: base, length: 0x4000)
        #expect(keys.references.isEmpty && keys.underflows.isEmpty)
        #expect(kernel.memoryManager.keyIDUse.isEmpty)
    }

    @Test func vmasOfDifferentKeyIDsNeverMergeButAlikeOnesDo() throws {
        let (_, kernel, keys) = try memoryKernel()
        try keys.program(serial: 7, keyID: 1, key: keyA)
        try keys.program(serial: 8, keyID: 2, key: keyB)
        let base = try kernel.mmap(pid: shell, length: 0x3000, protection: .rw, shared: false)
        try kernel.encryptMprotect(pid: shell, address: base, length: 0x1000, protection: .rw, serial: 7)
        try kernel.encryptMprotect(pid: shell, address: base + 0x1000, length: 0x1000, protection: .rw, serial: 8)
        #expect(kernel.vmas(shell).map(\.keyID) == [1, 2, 0])
        try kernel.encryptMprotect(pid: shell, address: base + 0x2000, length: 0x1000, protection: .rw, serial: 8)
        #expect(kernel.vmas(shell).map(\.keyID) == [1, 2])
        #expect(keys.references == [1: 1, 2: 1])
        // Re-keying the middle to KeyID 1 merges it with its like neighbour; KeyID 2 keeps one VMA.
        try kernel.encryptMprotect(pid: shell, address: base + 0x1000, length: 0x1000, protection: .rw, serial: 7)
        #expect(kernel.vmas(shell).map(\.keyID) == [1, 2])
        #expect(kernel.vmas(shell)[0].end == base + 0x2000)
        #expect(keys.references == [1: 1, 2: 1])
    }

    @Test func anEncryptedPageSitsInDRAMAsXTSOfItsPlaintext() throws {
        let (machine, kernel, keys) = try memoryKernel()
        try keys.program(serial: 7, keyID: 3, key: keyA)
        let base = try kernel.mmap(pid: shell, length: 0x1000, protection: .none, shared: false)
        try kernel.encryptMprotect(pid: shell, address: base, length: 0x1000, protection: .rw, serial: 7)
        let plaintext = testPattern(4096, seed: 9)
        try kernel.write(shell, base, plaintext)
        let translation = try kernel.translate(pid: shell, address: base)
        #expect(translation.keyID == 3)
        #expect(kernel.keyIDLayout.keyID(ofEntry: translation.entry) == 3)
        for cpu in kernel.platform.cpus { try cpu.wbinvd() }
        let dram = machine.dramBytes(translation.physicalAddress, 4096)
        #expect(dram == xtsLines(keyA, address: translation.physicalAddress, plaintext))
        #expect(try kernel.read(shell, base, 4096) == plaintext)
        // The same bytes under KeyID 0 sit in DRAM as something else (the TME key).
        let plain = try kernel.mmap(pid: shell, length: 0x1000, protection: .rw, shared: false)
        try kernel.write(shell, plain, plaintext)
        let zero = try kernel.translate(pid: shell, address: plain)
        for cpu in kernel.platform.cpus { try cpu.wbinvd() }
        #expect(zero.keyID == 0)
        let tme = machine.dramBytes(zero.physicalAddress, 4096)
        #expect(tme != plaintext && tme != xtsLines(keyA, address: zero.physicalAddress, plaintext))
    }

    @Test func forkSharesKeyIDsWithOneMoreReferenceEach() throws {
        let (_, kernel, keys) = try memoryKernel()
        try keys.program(serial: 7, keyID: 1, key: keyA)
        let parent = try kernel.createProcess(parent: shell, exec: true)
        let base = try kernel.mmap(pid: parent, length: 0x2000, protection: .rw, shared: false)
        try kernel.encryptMprotect(pid: parent, address: base, length: 0x2000, protection: .rw, serial: 7)
        try kernel.write(parent, base, text: "tenant secret")
        #expect(keys.references == [1: 2])
        let child = try kernel.createProcess(parent: parent, exec: false)
        #expect(kernel.vmas(child).map(\.keyID) == [1])
        #expect(try kernel.translate(pid: child, address: base).keyID == 1)
        #expect(try kernel.read(child, base, 13) == Array("tenant secret".utf8))
        #expect(keys.references == [1: 4])
        try kernel.exitProcess(child)
        #expect(keys.references == [1: 2])
        try kernel.exitProcess(parent)
        #expect(keys.references.isEmpty && keys.underflows.isEmpty)
        #expect(kernel.memoryManager.users(ofKeyID: 1) == 0)
    }

    @Test func rotationMovesPagesToTheNewKeyIDWithContentsIntact() throws {
        let (machine, kernel, keys) = try memoryKernel()
        try keys.program(serial: 7, keyID: 1, key: keyA)
        try keys.programRaw(keyID: 2, command: .setKeyDirect, key: keyB)
        let base = try kernel.mmap(pid: shell, length: 0x3000, protection: .rw, shared: false)
        try kernel.encryptMprotect(pid: shell, address: base, length: 0x2000, protection: .rw, serial: 7)
        let data = testPattern(0x2000, seed: 3)
        try kernel.write(shell, base, data)
        #expect(kernel.memoryManager.users(ofKeyID: 1) == 3)
        let mappings = try #require(kernel.keyIDMappings)
        try mappings.moveMappings(fromKeyID: 1, to: 2)
        #expect(kernel.vmas(shell).map(\.keyID) == [2, 0])
        #expect(try kernel.read(shell, base, 0x2000) == data)
        #expect(keys.references == [2: 3])
        #expect(mappings.users(ofKeyID: 1) == 0 && mappings.users(ofKeyID: 2) == 3)
        let translation = try kernel.translate(pid: shell, address: base + 0x1000)
        #expect(translation.keyID == 2 && kernel.pages.frame(translation.physicalAddress >> 12)?.keyID == 2)
        for cpu in kernel.platform.cpus { try cpu.wbinvd() }
        let page = Array(data[0x1000..<0x2000])
        #expect(
            machine.dramBytes(translation.physicalAddress, 4096)
                == xtsLines(keyB, address: translation.physicalAddress, page)
        )
    }

    @Test func exitReleasesEveryReferenceAndFrame() throws {
        let (_, kernel, keys) = try memoryKernel()
        try keys.program(serial: 7, keyID: 1, key: keyA)
        let free = kernel.pages.freeFrames
        let pid = try kernel.createProcess(parent: shell, exec: true)
        let base = try kernel.mmap(pid: pid, length: 0x10000, protection: .rw, shared: false)
        try kernel.encryptMprotect(pid: pid, address: base + 0x4000, length: 0x4000, protection: .rw, serial: 7)
        try kernel.write(pid, base, [UInt8](repeating: 1, count: 0x10000))
        #expect(keys.references == [1: 5])
        try kernel.exitProcess(pid)
        #expect(keys.references.isEmpty && keys.underflows.isEmpty)
        #expect(kernel.pages.freeFrames == free)
        #expect(kernel.memoryManager.keyIDUse.isEmpty)
    }

    @Test func savedStateKeepsKeyIDsAndReferenceCounts() throws {
        let (machine, kernel, keys) = try memoryKernel()
        try keys.program(serial: 7, keyID: 1, key: keyA)
        let base = try kernel.mmap(pid: shell, length: 0x2000, protection: .rw, shared: false)
        try kernel.encryptMprotect(pid: shell, address: base, length: 0x1000, protection: .rw, serial: 7)
        try kernel.write(shell, base, text: "encrypted")
        let restored = try Kernel.restore(platform: machine, state: try kernel.encodeState())
        #expect(restored.memoryManager.keyIDUse == kernel.memoryManager.keyIDUse)
        #expect(restored.vmas(shell).map(\.keyID) == [1, 0])
        #expect(try restored.read(shell, base, 9) == Array("encrypted".utf8))
        #expect(try restored.sysfsRead("/proc/\(shell)/smaps").contains("KeyID:                 1"))
    }

    @Test func aForkWithoutMemoryIsENOMEMAndChangesNothing() throws {
        let (_, kernel, keys) = try memoryKernel { $0.memoryBytes = 4 << 20 }
        try keys.program(serial: 7, keyID: 1, key: keyA)
        let base = try kernel.mmap(pid: shell, length: 2 << 20, protection: .rw, shared: false)
        try kernel.encryptMprotect(pid: shell, address: base, length: 2 << 20, protection: .rw, serial: 7)
        try kernel.write(shell, base, [UInt8](repeating: 3, count: 2 << 20))
        let before = kernel.memorySnapshot()
        let references = keys.references
        let processes = kernel.processes.processes  // (the pid number itself is consumed, as in Linux)
        expectErrno(.ENOMEM) { try kernel.createProcess(parent: shell, exec: false) }
        #expect(kernel.memorySnapshot() == before)
        #expect(keys.references == references)
        #expect(kernel.processes.processes == processes)
    }

    @Test func rotationCoversEveryProcessAndProtection() throws {
        let (_, kernel, keys) = try memoryKernel()
        try keys.program(serial: 7, keyID: 4, key: keyA)
        try keys.programRaw(keyID: 5, command: .setKeyDirect, key: keyB)
        let parent = try kernel.createProcess(parent: shell, exec: true)
        let base = try kernel.mmap(pid: parent, length: 0x2000, protection: .rw, shared: false)
        try kernel.encryptMprotect(pid: parent, address: base, length: 0x2000, protection: .rw, serial: 7)
        try kernel.write(parent, base, text: "page one")
        try kernel.write(parent, base + 0x1000, text: "page two")
        try kernel.mprotect(pid: parent, address: base + 0x1000, length: 0x1000, protection: .none)
        let child = try kernel.createProcess(parent: parent, exec: false)
        #expect(keys.references == [4: 8])
        try kernel.keyIDMappings?.moveMappings(fromKeyID: 4, to: 5)
        #expect(keys.references == [5: 8] && keys.underflows.isEmpty)
        for pid in [parent, child] {
            #expect(kernel.vmas(pid).map(\.keyID) == [5, 5])
            #expect(try kernel.read(pid, base, 8) == Array("page one".utf8))
            let hidden = try kernel.translate(pid: pid, address: base + 0x1000)
            #expect(hidden.keyID == 5 && hidden.entry & PageTableEntry.protNone != 0)
        }
        try kernel.mprotect(pid: child, address: base + 0x1000, length: 0x1000, protection: .r)
        #expect(try kernel.read(child, base + 0x1000, 8) == Array("page two".utf8))
        try kernel.exitProcess(child)
        try kernel.exitProcess(parent)
        #expect(keys.references.isEmpty)
    }
}
