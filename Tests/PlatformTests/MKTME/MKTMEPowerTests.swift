//===----------------------------------------------------------------------===//
//
// hwkeys: PlatformTests
//
//===----------------------------------------------------------------------===//

import TestSupport
import Testing
import X86

@testable import Platform

/// The TME/MKTME columns of docs/contract.md §4.
@Suite struct MKTMEPowerTests {
    @Test func theTMEKeyDiffersAfterOffAndOnAndDRAMCiphertextSurvives() throws {
        let machine = try makeMachine()
        let before = try #require(machine.tmeKeyBytes(package: 0))
        machine.cpu().store(machine.pa(0x1000), testPattern(64))
        machine.cpu().clflush(machine.pa(0x1000))
        let ciphertext = machine.dramBytes(0x1000, 64)
        try machine.power(.off)
        #expect(machine.tmeKeyBytes(package: 0) == nil)
        #expect(machine.dramBytes(0x1000, 64) == ciphertext)  // the cold-boot view
        try machine.power(.on)
        #expect(machine.tmeKeyBytes(package: 0) != before)
        #expect(machine.dramBytes(0x1000, 64) == ciphertext)
        #expect(machine.cpu().load(machine.pa(0x1000), 64) != testPattern(64))
    }

    @Test(arguments: [PowerAction.reset, .off, .hibernate])
    func s4S5AndResetLoseKeyTablesAndTheTMEKey(action: PowerAction) throws {
        let machine = try makeMachine()
        let before = machine.tmeKeyBytes(package: 0)
        try machine.cpu().program(keyID: 1, .setKeyRandom)
        try machine.power(action)
        if machine.powerState != .running { try machine.power(action == .hibernate ? .resume : .on) }
        #expect(machine.keyTableStatus(package: 0)[0].state == .unprogrammed)
        #expect(machine.tmeKeyBytes(package: 0) != before)
        #expect(!machine.tmeStatus.standbyKeysSaved)
    }

    @Test(arguments: [PowerAction.reset, .off, .hibernate])
    func unflushedLinesAreLostOnS4S5AndReset(action: PowerAction) throws {
        let machine = try makeMachine { $0.tmeBypass = true }
        machine.cpu().store(machine.pa(0x1000), testPattern(64))
        try machine.power(action)
        #expect(machine.dramBytes(0x1000, 64) == [UInt8](repeating: 0, count: 64))
        #expect(machine.dirtyLineCount(package: 0) == 0)
    }

    @Test func s3WritesDirtyLinesBackAndKeepsKeysWithSaveForStandby() throws {
        let machine = try makeMachine { $0.packages = 2 }
        let tmeKey = machine.tmeKeyBytes(package: 1)
        try machine.cpu(2).program(keyID: 1, .setKeyRandom)
        let key = machine.keyBytes(1, package: 1)
        let pa = machine.pa(40 << 20, keyID: 1)
        machine.cpu(2).store(pa, testPattern(4096))
        try machine.power(.suspend)
        #expect(machine.dirtyLineCount(package: 1) == 0)
        #expect(machine.tmeStatus.standbyKeysSaved)
        #expect(machine.counters.counts[.wbinvdPerDirtyLine] == 64)
        try machine.power(.resume)
        // Firmware restored the keys (key select = 1).
        #expect(try machine.cpu().rdmsr(MSR.tmeActivate) & TMEActivate.keySelect != 0)
        #expect(!machine.tmeStatus.standbyKeysSaved)
        #expect(machine.tmeKeyBytes(package: 1) == tmeKey)
        #expect(machine.keyBytes(1, package: 1) == key)
        #expect(machine.keyTableStatus(package: 1)[0].state == .random)
        #expect(machine.cpu(3).load(pa, 4096) == testPattern(4096))
    }

    @Test func withoutSaveForStandbyS3LosesTheKeysButWritesBack() throws {
        let machine = try makeMachine { $0.saveKeyForStandby = false }
        let tmeKey = machine.tmeKeyBytes(package: 0)
        try machine.cpu().program(keyID: 1, .setKeyRandom)
        let pa = machine.pa(0x2000, keyID: 1)
        machine.cpu().store(pa, testPattern(64))
        try machine.power(.suspend)
        #expect(machine.dramBytes(0x2000, 64) != [UInt8](repeating: 0, count: 64))  // written back
        #expect(!machine.tmeStatus.standbyKeysSaved)
        try machine.power(.resume)
        #expect(try machine.cpu().rdmsr(MSR.tmeActivate) & TMEActivate.keySelect == 0)
        #expect(machine.tmeKeyBytes(package: 0) != tmeKey)
        #expect(machine.keyTableStatus(package: 0)[0].state == .unprogrammed)
        #expect(machine.cpu().load(pa, 64) != testPattern(64))
    }

    @Test func powerOffWhileSuspendedLosesTheSavedKeys() throws {
        let machine = try makeMachine()
        try machine.cpu().program(keyID: 1, .setKeyRandom)
        try machine.power(.suspend)
        try machine.power(.off)
        try machine.power(.on)
        #expect(machine.keyTableStatus(package: 0)[0].state == .unprogrammed)
    }

    @Test func tmeOffMachinesComeBackUnlockedAndCanRestoreByHand() throws {
        let machine = try makeMachine {
            $0.tmeEnabled = false
            $0.keyIDBits = 0
        }
        let value = TMEActivate.value(
            enable: true,
            saveKeyForStandby: true,
            policy: .aesXTS128,
            bypass: false,
            keyIDBits: 4,
            algorithms: [.aesXTS128]
        )
        try machine.cpu().wrmsr(MSR.tmeActivate, value)
        try machine.cpu().program(keyID: 2, .setKeyRandom)
        let key = machine.keyBytes(2, package: 0)
        let pa = machine.pa(0x3000, keyID: 2)
        machine.cpu().store(pa, testPattern(64))
        try machine.power(.suspend)
        try machine.power(.resume)
        #expect(try machine.cpu().rdmsr(MSR.tmeActivate) == 0)
        #expect(machine.keyIDLayout.keyIDBits == 0)
        #expect(machine.tmeStatus.standbyKeysSaved)
        // Restoring with another policy is refused; with the saved one, the keys return.
        #expect(throws: X86Fault.gp0("")) {
            try machine.cpu().wrmsr(MSR.tmeActivate, value | TMEActivate.keySelect | 2 << 4)
        }
        try machine.cpu().wrmsr(MSR.tmeActivate, value | TMEActivate.keySelect)
        #expect(machine.keyBytes(2, package: 0) == key)
        #expect(machine.cpu().load(pa, 64) == testPattern(64))
    }
}
