//===----------------------------------------------------------------------===//
//
// hwkeys: X86, the SDM vocabulary
//
//===----------------------------------------------------------------------===//

/// Fields of `IA32_TME_CAPABILITY` (MSR 981H, read-only; MKTME spec 336907 §4.2.1 Table 4-1, SDM Vol. 4
/// Table 2-2).
///
/// | bits | field |
/// |---|---|
/// | 0 | AES-XTS-128 supported |
/// | 2 | AES-XTS-256 supported (spec rev 1.3+) |
/// | 31 | TME encryption bypass supported (spec rev 1.3+) |
/// | 35:32 | MK_TME_MAX_KEYID_BITS |
/// | 50:36 | MK_TME_MAX_KEYS |
public enum TMECapability {
    /// Bit n: algorithm n (``TMEAlgorithm/rawValue``) is supported.
    public static func algorithmBit(_ algorithm: TMEAlgorithm) -> UInt64 { UInt64(1) << UInt64(algorithm.rawValue) }
    /// Bit 31: KeyID-0 encryption bypass is supported.
    public static let bypassSupported: UInt64 = 1 << 31
    /// Bits 35:32: MK_TME_MAX_KEYID_BITS.
    public static let maxKeyIDBitsShift: UInt64 = 32
    /// Bits 50:36: MK_TME_MAX_KEYS.
    public static let maxKeysShift: UInt64 = 36

    /// MK_TME_MAX_KEYID_BITS of a capability value.
    public static func maxKeyIDBits(_ value: UInt64) -> Int { Int((value >> maxKeyIDBitsShift) & 0xF) }
    /// MK_TME_MAX_KEYS of a capability value.
    public static func maxKeys(_ value: UInt64) -> Int { Int((value >> maxKeysShift) & 0x7FFF) }
}

/// Fields of `IA32_TME_ACTIVATE` (MSR 982H; MKTME spec 336907 §4.2.2 Table 4-2, SDM Vol. 4 Table 2-2).
///
/// | bits | field |
/// |---|---|
/// | 0 | lock (read-only; set by a successful write) |
/// | 1 | TME enable |
/// | 2 | key select: 0 = new TME key, 1 = restore the key saved for standby |
/// | 3 | save TME key for standby |
/// | 7:4 | TME policy, the KeyID-0 algorithm (0 = AES-XTS-128, 2 = AES-XTS-256) |
/// | 31 | TME encryption bypass (KeyID 0 stored as plaintext) |
/// | 35:32 | MK_TME_KEYID_BITS (k) |
/// | 63:48 | MK_TME_CRYPTO_ALGS: algorithms enabled for KeyIDs ≥ 1 (bit 48 + n = algorithm n) |
///
/// Every other bit is reserved (#GP(0) when set); hwkeys models no integrity algorithms and no TDX
/// KeyID partitioning, so bits 39:36, 49 and 51 are reserved too (docs/mktme.md).
public enum TMEActivate {
    public static let lock: UInt64 = 1 << 0
    public static let enable: UInt64 = 1 << 1
    public static let keySelect: UInt64 = 1 << 2
    public static let saveKeyForStandby: UInt64 = 1 << 3
    public static let policyShift: UInt64 = 4
    public static let policyMask: UInt64 = 0xF << 4
    public static let bypass: UInt64 = 1 << 31
    public static let keyIDBitsShift: UInt64 = 32
    public static let keyIDBitsMask: UInt64 = 0xF << 32
    public static let algorithmsShift: UInt64 = 48
    public static let algorithmsMask: UInt64 = 0xFFFF << 48

    /// The bits a write may set: every defined field except the read-only lock bit, and in
    /// MK_TME_CRYPTO_ALGS only the algorithms hwkeys models.
    public static let writableMask: UInt64 =
        enable | keySelect | saveKeyForStandby | policyMask | bypass | keyIDBitsMask
        | TMEAlgorithm.allCases.reduce(0) { $0 | algorithmBit($1) }

    /// Bit 48 + n: algorithm n is enabled for KeyIDs ≥ 1.
    public static func algorithmBit(_ algorithm: TMEAlgorithm) -> UInt64 {
        UInt64(1) << (algorithmsShift + UInt64(algorithm.rawValue))
    }

    /// The TME policy field (bits 7:4).
    public static func policy(_ value: UInt64) -> UInt64 { (value & policyMask) >> policyShift }
    /// MK_TME_KEYID_BITS (bits 35:32).
    public static func keyIDBits(_ value: UInt64) -> Int { Int((value & keyIDBitsMask) >> keyIDBitsShift) }
    /// MK_TME_CRYPTO_ALGS (bits 63:48), as the ENC_ALG-style bitmap (bit n = algorithm n).
    public static func algorithms(_ value: UInt64) -> UInt16 { UInt16(truncatingIfNeeded: value >> algorithmsShift) }

