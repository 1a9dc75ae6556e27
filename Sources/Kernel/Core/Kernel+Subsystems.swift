//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

import HWKeysBase

/// The seams between kernel subsystems that are built separately: the memory manager, the `mktme` key
/// type, the Key Locker manager, its users (crypt volumes) and hibernation. Each subsystem registers its
/// side from ``Kernel/startSubsystems(booting:)``; none of these objects is saved — their state is part
/// of their subsystem's saved state.

/// The MKTME side of `encrypt_mprotect()` and of page lifetimes (docs/contract.md §6), implemented by the `mktme`
/// key type and used by the memory manager.
///
/// References follow the RFC's scheme: one per VMA and one per allocated page that uses a KeyID (Linux
/// `vma_get_encrypt_ref`/`vma_put_encrypt_ref` and page references in `page_ext`). The memory manager
/// never takes references on KeyID 0.
public protocol MemoryEncryptionKeys: AnyObject {
    /// The KeyID that `encrypt_mprotect(…, serial)` by `pid` should use, with one reference taken for
    /// the caller. Checks everything before changing anything: the key exists and the caller may view it
    /// (ENOKEY, EACCES), it is valid (EKEYREVOKED, EKEYEXPIRED), it is of type `mktme`, the design's rules
    /// (revised: serial 0 is the shared no-encrypt KeyID, a `user` key is EINVAL for anonymous memory, a
    /// key without a KeyID takes one now — ENOKEY when none is free or the uid's limit is reached;
    /// rfc-v2: serial 0 is EINVAL).
    func keyIDForEncryptMprotect(serial: Int32, pid: Int32) throws(HWKeysError) -> UInt16

    /// The checks of ``keyIDForEncryptMprotect(serial:pid:)`` for a zero-length `encrypt_mprotect`, which
    /// looks the key up (the RFC's syscall calls `lookup_user_key` before `do_mprotect_ext` returns 0 for an
    /// empty range) but takes no KeyID and keeps no reference.
    func checkKeyForEncryptMprotect(serial: Int32, pid: Int32) throws(HWKeysError)

    /// `count` more users of `keyID` (a VMA split or forked, a page allocated with it).
    func retainKeyID(_ keyID: UInt16, count: Int)

    /// `count` users of `keyID` gone (a VMA unmapped, a page freed). When the last goes the design
    /// decides: rfc-v2 frees the slot once its key is destroyed (without clearing the hardware),
    /// revised programs CLEAR_KEY and frees it.
    func releaseKeyID(_ keyID: UInt16, count: Int)
}

extension MemoryEncryptionKeys {
    /// Takes the KeyID and gives the reference back at once (implementations that take no KeyID in a lookup).
    public func checkKeyForEncryptMprotect(serial: Int32, pid: Int32) throws(HWKeysError) {
        let keyID = try keyIDForEncryptMprotect(serial: serial, pid: pid)
        if keyID != 0 { releaseKeyID(keyID, count: 1) }
    }
}

/// The memory manager's side for the `mktme` key type: moving memory between KeyIDs (key rotation).
public protocol KeyIDMappings: AnyObject {
    /// Moves every page and VMA that uses `old` to `new` with its contents intact (docs/contract.md §6 revised
    /// rotation: copy out, flush through `old`, change the KeyID, copy back through `new`) and moves the
    /// references with them (``MemoryEncryptionKeys/retainKeyID(_:count:)`` on `new`, release on `old`).
    /// Checks everything (memory for the copies) before changing anything.
    func moveMappings(fromKeyID old: UInt16, to new: UInt16) throws(HWKeysError)

    /// How many VMAs and pages use `keyID` now (for checks such as rfc-v2 update's EBUSY).
    func users(ofKeyID keyID: UInt16) -> Int
}

/// Key Locker as its kernel users see it (docs/contract.md §7), implemented by the Key Locker manager.
public protocol KeyLockerService: AnyObject {
    /// Throws ENODEV unless Key Locker is initialized on every online CPU and valid (`status` reads
    /// `valid`): disabled, or soft-disabled after a failed restore.
    func requireValid() throws(HWKeysError)
}

/// A kernel subsystem that holds Key Locker handles (crypt volumes with the KL cipher).
public protocol KeyLockerUser: AnyObject {
    /// Whether the subsystem holds handles now; changing the Key Locker mode is EBUSY while any does.
    var holdsKeyLockerHandles: Bool { get }
}

/// Hibernation (S4, docs/contract.md §4): the image of RAM the kernel writes to its swap device before the
/// platform loses power and reads back on resume, implemented with the block devices.
///
/// Resume restores in two steps around the other subsystems' ``PowerParticipant/resumed(from:)``:
/// first kernel memory (KeyID 0: the heap, key payloads, the MKTME key store), so subsystems find what
/// they need to reprogram hardware; then memory under other KeyIDs, written back through their aliases
/// once the MKTME keys are programmed again.
public protocol HibernationImage: AnyObject {
    /// Writes the image (called last in ``Kernel/prepareForSleep(_:)``); throws (ENOSPC, EIO) to refuse.
    func write() throws(HWKeysError)
    /// Restores KeyID-0 memory from the image.
    func restoreKernelMemory() throws(HWKeysError)
    /// Restores memory under other KeyIDs and releases the image.
    func restoreEncryptedMemory() throws(HWKeysError)
}
