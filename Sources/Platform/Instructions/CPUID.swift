//===----------------------------------------------------------------------===//
//
// hwkeys: Platform
//
//===----------------------------------------------------------------------===//

import X86

extension LogicalProcessor {
    /// CPUID (SDM Vol. 2A "CPUID—CPU Identification"), built from the machine configuration, which is
    /// hwkeys' CPU model table (the QEMU `feature_word_info` idea: feature gating is data).
    ///
    /// | leaf | what | source |
    /// |---|---|---|
    /// | 0 | max basic leaf 1BH, vendor "GenuineIntel" | SDM Vol. 2A |
    /// | 1 | ECX[25] AES-NI; ECX[31] hypervisor present = 0 (bare metal); EBX[31:24] initial APIC ID | SDM Vol. 2A |
    /// | 7.0 | ECX[13] TME (absent with `--no-tme`), ECX[23] KL, EDX[18] PCONFIG | docs/contract.md §1–§3 |
    /// | 19H | Key Locker: EAX restrictions, EBX AESKLE (dynamic: CR4.KL) / WIDE_KL / backup, ECX NoBackup / random | docs/contract.md §3 |
    /// | 1BH | PCONFIG sub-leaf 0: EAX[11:0] = 1, EBX = 1 (MKTME target); later sub-leaves 0 | docs/contract.md §2 |
    /// | 80000008H | EAX[7:0] MAXPHYADDR (unchanged by KeyID bits), EAX[15:8] 48 | docs/contract.md §2 |
    ///
    /// Other leaves read as zero (documented in docs/choices.md).
    public func cpuid(leaf: UInt32, subleaf: UInt32) -> CPUIDResult {
        let config = machine.configuration
        switch leaf {
        case CPUIDLeaf.maximumBasic:
            // "GenuineIntel": EBX = "Genu", EDX = "ineI", ECX = "ntel".
            return CPUIDResult(eax: CPUIDLeaf.pconfigInformation, ebx: 0x756E_6547, ecx: 0x6C65_746E, edx: 0x4965_6E69)
        case CPUIDLeaf.versionInformation:
            return CPUIDResult(eax: 0x000A_06A0, ebx: UInt32(cpuNumber & 0xFF) << 24, ecx: CPUIDBit.aesniECX, edx: 0)
        case CPUIDLeaf.structuredExtendedFeatures where subleaf == 0:
            var result = CPUIDResult()
            if config.tmePresent { result.ecx |= CPUIDBit.tmeECX }
            if config.keyLocker { result.ecx |= CPUIDBit.keyLockerECX }
            if config.pconfig { result.edx |= CPUIDBit.pconfigEDX }
            return result
        case CPUIDLeaf.keyLockerLeaf where subleaf == 0:
            guard config.keyLocker else { return .zero }
            var result = CPUIDResult()
            result.eax = config.klRestrictions.rawValue & 0x7
            if cr4 & CR4.keyLocker != 0 { result.ebx |= CPUIDBit.klAESKLEEBX }
            if config.wideKL { result.ebx |= CPUIDBit.klWideEBX }
            if config.klBackup { result.ebx |= CPUIDBit.klBackupEBX }
            if config.klNoBackup { result.ecx |= CPUIDBit.klNoBackupECX }
            if config.klRandom { result.ecx |= CPUIDBit.klRandomECX }
            return result
        case CPUIDLeaf.pconfigInformation:
            guard config.pconfig, subleaf == 0 else { return .zero }
            return CPUIDResult(eax: 1, ebx: 1, ecx: 0, edx: 0)
        case CPUIDLeaf.maximumExtended:
            return CPUIDResult(eax: CPUIDLeaf.addressSizes)
        case CPUIDLeaf.addressSizes:
            return CPUIDResult(eax: UInt32(config.maxPhysAddr) | (48 << 8))
        default:
            return .zero
        }
    }
}
