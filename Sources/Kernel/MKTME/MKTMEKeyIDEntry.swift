//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

import X86

/// One hardware KeyID as the kernel tracks it (RFC v2 `mktme_map[]` plus `encrypt_count[]` and the
/// `mktme_key_store`; docs/contract.md §6). Never key bytes: a saved user key lives in kernel memory and the entry
/// holds its address.
struct MKTMEKeyIDEntry: Codable, Hashable, Sendable {
    /// The kernel's view of the slot (`KEYID_AVAILABLE`, `KEYID_ASSIGNED`, `KEYID_REF_KILLED`).
    enum State: String, Codable, Sendable {
        /// Available for a new key. The hardware slot may still hold an old key (rfc-v2: stale).
        case free
        /// Owned by a live key (or, revised, the shared no-encrypt KeyID).
        case assigned
        /// The owning key is destroyed but memory still uses the KeyID (`KEYID_REF_KILLED`); freed when the
        /// last user goes.
        case orphaned
    }

    var state: State = .free
    /// The serial of the owning key; nil when free, orphaned, or the shared no-encrypt KeyID.
    var owner: Int32?
    /// The uid charged for the KeyID (the key's owner), for `keyids_max_per_uid`; nil for the shared one.
    var uid: UInt32?
    /// Users through the `MemoryEncryptionKeys` seam: VMAs and pages (the key's own reference is
    /// ``owner``).
    var references = 0
    /// What the kernel last programmed into the slot on every package (nil: never programmed since boot).
    var command: MKTMEKeyCommand?
    /// The algorithm of that programming.
    var algorithm: TMEAlgorithm?
    /// The `mktme_savekeys` store entry: KEY_FIELD_1 ‖ KEY_FIELD_2 of a user key, in kernel memory.
    var savedKey: KernelAllocation?
    /// The revised design's shared NO_ENCRYPT KeyID (encrypt_mprotect with serial 0).
    var shared = false
    /// Set when a failed rfc-v2 update left the slot cleared and the old key could not be programmed again:
    /// encrypt_mprotect with the key is ENOKEY until an update succeeds. Nil otherwise.
    var lostKey: Bool?

    /// Whether the KeyID is in use (owned, shared or still referenced): its hardware programming must
    /// be kept and restored.
    var isLive: Bool { state != .free }
}

/// The saved state of the `mktme` subsystem: the KeyID table and the per-uid limit.
struct MKTMESavedState: Codable, Sendable {
    /// Entries for KeyIDs 0…N; entry 0 is unused (KeyID 0 is TME's).
    var entries: [MKTMEKeyIDEntry]
    /// `/sys/kernel/mm/mktme/keyids_max_per_uid`.
    var maxPerUID: Int
}
