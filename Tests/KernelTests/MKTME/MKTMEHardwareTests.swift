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

let fixtureUserKey =
    "type=user algorithm=aes-xts-128 key=\(MKTMEKernelFixtures.dataKey) tweak=\(MKTMEKernelFixtures.tweakKey)"

extension Kernel {
    /// Stores `plaintext` at DRAM `address` through the alias of `keyID` and writes it back to DRAM.
    func storeAndFlush(_ plaintext: [UInt8], at address: UInt64, keyID: UInt16) {
        plaintext.withUnsafeBytes { physical.write(address, keyID: keyID, from: $0) }
        cpu.clflush(physical.alias(address, keyID: keyID), length: plaintext.count)
    }

    /// Loads `count` bytes at DRAM `address` through the alias of `keyID`.
    func load(_ address: UInt64, count: Int, keyID: UInt16) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        out.withUnsafeMutableBytes { physical.read(address, keyID: keyID, into: $0) }
        return out
    }
}

extension Machine {
    /// What the DIMMs hold at `address`.
    func dramBytes(_ address: UInt64, count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        out.withUnsafeMutableBytes { dram.read(address, into: $0) }
        return out
    }
}

/// The bytes a user key programs, checked against AES-XTS computed by Python `cryptography`
/// (Scripts/gen_mktme_kernel_fixtures.py).
@Suite struct MKTMEUserKeyFixtureTests {
    @Test(arguments: MKTMEKernelFixtures.lines.indices)
    func dataStoredThroughAUserKeySitsInDRAMAsIndependentAESXTS(index: Int) throws {
        let (machine, kernel) = try mktmeKernel(.rfcV2) { $0.packages = 2 }
        let fixture = MKTMEKernelFixtures.lines[index]
        let serial = try kernel.addMKTME("tenant", fixtureUserKey)
        let keyID = try #require(kernel.mk.keyID(ofKey: serial))
        #expect(machine.slot(Int(keyID), package: 0) == .direct)
        #expect(machine.slot(Int(keyID), package: 1) == .direct)
        let plaintext = hexBytes(fixture.plaintext)
        kernel.storeAndFlush(plaintext, at: fixture.address, keyID: keyID)
        #expect(machine.dramBytes(fixture.address, count: plaintext.count) == hexBytes(fixture.ciphertext))
        #expect(kernel.load(fixture.address, count: plaintext.count, keyID: keyID) == plaintext)
    }

    @Test func withoutSaveKeysNoKeyMaterialStaysInKernelMemory() throws {
        let (_, kernel) = try mktmeKernel(.rfcV2)
        let before = kernel.heap.bytesInUse
        try kernel.addMKTME("tenant", fixtureUserKey)
        #expect(kernel.heap.bytesInUse == before)
        #expect(kernel.mk.entries[1].savedKey == nil)
    }

    @Test func withSaveKeysTheFieldsAreKeptInKernelMemoryAndWipedWithTheKeyID() throws {
        let (machine, kernel) = try mktmeKernel(.rfcV2, extra: "mktme_savekeys")
        let serial = try kernel.addMKTME("tenant", fixtureUserKey)
        let saved = try #require(kernel.mk.entries[1].savedKey)
        #expect(
            kernel.readKernelMemory(saved).revealedBytes()
                == hexBytes(MKTMEKernelFixtures.dataKey + MKTMEKernelFixtures.tweakKey)
        )
        try kernel.keys.invalidate(serial, pid: shell)
        #expect(kernel.mk.entries[1].savedKey == nil)
        #expect(kernel.physical.readSecret(saved.segments[0].address, count: 32).isZero)
        #expect(machine.slot(1) == .direct)
    }
}

/// PCONFIG on every package through its lead CPU, with retries (docs/contract.md §6; injected faults, docs/contract.md §2).
@Suite struct MKTMEPCONFIGRetryTests {
    @Test func tenBusyRetriesSucceedAndElevenAreENOKEY() throws {
        let (machine, kernel) = try mktmeKernel(.rfcV2)
        machine.faults.pconfigBusy[0] = 10
        try kernel.addMKTME("ok", cpuKey)
        #expect(machine.faults.pconfigBusy[0] == 0)
        machine.faults.pconfigBusy[0] = 11
        let before = kernel.keys.count
        expectErrno(.ENOKEY) { try kernel.addMKTME("busy", cpuKey) }
        #expect(machine.faults.pconfigBusy[0] == 0)
        #expect(kernel.keys.count == before)
        #expect(kernel.mk.keyIDsUsed == 1)
        #expect(machine.slot(2) == .unprogrammed)
    }

