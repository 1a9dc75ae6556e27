//===----------------------------------------------------------------------===//
//
// hwkeys: PlatformTests
//
//===----------------------------------------------------------------------===//

import HWKeysBase
import TestSupport
import Testing
import X86

@testable import Platform

/// CPUID and the TME MSRs (docs/contract.md §2; MKTME spec 336907 §4.2).
@Suite struct TMEEnumerationTests {
    @Test func cpuidEnumeratesTMEPCONFIGAndTheMKTMETarget() throws {
        let machine = try makeMachine()
        let cpu = machine.cpu()
        defer { withExtendedLifetime(machine) {} }
        let leaf7 = cpu.cpuid(leaf: 7, subleaf: 0)
        #expect(leaf7.ecx & (1 << 13) != 0)
        #expect(leaf7.edx & (1 << 18) != 0)
        #expect(cpu.cpuid(leaf: 0x1B, subleaf: 0) == CPUIDResult(eax: 1, ebx: 1, ecx: 0, edx: 0))
        #expect(cpu.cpuid(leaf: 0x1B, subleaf: 1) == .zero)
        #expect(cpu.cpuid(leaf: 0x8000_0008, subleaf: 0).eax & 0xFF == 46)
    }

    @Test func maxPhysAddrIsUnchangedByKeyIDBits() throws {
        let machine = try makeMachine {
            $0.maxPhysAddr = 40
            $0.keyIDBits = 4
        }
        #expect(machine.cpu().cpuid(leaf: 0x8000_0008, subleaf: 0).eax & 0xFF == 40)
        #expect(machine.keyIDLayout.keyIDShift == 36)
    }

    @Test func withoutPCONFIGTheBitAndLeaf1BHReadZero() throws {
        let machine = try makeMachine { $0.pconfig = false }
        let cpu = machine.cpu()
        defer { withExtendedLifetime(machine) {} }
        #expect(cpu.cpuid(leaf: 7, subleaf: 0).edx & (1 << 18) == 0)
        #expect(cpu.cpuid(leaf: 0x1B, subleaf: 0) == .zero)
    }

    @Test func capabilityReportsAlgorithmsBypassMaxKeyIDBitsAndMaxKeys() throws {
        let machine = try makeMachine { $0.maxKeys = 31 }
        let value = try machine.cpu().rdmsr(MSR.tmeCapability)
        #expect(value & 1 == 1)  // AES-XTS-128
        #expect(value & 2 == 0)  // no integrity
        #expect(value & 4 == 4)  // AES-XTS-256
        #expect(value & (1 << 31) != 0)  // bypass supported
        #expect((value >> 32) & 0xF == 6)  // MK_TME_MAX_KEYID_BITS
        #expect((value >> 36) & 0x7FFF == 31)  // MK_TME_MAX_KEYS
        #expect(value & ~(0x0007_FFFF_8000_0005 as UInt64) == 0)
    }

    @Test func maxKeyIDBitsIsTheLargerOfSixAndTheConfiguredK() throws {
        let machine = try makeMachine { $0.keyIDBits = 9 }
        let value = try machine.cpu().rdmsr(MSR.tmeCapability)
        #expect(TMECapability.maxKeyIDBits(value) == 9)
    }

    @Test func capabilityIsReadOnly() throws {
        let machine = try makeMachine()
        #expect(throws: X86Fault.gp0("")) { try machine.cpu().wrmsr(MSR.tmeCapability, 0) }
    }

    @Test func firmwareActivatesFromTheConfiguration() throws {
        let machine = try makeMachine {
            $0.tmePolicy = .aesXTS256
            $0.keyIDBits = 5
            $0.tmeBypass = true
            $0.mkAlgorithms = [.aesXTS256]
            $0.saveKeyForStandby = false
        }
        let value = try machine.cpu().rdmsr(MSR.tmeActivate)
        #expect(value & 1 == 1)  // locked
        #expect(value & 2 == 2)  // enabled
        #expect(value & 4 == 0)  // new key
        #expect(value & 8 == 0)  // not saved for standby
        #expect((value >> 4) & 0xF == 2)  // AES-XTS-256 policy
        #expect(value & (1 << 31) != 0)  // bypass
        #expect((value >> 32) & 0xF == 5)  // k
        #expect(value >> 48 == 0b100)  // AES-XTS-256 only
        #expect(machine.keyIDLayout.keyIDBits == 5)
    }

