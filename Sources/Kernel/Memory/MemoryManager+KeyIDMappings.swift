//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase
import X86

extension MemoryManager: KeyIDMappings {
    /// Key rotation (docs/contract.md §6 revised; Dave Hansen's recipe for in-place KeyID conversion, see
    /// `docs/research/mktme-research.md` §1.8): for every page under `old`, copy the plaintext out through the old alias
    /// into a host secret buffer, flush the old alias, change the KeyID in the page-table entry and the
    /// frame's record, and write the plaintext back through the new alias. VMAs under `old` take `new`; the
    /// references move (retained on `new` before released on `old`). Needs no memory, so nothing can fail
    /// half-way.
    public func moveMappings(fromKeyID old: UInt16, to new: UInt16) throws(HWKeysError) {
        guard old != new else { return }
        guard Int(new) < layout.keyIDCount, Int(old) < layout.keyIDCount else {
            throw .einval("KeyID \(max(old, new)) does not exist (\(layout.keyIDBits) KeyID bits)")
        }
        let layout = self.layout
        let cpu = kernel.cpu
        // Every page to move is checked first (its frame allocated to a user with the old KeyID), so a
        // corrupted entry fails the rotation with an oops before anything moved.
        for pid in spaces.keys.sorted() {
            guard var space = spaces[pid] else { continue }
            for vma in space.vmas where vma.keyID == old {
                try check(&space, vma.start, vma.end, leaves: { _ in true })
                try forEachExistingLeafRun(&space, vma.start, vma.end) {
                    (runStart, entries) throws(HWKeysError) -> Bool in
                    for slot in entries.indices where PageTableEntry.mapsFrame(entries[slot]) {
                        guard layout.keyID(ofEntry: entries[slot]) == old else {
                            throw kernel.oops(
                                badPageMap(entries[slot], at: runStart + UInt64(slot) << 12, "not under KeyID \(old)")
                            )
                        }
                    }
                    return false
                }
            }
        }
        let buffer = SecretBytes(count: PageAllocator.pageSize)
        var delta = ReferenceDelta()
        for pid in spaces.keys.sorted() {
            guard var space = spaces[pid], space.vmas.contains(where: { $0.keyID == old }) else { continue }
            let before = space.vmas
            for index in space.vmas.indices where space.vmas[index].keyID == old {
                let protection = space.vmas[index].protection
                try forEachExistingLeafRun(&space, space.vmas[index].start, space.vmas[index].end) { _, entries in
                    var changed = false
                    for slot in entries.indices where PageTableEntry.mapsFrame(entries[slot]) {
                        let frame = layout.frame(ofEntry: entries[slot])
                        buffer.withUnsafeMutableBytes { page in
                            cpu.load(layout.address(PhysicalAddress(frame << 12), withKeyID: old), into: page)
                            if !debugSkipPageFlush { physical.flushPage(frame, keyID: old) }
                            entries[slot] = layout.leafEntry(frame: frame, keyID: new, protection: protection)
                            kernel.pages.setKeyID(new, of: frame)
                            cpu.store(
                                layout.address(PhysicalAddress(frame << 12), withKeyID: new),
                                from: UnsafeRawBufferPointer(page)
                            )
                        }
                        delta.pages(old, -1)
                        delta.pages(new, 1)
                        changed = true
                    }
                    return changed
                }
                space.vmas[index].keyID = new
            }
            space.merge(around: 0..<space.vmas.count)
            delta.vmas(from: before, to: space.vmas)
            spaces[pid] = space
        }
        apply(delta)
    }

    /// VMAs plus pages that use `keyID` now.
    public func users(ofKeyID keyID: UInt16) -> Int {
        keyIDUse[keyID]?.total ?? 0
    }
}
