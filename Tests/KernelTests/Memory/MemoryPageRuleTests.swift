//===----------------------------------------------------------------------===//
//
// hwkeys: KernelTests
//
//===----------------------------------------------------------------------===//

import HWCrypto
import Platform
import TestSupport
import Testing
import X86

@testable import Kernel

/// The page rules of docs/contract.md §6 — new page: flush the old alias, then zero through the new KeyID; freed page:
/// flush through its KeyID — and what happens without them, with the cache model on.
@Suite struct MemoryPageRuleTests {
    /// A page used under KeyID 0 is freed with a dirty line in the cache and reused under KeyID 1. With the
    /// flushes, the new owner reads its data. Without them (the test-only switch), the stale dirty line of
    /// the old alias is written back over the new owner's data when it is evicted after the new one, and the
    /// new owner reads garbage: the corruption the rule prevents (docs/research/mktme-research.md §1.8).
    @Test(arguments: [false, true])
    func reusingAFrameUnderAnotherKeyID(skipFlush: Bool) throws {
        let (machine, kernel, keys) = try memoryKernel { $0.cacheLines = 1024 }
        try keys.program(serial: 7, keyID: 1, key: keyA)
        kernel.memoryManager.debugSkipPageFlush = skipFlush
        let old = try kernel.mmap(pid: shell, length: 0x1000, protection: .rw, shared: false)
        let new = try kernel.mmap(pid: shell, length: 0x1000, protection: .rw, shared: false)
        try kernel.encryptMprotect(pid: shell, address: new, length: 0x1000, protection: .rw, serial: 7)
        try kernel.write(shell, old, text: "previous owner's data")
        let frame = try kernel.translate(pid: shell, address: old).physicalAddress >> 12
        let alias0 = kernel.keyIDLayout.address(PhysicalAddress(frame << 12), withKeyID: 0)
        #expect(machine.cachedCopies(of: alias0).contains { $0.dirty })
        try kernel.munmap(pid: shell, address: old, length: 0x1000)
        // The dirty alias-0 line survives the free only without the flush.
        #expect(machine.cachedCopies(of: alias0).contains { $0.dirty } == skipFlush)

        try kernel.write(shell, new, text: "new owner's data")
        #expect(try kernel.translate(pid: shell, address: new).physicalAddress >> 12 == frame)
        // Eviction order: the new alias first, then the old one.
        kernel.physical.flushPage(frame, keyID: 1)
        kernel.physical.flushPage(frame, keyID: 0)
        let readBack = try kernel.read(shell, new, 16)
        if skipFlush {
            #expect(readBack != Array("new owner's data".utf8))
        } else {
            #expect(readBack == Array("new owner's data".utf8))
        }
    }

    /// Without the flush on allocation, even a new page's zeroing is not enough: a stale dirty line of the
    /// previous KeyID-1 owner (skipped free flush) lands over the zeroed page of a KeyID-0 owner.
    @Test(arguments: [false, true])
    func freeingAnEncryptedPageFlushesItsAlias(skipFlush: Bool) throws {
        let (_, kernel, keys) = try memoryKernel { $0.cacheLines = 1024 }
        try keys.program(serial: 7, keyID: 1, key: keyA)
        kernel.memoryManager.debugSkipPageFlush = skipFlush
        let first = try kernel.mmap(pid: shell, length: 0x1000, protection: .rw, shared: false)
        let second = try kernel.mmap(pid: shell, length: 0x1000, protection: .rw, shared: false)
        try kernel.encryptMprotect(pid: shell, address: first, length: 0x1000, protection: .rw, serial: 7)
        try kernel.write(shell, first, text: "tenant data")
        let frame = try kernel.translate(pid: shell, address: first).physicalAddress >> 12
        try kernel.munmap(pid: shell, address: first, length: 0x1000)
        #expect(kernel.pages.frame(frame) == nil)
        try kernel.write(shell, second, text: "plain")
        #expect(try kernel.translate(pid: shell, address: second).physicalAddress >> 12 == frame)
        kernel.physical.flushPage(frame, keyID: 0)
        kernel.physical.flushPage(frame, keyID: 1)
        #expect((try kernel.read(shell, second, 5) == Array("plain".utf8)) == !skipFlush)
    }

    @Test func aNewPageIsFlushedThroughItsPreviousAliasAndZeroedThroughTheNewOne() throws {
        let (machine, kernel, keys) = try memoryKernel()
        try keys.program(serial: 7, keyID: 1, key: keyA)
        let base = try kernel.mmap(pid: shell, length: 0x1000, protection: .rw, shared: false)
        try kernel.write(shell, base, [UInt8](repeating: 0xEE, count: 0x1000))
        try kernel.encryptMprotect(pid: shell, address: base, length: 0x1000, protection: .rw, serial: 7)
        let flushes = (machine.counters.counts[.clflush] ?? 0)
        try kernel.write(shell, base + 100, [1])
        // 64 lines flushed through the previous alias; the page reads as zeros apart from the write.
        #expect((machine.counters.counts[.clflush] ?? 0) - flushes == 64)
        var expected = [UInt8](repeating: 0, count: 0x1000)
        expected[100] = 1
        #expect(try kernel.read(shell, base, 0x1000) == expected)
        #expect(kernel.pages.frame(try kernel.translate(pid: shell, address: base).physicalAddress >> 12)?.keyID == 1)
    }
}
