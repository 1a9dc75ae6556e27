//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

/// A process's address space (Linux `struct mm_struct`): its VMAs and where its page tables are.
///
/// Bookkeeping only (docs/design.md rule 3): the page tables themselves — PML4, PDPT, PD, PT, 512 eight-byte
/// entries each — live in emulated DRAM frames owned by ``PageAllocator/Owner/pageTable``, written through the
/// KeyID-0 direct map; the pages they map hold the process's data under the VMA's KeyID.
public struct AddressSpace: Codable, Sendable, Hashable {
    /// The VMAs, sorted by address, never overlapping.
    public internal(set) var vmas: [VMA] = []
    /// The frame of the top-level table (PML4; CR3), or nil before the first page is mapped.
    public internal(set) var root: UInt64?
    /// Every page-table frame, the root included (freed at exit).
    public internal(set) var tableFrames: [UInt64] = []

    public init() {}

    /// The lowest address `mmap` hands out (Linux `mmap_min_addr` default, 64 KiB).
    public static let mmapMin: UInt64 = 0x1_0000
    /// `mmap` allocates top-down below this address (Linux `mmap_base`, without randomization).
    public static let mmapBase: UInt64 = 0x7F00_0000_0000
    /// One past the highest user address (x86-64 `TASK_SIZE_MAX` with 4-level paging).
    public static let taskSize: UInt64 = 0x7FFF_FFFF_F000
    /// The most VMAs a process may have (`/proc/sys/vm/max_map_count` default).
    public static let maxMapCount = 65530

    /// The index of the VMA containing `address`.
    func index(containing address: UInt64) -> Int? {
        let candidate = firstIndex(endingAfter: address)
        guard candidate < vmas.count, vmas[candidate].start <= address else { return nil }
        return candidate
    }

    /// The index of the first VMA whose end is above `address` (`vmas.count` if none): binary search.
    func firstIndex(endingAfter address: UInt64) -> Int {
        var low = 0
        var high = vmas.count
        while low < high {
            let middle = (low + high) / 2
            if vmas[middle].end <= address { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// The indices of the VMAs overlapping `[start, end)`.
    func indices(overlapping start: UInt64, _ end: UInt64) -> Range<Int> {
        let first = firstIndex(endingAfter: start)
        var last = first
        while last < vmas.count, vmas[last].start < end { last += 1 }
        return first..<last
    }

    /// Whether `[start, end)` is covered by VMAs without holes, each passing `check`.
    func covers(_ start: UInt64, _ end: UInt64, where check: (VMA) -> Bool = { _ in true }) -> Bool {
        var cursor = start
        for index in indices(overlapping: start, end) {
            let vma = vmas[index]
            guard vma.start <= cursor, check(vma) else { return false }
            cursor = vma.end
            if cursor >= end { return true }
        }
        return cursor >= end
    }

    /// The highest free range of `length` bytes below ``mmapBase`` and above ``mmapMin`` (Linux
    /// `arch_get_unmapped_area_topdown`, without randomization or a hint).
    func freeArea(length: UInt64) -> UInt64? {
        var ceiling = Self.mmapBase
        for vma in vmas.reversed() {
            if vma.start >= ceiling { continue }
            if vma.end <= ceiling, ceiling - vma.end >= length { return ceiling - length }
            ceiling = min(ceiling, vma.start)
        }
        return ceiling >= Self.mmapMin && ceiling - Self.mmapMin >= length ? ceiling - length : nil
    }

    /// Splits the VMA that strictly contains `address` into two at it. Returns whether one was split.
    @discardableResult
    mutating func split(at address: UInt64) -> Bool {
        guard let index = index(containing: address), vmas[index].start < address else { return false }
        var upper = vmas[index]
        upper.sharedObject?.firstPage += (address - upper.start) / 4096
        upper.start = address
        vmas[index].end = address
        vmas.insert(upper, at: index + 1)
        return true
    }

    /// Inserts a VMA into a free range, keeping the order.
    mutating func insert(_ vma: VMA) {
        let index = firstIndex(endingAfter: vma.start)
        precondition(index == vmas.count || vmas[index].start >= vma.end, "inserting an overlapping VMA")
        vmas.insert(vma, at: index)
    }

    /// Merges neighbours that ``VMA/canMerge(with:)`` in `[lower, upper]` (indices, clamped).
    mutating func merge(around range: Range<Int>) {
        var index = max(range.lowerBound - 1, 0)
        var last = min(range.upperBound, vmas.count - 1)
        while index < last {
            if vmas[index].canMerge(with: vmas[index + 1]) {
                vmas[index].end = vmas[index + 1].end
                vmas.remove(at: index + 1)
                last -= 1
            } else {
                index += 1
            }
        }
    }

    /// How many VMAs map each shared object.
    var vmaObjectCounts: [UInt32: Int] {
        var counts: [UInt32: Int] = [:]
        for vma in vmas { if let shared = vma.sharedObject { counts[shared.object, default: 0] += 1 } }
        return counts
    }

    /// How many VMAs use each non-zero KeyID (one KeyID reference each).
    var vmaKeyIDCounts: [UInt16: Int] {
        var counts: [UInt16: Int] = [:]
        for vma in vmas where vma.keyID != 0 { counts[vma.keyID, default: 0] += 1 }
        return counts
    }
}
