//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase
import X86

/// A process's loads and stores (docs/design.md "A write, end to end"): the virtual range is checked against the
/// VMAs (EFAULT), the page tables in DRAM are walked (leaf entries read one page table at a time), missing
/// pages are faulted in under the VMA's KeyID, and the data moves through each page's KeyID alias in one
/// load or store per run of physically consecutive pages.
///
/// **Choice:** a read of a page never touched reads zeros without allocating it (Linux maps the shared zero
/// page); only a write allocates.
extension Kernel {
    /// Where a process's virtual address leads.
    public struct Translation: Sendable, Hashable {
        /// The DRAM address (KeyID bits stripped).
        public let physicalAddress: UInt64
        /// The KeyID in the page-table entry.
        public let keyID: UInt16
        /// The leaf page-table entry as it sits in DRAM.
        public let entry: UInt64
    }

    /// Stores `bytes` at `address` in process `pid`'s memory, as the process itself would.
    ///
    /// - Throws: ESRCH; EFAULT (a byte of the range unmapped or not writable); ENOMEM (not enough free frames
    ///   for the pages and page tables the write must fault in; checked before anything is allocated).
    public func writeMemory(pid: Int32, address: UInt64, from bytes: UnsafeRawBufferPointer) throws(HWKeysError) {
        try memoryManager.access(
            pid: pid,
            address: address,
            UnsafeMutableRawBufferPointer(mutating: bytes),
            write: true
        )
    }

    /// Stores a secret at `address` in process `pid`'s memory.
    public func writeMemory(pid: Int32, address: UInt64, _ data: SecretBytes) throws(HWKeysError) {
        try data.withUnsafeBytes { (bytes) throws(HWKeysError) in
            try writeMemory(pid: pid, address: address, from: bytes)
        }
    }

