//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

/// The garbage collector (`security/keys/gc.c`).
///
/// A revoked or expired key, or one nothing links or holds any more, is collected `gc_delay` seconds
/// after it became so (docs/contract.md §5); an invalidated key at once. Collecting a revoked or expired key
/// removes it from every keyring, and destroys it unless a process still holds it as its session or
/// process keyring (then it goes when the process does). Destroying zeroes its payload in kernel
/// memory and releases its quota.
///
/// Collection is lazy: ``collectGarbage()`` runs at the start of every key operation and does work only
/// once emulated time has reached the earliest deadline in ``KeyGCQueue``, so an operation costs
/// O(log n) plus whatever is due.
extension KeyRetentionService {
    /// When `key` becomes collectable (before the delay): the earliest of its revocation, its expiry and
    /// the moment it lost its last reference.
    func collectableSince(_ key: Key) -> UInt64? {
        [key.unreferencedAt, key.revokedAt, key.expiry].compactMap { $0 }.min()
    }

    /// Puts `serial` in the queue at the time it becomes collectable, or takes it out.
    func scheduleCollection(of serial: Int32) {
        if let key = keys[serial], let time = collectableSince(key) {
            gcQueue.schedule(serial, at: time)
        } else {
            gcQueue.cancel(serial)
        }
    }

    /// The current `gc_delay` in nanoseconds.
    var gcDelayNanoseconds: UInt64 { UInt64(limits.gcDelay) * 1_000_000_000 }

    /// The emulated time at which the next collection is due, if any key is queued.
    public var nextCollection: UInt64? {
        gcQueue.first.map { $0.time &+ gcDelayNanoseconds }
    }

    /// Collects every key whose time has come. Returns how many keys were destroyed.
    @discardableResult
    public func collectGarbage() -> Int {
        let delay = gcDelayNanoseconds
        let now = kernel.now
        guard now >= delay else { return 0 }
        let limit = now - delay
        var destroyed = 0
        while let next = gcQueue.first, next.time <= limit {
            _ = gcQueue.removeFirst()
            destroyed += collect(next.serial, limit: limit)
        }
        if destroyed > 0 { kernel.printk("keys", "gc: collected \(destroyed) key\(destroyed == 1 ? "" : "s")") }
        return destroyed
    }

    /// Collects one due key; returns the number of keys destroyed.
    private func collect(_ serial: Int32, limit: UInt64) -> Int {
        guard let key = keys[serial] else { return 0 }
        guard let since = collectableSince(key), since <= limit else {
            scheduleCollection(of: serial)
            return 0
        }
        if key.unreferencedAt == nil {
            // Revoked or expired: out of every keyring; destroyed unless a process still holds it.
            unlinkEverywhere(serial)
            guard keys[serial]?.referenceCount == 0 else { return 0 }
        }
        let before = keys.count
        destroy(serial)
        return before - keys.count
    }
}
