//===----------------------------------------------------------------------===//
//
// hwkeys: PlatformTests
//
//===----------------------------------------------------------------------===//

import HWCrypto
import Testing
import X86

@testable import Platform

/// Every #UD and #GP(0) path of docs/contract.md §3 (SDM Vol. 2A LOADIWKEY, ENCODEKEY*, AES*KL; Key Locker spec
/// Table 4-1 for the MSRs).
@Suite struct KeyLockerFaultTests {
    static let ud = X86Fault.ud("")
    static let gp = X86Fault.gp0("")
    static let enc = testBytes(32, 1)
    static let int = testBytes(16, 2)

    /// Runs each Key Locker instruction once with operands that are valid when the feature is present.
    static func everyInstruction(_ cpu: LogicalProcessor) -> [(String, () throws(X86Fault) -> Void)] {
        let handle128 = [UInt8](repeating: 0, count: 48)
        let handle256 = [UInt8](repeating: 0, count: 64)
        var list: [(String, () throws(X86Fault) -> Void)] = [
            ("loadiwkey", { () throws(X86Fault) in _ = try cpu.loadIWKey(enc: enc, int: int) }),
            ("encodekey128", { () throws(X86Fault) in _ = try cpu.encodekey128(src: 0) }),
            ("encodekey256", { () throws(X86Fault) in _ = try cpu.encodekey256(src: 0) }),
        ]
        for operation in AESKLOperation.allCases {
            let handle = operation.isAES256 ? handle256 : handle128
            list.append(
                (operation.rawValue, { () throws(X86Fault) in _ = try cpu.aesKL(operation, [], handle: handle) })
            )
            list.append(
                (
                    operation.wideMnemonic,
                    { () throws(X86Fault) in _ = try cpu.aesWideKL(operation, [], handle: handle) }
                )
            )
        }
        return list
    }

    @Test func withoutKeyLockerEveryInstructionIsUDAndCR4KLAndTheMSRsAreGP() throws {
        let machine = try keyLockerMachine(enable: false) { $0.keyLocker = false }
        defer { withExtendedLifetime(machine) {} }
        let cpu = machine.processors[0]
        #expect(cpu.cpuid(leaf: 7, subleaf: 0).ecx & CPUIDBit.keyLockerECX == 0)
        #expect(cpu.cpuid(leaf: 0x19, subleaf: 0) == .zero)
        #expect(throws: Self.gp) { try cpu.writeCR4(CR4.keyLocker) }
        #expect(try cpu.readCR4() == 0)
        for (name, run) in Self.everyInstruction(cpu) {
            #expect(throws: Self.ud, "\(name)") { try run() }
        }
        for msr in [MSR.copyLocalToPlatform, MSR.copyPlatformToLocal, MSR.copyStatus, MSR.iwKeyBackupStatus] {
            #expect(throws: Self.gp) { try cpu.rdmsr(msr) }
            #expect(throws: Self.gp) { try cpu.wrmsr(msr, 1) }
        }
    }

    @Test func withCR4KLClearEveryInstructionIsUDAndAESKLEReadsZero() throws {
        let machine = try keyLockerMachine(enable: false)
        defer { withExtendedLifetime(machine) {} }
        let cpu = machine.processors[0]
        #expect(cpu.cpuid(leaf: 7, subleaf: 0).ecx & CPUIDBit.keyLockerECX != 0)
        #expect(cpu.cpuid(leaf: 0x19, subleaf: 0).ebx & CPUIDBit.klAESKLEEBX == 0)
        for (name, run) in Self.everyInstruction(cpu) {
            #expect(throws: Self.ud, "\(name)") { try run() }
        }
        // AESKLE is dynamic: it follows CR4.KL on this processor only.
        try cpu.writeCR4(CR4.keyLocker)
        #expect(cpu.cpuid(leaf: 0x19, subleaf: 0).ebx & CPUIDBit.klAESKLEEBX != 0)
        #expect(machine.processors[1].cpuid(leaf: 0x19, subleaf: 0).ebx & CPUIDBit.klAESKLEEBX == 0)
        try cpu.writeCR4(0)
        #expect(cpu.cpuid(leaf: 0x19, subleaf: 0).ebx & CPUIDBit.klAESKLEEBX == 0)
        #expect(throws: Self.ud) { _ = try cpu.encodekey128(src: 0) }
    }

