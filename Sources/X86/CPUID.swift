//===----------------------------------------------------------------------===//
//
// hwkeys: X86, the SDM vocabulary
//
//===----------------------------------------------------------------------===//

/// The four registers CPUID returns (SDM Vol. 2A, "CPUID—CPU Identification").
public struct CPUIDResult: Hashable, Sendable {
    public var eax: UInt32
    public var ebx: UInt32
    public var ecx: UInt32
    public var edx: UInt32

    public init(eax: UInt32 = 0, ebx: UInt32 = 0, ecx: UInt32 = 0, edx: UInt32 = 0) {
        self.eax = eax
        self.ebx = ebx
        self.ecx = ecx
        self.edx = edx
    }

    public static let zero = CPUIDResult()
}

/// CPUID leaves and feature bits that hwkeys models.
///
/// | Swift name | SDM | bit |
/// |---|---|---|
/// | `structuredExtendedFeatures` | CPUID.(EAX=07H,ECX=0) | |
/// | `tme` | CPUID.(7,0):ECX[13] TME_EN | 13 |
/// | `keyLocker` | CPUID.(7,0):ECX[23] KL | 23 |
/// | `pconfig` | CPUID.(7,0):EDX[18] PCONFIG | 18 |
/// | `hypervisor` | CPUID.1:ECX[31], hypervisor present | 31 |
/// | `pconfigInformation` | CPUID.1BH, PCONFIG information | |
/// | `keyLockerLeaf` | CPUID.19H, Key Locker leaf | |
/// | `addressSizes` | CPUID.80000008H:EAX[7:0] MAXPHYADDR | |
public enum CPUIDLeaf {
    public static let maximumBasic: UInt32 = 0x00
    public static let versionInformation: UInt32 = 0x01
    public static let structuredExtendedFeatures: UInt32 = 0x07
    public static let pconfigInformation: UInt32 = 0x1B
    public static let keyLockerLeaf: UInt32 = 0x19
    public static let maximumExtended: UInt32 = 0x8000_0000
    public static let addressSizes: UInt32 = 0x8000_0008
}

/// Feature bits by register.
public enum CPUIDBit {
    /// CPUID.(7,0):ECX[13]: TME (the TME MSRs 981H–984H exist).
    public static let tmeECX: UInt32 = 1 << 13
    /// CPUID.(7,0):ECX[23]: Key Locker.
    public static let keyLockerECX: UInt32 = 1 << 23
    /// CPUID.(7,0):EDX[18]: PCONFIG.
    public static let pconfigEDX: UInt32 = 1 << 18
    /// CPUID.1:ECX[25]: AES-NI.
    public static let aesniECX: UInt32 = 1 << 25
    /// CPUID.1:ECX[31]: a hypervisor is present. The SDM lists the bit as "not used, always returns 0"
    /// on real processors; hypervisors set it in the CPUID they show a guest, and Linux's
    /// `X86_FEATURE_HYPERVISOR` is this bit.
    public static let hypervisorECX: UInt32 = 1 << 31

    /// CPUID.19H:EAX[0]: the CPL0-only handle restriction is supported.
    public static let klCPL0OnlyEAX: UInt32 = 1 << 0
    /// CPUID.19H:EAX[1]: the no-encrypt handle restriction is supported.
    public static let klNoEncryptEAX: UInt32 = 1 << 1
    /// CPUID.19H:EAX[2]: the no-decrypt handle restriction is supported.
    public static let klNoDecryptEAX: UInt32 = 1 << 2
    /// CPUID.19H:EBX[0]: AESKLE, dynamic: 1 only while CR4.KL = 1.
    public static let klAESKLEEBX: UInt32 = 1 << 0
    /// CPUID.19H:EBX[2]: WIDE_KL (AESENCWIDE*/AESDECWIDE*).
    public static let klWideEBX: UInt32 = 1 << 2
    /// CPUID.19H:EBX[4]: the IWKey backup MSRs exist.
    public static let klBackupEBX: UInt32 = 1 << 4
    /// CPUID.19H:ECX[0]: LOADIWKEY accepts NoBackup.
    public static let klNoBackupECX: UInt32 = 1 << 0
    /// CPUID.19H:ECX[1]: LOADIWKEY accepts KeySource 1 (random).
    public static let klRandomECX: UInt32 = 1 << 1
}
