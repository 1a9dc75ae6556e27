//===----------------------------------------------------------------------===//
//
// hwkeys: X86, the SDM vocabulary
//
//===----------------------------------------------------------------------===//

/// Key Locker encodings (Intel Key Locker Specification 343965 §1.4, §3; SDM Vol. 2 LOADIWKEY, ENCODEKEY*).
public enum KeyLockerEncoding {
    /// LOADIWKEY EAX[0]: NoBackup.
    public static let loadNoBackup: UInt32 = 1 << 0
    /// LOADIWKEY EAX[4:1]: KeySource (0 = software key, 1 = XOR with on-chip randomness).
    public static let loadKeySourceShift: UInt32 = 1
    public static let loadKeySourceMask: UInt32 = 0xF << 1

    /// Handle AAD bit 0 / ENCODEKEY SRC[0]: usable only at CPL0.
    public static let restrictCPL0: UInt32 = 1 << 0
    /// Handle AAD bit 1 / ENCODEKEY SRC[1]: no-encrypt.
    public static let restrictNoEncrypt: UInt32 = 1 << 1
    /// Handle AAD bit 2 / ENCODEKEY SRC[2]: no-decrypt.
    public static let restrictNoDecrypt: UInt32 = 1 << 2
    /// Handle AAD bits 27:24: key type (0 = AES-128, 1 = AES-256).
    public static let keyTypeShift: UInt32 = 24
    public static let keyTypeAES128: UInt32 = 0
    public static let keyTypeAES256: UInt32 = 1

    /// Size of an AES-128 handle (384 bits) and of an AES-256 handle (512 bits).
    public static let handle128Size = 48
    public static let handle256Size = 64
}

/// The handle restrictions ENCODEKEY accepts in SRC[2:0].
public struct KeyLockerRestrictions: OptionSet, Hashable, Sendable, Codable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let cpl0Only = KeyLockerRestrictions(rawValue: KeyLockerEncoding.restrictCPL0)
    public static let noEncrypt = KeyLockerRestrictions(rawValue: KeyLockerEncoding.restrictNoEncrypt)
    public static let noDecrypt = KeyLockerRestrictions(rawValue: KeyLockerEncoding.restrictNoDecrypt)

    /// The command-line names: `cpl0`, `no-encrypt`, `no-decrypt`.
    public static let names: [(String, KeyLockerRestrictions)] = [
        ("cpl0", .cpl0Only), ("no-encrypt", .noEncrypt), ("no-decrypt", .noDecrypt),
    ]
}
