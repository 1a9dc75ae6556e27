//===----------------------------------------------------------------------===//
//
// hwkeys: X86Tests
//
//===----------------------------------------------------------------------===//

import Testing
import X86

/// Where the KeyID sits in a physical address (docs/contract.md §2 "Addresses"; docs/research/mktme-research.md §1.4; docs/mktme.md
/// "Firmware, `--tme on|off`, and the KeyID layout"). Expected values are written out from those texts.
@Suite struct KeyIDLayoutTests {
    /// One layout and what the spec says about it: KeyID bits [MAXPHYADDR-1 : MAXPHYADDR-k].
    struct Row: Sendable, CustomTestStringConvertible {
        let maxPhysAddr: Int
        let keyIDBits: Int
        /// MAXPHYADDR - k, the lowest KeyID bit.
        let lowestKeyIDBit: Int
        /// The KeyID bits as a mask.
        let keyIDMask: UInt64

        var testDescription: String { "MAXPHYADDR \(maxPhysAddr), k = \(keyIDBits)" }
    }

    static let rows: [Row] = [
        // The hwkeys defaults: KeyID n is n << 40 (docs/mktme.md), bits 45:40.
        Row(maxPhysAddr: 46, keyIDBits: 6, lowestKeyIDBit: 40, keyIDMask: 0x0000_3F00_0000_0000),
        // Linux's example: MAXPHYADDR 52, 6 KeyID bits → "bits 51:46 of physical address" (docs/research/keylocker-research.md §1.4).
        Row(maxPhysAddr: 52, keyIDBits: 6, lowestKeyIDBit: 46, keyIDMask: 0x000F_C000_0000_0000),
        // k = 0 (TME only): no KeyID bits at all.
        Row(maxPhysAddr: 39, keyIDBits: 0, lowestKeyIDBit: 39, keyIDMask: 0),
        Row(maxPhysAddr: 52, keyIDBits: 0, lowestKeyIDBit: 52, keyIDMask: 0),
        // Bits 38:35.
        Row(maxPhysAddr: 39, keyIDBits: 4, lowestKeyIDBit: 35, keyIDMask: 0x0000_0078_0000_0000),
        // One KeyID bit: bit 51.
        Row(maxPhysAddr: 52, keyIDBits: 1, lowestKeyIDBit: 51, keyIDMask: 0x0008_0000_0000_0000),
        // The maximum k, 15 (MK_TME_KEYID_BITS is 4 bits wide): bits 51:37 and bits 35:21.
        Row(maxPhysAddr: 52, keyIDBits: 15, lowestKeyIDBit: 37, keyIDMask: 0x000F_FFE0_0000_0000),
        Row(maxPhysAddr: 36, keyIDBits: 15, lowestKeyIDBit: 21, keyIDMask: 0x0000_000F_FFE0_0000),
    ]

    /// KeyIDs to try in a layout: every one for k ≤ 6, else the edges and the middle.
    static func keyIDs(_ row: Row) -> [UInt16] {
        let count = 1 << row.keyIDBits
        if row.keyIDBits <= 6 { return (0..<count).map { UInt16($0) } }
        return [0, 1, 2, UInt16(count / 2), UInt16(count - 2), UInt16(count - 1)]
    }

    /// DRAM addresses (below the KeyID bits) to try: zero, a page, an unaligned byte, the top byte.
    static func dramAddresses(_ row: Row) -> [UInt64] {
        let top = (UInt64(1) << UInt64(row.lowestKeyIDBit)) - 1
        return [0, 0x1000, 0x1234_5678_9ABC & top, top]
    }

