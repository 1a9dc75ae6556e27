//===----------------------------------------------------------------------===//
//
// hwkeys: PlatformTests
//
//===----------------------------------------------------------------------===//

import HWCrypto
import Testing
import X86

@testable import Platform

/// The platform IWKey backup MSRs (docs/contract.md §3 choices) and the Key Locker columns of docs/contract.md §4.
@Suite struct KeyLockerBackupTests {
    static let enc = testBytes(32, 41)
    static let int = testBytes(16, 42)

    static func backupStatus(_ cpu: LogicalProcessor) throws -> UInt64 { try cpu.rdmsr(MSR.iwKeyBackupStatus) }
    static func copyStatus(_ cpu: LogicalProcessor) throws -> UInt64 { try cpu.rdmsr(MSR.copyStatus) }

    @Test func aBackupIsValidAndConsumedAndRestoresOnAnotherCPU() throws {
        let machine = try keyLockerMachine()
        defer { withExtendedLifetime(machine) {} }
        let (cpu0, cpu1) = (machine.processors[0], machine.processors[1])
        #expect(try Self.backupStatus(cpu0) == 0)
        #expect(try Self.copyStatus(cpu0) == 0)
        try cpu0.loadIWKey(enc: Self.enc, int: Self.int, eax: 2)
        let handle = try cpu0.encode(testBytes(32, 1))
        try cpu0.wrmsr(MSR.copyLocalToPlatform, 1)
        #expect(try Self.copyStatus(cpu0) == 1)
        #expect(try Self.backupStatus(cpu1) == 0x9)
        #expect(try Self.copyStatus(cpu1) == 0)
        try cpu1.wrmsr(MSR.copyPlatformToLocal, 1)
        #expect(try Self.copyStatus(cpu1) == 1)
        #expect(try cpu1.handleWorks(handle))
        // The restored IWKey keeps KeySource 1 (and NoBackup 0).
        cpu1.setXMM(0, testBytes(16, 1))
        #expect(try cpu1.encodekey128(src: 0) == 2)
        #expect(machine.counters.counts[.iwkeyBackup] == 1)
        #expect(machine.counters.counts[.iwkeyRestore] == 1)
    }

    @Test func writingZeroDoesNothing() throws {
        let machine = try keyLockerMachine()
        defer { withExtendedLifetime(machine) {} }
        let cpu = machine.processors[0]
        try cpu.loadIWKey(enc: Self.enc, int: Self.int)
        try cpu.wrmsr(MSR.copyLocalToPlatform, 0)
        #expect(try Self.backupStatus(cpu) == 0)
        #expect(try Self.copyStatus(cpu) == 0)
        try cpu.wrmsr(MSR.copyLocalToPlatform, 1)
        try cpu.wrmsr(MSR.copyPlatformToLocal, 0)
        #expect(try Self.copyStatus(cpu) == 1)
        #expect(machine.counters.counts[.iwkeyRestore] == nil)
    }

    @Test func backingUpANoBackupIWKeyFailsAndKeepsTheOldBackup() throws {
        let machine = try keyLockerMachine()
        defer { withExtendedLifetime(machine) {} }
        let (cpu0, cpu1) = (machine.processors[0], machine.processors[1])
        try cpu0.loadIWKey(enc: Self.enc, int: Self.int)
        let old = try cpu0.encode(testBytes(32, 2))
        try cpu0.wrmsr(MSR.copyLocalToPlatform, 1)
        try cpu0.loadIWKey(enc: testBytes(32, 43), int: Self.int, eax: 1)
        let noBackupHandle = try cpu0.encode(testBytes(32, 2))
        cpu0.setXMM(0, testBytes(16, 1))
        #expect(try cpu0.encodekey128(src: 0) == 1)
        try cpu0.wrmsr(MSR.copyLocalToPlatform, 1)
        #expect(try Self.copyStatus(cpu0) == 0)
        #expect(try Self.backupStatus(cpu0) == 0x9)
        try cpu1.wrmsr(MSR.copyPlatformToLocal, 1)
        #expect(try cpu1.handleWorks(old))
        #expect(try cpu1.handleWorks(noBackupHandle) == false)
        // Restoring overwrites a NoBackup IWKey with the backup.
        try cpu0.wrmsr(MSR.copyPlatformToLocal, 1)
        #expect(try cpu0.handleWorks(old))
    }

