//===----------------------------------------------------------------------===//
//
// hwkeys: X86Tests
//
//===----------------------------------------------------------------------===//

import Testing
import X86

/// MSR addresses and SDM names: docs/contract.md §2 "MSRs" (981H–984H) and §3 "Backup MSRs" (D91H, D92H, 990H, 991H);
/// docs/research/mktme-research.md §1.3; docs/research/keylocker-research.md §1.8.
@Suite struct MSRTests {
    @Test(
        arguments: [
            (MSR.tmeCapability, 0x981, "IA32_TME_CAPABILITY"),
            (MSR.tmeActivate, 0x982, "IA32_TME_ACTIVATE"),
            (MSR.tmeExcludeMask, 0x983, "IA32_TME_EXCLUDE_MASK"),
            (MSR.tmeExcludeBase, 0x984, "IA32_TME_EXCLUDE_BASE"),
            (MSR.copyStatus, 0x990, "IA32_COPY_STATUS"),
            (MSR.iwKeyBackupStatus, 0x991, "IA32_IWKEYBACKUP_STATUS"),
            (MSR.copyLocalToPlatform, 0xD91, "IA32_COPY_LOCAL_TO_PLATFORM"),
            (MSR.copyPlatformToLocal, 0xD92, "IA32_COPY_PLATFORM_TO_LOCAL"),
        ] as [(UInt32, UInt32, String)]
    )
    func modelledMSRsHaveTheirSDMAddressAndName(msr: UInt32, address: UInt32, name: String) {
        #expect(msr == address)
        #expect(MSR.name(of: address) == name)
    }

    /// MSRs hwkeys does not model have no name: the neighbours of the modelled ones, the TDX-era
    /// `IA32_MKTME_KEYID_PARTITIONING` (87H) and `MK_TME_CORE_ACTIVATE` (9FFH) of docs/research/keylocker-research.md §1.3.
    @Test(arguments: [0, 0x87, 0x980, 0x985, 0x98F, 0x992, 0x9FF, 0xD90, 0xD93, 0xFFFF_FFFF] as [UInt32])
    func unmodelledMSRsHaveNoName(msr: UInt32) {
        #expect(MSR.name(of: msr) == nil)
    }
}

/// The memory-encryption algorithms: one number n per algorithm, used as `IA32_TME_CAPABILITY` bit n,
/// `IA32_TME_ACTIVATE` bit 48+n and KEYID_CTRL.ENC_ALG bit 8+n (docs/contract.md §2; docs/research/mktme-research.md §1.3, §1.5).
@Suite struct TMEAlgorithmTests {
    struct Row: Sendable {
        let algorithm: TMEAlgorithm
        let capabilityBit: UInt64
        let activateBit: UInt64
        let encAlgBit: UInt32
        let policy: UInt64
        let keyLength: Int
        let name: String
    }

    static let rows = [
        Row(
            algorithm: .aesXTS128,
            capabilityBit: 1 << 0,
            activateBit: 1 << 48,
            encAlgBit: 1 << 8,
            policy: 0,
            keyLength: 16,
            name: "aes-xts-128"
        ),
        Row(
            algorithm: .aesXTS256,
            capabilityBit: 1 << 2,
            activateBit: 1 << 50,
            encAlgBit: 1 << 10,
            policy: 2,
            keyLength: 32,
            name: "aes-xts-256"
        ),
    ]

    /// The same algorithm sits at capability bit n, activate bit 48+n, ENC_ALG bit 8+n and policy value n;
    /// its data and tweak keys are 16 or 32 bytes each (docs/contract.md §2: "only the first 16 (AES-128) or 32
    /// (AES-256) bytes of each field are used").
    @Test(arguments: rows)
    func algorithmHasTheSameNumberInEveryRegister(row: Row) {
        #expect(TMECapability.algorithmBit(row.algorithm) == row.capabilityBit)
        #expect(TMEActivate.algorithmBit(row.algorithm) == row.activateBit)
        let control = MKTMEKeyProgramLayout.keyIDControl(command: .setKeyDirect, algorithm: row.algorithm)
        #expect(control == row.encAlgBit)
        #expect(row.algorithm.policyValue == row.policy)
        #expect(row.algorithm.keyLength == row.keyLength)
    }

    /// Names as `keyctl` options and `--mk-algorithms` spell them (docs/contract.md §6 `algorithm=aes-xts-128`),
    /// case-insensitive on input.
    @Test(arguments: rows)
    func namesRoundTrip(row: Row) {
        #expect(row.algorithm.name == row.name)
        #expect(TMEAlgorithm(name: row.name) == row.algorithm)
        #expect(TMEAlgorithm(name: row.name.uppercased()) == row.algorithm)
    }

    /// Only the two algorithms hwkeys models exist: no integrity variants (1, 3), nothing else.
    @Test func onlyAESXTS128And256Exist() {
        #expect(TMEAlgorithm.allCases == [.aesXTS128, .aesXTS256])
        for raw in [1, 3, 4, -1, 16] { #expect(TMEAlgorithm(rawValue: raw) == nil) }
        for name in ["", "aes-xts-192", "aes-xts-128-i", "aes_xts_128", "xts"] {
            #expect(TMEAlgorithm(name: name) == nil)
        }
    }
}