    @Test func leaf19HReportsTheConfiguredFeatures() throws {
        let machine = try keyLockerMachine()
        defer { withExtendedLifetime(machine) {} }
        let full = machine.processors[0].cpuid(leaf: 0x19, subleaf: 0)
        #expect(full == CPUIDResult(eax: 0x7, ebx: 0x15, ecx: 0x3, edx: 0))
        let reducedMachine = try keyLockerMachine {
            $0.wideKL = false
            $0.klBackup = false
            $0.klNoBackup = false
            $0.klRandom = false
            $0.klRestrictions = [.cpl0Only]
        }
        defer { withExtendedLifetime(reducedMachine) {} }
        let reduced = reducedMachine.processors[0].cpuid(leaf: 0x19, subleaf: 0)
        #expect(reduced == CPUIDResult(eax: 0x1, ebx: 0x1, ecx: 0, edx: 0))
    }

    @Test func wideFormsAreUDWithoutWideKLWhileSingleBlockFormsWork() throws {
        let machine = try keyLockerMachine { $0.wideKL = false }
        defer { withExtendedLifetime(machine) {} }
        let cpu = machine.processors[0]
        try cpu.loadIWKey(enc: Self.enc, int: Self.int)
        let handle = try cpu.encode(testBytes(32, 3))
        #expect(try cpu.handleWorks(handle))
        for operation in AESKLOperation.allCases {
            let sized = operation.isAES256 ? handle : Array(handle[0..<48])
            #expect(throws: Self.ud) { _ = try cpu.aesWideKL(operation, [], handle: sized) }
        }
    }

    @Test func loadiwkeyAboveCPL0IsGPAndChangesNothing() throws {
        let machine = try keyLockerMachine()
        defer { withExtendedLifetime(machine) {} }
        let cpu = machine.processors[0]
        try cpu.loadIWKey(enc: Self.enc, int: Self.int)
        let handle = try cpu.encode(testBytes(16, 4))
        cpu.cpl = 3
        #expect(throws: Self.gp) { try cpu.loadIWKey(enc: testBytes(32, 5), int: Self.int) }
        // ENCODEKEY and AES*KL have no CPL check.
        #expect(try cpu.handleWorks(handle))
        #expect(try cpu.encode(testBytes(16, 4)) == handle)
    }

    static let badEAX: [UInt32] =
        (2...15).map { UInt32($0) << 1 } + (5...31).map { UInt32(1) << UInt32($0) } + [0xFFFF_FFFF, 0x20 | 2]

    @Test(arguments: badEAX)
    func loadiwkeyWithReservedEAXIsGPAndKeepsIWKey(eax: UInt32) throws {
        let machine = try keyLockerMachine()
        defer { withExtendedLifetime(machine) {} }
        let cpu = machine.processors[0]
        try cpu.loadIWKey(enc: Self.enc, int: Self.int)
        let handle = try cpu.encode(testBytes(16, 6))
        #expect(throws: Self.gp) { try cpu.loadIWKey(enc: testBytes(32, 7), int: Self.int, eax: eax) }
        #expect(try cpu.handleWorks(handle))
    }

    @Test func loadiwkeyNoBackupOrRandomWithoutSupportIsGP() throws {
        let machine1 = try keyLockerMachine { $0.klNoBackup = false }
        defer { withExtendedLifetime(machine1) {} }
        let noNoBackup = machine1.processors[0]
        #expect(throws: Self.gp) { try noNoBackup.loadIWKey(enc: Self.enc, int: Self.int, eax: 1) }
        #expect(try noNoBackup.loadIWKey(enc: Self.enc, int: Self.int, eax: 2) == false)
        let machine2 = try keyLockerMachine { $0.klRandom = false }
        defer { withExtendedLifetime(machine2) {} }
        let noRandom = machine2.processors[0]
        #expect(throws: Self.gp) { try noRandom.loadIWKey(enc: Self.enc, int: Self.int, eax: 2) }
        #expect(try noRandom.loadIWKey(enc: Self.enc, int: Self.int, eax: 1) == false)
    }

    static let reservedSRC: [UInt32] = (3...31).map { UInt32(1) << UInt32($0) } + [0xFFFF_FFF8, 8 | 1]