    @Test func defaultActivationMatchesSpecDefaults() throws {
        let machine = try makeMachine()
        #expect(try machine.cpu().rdmsr(MSR.tmeActivate) == 0x0005_0006_0000_000B)
    }

    @Test func msrsNeedCPL0() throws {
        let machine = try makeMachine()
        let cpu = machine.cpu()
        defer { withExtendedLifetime(machine) {} }
        cpu.cpl = 3
        #expect(throws: X86Fault.gp0("")) { try cpu.rdmsr(MSR.tmeActivate) }
        #expect(throws: X86Fault.gp0("")) { try cpu.wrmsr(MSR.tmeExcludeBase, 0) }
    }
}

@Suite struct TMEActivateTests {
    /// A `--tme off` machine: ACTIVATE unlocked and disabled, so every WRMSR rule can be exercised.
    func unlocked() throws -> Machine {
        let machine = try makeMachine {
            $0.tmeEnabled = false
            $0.keyIDBits = 0
        }
        #expect(try machine.cpu().rdmsr(MSR.tmeActivate) == 0)
        #expect(machine.keyIDLayout.keyIDBits == 0)
        return machine
    }

    @Test func anyWriteAfterLockFaults() throws {
        let machine = try makeMachine()
        let cpu = machine.cpu()
        let value = try cpu.rdmsr(MSR.tmeActivate)
        for write in [value, value & ~1, 0, 2] {
            #expect(throws: X86Fault.gp0("")) { try cpu.wrmsr(MSR.tmeActivate, write) }
        }
        #expect(try cpu.rdmsr(MSR.tmeActivate) == value)
    }

    static let reservedBits: [Int] = [8, 9, 16, 30, 36, 39, 40, 47, 49, 51, 52, 63]

    @Test(arguments: reservedBits)
    func reservedBitsFault(bit: Int) throws {
        let machine = try unlocked()
        let cpu = machine.cpu()
        #expect(throws: X86Fault.gp0("")) { try cpu.wrmsr(MSR.tmeActivate, 0x2 | UInt64(1) << UInt64(bit)) }
        #expect(try cpu.rdmsr(MSR.tmeActivate) == 0)
    }

    @Test(arguments: [1, 3, 4, 15])
    func policiesNotEnumeratedFault(policy: UInt64) throws {
        let machine = try unlocked()
        let cpu = machine.cpu()
        defer { withExtendedLifetime(machine) {} }
        #expect(throws: X86Fault.gp0("")) { try cpu.wrmsr(MSR.tmeActivate, 0x2 | policy << 4) }
    }

    @Test func keyIDBitsAboveTheMaximumFault() throws {
        let machine = try unlocked()
        let cpu = machine.cpu()
        defer { withExtendedLifetime(machine) {} }
        #expect(throws: X86Fault.gp0("")) { try cpu.wrmsr(MSR.tmeActivate, 0x2 | 7 << 32 | 1 << 48) }
        #expect(try cpu.rdmsr(MSR.tmeActivate) == 0)
    }

    @Test func keyIDBitsWithoutEnableFault() throws {
        let machine = try unlocked()
        let cpu = machine.cpu()
        defer { withExtendedLifetime(machine) {} }
        #expect(throws: X86Fault.gp0("")) { try cpu.wrmsr(MSR.tmeActivate, 3 << 32) }
    }

    @Test func restoreWithoutASavedKeyFaults() throws {
        let machine = try unlocked()
        let cpu = machine.cpu()
        defer { withExtendedLifetime(machine) {} }
        #expect(throws: X86Fault.gp0("")) { try cpu.wrmsr(MSR.tmeActivate, 0x2 | 0x4) }
    }

    @Test func theLockBitInTheWrittenValueIsIgnoredAndSetBySuccess() throws {
        let machine = try unlocked()
        let cpu = machine.cpu()
        try cpu.wrmsr(MSR.tmeActivate, 0x3 | 2 << 32 | 1 << 48)
        #expect(try cpu.rdmsr(MSR.tmeActivate) == 0x3 | 2 << 32 | 1 << 48)
        #expect(machine.keyIDLayout.keyIDBits == 2)
        #expect(machine.tmeStatus.active)
    }