    /// Loads `buffer.count` bytes at `address` of process `pid`'s memory.
    ///
    /// - Throws: ESRCH; EFAULT (a byte of the range unmapped or not readable).
    public func readMemory(pid: Int32, address: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(HWKeysError)
    {
        try memoryManager.access(pid: pid, address: address, buffer, write: false)
    }

    /// Loads `count` bytes as a secret.
    public func readMemory(pid: Int32, address: UInt64, count: Int) throws(HWKeysError) -> SecretBytes {
        guard count >= 0, count <= 1 << 30 else { throw .einval("read of \(count) bytes") }
        let data = SecretBytes(count: count)
        try data.withUnsafeMutableBytes { (bytes) throws(HWKeysError) in
            try readMemory(pid: pid, address: address, into: bytes)
        }
        return data
    }

    /// The physical page and KeyID behind `address` in process `pid` (the walk the MMU would do; like
    /// `/proc/<pid>/pagemap` with the KeyID).
    ///
    /// - Throws: ESRCH; EFAULT (not in a VMA); ENOENT (in a VMA, but the page was never touched).
    public func translate(pid: Int32, address: UInt64) throws(HWKeysError) -> Translation {
        _ = try processes.process(pid)
        guard var space = memoryManager.spaces[pid], space.index(containing: address) != nil else {
            throw HWKeysError(.EFAULT, "\(hex(address)) is not mapped in process \(pid)")
        }
        var found: UInt64?
        let page = address & ~0xFFF
        try memoryManager.forEachExistingLeafRun(&space, page, page + 0x1000) { _, entries in
            found = entries[0]
            return false
        }
        guard let entry = found, PageTableEntry.mapsFrame(entry) else {
            throw HWKeysError(.ENOENT, "the page at \(hex(page)) of process \(pid) is not present (never touched)")
        }
        return Translation(
            physicalAddress: keyIDLayout.frame(ofEntry: entry) << 12 | address & 0xFFF,
            keyID: keyIDLayout.keyID(ofEntry: entry),
            entry: entry
        )
    }
}

extension MemoryManager {
    /// One process access; see the extension above.
    func access(pid: Int32, address: UInt64, _ buffer: UnsafeMutableRawBufferPointer, write: Bool) throws(HWKeysError) {
        _ = try kernel.processes.process(pid)
        guard !buffer.isEmpty, let base = buffer.baseAddress else { return }
        let (end, wrapped) = address.addingReportingOverflow(UInt64(buffer.count))
        let verb = write ? "write" : "read"
        guard !wrapped, end <= AddressSpace.taskSize, var space = spaces[pid],
            space.covers(address, end, where: { write ? $0.protection.writable : $0.protection.readable })
        else {
            // A range that wraps past 2^64 is reported by its start and length, not by a wrapped end.
            let range = wrapped ? "\(buffer.count) bytes at \(hex(address))" : "[\(hex(address)), \(hex(end)))"
            throw HWKeysError(
                .EFAULT,
                "process \(pid) cannot \(verb) \(range): unmapped or not \(write ? "writable" : "readable")"
            )
        }
        let firstPage = address & ~0xFFF
        let endPage = (end + 0xFFF) & ~0xFFF
        let reserved = reservedAddressBits
        if write {
            // Pages and tables to fault in, counted before any is allocated; and the entries checked, so that
            // a write either stores every byte or none (an entry with reserved bits would #PF with RSVD).
            var missingPages = Int((endPage - firstPage) >> 12)
            try forEachExistingLeafRun(&space, firstPage, endPage) { (runStart, entries) throws(HWKeysError) -> Bool in
                for index in entries.indices where PageTableEntry.mapsFrame(entries[index]) {
                    missingPages -= 1
                    if entries[index] & reserved != 0 {
                        throw kernel.oops(
                            badPageMap(entries[index], at: runStart + UInt64(index) << 12, "reserved bits set")
                        )
                    }
                }
                return false
            }
            let needed = missingPages + (try missingTables(space, firstPage, endPage))
            guard needed <= kernel.pages.freeFrames else {
                throw .enomem("the write needs \(needed) free pages, \(kernel.pages.freeFrames) are left")
            }
        }

        let layout = self.layout
        let shift = UInt64(layout.keyIDShift)
        let cpu = kernel.cpu
        var delta = ReferenceDelta()
        var vmaIndex = space.index(containing: address)!
        let vmas = space.vmas
        // The pending run of physically consecutive pages under one KeyID: DRAM start, bytes, buffer offset.
        var run: (dram: UInt64, keyID: UInt16, length: Int, offset: Int)?
        func flushRun() {
            guard let pending = run else { return }
            let alias = PhysicalAddress(pending.dram | UInt64(pending.keyID) << shift)
            if write {
                cpu.store(alias, from: UnsafeRawBufferPointer(start: base + pending.offset, count: pending.length))
            } else {
                cpu.load(
                    alias,
                    into: UnsafeMutableRawBufferPointer(start: base + pending.offset, count: pending.length)
                )
            }
            run = nil
        }
        try forEachLeafRun(&space, firstPage, endPage, allocate: write) {
            (runStart, runEnd, entries) throws(HWKeysError) -> Bool in
            var changed = false
            let pages = Int((runEnd - runStart) >> 12)
            for index in 0..<pages {
                let page = runStart + UInt64(index) << 12
                let from = max(page, address)
                let to = min(page + 0x1000, end)
                let offset = Int(from - address)
                let length = Int(to - from)
                var entry = entries?[index] ?? 0
                if !PageTableEntry.mapsFrame(entry) {
                    while vmas[vmaIndex].end <= page { vmaIndex += 1 }
                    let vma = vmas[vmaIndex]
                    // A shared mapping's page may exist in its object already (written by another mapping).
                    let shared = vma.sharedPage(page)
                    let existing = shared.flatMap { sharedObjects[$0.object]?.frames[$0.page] }
                    if let entries, write {
                        let frame: UInt64
                        if let existing {
                            frame = existing
                        } else {
                            frame = try allocateUserPage(keyID: vma.keyID, cpu: cpu)
                            if let shared {
                                sharedObjects[shared.object]?.frames[shared.page] = frame
                            } else {
                                delta.pages(vma.keyID, 1)
                            }
                        }
                        entry = layout.leafEntry(frame: frame, keyID: vma.keyID, protection: vma.protection)
                        entries[index] = entry
                        changed = true
                    } else if let existing {
                        // Read through the object without mapping the page here.
                        entry = layout.leafEntry(frame: existing, keyID: vma.keyID, protection: vma.protection)
                    } else {
                        // Never touched: reads as zeros.
                        flushRun()
                        (base + offset).initializeMemory(as: UInt8.self, repeating: 0, count: length)
                        continue
                    }
                }
                if entry & reserved != 0 {
                    // The MMU would raise #PF with RSVD; Linux reports the bad entry (pte_ERROR).
                    throw kernel.oops(badPageMap(entry, at: page, "reserved bits set"))
                }
                let dram = layout.frame(ofEntry: entry) << 12 | (from & 0xFFF)
                let keyID = layout.keyID(ofEntry: entry)
                if let pending = run, pending.keyID == keyID, pending.dram + UInt64(pending.length) == dram {
                    run!.length += length
                } else {
                    flushRun()
                    run = (dram, keyID, length, offset)
                }
            }
            return changed
        }
        flushRun()
        spaces[pid] = space
        apply(delta)
    }
}
