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

/// S3 without "save key for standby" (docs/contract.md §4, §12 "No silent loss"): firmware draws a new TME
/// key at resume (`IA32_TME_ACTIVATE[3]` = 0), so every KeyID-0 byte that TME encrypted reads back as
/// garbage. The kernel refuses the suspend (EBUSY) unless nothing TME encrypts would be lost: TME off,
/// bypass, or every DRAM range inside the exclusion range.
@Suite struct StandbyPowerTests {
    /// The TME exclusion mask that covers `[0, size)` (size a power of two) on a MAXPHYADDR-46 machine.
    static func exclusionMask(covering size: UInt64) -> UInt64 {
        let field = ((UInt64(1) << 46) - 1) & ~UInt64(0xFFF)
        return field & ~(size - 1)
    }

    @Test func s3WithoutStandbySaveIsRefusedWhileTMEEncryptsMemory() throws {
        let (machine, kernel) = try bootedKernel { $0.saveKeyForStandby = false }
        expectErrno(.EBUSY) { try kernel.prepareForSleep(.suspendToRAM) }
        #expect(machine.powerState == .running)
        #expect(kernel.log.lines.contains { $0.text.contains("save key for standby") })
    }

    /// What the refusal prevents: the hardware alone loses a user key's payload across such an S3.
    @Test func theHardwareReallyLosesKernelMemoryAcrossSuchAnS3() throws {
        let (machine, kernel) = try bootedKernel { $0.saveKeyForStandby = false }
        let secret = SecretBytes(Array("a user key payload".utf8))
        let allocation = try kernel.storeInKernelMemory(secret)
        for cpu in kernel.processors { try cpu.wbinvd() }
        try machine.power(.suspend)
        try machine.power(.resume)
        #expect(kernel.readKernelMemory(allocation) != secret)
    }

    /// Configurations in which S3 without the standby save loses nothing that TME encrypts.
    enum NothingLost: String, CaseIterable, Sendable {
        case bypass
        case tmeOff
        case allOfDRAMExcluded
        case exclusionMaskZero

        func apply(_ config: inout MachineConfiguration) {
            switch self {
            case .bypass: config.tmeBypass = true
            case .tmeOff:
                config.tmeEnabled = false
                config.keyIDBits = 0
            case .allOfDRAMExcluded:
                config.tmeExclude = TMEExclusion(base: 0, mask: StandbyPowerTests.exclusionMask(covering: 64 << 20))
            case .exclusionMaskZero:
                config.tmeExclude = TMEExclusion(base: 0, mask: 0)
            }
        }
    }

    @Test(arguments: NothingLost.allCases)
    func s3WithoutStandbySaveIsAllowedWhenNothingIsEncryptedWithTheTMEKey(_ configuration: NothingLost) throws {
        let (machine, kernel) = try bootedKernel {
            $0.saveKeyForStandby = false
            configuration.apply(&$0)
        }
        let secret = SecretBytes(Array("kept across S3".utf8))
        let allocation = try kernel.storeInKernelMemory(secret)
        try kernel.prepareForSleep(.suspendToRAM)
        try machine.power(.suspend)
        try machine.power(.resume)
        try kernel.resumed(from: .suspendToRAM)
        #expect(kernel.readKernelMemory(allocation) == secret, "\(configuration)")
    }

    @Test func anExclusionRangeThatMissesPartOfDRAMDoesNotHelp() throws {
        let (_, kernel) = try bootedKernel {
            $0.saveKeyForStandby = false
            $0.tmeExclude = TMEExclusion(base: 0, mask: Self.exclusionMask(covering: 32 << 20))
        }
        expectErrno(.EBUSY) { try kernel.prepareForSleep(.suspendToRAM) }
    }

    @Test func s3WithStandbySaveKeepsKernelMemory() throws {
        let (machine, kernel) = try bootedKernel()
        let secret = SecretBytes(Array("kept across S3".utf8))
        let allocation = try kernel.storeInKernelMemory(secret)
        try kernel.prepareForSleep(.suspendToRAM)
        try machine.power(.suspend)
        try machine.power(.resume)
        try kernel.resumed(from: .suspendToRAM)
        #expect(kernel.readKernelMemory(allocation) == secret)
    }
}