    /// docs/contract.md §2: the KeyID is PA bits [MAXPHYADDR-1 : MAXPHYADDR-k], every page has 2^k KeyIDs, and the
    /// memory controller strips the KeyID bits to find the DRAM location.
    @Test(arguments: rows)
    func keyIDBitsSitDirectlyBelowMAXPHYADDR(row: Row) throws {
        let layout = try #require(KeyIDLayout(validatingMaxPhysAddr: row.maxPhysAddr, keyIDBits: row.keyIDBits))
        #expect(layout.keyIDShift == row.lowestKeyIDBit)
        #expect(layout.keyIDMask == row.keyIDMask)
        #expect(layout.keyIDCount == 1 << row.keyIDBits)
        // Everything below the KeyID bits reaches DRAM; together they cover exactly bits MAXPHYADDR-1:0.
        #expect(layout.addressMask == (UInt64(1) << UInt64(row.lowestKeyIDBit)) - 1)
        #expect(layout.addressMask & layout.keyIDMask == 0)
        #expect(layout.addressMask | layout.keyIDMask == (UInt64(1) << UInt64(row.maxPhysAddr)) - 1)
    }

    /// docs/mktme.md: "with the defaults (46, 6) KeyID n is `n << 40`, e.g. KeyID 1 of PA 0x5000 is
    /// 0x10000005000"; docs/contract.md §1: k = 6 gives 63 usable KeyIDs besides KeyID 0.
    @Test func defaultLayoutPutsKeyID1OfPage5At0x10000005000() {
        let layout = KeyIDLayout(maxPhysAddr: 46, keyIDBits: 6)
        let alias = layout.address(PhysicalAddress(0x5000), withKeyID: 1)
        #expect(alias == PhysicalAddress(0x100_0000_5000))
        #expect(layout.keyID(of: alias) == 1)
        #expect(layout.stripKeyID(alias) == PhysicalAddress(0x5000))
        #expect(layout.address(PhysicalAddress(0x5000), withKeyID: 63) == PhysicalAddress(0x3F00_0000_5000))
        #expect(layout.keyIDCount - 1 == 63)
    }

    /// Composing puts the KeyID in bits [MAXPHYADDR-1 : MAXPHYADDR-k]; reading it back and stripping it undo
    /// the composition (docs/contract.md §2).
    @Test(arguments: rows)
    func composingAndStrippingAKeyIDRoundTrips(row: Row) {
        let layout = KeyIDLayout(maxPhysAddr: row.maxPhysAddr, keyIDBits: row.keyIDBits)
        for dram in Self.dramAddresses(row) {
            for keyID in Self.keyIDs(row) {
                let alias = layout.address(PhysicalAddress(dram), withKeyID: keyID)
                #expect(alias.rawValue == dram | UInt64(keyID) << UInt64(row.lowestKeyIDBit))
                #expect(layout.keyID(of: alias) == keyID)
                #expect(layout.stripKeyID(alias) == PhysicalAddress(dram))
            }
        }
    }

    /// Composing ignores the KeyID the address already carries: the result carries only the new one.
    @Test(arguments: rows.filter { $0.keyIDBits > 0 })
    func composingReplacesTheKeyIDAnAddressCarries(row: Row) {
        let layout = KeyIDLayout(maxPhysAddr: row.maxPhysAddr, keyIDBits: row.keyIDBits)
        let highest = UInt16((1 << row.keyIDBits) - 1)
        let page: UInt64 = 0x7000
        let withHighest = PhysicalAddress(page | row.keyIDMask)
        let moved = layout.address(withHighest, withKeyID: 1)
        #expect(moved.rawValue == page | UInt64(1) << UInt64(row.lowestKeyIDBit))
        #expect(layout.keyID(of: withHighest) == highest)
        #expect(layout.address(withHighest, withKeyID: 0) == PhysicalAddress(page))
    }

    /// Bits above MAXPHYADDR are not KeyID bits: composing and stripping keep them as given and they never
    /// show up in the KeyID (KeyIDLayout's contract; the KeyID is only bits [MAXPHYADDR-1 : MAXPHYADDR-k]).
    @Test(arguments: rows)
    func bitsAboveMAXPHYADDRAreKeptAndAreNotPartOfTheKeyID(row: Row) {
        let layout = KeyIDLayout(maxPhysAddr: row.maxPhysAddr, keyIDBits: row.keyIDBits)
        let above = UInt64.max << UInt64(row.maxPhysAddr)
        let address = PhysicalAddress(above | 0x5000)
        #expect(layout.keyID(of: address) == 0)
        #expect(layout.stripKeyID(address) == address)
        for keyID in Self.keyIDs(row) {
            let alias = layout.address(address, withKeyID: keyID)
            #expect(alias.rawValue == above | 0x5000 | UInt64(keyID) << UInt64(row.lowestKeyIDBit))
            #expect(layout.keyID(of: alias) == keyID)
            #expect(layout.stripKeyID(alias) == address)
        }
    }

