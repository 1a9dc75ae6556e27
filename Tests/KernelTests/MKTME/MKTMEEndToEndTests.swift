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

extension Kernel {
    /// A fresh private read-write mapping of `pages` pages in the root shell, put under key `serial`.
    func encryptedMapping(_ serial: Int32, pages: Int = 1, pid: Int32 = shell) throws(HWKeysError) -> UInt64 {
        let base = try mmap(pid: pid, length: UInt64(pages) << 12, protection: .rw, shared: false)
        try encryptMprotect(pid: pid, address: base, length: UInt64(pages) << 12, protection: .rw, serial: serial)
        return base
    }

    /// Writes `bytes` at `address` of `pid`, then flushes the line(s) so DRAM holds them.
    func writeAndFlush(_ pid: Int32, _ address: UInt64, _ bytes: [UInt8]) throws {
        try write(pid, address, bytes)
        let translation = try translate(pid: pid, address: address)
        cpu.clflush(physical.alias(translation.physicalAddress, keyID: translation.keyID), length: bytes.count)
    }
}

/// The `mktme` key type with the real memory manager: encrypt_mprotect, VMAs and pages holding KeyIDs
/// (docs/contract.md §6).
@Suite struct MKTMEEndToEndTests {
    @Test func rfcV2DestroyedKeysKeepTheirKeyIDUntilTheMemoryGoesThenLeaveItStale() throws {
        let (machine, kernel) = try mktmeKernel(.rfcV2) { $0.keyIDBits = 2 }
        let serials = try (1...3).map { try kernel.addMKTME("tenant\($0)", cpuKey) }
        let base = try kernel.encryptedMapping(serials[0], pages: 2)
        try kernel.write(shell, base, text: "tenant one")
        #expect(try kernel.translate(pid: shell, address: base).keyID == 1)
        // 2 pages... one written: the VMA and the page hold references.
        #expect(kernel.mk.keyIDStatus(1)?.references == 2)
        expectErrno(.EBUSY) { try kernel.update(serials[0], "type=clear") }
        try kernel.keys.revoke(serials[0], pid: shell)
        kernel.collectAfterDelay(machine)
        #expect(kernel.keys.key(serials[0]) == nil)
        #expect(kernel.mk.keyIDStatus(1)?.state == "orphaned")
        // The memory still works under the destroyed key's KeyID.
        #expect(try kernel.read(shell, base, 10) == Array("tenant one".utf8))
        expectErrno(.ENOKEY) { try kernel.addMKTME("tenant4", cpuKey) }
        try kernel.munmap(pid: shell, address: base, length: 0x2000)
        #expect(kernel.mk.keyIDStatus(1)?.state == "free")
        #expect(machine.slot(1) == .random)
        let fourth = try kernel.addMKTME("tenant4", cpuKey)
        #expect(kernel.mk.keyID(ofKey: fourth) == 1)
    }

    @Test func rfcV2UpdateWaitsForTheLastMapping() throws {
        let (machine, kernel) = try mktmeKernel(.rfcV2)
        let serial = try kernel.addMKTME("tenant", cpuKey)
        let base = try kernel.encryptedMapping(serial)
        expectErrno(.EBUSY) { try kernel.update(serial, "type=clear") }
        try kernel.munmap(pid: shell, address: base, length: 0x1000)
        try kernel.update(serial, "type=clear")
        #expect(machine.slot(1) == .clear)
        expectErrno(.EINVAL) { _ = try kernel.encryptedMapping(0) }
    }

    @Test func revisedTheFourthConcurrentUserIsENOKEYUntilAnotherMappingGoes() throws {
        let (machine, kernel) = try mktmeKernel(.revised) { $0.keyIDBits = 2 }
        let serials = try (0..<4).map { try kernel.addMKTME("tenant\($0)", "type=cpu") }
        let mappings = try serials.prefix(3).map { try kernel.encryptedMapping($0) }
        let spare = try kernel.mmap(pid: shell, length: 0x1000, protection: .rw, shared: false)
        let before = kernel.memorySnapshot()
        expectErrno(.ENOKEY) {
            try kernel.encryptMprotect(pid: shell, address: spare, length: 0x1000, protection: .rw, serial: serials[3])
        }
        #expect(kernel.memorySnapshot() == before)
        try kernel.write(shell, mappings[1], text: "two")
        try kernel.munmap(pid: shell, address: mappings[1], length: 0x1000)
        #expect(machine.slot(2) == .clear)
        try kernel.encryptMprotect(pid: shell, address: spare, length: 0x1000, protection: .rw, serial: serials[3])
        #expect(kernel.mk.keyID(ofKey: serials[3]) == 2)
        #expect(machine.slot(2) == .random)
    }