    /// A value as firmware writes it.
    public static func value(
        enable: Bool,
        keySelect: Bool = false,
        saveKeyForStandby: Bool,
        policy: TMEAlgorithm,
        bypass: Bool,
        keyIDBits: Int,
        algorithms: [TMEAlgorithm]
    ) -> UInt64 {
        var value = policy.policyValue << policyShift | UInt64(keyIDBits & 0xF) << keyIDBitsShift
        if enable { value |= Self.enable }
        if keySelect { value |= Self.keySelect }
        if saveKeyForStandby { value |= Self.saveKeyForStandby }
        if bypass { value |= Self.bypass }
        for algorithm in algorithms { value |= algorithmBit(algorithm) }
        return value
    }
}

/// Fields of `IA32_TME_EXCLUDE_MASK` (983H) and `IA32_TME_EXCLUDE_BASE` (984H) (MKTME spec 336907 §4.2.3–4.2.4):
/// bit 11 of the mask enables the range; bits MAXPHYADDR-1:12 of each hold the mask and the base.
public enum TMEExclude {
    /// `IA32_TME_EXCLUDE_MASK[11]`: the exclusion range is enabled.
    public static let enable: UInt64 = 1 << 11

    /// The address field, bits MAXPHYADDR-1:12.
    public static func addressField(maxPhysAddr: Int) -> UInt64 {
        ((UInt64(1) << UInt64(maxPhysAddr)) - 1) & ~UInt64(0xFFF)
    }

    /// True when the set bits of `mask` (within the address field) run from bit MAXPHYADDR-1 downward without a
    /// gap; zero is contiguous.
    public static func isContiguous(mask: UInt64, maxPhysAddr: Int) -> Bool {
        let field = addressField(maxPhysAddr: maxPhysAddr)
        let bits = mask & field
        guard bits != 0 else { return true }
        let lowest = bits & (~bits &+ 1)
        return bits == field & ~(lowest &- 1)
    }

    /// True when `IA32_TME_EXCLUDE_MASK` = `mask` and `IA32_TME_EXCLUDE_BASE` = `base` exclude the DRAM address
    /// `address` (KeyID bits already stripped) from KeyID-0 encryption: the range is enabled (mask bit 11) and
    /// `(address & mask) == (base & mask)` over bits MAXPHYADDR-1:12 (MKTME spec 336907 §4.2.3–4.2.4; docs/contract.md §2).
    /// Bits outside MAXPHYADDR-1:12 take no part; an enabled zero mask excludes every address.
    public static func excludes(_ address: UInt64, mask: UInt64, base: UInt64, maxPhysAddr: Int) -> Bool {
        guard mask & enable != 0 else { return false }
        let bits = mask & addressField(maxPhysAddr: maxPhysAddr)
        return address & bits == base & bits
    }
}

extension MKTMEKeyProgramLayout {
    /// Writes an `MKTME_KEY_PROGRAM_STRUCT` into `buffer` (at least ``size`` bytes): KEYID, KEYID_CTRL, zeroed
    /// reserved bytes, and the key fields (each at most 64 bytes, zero-padded).
    public static func encode(
        keyID: UInt16,
        keyIDControl: UInt32,
        keyField1: UnsafeRawBufferPointer,
        keyField2: UnsafeRawBufferPointer,
        into buffer: UnsafeMutableRawBufferPointer
    ) {
        precondition(buffer.count >= size, "MKTME_KEY_PROGRAM_STRUCT needs \(size) bytes")
        precondition(keyField1.count <= keyFieldSize && keyField2.count <= keyFieldSize, "key fields are 64 bytes")
        buffer.baseAddress!.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        buffer.storeBytes(of: keyID.littleEndian, toByteOffset: keyIDOffset, as: UInt16.self)
        buffer.storeBytes(of: keyIDControl.littleEndian, toByteOffset: keyIDControlOffset, as: UInt32.self)
        if let base = keyField1.baseAddress, !keyField1.isEmpty {
            (buffer.baseAddress! + keyField1Offset).copyMemory(from: base, byteCount: keyField1.count)
        }
        if let base = keyField2.baseAddress, !keyField2.isEmpty {
            (buffer.baseAddress! + keyField2Offset).copyMemory(from: base, byteCount: keyField2.count)
        }
    }

    /// KEYID_CTRL bits 7:0, the command.
    public static func command(ofControl control: UInt32) -> UInt8 { UInt8(truncatingIfNeeded: control) }
    /// KEYID_CTRL bits 23:8, ENC_ALG (bit n = algorithm n).
    public static func encryptionAlgorithms(ofControl control: UInt32) -> UInt16 {
        UInt16(truncatingIfNeeded: control >> 8)
    }
    /// KEYID_CTRL bits 31:24, reserved.
    public static func reserved(ofControl control: UInt32) -> UInt8 { UInt8(truncatingIfNeeded: control >> 24) }
}
