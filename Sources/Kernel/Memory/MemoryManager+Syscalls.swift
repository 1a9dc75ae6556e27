//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

import HWKeysBase
import X86

/// The memory system calls of the modelled kernel: mmap(2), munmap(2), mprotect(2) with Linux's argument
/// checks and errno values, and `encrypt_mprotect()` from the MKTME series (docs/contract.md §6). Each validates
/// everything before it changes anything.
extension Kernel {
    /// `mmap(NULL, length, prot, MAP_ANONYMOUS | (shared ? MAP_SHARED : MAP_PRIVATE), -1, 0)`: a new anonymous
    /// mapping at the highest free range below ``AddressSpace/mmapBase``. No page is allocated until touched.
    ///
    /// - Returns: The mapping's address.
    /// - Throws: ESRCH (no such process), EINVAL (`length` 0), ENOMEM (too long, no free range, or
    ///   `max_map_count` VMAs).
    public func mmap(pid: Int32, length: UInt64, protection: Protection, shared: Bool) throws(HWKeysError) -> UInt64 {
        _ = try processes.process(pid)
        guard length > 0 else { throw .einval("mmap of zero bytes") }
        guard length <= AddressSpace.taskSize else {
            throw .enomem("mmap of \(length) bytes exceeds the address space")
        }
        let rounded = (length + 0xFFF) & ~0xFFF
        var space = memoryManager.spaces[pid] ?? AddressSpace()
        guard space.vmas.count < AddressSpace.maxMapCount else {
            throw .enomem("process \(pid) has max_map_count (\(AddressSpace.maxMapCount)) mappings")
        }
        guard let start = space.freeArea(length: rounded) else {
            throw .enomem("no free range of \(rounded) bytes in the address space of \(pid)")
        }
        var vma = VMA(start: start, end: start + rounded, protection: protection, shared: shared)
        if shared {
            vma.sharedObject = VMA.SharedMapping(object: memoryManager.createSharedObject(), firstPage: 0)
        }
        let before = space.vmas
        space.insert(vma)
        let index = space.index(containing: start)!
        space.merge(around: index..<index + 1)
        var delta = MemoryManager.ReferenceDelta()
        delta.vmas(from: before, to: space.vmas)
        memoryManager.spaces[pid] = space
        memoryManager.apply(delta)
        return start
    }

    /// `munmap(addr, length)`: unmaps `[addr, addr + length rounded up)`, splitting VMAs at the ends; pages are
    /// freed with the flush rule and their KeyID references released. Holes are fine.
    ///
    /// - Throws: ESRCH, EINVAL (`addr` not page-aligned, `length` 0, range outside user space).
    public func munmap(pid: Int32, address: UInt64, length: UInt64) throws(HWKeysError) {
        _ = try processes.process(pid)
        let end = try Self.userRange(address, length, overflow: .EINVAL)
        guard length > 0 else { throw .einval("munmap of zero bytes") }
        guard var space = memoryManager.spaces[pid] else { return }
        // Every entry the unmap frees is checked first, so a corrupted one fails it before anything changed.
        try memoryManager.check(&space, address, end, leaves: { $0.sharedObject == nil })
        let before = space.vmas
        var delta = MemoryManager.ReferenceDelta()
        space.split(at: address)
        space.split(at: end)
        let range = space.indices(overlapping: address, end)
        for index in range {
            let vma = space.vmas[index]
            try memoryManager.zap(&space, vma.start, vma.end, freeing: vma.sharedObject == nil, &delta)
        }
        space.vmas.removeSubrange(range)
        delta.vmas(from: before, to: space.vmas)
        memoryManager.spaces[pid] = space
        memoryManager.apply(delta)
    }

    /// `mprotect(addr, length, prot)`: changes the protection of `[addr, addr + length rounded up)`, splitting
    /// and merging VMAs and rewriting the page-table entries. The KeyID is kept (docs/contract.md §6).
    ///
    /// - Throws: ESRCH, EINVAL (`addr` not page-aligned), ENOMEM (range wraps, leaves user space, or has
    ///   unmapped holes — Linux's errno for a hole).
    public func mprotect(pid: Int32, address: UInt64, length: UInt64, protection: Protection) throws(HWKeysError) {
        _ = try processes.process(pid)
        guard address & 0xFFF == 0 else { throw .einval("address \(hex(address)) is not page-aligned") }
        guard length > 0 else { return }
        let end = try Self.userRange(address, length, overflow: .ENOMEM)
        guard var space = memoryManager.spaces[pid], space.covers(address, end) else {
            throw HWKeysError(.ENOMEM, "[\(hex(address)), \(hex(end))) is not fully mapped")
        }
        try memoryManager.check(&space, address, end)
        let before = space.vmas
        space.split(at: address)
        space.split(at: end)
        let range = space.indices(overlapping: address, end)
        for index in range { space.vmas[index].protection = protection }
        try memoryManager.changeProtection(&space, address, end, to: protection)
        space.merge(around: range)
        var delta = MemoryManager.ReferenceDelta()
        delta.vmas(from: before, to: space.vmas)
        memoryManager.spaces[pid] = space
        memoryManager.apply(delta)
    }

