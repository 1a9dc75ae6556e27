//===----------------------------------------------------------------------===//
//
// hwkeys: X86Tests
//
//===----------------------------------------------------------------------===//

import Testing
import X86

/// `IA32_TME_CAPABILITY` (981H) field layout: docs/contract.md §2 "MSRs"; docs/research/mktme-research.md §1.3 table.
@Suite struct TMECapabilityTests {
    /// Bit 0 AES-XTS-128, bit 2 AES-XTS-256, bit 31 bypass supported (docs/contract.md §2; docs/research/keylocker-research.md §1.3).
    @Test func algorithmAndBypassBitsArePositioned() {
        #expect(TMECapability.algorithmBit(.aesXTS128) == 1 << 0)
        #expect(TMECapability.algorithmBit(.aesXTS256) == 1 << 2)
        #expect(TMECapability.bypassSupported == 1 << 31)
        #expect(TMECapability.maxKeyIDBitsShift == 32)
        #expect(TMECapability.maxKeysShift == 36)
    }

    /// docs/research/keylocker-research.md §1.3: the NoVmp model's CAP = 0x3F68000000F means "4 algorithms, bypass, 6 KeyID bits,
    /// 63 keys".
    @Test func decodesTheNoVmpExampleValue() {
        let value: UInt64 = 0x3F6_8000_000F
        #expect(TMECapability.maxKeyIDBits(value) == 6)
        #expect(TMECapability.maxKeys(value) == 63)
        #expect(value & TMECapability.algorithmBit(.aesXTS128) != 0)
        #expect(value & TMECapability.algorithmBit(.aesXTS256) != 0)
        #expect(value & TMECapability.bypassSupported != 0)
    }

    /// MK_TME_MAX_KEYID_BITS is bits 35:32 and MK_TME_MAX_KEYS bits 50:36 (docs/contract.md §2): each reads only its
    /// own bits, at their widest (15 and 32767) and with every neighbouring bit set.
    @Test(
        arguments: [
            (0xFFFF_FFFF_FFFF_FFFF, 15, 0x7FFF),
            (0x0007_FFF0_0000_0000, 0, 0x7FFF),  // bits 50:36 only
            (0x0000_000F_0000_0000, 15, 0),  // bits 35:32 only
            (0xFFF8_0000_FFFF_FFFF, 0, 0),  // everything else
            (0x0000_03F6_0000_0000, 6, 63),
        ] as [(UInt64, Int, Int)]
    )
    func fieldsReadOnlyTheirOwnBits(value: UInt64, maxKeyIDBits: Int, maxKeys: Int) {
        #expect(TMECapability.maxKeyIDBits(value) == maxKeyIDBits)
        #expect(TMECapability.maxKeys(value) == maxKeys)
    }
}

/// `IA32_TME_ACTIVATE` (982H) field layout: docs/contract.md §2 "MSRs"; docs/research/mktme-research.md §1.3 table; docs/mktme.md
/// "Enumeration and MSRs" for the bits hwkeys treats as reserved.
@Suite struct TMEActivateTests {
    /// Bit 0 lock, 1 enable, 2 key select, 3 save key for standby, 7:4 policy, 31 bypass, 35:32 k,
    /// 63:48 algorithms (docs/contract.md §2).
    @Test func fieldsArePositionedAsInTheSpecTable() {
        #expect(TMEActivate.lock == 0x1)
        #expect(TMEActivate.enable == 0x2)
        #expect(TMEActivate.keySelect == 0x4)
        #expect(TMEActivate.saveKeyForStandby == 0x8)
        #expect(TMEActivate.policyMask == 0xF0)
        #expect(TMEActivate.policyShift == 4)
        #expect(TMEActivate.bypass == 0x8000_0000)
        #expect(TMEActivate.keyIDBitsMask == 0x0000_000F_0000_0000)
        #expect(TMEActivate.keyIDBitsShift == 32)
        #expect(TMEActivate.algorithmsMask == 0xFFFF_0000_0000_0000)
        #expect(TMEActivate.algorithmsShift == 48)
    }

    /// MK_TME_CRYPTO_ALGS: bit 48 AES-XTS-128, bit 50 AES-XTS-256 (docs/contract.md §2).
    @Test func algorithmBitsAre48And50() {
        #expect(TMEActivate.algorithmBit(.aesXTS128) == 1 << 48)
        #expect(TMEActivate.algorithmBit(.aesXTS256) == 1 << 50)
    }