    @Test func restoringWithoutAValidBackupLeavesIWKeyAndFails() throws {
        let machine = try keyLockerMachine()
        defer { withExtendedLifetime(machine) {} }
        let cpu = machine.processors[0]
        try cpu.loadIWKey(enc: Self.enc, int: Self.int)
        let handle = try cpu.encode(testBytes(32, 3))
        try cpu.wrmsr(MSR.copyPlatformToLocal, 1)
        #expect(try Self.copyStatus(cpu) == 0)
        #expect(try cpu.handleWorks(handle))
    }

    @Test func aBackupBecomesValidOnlyAfterTheConfiguredLatency() throws {
        let machine = try keyLockerMachine { $0.klBackupLatencyNanoseconds = 10_000_000 }
        defer { withExtendedLifetime(machine) {} }
        let (cpu0, cpu1) = (machine.processors[0], machine.processors[1])
        try cpu0.loadIWKey(enc: Self.enc, int: Self.int)
        let handle = try cpu0.encode(testBytes(32, 4))
        try cpu0.wrmsr(MSR.copyLocalToPlatform, 1)
        #expect(try Self.copyStatus(cpu0) == 1)
        #expect(try Self.backupStatus(cpu0) == 0)
        // Too early: the restore fails and CPU 1 keeps its IWKey.
        try cpu1.wrmsr(MSR.copyPlatformToLocal, 1)
        #expect(try Self.copyStatus(cpu1) == 0)
        #expect(try cpu1.handleWorks(handle) == false)
        machine.advance(nanoseconds: 9_000_000)
        #expect(try Self.backupStatus(cpu0) == 0)
        machine.advance(nanoseconds: 1_000_000)
        #expect(try Self.backupStatus(cpu0) == 0x9)
        try cpu1.wrmsr(MSR.copyPlatformToLocal, 1)
        #expect(try Self.copyStatus(cpu1) == 1)
        #expect(try cpu1.handleWorks(handle))
    }

    @Test func polledStatusCompletesThroughInstructionTimeAlone() throws {
        // No `clock advance`: the emulated time RDMSR itself costs is enough, as for a polling kernel.
        let machine = try keyLockerMachine { $0.klBackupLatencyNanoseconds = 50_000 }
        defer { withExtendedLifetime(machine) {} }
        let cpu = machine.processors[0]
        try cpu.loadIWKey(enc: Self.enc, int: Self.int)
        try cpu.wrmsr(MSR.copyLocalToPlatform, 1)
        let start = machine.nanoseconds
        var polls = 0
        while try Self.backupStatus(cpu) & 1 == 0 {
            polls += 1
            #expect(polls < 10_000)
        }
        #expect(machine.nanoseconds - start >= 50_000)
        #expect(polls > 0)
    }

    @Test func anInjectedStorageErrorShowsBit2AndFailsBothDirections() throws {
        let machine = try keyLockerMachine()
        defer { withExtendedLifetime(machine) {} }
        let (cpu0, cpu1) = (machine.processors[0], machine.processors[1])
        try cpu0.loadIWKey(enc: Self.enc, int: Self.int)
        let handle = try cpu0.encode(testBytes(32, 5))
        try cpu0.wrmsr(MSR.copyLocalToPlatform, 1)
        machine.faults.iwkeyBackupError = true
        #expect(try Self.backupStatus(cpu0) == 0x4)
        try cpu1.wrmsr(MSR.copyPlatformToLocal, 1)
        #expect(try Self.copyStatus(cpu1) == 0)
        #expect(try cpu1.handleWorks(handle) == false)
        try cpu0.loadIWKey(enc: testBytes(32, 44), int: Self.int)
        try cpu0.wrmsr(MSR.copyLocalToPlatform, 1)
        #expect(try Self.copyStatus(cpu0) == 0)
        // Cleared: the storage reports its contents again, unchanged by the failed backup.
        machine.faults.iwkeyBackupError = false
        #expect(try Self.backupStatus(cpu0) == 0x9)
        try cpu1.wrmsr(MSR.copyPlatformToLocal, 1)
        #expect(try cpu1.handleWorks(handle))
    }

    @Test(arguments: [PowerAction.suspend, .hibernate, .reset])
    func iwKeyIsLostButTheBackupRestoresItAcross(action: PowerAction) throws {
        let machine = try keyLockerMachine()
        defer { withExtendedLifetime(machine) {} }
        let cpu0 = machine.processors[0]
        try cpu0.loadIWKey(enc: Self.enc, int: Self.int, eax: 2)
        let handle = try cpu0.encode(testBytes(32, 6))
        try cpu0.wrmsr(MSR.copyLocalToPlatform, 1)
        try machine.power(action)
        if machine.powerState != .running { try machine.power(.resume) }
        for cpu in machine.processors {
            try cpu.writeCR4(CR4.keyLocker)
            #expect(try Self.copyStatus(cpu) == 0)
            #expect(try cpu.handleWorks(handle) == false)
            #expect(try Self.backupStatus(cpu) == 0x9)
            try cpu.wrmsr(MSR.copyPlatformToLocal, 1)
            #expect(try Self.copyStatus(cpu) == 1)
            #expect(try cpu.handleWorks(handle))
        }
    }