    /// docs/contract.md §2: "Every physical page has 2^k aliases" — distinct addresses that all reach the same DRAM.
    @Test(arguments: rows)
    func everyPageHas2ToTheKAliases(row: Row) {
        let layout = KeyIDLayout(maxPhysAddr: row.maxPhysAddr, keyIDBits: row.keyIDBits)
        let page = PhysicalAddress(0x0004_2000)
        let aliases = Set((0..<(1 << row.keyIDBits)).map { layout.address(page, withKeyID: UInt16($0)) })
        #expect(aliases.count == 1 << row.keyIDBits)
        #expect(aliases.allSatisfy { layout.stripKeyID($0) == page })
        #expect(Set(aliases.map { layout.keyID(of: $0) }).count == 1 << row.keyIDBits)
    }

    /// With k = 0 (TME only) every address carries KeyID 0 and stripping changes nothing (docs/contract.md §2).
    @Test(arguments: rows.filter { $0.keyIDBits == 0 })
    func withoutKeyIDBitsEveryAddressIsKeyID0(row: Row) {
        let layout = KeyIDLayout(maxPhysAddr: row.maxPhysAddr, keyIDBits: 0)
        #expect(layout.keyIDCount == 1)
        for raw: UInt64 in [0, 0x5000, UInt64(1) << UInt64(row.maxPhysAddr - 1), .max] {
            #expect(layout.keyID(of: PhysicalAddress(raw)) == 0)
            #expect(layout.stripKeyID(PhysicalAddress(raw)) == PhysicalAddress(raw))
            #expect(layout.address(PhysicalAddress(raw), withKeyID: 0) == PhysicalAddress(raw))
        }
    }

    /// Reading a KeyID out of any 64-bit value never traps: addresses come from page tables and registers
    /// that emulated software controls (docs/design.md rule 2). All ones gives the highest KeyID.
    @Test(arguments: rows)
    func anyAddressYieldsAKeyIDWithoutTrapping(row: Row) {
        let layout = KeyIDLayout(maxPhysAddr: row.maxPhysAddr, keyIDBits: row.keyIDBits)
        #expect(layout.keyID(of: PhysicalAddress(.max)) == UInt16((1 << row.keyIDBits) - 1))
        #expect(layout.keyID(of: PhysicalAddress(0)) == 0)
        #expect(layout.stripKeyID(PhysicalAddress(.max)) == PhysicalAddress(~row.keyIDMask))
    }

    /// The edges of a valid layout: MAXPHYADDR up to 52 (SDM Vol. 3A §4.1.4), k up to 15 (the 4-bit
    /// `IA32_TME_ACTIVATE[35:32]`, docs/contract.md §2), and at least one frame bit left above the 4-KiB page offset.
    @Test(arguments: [(13, 0), (14, 1), (27, 14), (28, 15), (36, 15), (46, 6), (52, 0), (52, 15)])
    func validLayoutsAreAccepted(maxPhysAddr: Int, keyIDBits: Int) {
        #expect(KeyIDLayout.isValid(maxPhysAddr: maxPhysAddr, keyIDBits: keyIDBits))
        let layout = KeyIDLayout(validatingMaxPhysAddr: maxPhysAddr, keyIDBits: keyIDBits)
        #expect(layout?.maxPhysAddr == maxPhysAddr)
        #expect(layout?.keyIDBits == keyIDBits)
    }