    /// `encrypt_mprotect(addr, len, prot, serial)` (the MKTME series; docs/contract.md §6 "Common to both"): like
    /// mprotect, and the range's memory is put under the KeyID of key `serial`. Its pages are discarded (the
    /// range reads back as zeros; frames freed with the flush rule), the VMAs take the KeyID (split at the
    /// range's ends, never merged with VMAs of another KeyID), the KeyID references move from the old KeyIDs
    /// to the new one, and `prot` applies.
    ///
    /// - Throws: ESRCH; EINVAL (`addr` or `len` not page-aligned, a VMA in the range shared or not anonymous);
    ///   EOPNOTSUPP (no MKTME); the key's errors from ``MemoryEncryptionKeys/keyIDForEncryptMprotect(serial:pid:)``
    ///   (ENOKEY, EACCES, EKEYREVOKED, …); ENOMEM (range wraps, leaves user space or has holes). On any error
    ///   nothing changes, the reference taken on the key's KeyID included.
    public func encryptMprotect(
        pid: Int32,
        address: UInt64,
        length: UInt64,
        protection: Protection,
        serial: Int32
    ) throws(HWKeysError) {
        _ = try processes.process(pid)
        guard address & 0xFFF == 0 else { throw .einval("address \(hex(address)) is not page-aligned") }
        guard length & 0xFFF == 0 else { throw .einval("length \(length) is not a multiple of the page size") }
        guard let encryption = memoryEncryption else {
            throw HWKeysError(.EOPNOTSUPP, "no MKTME: memory encryption keys are not available")
        }
        let end = try Self.userRange(address, length, overflow: .ENOMEM)
        guard length > 0 else {
            // The RFC's syscall looks the key up before do_mprotect_ext returns 0 for an empty range.
            try encryption.checkKeyForEncryptMprotect(serial: serial, pid: pid)
            return
        }
        // The range is checked before the key is asked for its KeyID: in the revised design that takes and
        // programs a KeyID, which a failing call must not leave behind (docs/choices.md).
        var space = memoryManager.spaces[pid] ?? AddressSpace()
        guard space.covers(address, end) else {
            throw HWKeysError(.ENOMEM, "[\(hex(address)), \(hex(end))) is not fully mapped")
        }
        guard space.covers(address, end, where: { $0.anonymous && !$0.shared }) else {
            throw .einval("encrypt_mprotect needs anonymous private memory; [\(hex(address)), \(hex(end))) is not")
        }
        // The pages the call discards, checked before the key takes a KeyID (docs/robustness.md).
        try memoryManager.check(&space, address, end, leaves: { _ in true })
        let keyID = try encryption.keyIDForEncryptMprotect(serial: serial, pid: pid)
        // The caller's reference: held for the call, dropped at its end (after the VMAs took theirs).
        defer { if keyID != 0 { encryption.releaseKeyID(keyID, count: 1) } }
        guard Int(keyID) < keyIDLayout.keyIDCount else {
            throw HWKeysError(.EINVAL, "KeyID \(keyID) does not fit the \(keyIDLayout.keyIDBits) KeyID bits")
        }
        let before = space.vmas
        var delta = MemoryManager.ReferenceDelta()
        space.split(at: address)
        space.split(at: end)
        try memoryManager.zap(&space, address, end, &delta)
        let range = space.indices(overlapping: address, end)
        for index in range {
            space.vmas[index].keyID = keyID
            space.vmas[index].protection = protection
        }
        space.merge(around: range)
        delta.vmas(from: before, to: space.vmas)
        memoryManager.spaces[pid] = space
        memoryManager.apply(delta)
    }

    /// `[address, address + length rounded up)` checked for alignment (EINVAL) and for staying in user space
    /// (`overflow`: EINVAL for munmap, ENOMEM for mprotect, as Linux returns). Returns the end.
    static func userRange(_ address: UInt64, _ length: UInt64, overflow: Errno) throws(HWKeysError) -> UInt64 {
        guard address & 0xFFF == 0 else { throw .einval("address \(hex(address)) is not page-aligned") }
        let (rounded, wrapped) = length.addingReportingOverflow(0xFFF)
        let (end, beyond) = address.addingReportingOverflow(rounded & ~0xFFF)
        guard !wrapped, !beyond, end <= AddressSpace.taskSize else {
            throw HWKeysError(overflow, "[\(hex(address)), +\(length)) leaves the user address space")
        }
        return end
    }
}

/// `0x…`.
func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