    @Test func theBackupIsInvalidAfterS5() throws {
        let machine = try keyLockerMachine()
        defer { withExtendedLifetime(machine) {} }
        let cpu = machine.processors[0]
        try cpu.loadIWKey(enc: Self.enc, int: Self.int)
        let handle = try cpu.encode(testBytes(32, 7))
        try cpu.wrmsr(MSR.copyLocalToPlatform, 1)
        try machine.power(.off)
        try machine.power(.on)
        try cpu.writeCR4(CR4.keyLocker)
        #expect(try Self.backupStatus(cpu) == 0)
        try cpu.wrmsr(MSR.copyPlatformToLocal, 1)
        #expect(try Self.copyStatus(cpu) == 0)
        #expect(try cpu.handleWorks(handle) == false)
        // Also from S4 straight to S5 (ChromeOS' hibernate-to-shutdown case).
        try cpu.loadIWKey(enc: Self.enc, int: Self.int)
        try cpu.wrmsr(MSR.copyLocalToPlatform, 1)
        try machine.power(.hibernate)
        try machine.power(.off)
        try machine.power(.on)
        #expect(try Self.backupStatus(cpu) == 0)
    }

    @Test func aBackupInFlightWhenThePlatformSleepsIsCompletedFirst() throws {
        let machine = try keyLockerMachine { $0.klBackupLatencyNanoseconds = 1_000_000_000 }
        defer { withExtendedLifetime(machine) {} }
        let cpu = machine.processors[0]
        try cpu.loadIWKey(enc: Self.enc, int: Self.int)
        let handle = try cpu.encode(testBytes(32, 8))
        try cpu.wrmsr(MSR.copyLocalToPlatform, 1)
        #expect(try Self.backupStatus(cpu) == 0)
        try machine.power(.suspend)
        try machine.power(.resume)
        try cpu.writeCR4(CR4.keyLocker)
        #expect(try Self.backupStatus(cpu) == 0x9)
        try cpu.wrmsr(MSR.copyPlatformToLocal, 1)
        #expect(try cpu.handleWorks(handle))
    }

    @Test func iwKeyAndBackupSurviveASaveAndReloadExactly() throws {
        let machine = try keyLockerMachine { $0.klBackupLatencyNanoseconds = 5_000 }
        defer { withExtendedLifetime(machine) {} }
        let cpu0 = machine.processors[0]
        try cpu0.loadIWKey(enc: Self.enc, int: Self.int, eax: 2)
        let handle = try cpu0.encode(testBytes(32, 9))
        try cpu0.wrmsr(MSR.copyLocalToPlatform, 1)
        // Saved with the backup in flight.
        let image = machine.makeImage()
        let reloaded = try Machine.restore(configuration: machine.configuration, image: image, pageSource: nil)
        #expect(reloaded.makeImage().volatile == image.volatile)
        #expect(reloaded.makeImage().nonVolatile == image.nonVolatile)
        let (r0, r1) = (reloaded.processors[0], reloaded.processors[1])
        #expect(try r0.handleWorks(handle))
        #expect(try Self.copyStatus(r0) == 1)
        #expect(try Self.backupStatus(r0) == 0)
        reloaded.advance(nanoseconds: 5_000)
        #expect(try Self.backupStatus(r0) == 0x9)
        try r1.wrmsr(MSR.copyPlatformToLocal, 1)
        #expect(try r1.handleWorks(handle))
    }

    @Test func versionOneImagesFromBeforeKeyLockerLoadAsLostIWKeyAndNoBackup() throws {
        var unit = ImageWriter()
        unit.section("kl", version: 1)
        var reader = ImageReader(unit.bytes)
        let decoded = KeyLockerUnit(configuration: MachineConfiguration())
        try decoded.decode(from: &reader)
        #expect(decoded.encryptionKey.isZero && decoded.integrityKey.isZero && !decoded.copyStatus)
        var backup = ImageWriter()
        backup.section("iwkey-backup", version: 1)
        var backupReader = ImageReader(backup.bytes)
        let storage = IWKeyBackupStorage(configuration: MachineConfiguration())
        try storage.decode(from: &backupReader)
        #expect(storage.status(storageError: false) == 0)
    }
}