    @Test func activatingByHandGivesKeyIDsAndATMEKey() throws {
        let machine = try unlocked()
        let cpu = machine.cpu()
        #expect(machine.tmeKeyBytes(package: 0) == nil)
        try cpu.wrmsr(
            MSR.tmeActivate,
            TMEActivate.value(
                enable: true,
                saveKeyForStandby: true,
                policy: .aesXTS256,
                bypass: false,
                keyIDBits: 3,
                algorithms: [.aesXTS128]
            )
        )
        #expect(machine.keyIDLayout.keyIDBits == 3)
        #expect(machine.tmeKeyBytes(package: 0)?.count == 64)
        #expect(try cpu.program(keyID: 7, .setKeyRandom).status == .success)
        #expect(try cpu.program(keyID: 8, .setKeyRandom).status == .invalidKeyID)
        #expect(throws: X86Fault.gp0("")) { try cpu.wrmsr(MSR.tmeActivate, 0) }
    }

    @Test func writingDisabledLocksTMEOff() throws {
        let machine = try unlocked()
        let cpu = machine.cpu()
        try cpu.wrmsr(MSR.tmeActivate, 0)
        #expect(try cpu.rdmsr(MSR.tmeActivate) == 1)
        #expect(!machine.tmeStatus.active)
        #expect(throws: X86Fault.gp0("")) { try cpu.wrmsr(MSR.tmeActivate, 2) }
        // PCONFIG needs TME active.
        #expect(throws: X86Fault.gp0("")) { try cpu.program(keyID: 1, .setKeyRandom) }
    }

    @Test func beforeActivationEverythingIsPlaintextKeyID0() throws {
        let machine = try unlocked()
        machine.cpu().store(PhysicalAddress(0x1000), testPattern(64))
        machine.cpu().clflush(PhysicalAddress(0x1000))
        #expect(machine.dramBytes(0x1000, 64) == testPattern(64))
    }
}

@Suite struct TMEExclusionMSRTests {
    func unlocked() throws -> Machine {
        try makeMachine {
            $0.tmeEnabled = false
            $0.keyIDBits = 0
        }
    }

    @Test func maskAndBaseAreWritableBeforeLockAndReadBack() throws {
        let machine = try unlocked()
        let cpu = machine.cpu()
        defer { withExtendedLifetime(machine) {} }
        try cpu.wrmsr(MSR.tmeExcludeBase, 0x10_0000)
        try cpu.wrmsr(MSR.tmeExcludeMask, 0x3FFF_FFF0_0000 | 0x800)
        #expect(try cpu.rdmsr(MSR.tmeExcludeBase) == 0x10_0000)
        #expect(try cpu.rdmsr(MSR.tmeExcludeMask) == 0x3FFF_FFF0_0800)
        try cpu.wrmsr(MSR.tmeExcludeMask, 0)  // zero is contiguous
    }

    @Test(arguments: [
        (MSR.tmeExcludeMask, UInt64(0x3FFF_FFF0_0000 & ~0x1000_0000)),  // a hole
        (MSR.tmeExcludeMask, UInt64(0x1FFF_FFF0_0000)),  // does not start at MAXPHYADDR-1
        (MSR.tmeExcludeMask, UInt64(0x400)),  // reserved low bit
        (MSR.tmeExcludeMask, UInt64(1) << 46),  // above MAXPHYADDR
        (MSR.tmeExcludeBase, UInt64(0x800)),  // BASE has no enable bit
        (MSR.tmeExcludeBase, UInt64(0x123)),
        (MSR.tmeExcludeBase, UInt64(1) << 50),
    ])
    func invalidValuesFault(msr: UInt32, value: UInt64) throws {
        let machine = try unlocked()
        let cpu = machine.cpu()
        defer { withExtendedLifetime(machine) {} }
        #expect(throws: X86Fault.gp0("")) { try cpu.wrmsr(msr, value) }
        #expect(try cpu.rdmsr(msr) == 0)
    }

    @Test func writesAfterLockFault() throws {
        let machine = try makeMachine { $0.tmeExclude = TMEExclusion(base: 0x20_0000, mask: 0x3FFF_FFE0_0000) }
        let cpu = machine.cpu()
        #expect(try cpu.rdmsr(MSR.tmeExcludeBase) == 0x20_0000)
        #expect(try cpu.rdmsr(MSR.tmeExcludeMask) == 0x3FFF_FFE0_0800)
        #expect(throws: X86Fault.gp0("")) { try cpu.wrmsr(MSR.tmeExcludeBase, 0) }
        #expect(throws: X86Fault.gp0("")) { try cpu.wrmsr(MSR.tmeExcludeMask, 0) }
    }
}