    /// A write may set bits 3:1, 7:4, 31, 35:32, 48 and 50; everything else is reserved (#GP(0)) or, for
    /// bit 0, read-only. docs/mktme.md lists the reserved bits: 30:8, 47:36, 49, 51 and 63:52.
    @Test func writableBitsAreExactlyTheModelledFields() {
        #expect(TMEActivate.writableMask == 0x0005_000F_8000_00FE)
        let reserved: [ClosedRange<Int>] = [0...0, 8...30, 36...47, 49...49, 51...51, 52...63]
        for range in reserved {
            for bit in range { #expect(TMEActivate.writableMask & (1 << UInt64(bit)) == 0, "bit \(bit)") }
        }
    }

    /// The field readers take bits 7:4, 35:32 and 63:48 and nothing else.
    @Test(
        arguments: [
            (0x0000_0000_0000_0000, 0, 0, 0x0000),
            (0x0005_0006_0000_0023, 2, 6, 0x0005),
            (0xFFFF_FFFF_FFFF_FFFF, 15, 15, 0xFFFF),
            (0x0000_FFF0_FFFF_FF0F, 0, 0, 0x0000),  // every bit outside the three fields
        ] as [(UInt64, UInt64, Int, UInt16)]
    )
    func fieldReadersTakeOnlyTheirBits(value: UInt64, policy: UInt64, keyIDBits: Int, algorithms: UInt16) {
        #expect(TMEActivate.policy(value) == policy)
        #expect(TMEActivate.keyIDBits(value) == keyIDBits)
        #expect(TMEActivate.algorithms(value) == algorithms)
    }

    /// What firmware writes, assembled by hand from the spec table (docs/contract.md §2).
    struct FirmwareValue: Sendable {
        let enable: Bool
        let keySelect: Bool
        let save: Bool
        let policy: TMEAlgorithm
        let bypass: Bool
        let keyIDBits: Int
        let algorithms: [TMEAlgorithm]
        let expected: UInt64
    }

    static let firmwareValues: [FirmwareValue] = [
        // The hwkeys default: enable, AES-XTS-128 for KeyID 0, k = 6, both algorithms for KeyIDs ≥ 1.
        FirmwareValue(
            enable: true,
            keySelect: false,
            save: false,
            policy: .aesXTS128,
            bypass: false,
            keyIDBits: 6,
            algorithms: [.aesXTS128, .aesXTS256],
            expected: 0x0005_0006_0000_0002
        ),
        // Resume with the saved key, AES-XTS-256 policy (2 in bits 7:4), bypass, k = 15, AES-XTS-256 only.
        FirmwareValue(
            enable: true,
            keySelect: true,
            save: true,
            policy: .aesXTS256,
            bypass: true,
            keyIDBits: 15,
            algorithms: [.aesXTS256],
            expected: 0x0004_000F_8000_002E
        ),
        // TME only: no KeyID bits, no algorithms for KeyIDs ≥ 1.
        FirmwareValue(
            enable: true,
            keySelect: false,
            save: true,
            policy: .aesXTS128,
            bypass: false,
            keyIDBits: 0,
            algorithms: [],
            expected: 0x0000_0000_0000_000A
        ),
        FirmwareValue(
            enable: false,
            keySelect: false,
            save: false,
            policy: .aesXTS128,
            bypass: false,
            keyIDBits: 0,
            algorithms: [],
            expected: 0
        ),
    ]

    /// `TMEActivate.value(…)` puts each field where the spec table says and never sets the lock bit (the
    /// hardware sets it on a successful write).
    @Test(arguments: firmwareValues)
    func firmwareValueMatchesTheSpecTable(row: FirmwareValue) {
        let value = TMEActivate.value(
            enable: row.enable,
            keySelect: row.keySelect,
            saveKeyForStandby: row.save,
            policy: row.policy,
            bypass: row.bypass,
            keyIDBits: row.keyIDBits,
            algorithms: row.algorithms
        )
        #expect(value == row.expected)
        #expect(value & TMEActivate.lock == 0)
        #expect(value & ~TMEActivate.writableMask == 0)
    }
}

/// `IA32_TME_EXCLUDE_MASK` (983H) / `IA32_TME_EXCLUDE_BASE` (984H): docs/contract.md §2 "MSRs"; docs/research/mktme-research.md §1.3
/// "IA32_TME_EXCLUDE_MASK / IA32_TME_EXCLUDE_BASE".
@Suite struct TMEExcludeTests {
    /// MASK bit 11 enables the range (docs/research/keylocker-research.md §1.3; Linux `TME_EXCLUSION_ENABLED(x) = x & 0x800`).
    @Test func enableIsBit11() {
        #expect(TMEExclude.enable == 0x800)
    }

    /// The mask and base fields are bits MAXPHYADDR-1:12.
    @Test(
        arguments: [
            (36, 0x0000_000F_FFFF_F000),
            (46, 0x0000_3FFF_FFFF_F000),
            (52, 0x000F_FFFF_FFFF_F000),
        ] as [(Int, UInt64)]
    )
    func addressFieldIsBitsMAXPHYADDRMinus1To12(maxPhysAddr: Int, field: UInt64) {
        #expect(TMEExclude.addressField(maxPhysAddr: maxPhysAddr) == field)
    }