    @Test func entropyErrorsAreRetriedForRandomKeys() throws {
        let (machine, kernel) = try mktmeKernel(.revised)
        let serial = try kernel.addMKTME("tenant", "type=cpu")
        machine.faults.pconfigEntropy[0] = 11
        expectErrno(.ENOKEY) { _ = try kernel.encryptKeyID(serial) }
        #expect(kernel.mk.keyIDsUsed == 0)
        machine.faults.pconfigEntropy[0] = 10
        #expect(try kernel.encryptKeyID(serial) == 1)
        #expect(machine.slot(1) == .random)
    }

    @Test func everyPackageIsProgrammedAndAFailureRollsBackTheOthers() throws {
        let (machine, kernel) = try mktmeKernel(.rfcV2) { $0.packages = 2 }
        try kernel.addMKTME("both", cpuKey)
        #expect(machine.slot(1, package: 0) == .random)
        #expect(machine.slot(1, package: 1) == .random)
        machine.faults.pconfigBusy[1] = 11
        expectErrno(.ENOKEY) { try kernel.addMKTME("half", cpuKey) }
        #expect(machine.slot(2, package: 0) == .clear)
        #expect(machine.slot(2, package: 1) == .unprogrammed)
        #expect(kernel.mk.keyIDsUsed == 1)
    }

    @Test func theProgramStructureIsWipedFromKernelMemory() throws {
        let (_, kernel) = try mktmeKernel(.rfcV2)
        let before = kernel.heap.bytesInUse
        try kernel.addMKTME("tenant", fixtureUserKey)
        // The kmalloc-256 chunk that held MKTME_KEY_PROGRAM_STRUCT is free again and zero.
        let chunk = try kernel.allocateKernelMemory(192)
        #expect(kernel.readKernelMemory(chunk).isZero)
        kernel.freeKernelMemory(chunk)
        #expect(kernel.heap.bytesInUse == before)
    }
}

/// CPU hotplug (docs/contract.md §6): the last CPU of a package and reprogramming when a package comes back.
@Suite struct MKTMEHotplugTests {
    // Two packages: CPUs 0–1 on package 0, 2–3 on package 1.
    func machine(_ api: MKTMEAPIDesign = .rfcV2, extra: String = "") throws -> (Machine, Kernel) {
        try mktmeKernel(api, extra: extra) { $0.packages = 2 }
    }

    @Test func offliningAPackagesLastCPUWhileKeyIDsAreProgrammedIsEBUSY() throws {
        let (_, kernel) = try machine()
        try kernel.addMKTME("tenant", cpuKey)
        try kernel.setCPU(2, online: false)
        expectErrno(.EBUSY) { try kernel.setCPU(3, online: false) }
        #expect(kernel.onlineCPUs == [true, true, false, true])
    }

    @Test func withoutLiveKeyIDsAPackageMayGoOffline() throws {
        let (_, kernel) = try machine(.revised)
        try kernel.addMKTME("tenant", "type=cpu")
        try kernel.setCPU(2, online: false)
        try kernel.setCPU(3, online: false)
        #expect(kernel.leadCPU(ofPackage: 1) == nil)
    }

    /// A package without an online CPU cannot be given a key, so none is taken (the memory it serves would
    /// otherwise be written under its slot's old key and turn to garbage once programmed late).
    @Test func noKeyIDIsTakenWhileAPackageHasNoOnlineCPU() throws {
        let (machine, kernel) = try machine()
        try kernel.setCPU(2, online: false)
        try kernel.setCPU(3, online: false)
        expectErrno(.ENOKEY) { try kernel.addMKTME("cpu", cpuKey) }
        #expect(machine.slot(1, package: 0) == .unprogrammed)
        #expect(machine.slot(1, package: 1) == .unprogrammed)
        try kernel.setCPU(3, online: true)
        try kernel.addMKTME("cpu", cpuKey)
        #expect(machine.slot(1, package: 1) == .random)
        #expect(machine.slot(1, package: 0) == .random)
    }

    /// Parks package 1's CPUs outside the hotplug path (as if hot-removed), leaving live KeyIDs the
    /// package's next online must program: the state the online rule of docs/contract.md §6 handles.
    func parkPackage1(_ kernel: Kernel) {
        kernel.onlineCPUs[2] = false
        kernel.onlineCPUs[3] = false
    }

    @Test func onliningAPackageProgramsEveryLiveKeyID() throws {
        let (machine, kernel) = try machine()
        try kernel.addMKTME("cpu", cpuKey)
        try kernel.addMKTME("clear", "type=no-encrypt")
        parkPackage1(kernel)
        let cycles = machine.counters.total
        try kernel.setCPU(3, online: true)
        #expect(machine.counters.total > cycles)
        #expect(kernel.log.lines.contains { $0.text.contains("package 1 online: 2 KeyID(s) programmed") })
        #expect(machine.slot(1, package: 1) == .random)
        #expect(machine.slot(2, package: 1) == .noEncrypt)
        #expect(machine.slot(1, package: 0) == .random)
    }

