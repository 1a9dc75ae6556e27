//===----------------------------------------------------------------------===//
//
// hwkeys: PlatformTests
//
//===----------------------------------------------------------------------===//

import Foundation
import HWKeysBase
import Testing
import X86

@testable import Platform

/// A CPU without TME (`machine create --no-tme`, docs/contract.md §1): CPUID.(7,0):ECX[13] = 0, so the MSRs
/// 981H–984H do not exist (#GP(0) on RDMSR and WRMSR, SDM Vol. 4 Table 2-2: "if CPUID.07H:ECX[13] = 1"), and
/// there is no PCONFIG (#UD). Distinct from `--tme off`: TME present but not enabled by firmware.
@Suite struct TMEAbsentTests {
    static func absent(_ config: inout MachineConfiguration) {
        config.tmePresent = false
        config.tmeEnabled = false
        config.keyIDBits = 0
        config.pconfig = false
    }

    @Test func cpuidReportsNoTMEAndNoPCONFIG() throws {
        let machine = try makeMachine(Self.absent)
        let leaf7 = machine.cpu().cpuid(leaf: CPUIDLeaf.structuredExtendedFeatures, subleaf: 0)
        #expect(leaf7.ecx & CPUIDBit.tmeECX == 0)
        #expect(leaf7.edx & CPUIDBit.pconfigEDX == 0)
        #expect(machine.cpu().cpuid(leaf: CPUIDLeaf.pconfigInformation, subleaf: 0) == .zero)
        // Key Locker is another feature and stays.
        #expect(leaf7.ecx & CPUIDBit.keyLockerECX != 0)
        // `--tme off` keeps TME enumerated.
        let off = try makeMachine {
            $0.tmeEnabled = false
            $0.keyIDBits = 0
        }
        #expect(off.cpu().cpuid(leaf: CPUIDLeaf.structuredExtendedFeatures, subleaf: 0).ecx & CPUIDBit.tmeECX != 0)
    }

    @Test(arguments: [MSR.tmeCapability, MSR.tmeActivate, MSR.tmeExcludeMask, MSR.tmeExcludeBase])
    func theTMEMSRsAreGP(msr: UInt32) throws {
        let machine = try makeMachine(Self.absent)
        #expect(throws: X86Fault.gp0("")) { _ = try machine.cpu().rdmsr(msr) }
        #expect(throws: X86Fault.gp0("")) { try machine.cpu().wrmsr(msr, 0) }
        // With TME present the same MSRs read (docs/contract.md §2).
        let present = try makeMachine()
        #expect(throws: Never.self) { _ = try present.cpu().rdmsr(msr) }
    }

    @Test func pconfigIsUD() throws {
        let machine = try makeMachine(Self.absent)
        #expect(throws: X86Fault.ud("")) {
            _ = try machine.cpu().pconfig(leaf: PCONFIGLeaf.mktmeKeyProgram, structure: PhysicalAddress(0x1000))
        }
        #expect(!machine.tmeStatus.active && machine.keyIDLayout.keyIDBits == 0)
    }

    @Test func memoryIsStoredAsPlaintextAndSurvivesS3() throws {
        let machine = try makeMachine {
            Self.absent(&$0)
            $0.saveKeyForStandby = false
        }
        let text = Array("no TME at all".utf8)
        text.withUnsafeBytes { machine.cpu().store(PhysicalAddress(0x2000), from: $0) }
        machine.cpu().clflush(PhysicalAddress(0x2000))
        var raw = [UInt8](repeating: 0, count: text.count)
        raw.withUnsafeMutableBytes { machine.dram.read(0x2000, into: $0) }
        #expect(raw == text)
        try machine.power(.suspend)
        try machine.power(.resume)
        var back = [UInt8](repeating: 0, count: text.count)
        back.withUnsafeMutableBytes { machine.cpu().load(PhysicalAddress(0x2000), into: $0) }
        #expect(back == text)
    }

    /// `--no-tme` means no TME feature at all: what needs it is a configuration error (usage, exit 2).
    @Test func configurationsThatNeedTMEAreRefused() throws {
        var base = MachineConfiguration()
        Self.absent(&base)
        #expect(throws: Never.self) { try base.validate() }
        let broken: [(String, (inout MachineConfiguration) -> Void)] = [
            ("tme on", { $0.tmeEnabled = true }),
            ("keyid bits", { $0.keyIDBits = 6 }),
            ("pconfig", { $0.pconfig = true }),
            ("bypass", { $0.tmeBypass = true }),
            ("exclusion", { $0.tmeExclude = TMEExclusion(base: 0, mask: 0) }),
        ]
        for (name, change) in broken {
            var config = base
            change(&config)
            let error = #expect(throws: HWKeysError.self, "\(name)") { try config.validate() }
            #expect(error?.isUsage == true, "\(name)")
        }
    }

    /// Stored configurations from before `--no-tme` (no `tme_present` key) describe CPUs with TME.
    @Test func theFieldDecodesWithItsDefaultAndRoundTrips() throws {
        let old = try JSONDecoder().decode(MachineConfiguration.self, from: Data(#"{"tme":false,"keyid_bits":0}"#.utf8))
        #expect(old.tmePresent)
        var config = MachineConfiguration()
        Self.absent(&config)
        let decoded = try JSONDecoder().decode(MachineConfiguration.self, from: try JSONEncoder().encode(config))
        #expect(decoded == config)
        #expect(!decoded.tmePresent)
    }

    @Test func theImageOfANoTMEMachineRoundTrips() throws {
        let machine = try makeMachine(Self.absent)
        let image = machine.makeImage()
        let restored = try Machine.restore(configuration: machine.configuration, image: image, pageSource: nil)
        #expect(restored.makeImage().volatile == image.volatile)
    }
}