    /// The mask must be "a contiguous run of ones from MAXPHYADDR-1 downward" (docs/research/keylocker-research.md §1.3); zero is allowed
    /// (docs/mktme.md). Bits outside MAXPHYADDR-1:12 (bit 11, reserved bits) are not part of the run: WRMSR
    /// refuses reserved bits separately.
    @Test(
        arguments: [
            (46, 0, true),
            (46, 0x0000_3FFF_FFFF_F000, true),  // bits 45:12, the whole field
            (46, 0x0000_3FFF_C000_0000, true),  // bits 45:30, a 1-GiB range
            (46, 0x0000_2000_0000_0000, true),  // bit 45 alone
            (46, 0x0000_3FFF_C000_0800, true),  // bit 11 (enable) is not part of the mask
            (46, 0xFFFF_C000_0000_0000, true),  // only bits above MAXPHYADDR: the field is zero
            (46, 0x0000_1000_0000_0000, false),  // bit 44 alone: does not start at bit 45
            (46, 0x0000_1FFF_FFFF_F000, false),  // bits 44:12
            (46, 0x0000_3FFF_BFFF_F000, false),  // a hole at bit 30
            (46, 0x0000_0000_0000_1000, false),  // bit 12 alone
            (46, 0x0000_2000_0000_1000, false),  // bits 45 and 12
            (52, 0x000F_FFFF_FFFF_F000, true),
            (52, 0x000F_0000_0000_0000, true),  // bits 51:48
            (52, 0x0000_3FFF_C000_0000, false),  // the 46-bit run is not from bit 51
            (36, 0x0000_000F_0000_0000, true),  // bits 35:32
            (36, 0x0000_0007_0000_0000, false),
        ] as [(Int, UInt64, Bool)]
    )
    func maskMustBeContiguousFromTheTop(maxPhysAddr: Int, mask: UInt64, contiguous: Bool) {
        #expect(TMEExclude.isContiguous(mask: mask, maxPhysAddr: maxPhysAddr) == contiguous)
    }

    /// KeyID-0 accesses in the range are not encrypted (docs/contract.md §2). With MAXPHYADDR 46, MASK = bits 45:30 |
    /// enable and BASE = 1 GiB, the range is [1 GiB, 2 GiB); bits below 12 and above MAXPHYADDR, of the address,
    /// the mask or the base, take no part.
    @Test(
        arguments: [
            (0x4000_0000, true),  // the first byte
            (0x7FFF_FFFF, true),  // the last byte
            (0x5A5A_5A5A, true),
            (0x3FFF_FFFF, false),  // just below
            (0x8000_0000, false),  // just above
            (0x0000_0000, false),
            (0x0000_1000_4000_0000, false),  // same low bits, a higher gigabyte
            (0xFFFF_C000_4000_0000, true),  // bits 63:46 do not take part
        ] as [(UInt64, Bool)]
    )
    func rangeCoversAddressesMatchingBaseUnderMask(address: UInt64, excluded: Bool) {
        let mask: UInt64 = 0x0000_3FFF_C000_0000 | TMEExclude.enable
        #expect(TMEExclude.excludes(address, mask: mask, base: 0x4000_0000, maxPhysAddr: 46) == excluded)
        // BASE bits 11:0 are not part of the base field.
        #expect(TMEExclude.excludes(address, mask: mask, base: 0x4000_0FFF, maxPhysAddr: 46) == excluded)
        // Nor are MASK bits 10:0 or bits 63:46 part of the mask field (WRMSR refuses them as reserved).
        let reservedMaskBits: UInt64 = 0xFFFF_C000_0000_07FF
        #expect(
            TMEExclude.excludes(address, mask: mask | reservedMaskBits, base: 0x4000_0000, maxPhysAddr: 46) == excluded
        )
    }

    /// Without bit 11 no address is excluded, whatever the mask and base say (docs/research/keylocker-research.md §1.3).
    @Test func disabledRangeExcludesNothing() {
        for address: UInt64 in [0, 0x4000_0000, 0x7FFF_F000, .max] {
            #expect(!TMEExclude.excludes(address, mask: 0x0000_3FFF_C000_0000, base: 0x4000_0000, maxPhysAddr: 46))
            #expect(!TMEExclude.excludes(address, mask: 0, base: 0, maxPhysAddr: 46))
        }
    }

    /// An enabled zero mask compares no bits, so the range is all of memory; the whole-field mask makes it one
    /// 4-KiB page.
    @Test func maskSizeSetsTheRangeSize() {
        for address: UInt64 in [0, 0x4000_0000, 0x3FFF_FFFF_FFFF] {
            #expect(TMEExclude.excludes(address, mask: TMEExclude.enable, base: 0, maxPhysAddr: 46))
        }
        let page = TMEExclude.addressField(maxPhysAddr: 46) | TMEExclude.enable
        #expect(TMEExclude.excludes(0x1234_5000, mask: page, base: 0x1234_5000, maxPhysAddr: 46))
        #expect(TMEExclude.excludes(0x1234_5FFF, mask: page, base: 0x1234_5000, maxPhysAddr: 46))
        #expect(!TMEExclude.excludes(0x1234_6000, mask: page, base: 0x1234_5000, maxPhysAddr: 46))
        #expect(!TMEExclude.excludes(0x1234_4FFF, mask: page, base: 0x1234_5000, maxPhysAddr: 46))
    }
}
