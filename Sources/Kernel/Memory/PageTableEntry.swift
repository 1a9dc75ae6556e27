//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

import X86

/// x86-64 4-level paging entries (SDM Vol. 3A §4.5, "4-Level Paging and 5-Level Paging", Tables 4-15 to
/// 4-20), as the MKTME series of Linux writes them: the physical address field carries the KeyID in its top
/// `k` bits (PA bits [MAXPHYADDR-1 : MAXPHYADDR-k], docs/contract.md §2), so a leaf entry names both the frame and
/// the key the hardware uses for every access through it.
public enum PageTableEntry {
    /// P: present.
    public static let present: UInt64 = 1 << 0
    /// R/W: writes allowed.
    public static let writable: UInt64 = 1 << 1
    /// U/S: user-mode accesses allowed.
    public static let user: UInt64 = 1 << 2
    /// PS (bit 7) of a PDPTE or PDE: the entry maps a 1 GiB or 2 MiB page. hwkeys maps none, so a table
    /// entry with it set is corrupted (docs/robustness.md).
    public static let pageSize: UInt64 = 1 << 7
    /// Linux `_PAGE_PROTNONE` (bit 8, the global bit's software reuse): a `PROT_NONE` page that keeps its
    /// frame while P = 0, so the hardware faults every access.
    public static let protNone: UInt64 = 1 << 8
    /// XD: instruction fetches not allowed (IA32_EFER.NXE = 1).
    public static let noExecute: UInt64 = 1 << 63

    /// Entries per table.
    public static let entriesPerTable = 512

    /// The flags of a leaf entry for `protection` (Linux `protection_map[]`).
    static func leafFlags(_ protection: Protection) -> UInt64 {
        switch protection {
        case .none: protNone
        case .r: present | user | noExecute
        case .rw: present | writable | user | noExecute
        case .rwx: present | writable | user
        }
    }

    /// An intermediate entry pointing at the table in `frame` (always KeyID 0: page tables are kernel memory).
    static func table(_ frame: UInt64) -> UInt64 { frame << 12 | present | writable | user }

    /// Whether a leaf entry maps a frame (present, or `PROT_NONE` with its frame kept: Linux `pte_present`).
    @inline(__always)
    static func mapsFrame(_ entry: UInt64) -> Bool { entry & (present | protNone) != 0 }

    /// The bit index of level `level`'s table index in a virtual address (0 = PT … 3 = PML4).
    @inline(__always)
    static func index(_ address: UInt64, level: Int) -> Int { Int((address >> UInt64(12 + 9 * level)) & 511) }

    /// Bytes mapped by one entry at `level` (4 KiB, 2 MiB, 1 GiB, 512 GiB).
    @inline(__always)
    static func span(level: Int) -> UInt64 { UInt64(1) << UInt64(12 + 9 * level) }
}

extension KeyIDLayout {
    /// The DRAM frame number in a paging entry (KeyID bits and flags stripped).
    @inline(__always)
    func frame(ofEntry entry: UInt64) -> UInt64 { (entry & addressMask) >> 12 }

    /// The KeyID in a paging entry's address field.
    @inline(__always)
    func keyID(ofEntry entry: UInt64) -> UInt16 {
        keyIDBits == 0 ? 0 : UInt16(truncatingIfNeeded: (entry & keyIDMask) >> UInt64(keyIDShift))
    }

    /// A leaf entry mapping `frame` through the alias of `keyID` with `protection`.
    func leafEntry(frame: UInt64, keyID: UInt16, protection: Protection) -> UInt64 {
        address(PhysicalAddress(frame << 12), withKeyID: keyID).rawValue | PageTableEntry.leafFlags(protection)
    }
}