    static let invalidLayouts: [(Int, Int)] = [
        (12, 0),  // no frame bits above the page offset
        (53, 0),  // MAXPHYADDR above 52
        (64, 0), (0, 0), (-1, 0), (.min, 0), (.max, 0),
        (46, -1), (46, 16),  // k outside the 4-bit field
        (46, .max), (46, .min),
        (27, 15), (13, 1),  // the KeyID would reach the page offset
    ]

    /// Invalid MAXPHYADDR/k pairs (e.g. a virtual processor's CPUID.80000008H or a stored image) are refused
    /// without trapping by the validating initializer.
    @Test(arguments: invalidLayouts)
    func invalidLayoutsAreRefusedWithoutTrapping(maxPhysAddr: Int, keyIDBits: Int) {
        #expect(!KeyIDLayout.isValid(maxPhysAddr: maxPhysAddr, keyIDBits: keyIDBits))
        #expect(KeyIDLayout(validatingMaxPhysAddr: maxPhysAddr, keyIDBits: keyIDBits) == nil)
    }

    /// The plain initializer is for host configuration: an invalid pair is host misuse, a precondition
    /// (docs/design.md rule 2; documented on the initializer).
    @Test(arguments: [(12, 0), (53, 0), (46, 16), (27, 15)])
    func invalidLayoutFromTheHostIsAPreconditionFailure(maxPhysAddr: Int, keyIDBits: Int) async {
        await #expect(processExitsWith: .failure) { [maxPhysAddr, keyIDBits] in
            _ = KeyIDLayout(maxPhysAddr: maxPhysAddr, keyIDBits: keyIDBits)
        }
    }

    /// A KeyID that does not fit in k bits cannot be composed: host misuse, documented on
    /// `address(_:withKeyID:)`. Callers check software-supplied KeyIDs against `keyIDCount` first.
    @Test(arguments: [(46, 6, 64), (46, 0, 1), (52, 15, 0x8000), (39, 4, UInt16.max)] as [(Int, Int, UInt16)])
    func composingAKeyIDWiderThanKIsAPreconditionFailure(maxPhysAddr: Int, keyIDBits: Int, keyID: UInt16) async {
        let layout = KeyIDLayout(maxPhysAddr: maxPhysAddr, keyIDBits: keyIDBits)
        #expect(Int(keyID) >= layout.keyIDCount)
        await #expect(processExitsWith: .failure) { [maxPhysAddr, keyIDBits, keyID] in
            _ = KeyIDLayout(maxPhysAddr: maxPhysAddr, keyIDBits: keyIDBits)
                .address(PhysicalAddress(0x5000), withKeyID: keyID)
        }
    }
}

/// `PhysicalAddress` as a value.
@Suite struct PhysicalAddressTests {
    /// Addresses print as lower-case hexadecimal with `0x` (docs/design.md "Persistence and the command line": addresses are `"0x…"` strings).
    @Test func describesItselfInHexadecimal() {
        #expect(PhysicalAddress(0x100_0000_5000).description == "0x10000005000")
        #expect(PhysicalAddress(0).description == "0x0")
        #expect(PhysicalAddress(.max).description == "0xffffffffffffffff")
    }

    /// Ordering is by the raw value, KeyID bits included.
    @Test func ordersByRawValue() {
        let addresses = [0x100_0000_0000, 0x5000, 0, 0x5001].map { PhysicalAddress(UInt64($0)) }
        #expect(addresses.sorted().map(\.rawValue) == [0, 0x5000, 0x5001, 0x100_0000_0000])
        #expect(PhysicalAddress(rawValue: 7) == PhysicalAddress(7))
    }

    /// `advanced(by:)` adds bytes and wraps at 2^64 instead of trapping (an offset from emulated software
    /// must not stop the host).
    @Test func advancingAddsBytesAndWrapsAt2To64() {
        #expect(PhysicalAddress(0x5000).advanced(by: 0x40) == PhysicalAddress(0x5040))
        #expect(PhysicalAddress(.max).advanced(by: 1) == PhysicalAddress(0))
        #expect(PhysicalAddress(.max - 0xF).advanced(by: 0x20) == PhysicalAddress(0x10))
    }
}
