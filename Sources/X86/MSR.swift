//===----------------------------------------------------------------------===//
//
// hwkeys: X86, the SDM vocabulary
//
//===----------------------------------------------------------------------===//

/// Model-specific register addresses that hwkeys models.
///
/// | Swift name | SDM / spec name | address |
/// |---|---|---|
/// | `tmeCapability` | `IA32_TME_CAPABILITY` (MKTME spec §4.2.1) | 981H |
/// | `tmeActivate` | `IA32_TME_ACTIVATE` (MKTME spec §4.2.2) | 982H |
/// | `tmeExcludeMask` | `IA32_TME_EXCLUDE_MASK` (MKTME spec §4.2.3) | 983H |
/// | `tmeExcludeBase` | `IA32_TME_EXCLUDE_BASE` (MKTME spec §4.2.4) | 984H |
/// | `copyLocalToPlatform` | `IA32_COPY_LOCAL_TO_PLATFORM` (KL spec §4, SDM Vol. 4) | D91H |
/// | `copyPlatformToLocal` | `IA32_COPY_PLATFORM_TO_LOCAL` (KL spec §4, SDM Vol. 4) | D92H |
/// | `copyStatus` | `IA32_COPY_STATUS` (KL spec §4.4) | 990H |
/// | `iwKeyBackupStatus` | `IA32_IWKEYBACKUP_STATUS` (KL spec §4.5) | 991H |
public enum MSR {
    public static let tmeCapability: UInt32 = 0x981
    public static let tmeActivate: UInt32 = 0x982
    public static let tmeExcludeMask: UInt32 = 0x983
    public static let tmeExcludeBase: UInt32 = 0x984
    public static let copyLocalToPlatform: UInt32 = 0xD91
    public static let copyPlatformToLocal: UInt32 = 0xD92
    public static let copyStatus: UInt32 = 0x990
    public static let iwKeyBackupStatus: UInt32 = 0x991

    /// The SDM name of a modelled MSR, or nil.
    public static func name(of msr: UInt32) -> String? {
        switch msr {
        case tmeCapability: "IA32_TME_CAPABILITY"
        case tmeActivate: "IA32_TME_ACTIVATE"
        case tmeExcludeMask: "IA32_TME_EXCLUDE_MASK"
        case tmeExcludeBase: "IA32_TME_EXCLUDE_BASE"
        case copyLocalToPlatform: "IA32_COPY_LOCAL_TO_PLATFORM"
        case copyPlatformToLocal: "IA32_COPY_PLATFORM_TO_LOCAL"
        case copyStatus: "IA32_COPY_STATUS"
        case iwKeyBackupStatus: "IA32_IWKEYBACKUP_STATUS"
        default: nil
        }
    }
}

/// A memory-encryption algorithm as TME-MK names it.
///
/// `IA32_TME_CAPABILITY` bit n, `IA32_TME_ACTIVATE` bit 48+n and PCONFIG `KEYID_CTRL.ENC_ALG` bit 8+n all
/// refer to the same algorithm n (MKTME spec §4.2; docs/contract.md §2).
public enum TMEAlgorithm: Int, CaseIterable, Sendable, Codable {
    /// AES-XTS with 128-bit keys (n = 0).
    case aesXTS128 = 0
    /// AES-XTS with 256-bit keys (n = 2).
    case aesXTS256 = 2

    /// The key length in bytes of each of the data and tweak keys.
    public var keyLength: Int { self == .aesXTS128 ? 16 : 32 }

    /// The spelling used on the command line and in the kernel: `aes-xts-128` / `aes-xts-256`.
    public var name: String { self == .aesXTS128 ? "aes-xts-128" : "aes-xts-256" }

    public init?(name: String) {
        switch name.lowercased() {
        case "aes-xts-128": self = .aesXTS128
        case "aes-xts-256": self = .aesXTS256
        default: return nil
        }
    }

    /// The KeyID-0 policy value in `IA32_TME_ACTIVATE[7:4]`: 0 = AES-XTS-128, 2 = AES-XTS-256.
    public var policyValue: UInt64 { UInt64(rawValue) }
}