    @Test func revisedSerialZeroStoresPlaintextAndCPUKeysCiphertext() throws {
        let (machine, kernel) = try mktmeKernel(.revised)
        let serial = try kernel.addMKTME("tenant", "type=cpu")
        let secret = try kernel.encryptedMapping(serial)
        let clear = try kernel.encryptedMapping(0)
        let text = Array("the same sixty-four bytes of process data, stored in two places.".utf8)
        try kernel.writeAndFlush(shell, secret, text)
        try kernel.writeAndFlush(shell, clear, text)
        let secretPA = try kernel.translate(pid: shell, address: secret)
        let clearPA = try kernel.translate(pid: shell, address: clear)
        #expect(clearPA.keyID == kernel.mk.sharedKeyID)
        #expect(machine.slot(Int(clearPA.keyID)) == .noEncrypt)
        #expect(machine.dramBytes(clearPA.physicalAddress, count: text.count) == text)
        #expect(machine.dramBytes(secretPA.physicalAddress, count: text.count) != text)
        #expect(try kernel.read(shell, secret, text.count) == text)
    }

    @Test func revisedUpdateOfAKeyInUseRotatesItWithoutLosingData() throws {
        let (machine, kernel) = try mktmeKernel(.revised)
        let serial = try kernel.addMKTME("tenant", "type=cpu")
        let base = try kernel.encryptedMapping(serial, pages: 2)
        let data = testPattern(8192)
        try kernel.write(shell, base, data)
        let pa = try kernel.translate(pid: shell, address: base).physicalAddress
        try kernel.writeAndFlush(shell, base, Array(data[0..<64]))
        let before = machine.dramBytes(pa, count: 64)
        try kernel.update(serial, "type=cpu algorithm=aes-xts-256")
        #expect(kernel.mk.keyID(ofKey: serial) == 2)
        #expect(try kernel.translate(pid: shell, address: base).keyID == 2)
        #expect(machine.slot(1) == .clear)
        #expect(machine.slotAlgorithm(2) == .aesXTS256)
        #expect(try kernel.read(shell, base, 8192) == data)
        kernel.cpu.clflush(kernel.physical.alias(pa, keyID: 2), length: 64)
        #expect(machine.dramBytes(pa, count: 64) != before)
        #expect(kernel.mk.keyIDStatus(2)?.references == kernel.keyIDMappings?.users(ofKeyID: 2))
    }

    @Test func offliningAPackageWithMappedKeyIDsIsEBUSY() throws {
        let (_, kernel) = try mktmeKernel(.revised) { $0.packages = 2 }
        let serial = try kernel.addMKTME("tenant", "type=cpu")
        let base = try kernel.encryptedMapping(serial)
        try kernel.setCPU(3, online: false)
        expectErrno(.EBUSY) { try kernel.setCPU(2, online: false) }
        try kernel.munmap(pid: shell, address: base, length: 0x1000)
        try kernel.setCPU(2, online: false)
    }

    /// With bypass, so that the TME key's loss (docs/contract.md §4) does not refuse S3 by itself.
    @Test func suspendWithAMappedCPUKeyAndNoStandbySaveIsEBUSY() throws {
        let (_, kernel) = try mktmeKernel(.revised) {
            $0.saveKeyForStandby = false
            $0.tmeBypass = true
        }
        let serial = try kernel.addMKTME("tenant", "type=cpu")
        let base = try kernel.encryptedMapping(serial)
        expectErrno(.EBUSY) { try kernel.prepareForSleep(.suspendToRAM) }
        try kernel.munmap(pid: shell, address: base, length: 0x1000)
        try kernel.prepareForSleep(.suspendToRAM)
    }

    @Test func userKeyDataInProcessMemorySitsInDRAMAsIndependentAESXTS() throws {
        let (machine, kernel) = try mktmeKernel(.rfcV2) { $0.packages = 2 }
        let serial = try kernel.addMKTME("tenant", fixtureUserKey)
        let base = try kernel.encryptedMapping(serial)
        let fixture = MKTMEKernelFixtures.process
        let plaintext = hexBytes(fixture.plaintext)
        try kernel.writeAndFlush(shell, base, plaintext)
        let pa = try kernel.translate(pid: shell, address: base).physicalAddress
        try #require(pa == fixture.address, "the first user page moved to 0x\(String(pa, radix: 16)); regenerate")
        #expect(machine.dramBytes(pa, count: plaintext.count) == hexBytes(fixture.ciphertext))
    }
}