    @Test func aUserKeyWithoutTheStoreMakesTheOnlineFail() throws {
        let (_, kernel) = try machine()
        try kernel.addMKTME("tenant", fixtureUserKey)
        parkPackage1(kernel)
        expectErrno(.ENOKEY) { try kernel.setCPU(2, online: true) }
        #expect(kernel.onlineCPUs == [true, true, false, false])
    }

    @Test func aUserKeyFromTheStoreIsProgrammedWithItsBytes() throws {
        let (machine, kernel) = try machine(extra: "mktme_savekeys")
        let serial = try kernel.addMKTME("tenant", fixtureUserKey)
        parkPackage1(kernel)
        try kernel.setCPU(2, online: true)
        #expect(kernel.log.lines.contains { $0.text.contains("package 1 online: 1 KeyID(s) programmed") })
        #expect(machine.slot(1, package: 1) == .direct)
        // Package 1's memory (the second fixture) is now encrypted with exactly the user key.
        let keyID = try #require(kernel.mk.keyID(ofKey: serial))
        let fixture = MKTMEKernelFixtures.lines[1]
        kernel.storeAndFlush(hexBytes(fixture.plaintext), at: fixture.address, keyID: keyID)
        #expect(
            machine.dramBytes(fixture.address, count: fixture.ciphertext.count / 2) == hexBytes(fixture.ciphertext)
        )
    }
}

/// Suspend and resume (docs/contract.md §4 choice, §6).
@Suite struct MKTMEPowerTests {
    /// With bypass, so that the TME key's loss (docs/contract.md §4) does not refuse S3 by itself.
    @Test func suspendWithRandomKeysAndNoStandbySaveIsEBUSY() throws {
        let (_, kernel) = try mktmeKernel(.rfcV2) {
            $0.saveKeyForStandby = false
            $0.tmeBypass = true
        }
        try kernel.prepareForSleep(.suspendToRAM)
        try kernel.addMKTME("tenant", cpuKey)
        expectErrno(.EBUSY) { try kernel.prepareForSleep(.suspendToRAM) }
    }

    @Test func suspendWithStandbySaveKeepsTheKeys() throws {
        let (machine, kernel) = try mktmeKernel(.rfcV2)
        try kernel.addMKTME("tenant", cpuKey)
        try kernel.prepareForSleep(.suspendToRAM)
        try machine.power(.suspend)
        try machine.power(.resume)
        try kernel.resumed(from: .suspendToRAM)
        #expect(machine.slot(1) == .random)
    }

    @Test func aUserKeyWithoutTheStoreBlocksSuspendAndHibernate() throws {
        let (_, kernel) = try mktmeKernel(.rfcV2) {
            $0.saveKeyForStandby = false
            $0.tmeBypass = true
        }
        try kernel.prepareForSleep(.suspendToRAM)
        try kernel.addMKTME("tenant", fixtureUserKey)
        expectErrno(.EBUSY) { try kernel.prepareForSleep(.suspendToRAM) }
        expectErrno(.EBUSY) { try kernel.mk.prepareForSleep(.hibernate) }
    }

    /// TME bypass keeps kernel memory readable across S3 without the standby save, so the key store
    /// survives while the key tables do not.
    @Test func resumeReprogramsUserKeysFromTheStore() throws {
        let (machine, kernel) = try mktmeKernel(.rfcV2, extra: "mktme_savekeys") {
            $0.saveKeyForStandby = false
            $0.tmeBypass = true
        }
        let serial = try kernel.addMKTME("tenant", fixtureUserKey)
        try kernel.addMKTME("plain", "type=no-encrypt")
        let keyID = try #require(kernel.mk.keyID(ofKey: serial))
        let fixture = MKTMEKernelFixtures.lines[0]
        kernel.storeAndFlush(hexBytes(fixture.plaintext), at: fixture.address, keyID: keyID)
        try kernel.prepareForSleep(.suspendToRAM)
        try machine.power(.suspend)
        try machine.power(.resume)
        #expect(machine.slot(1) == .unprogrammed)
        try kernel.resumed(from: .suspendToRAM)
        #expect(machine.slot(1) == .direct)
        #expect(machine.slot(2) == .noEncrypt)
        #expect(
            kernel.load(fixture.address, count: fixture.plaintext.count / 2, keyID: keyID)
                == hexBytes(fixture.plaintext)
        )
    }
}