    @Test(arguments: reservedSRC)
    func encodekeyWithReservedSRCBitsIsGP(src: UInt32) throws {
        let machine = try keyLockerMachine()
        defer { withExtendedLifetime(machine) {} }
        let cpu = machine.processors[0]
        try cpu.loadIWKey(enc: Self.enc, int: Self.int)
        cpu.setXMM(0, testBytes(16, 1))
        let registers = cpu.allXMM
        #expect(throws: Self.gp) { _ = try cpu.encodekey128(src: src) }
        #expect(throws: Self.gp) { _ = try cpu.encodekey256(src: src) }
        #expect(cpu.allXMM == registers)
    }

    @Test(arguments: [KeyLockerRestrictions.cpl0Only, .noEncrypt, .noDecrypt])
    func encodekeyWithAnUnsupportedRestrictionIsGP(missing: KeyLockerRestrictions) throws {
        let machine = try keyLockerMachine { $0.klRestrictions.remove(missing) }
        defer { withExtendedLifetime(machine) {} }
        let cpu = machine.processors[0]
        try cpu.loadIWKey(enc: Self.enc, int: Self.int)
        #expect(throws: Self.gp) { _ = try cpu.encode(testBytes(16, 1), src: missing.rawValue) }
        #expect(throws: Self.gp) { _ = try cpu.encode(testBytes(32, 1), src: missing.rawValue) }
        // The restrictions that are supported still work.
        let others = KeyLockerRestrictions([.cpl0Only, .noEncrypt, .noDecrypt]).subtracting(missing)
        #expect(try cpu.encode(testBytes(16, 1), src: others.rawValue).count == 48)
    }

    @Test func backupMSRsUsedTheWrongWayOrWithReservedBitsAreGP() throws {
        let machine = try keyLockerMachine()
        defer { withExtendedLifetime(machine) {} }
        let cpu = machine.processors[0]
        try cpu.loadIWKey(enc: Self.enc, int: Self.int)
        #expect(throws: Self.gp) { try cpu.rdmsr(MSR.copyLocalToPlatform) }
        #expect(throws: Self.gp) { try cpu.rdmsr(MSR.copyPlatformToLocal) }
        #expect(throws: Self.gp) { try cpu.wrmsr(MSR.copyStatus, 0) }
        #expect(throws: Self.gp) { try cpu.wrmsr(MSR.iwKeyBackupStatus, 0) }
        for bit in 1..<64 {
            #expect(throws: Self.gp) { try cpu.wrmsr(MSR.copyLocalToPlatform, 1 | UInt64(1) << UInt64(bit)) }
            #expect(throws: Self.gp) { try cpu.wrmsr(MSR.copyPlatformToLocal, UInt64(1) << UInt64(bit)) }
        }
        // None of the refused writes started a backup.
        #expect(try cpu.rdmsr(MSR.iwKeyBackupStatus) == 0)
        #expect(try cpu.rdmsr(MSR.copyStatus) == 0)
        cpu.cpl = 3
        #expect(throws: Self.gp) { try cpu.rdmsr(MSR.copyStatus) }
        #expect(throws: Self.gp) { try cpu.wrmsr(MSR.copyLocalToPlatform, 1) }
        #expect(throws: Self.gp) { try cpu.writeCR4(CR4.keyLocker) }
        #expect(throws: Self.gp) { try cpu.readCR4() }
    }

    @Test func backupMSRsAreGPWithoutTheBackupFeature() throws {
        let machine = try keyLockerMachine { $0.klBackup = false }
        defer { withExtendedLifetime(machine) {} }
        let cpu = machine.processors[0]
        for msr in [MSR.copyLocalToPlatform, MSR.copyPlatformToLocal, MSR.copyStatus, MSR.iwKeyBackupStatus] {
            #expect(throws: Self.gp) { try cpu.rdmsr(msr) }
            #expect(throws: Self.gp) { try cpu.wrmsr(msr, 1) }
        }
    }

    @Test func cr4RejectsReservedBits() throws {
        let machine = try keyLockerMachine(enable: false)
        defer { withExtendedLifetime(machine) {} }
        let cpu = machine.processors[0]
        #expect(throws: Self.gp) { try cpu.writeCR4(CR4.keyLocker | 1 << 20) }
        #expect(try cpu.readCR4() == 0)
        try cpu.writeCR4(CR4.keyLocker)
        #expect(try cpu.readCR4() == CR4.keyLocker)
    }
}
