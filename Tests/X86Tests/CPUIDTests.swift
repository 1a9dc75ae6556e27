//===----------------------------------------------------------------------===//
//
// hwkeys: X86Tests
//
//===----------------------------------------------------------------------===//

import Testing
import X86

/// CPUID leaves and feature bits: docs/contract.md §2 "Enumeration" and §3 "Enumeration"; docs/research/mktme-research.md §1.2;
/// docs/research/keylocker-research.md §1.1 (CPUID.19H bit by bit, Linux `arch/x86/include/asm/keylocker.h` constants).
@Suite struct CPUIDTests {
    /// Leaf numbers: 07H structured features, 19H Key Locker, 1BH PCONFIG information, 80000008H address
    /// sizes (MAXPHYADDR), and the basic / extended maximum leaves 0 and 80000000H.
    @Test func leavesHaveTheirSDMNumbers() {
        #expect(CPUIDLeaf.maximumBasic == 0x0)
        #expect(CPUIDLeaf.versionInformation == 0x1)
        #expect(CPUIDLeaf.structuredExtendedFeatures == 0x7)
        #expect(CPUIDLeaf.keyLockerLeaf == 0x19)
        #expect(CPUIDLeaf.pconfigInformation == 0x1B)
        #expect(CPUIDLeaf.maximumExtended == 0x8000_0000)
        #expect(CPUIDLeaf.addressSizes == 0x8000_0008)
    }

    /// Each feature flag is the single bit the spec names: CPUID.(7,0):ECX[13] TME, ECX[23] KL, EDX[18]
    /// PCONFIG; CPUID.1:ECX[25] AES-NI (SDM Vol. 2A Table 3-10); CPUID.19H EAX[0] CPL0-only, EAX[1]
    /// no-encrypt, EAX[2] no-decrypt, EBX[0] AESKLE, EBX[2] WIDE_KL, EBX[4] backup MSRs, ECX[0] NoBackup,
    /// ECX[1] random KeySource.
    @Test(
        arguments: [
            (CPUIDBit.tmeECX, 13),
            (CPUIDBit.keyLockerECX, 23),
            (CPUIDBit.pconfigEDX, 18),
            (CPUIDBit.aesniECX, 25),
            (CPUIDBit.klCPL0OnlyEAX, 0),
            (CPUIDBit.klNoEncryptEAX, 1),
            (CPUIDBit.klNoDecryptEAX, 2),
            (CPUIDBit.klAESKLEEBX, 0),
            (CPUIDBit.klWideEBX, 2),
            (CPUIDBit.klBackupEBX, 4),
            (CPUIDBit.klNoBackupECX, 0),
            (CPUIDBit.klRandomECX, 1),
        ] as [(UInt32, Int)]
    )
    func featureBitsSitWhereTheSpecSays(mask: UInt32, bit: Int) {
        #expect(mask == UInt32(1) << UInt32(bit))
    }

    /// CPUID.19H's restriction bits in EAX are the handle restriction bits themselves (SRC[2:0] of
    /// ENCODEKEY, docs/research/keylocker-research.md §1.5 footnote 2: SRC[n] is reserved when CPUID.19H:EAX[n] is 0).
    @Test func keyLockerRestrictionSupportBitsMatchTheRestrictionBits() {
        #expect(CPUIDBit.klCPL0OnlyEAX == KeyLockerRestrictions.cpl0Only.rawValue)
        #expect(CPUIDBit.klNoEncryptEAX == KeyLockerRestrictions.noEncrypt.rawValue)
        #expect(CPUIDBit.klNoDecryptEAX == KeyLockerRestrictions.noDecrypt.rawValue)
    }

    /// A result defaults to all four registers zero, which is what an absent leaf reads (docs/contract.md §3: "With
    /// KL absent: leaf 19H reads 0").
    @Test func resultDefaultsToZero() {
        #expect(CPUIDResult() == CPUIDResult(eax: 0, ebx: 0, ecx: 0, edx: 0))
        #expect(CPUIDResult.zero == CPUIDResult())
        let result = CPUIDResult(eax: 1, ebx: 2, ecx: 3, edx: 4)
        #expect([result.eax, result.ebx, result.ecx, result.edx] == [1, 2, 3, 4])
        #expect(result != CPUIDResult(eax: 1, ebx: 2, ecx: 3, edx: 5))
    }
}
