//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase
import X86

/// Key lifecycle: serials, quotas, creation, revocation, invalidation and destruction
/// (`security/keys/key.c`).
extension KeyRetentionService {
    // MARK: Serials

    /// A fresh serial (Linux `key_alloc_serial`): 32 random bits from RDRAND on the current CPU (the
    /// machine's entropy), shifted right once so the serial is positive, drawn again below 3; if taken,
    /// the next free one. RDRAND failing ten times in a row is EAGAIN.
    func allocateSerial() throws(HWKeysError) -> Int32 {
        var attempts = 0
        while attempts < 10 {
            attempts += 1
            guard let random = kernel.cpu.rdrand() else { continue }
            var serial = Int32(truncatingIfNeeded: UInt32(truncatingIfNeeded: random) >> 1)
            guard serial >= 3 else { continue }
            while keys[serial] != nil { serial = serial == Int32.max ? 3 : serial + 1 }
            return serial
        }
        throw HWKeysError(.EAGAIN, "RDRAND failed 10 times in a row; no key serial")
    }

    // MARK: Quotas

    /// Fails with EDQUOT unless `uid` may own `keys` more keys and `bytes` more bytes (`key_alloc`,
    /// `key_payload_reserve`).
    func checkQuota(_ uid: UInt32, keys more: Int, bytes: Int) throws(HWKeysError) {
        guard more > 0 || bytes > 0 else { return }
        let (maxKeys, maxBytes) = limits.quota(for: uid)
        let use = usage(of: uid)
        if more > 0, use.keys + more > maxKeys {
            throw HWKeysError(.EDQUOT, "uid \(uid) has \(use.keys) keys; the quota is \(maxKeys)")
        }
        if bytes > 0, use.bytes + bytes > maxBytes {
            throw HWKeysError(
                .EDQUOT,
                "uid \(uid) uses \(use.bytes) of \(maxBytes) key bytes; \(bytes) more do not fit"
            )
        }
    }

    /// Charges (or with negative amounts releases) quota.
    func charge(_ uid: UInt32, keys more: Int, bytes: Int) {
        var use = users[uid] ?? KeyUser()
        use.keys += more
        use.bytes += bytes
        users[uid] = use.keys == 0 && use.bytes == 0 ? nil : use
    }

    // MARK: Creation

    /// Creates and instantiates a key with `prep`'s payload (`key_alloc` + `__key_instantiate_and_link`,
    /// without the link). The caller has checked quota unless `overrun` (Linux `KEY_ALLOC_QUOTA_OVERRUN`).
    func createKey(
        type: any KeyType,
        description: String,
        owner: Credentials,
        gid: UInt32? = nil,
        permissions: KeyPermissions,
        prep: KeyPreparsedPayload
    ) throws(HWKeysError) -> Int32 {
        let serial = try allocateSerial()
        var key = Key(
            serial: serial,
            type: type.name,
            description: description,
            uid: owner.uid,
            gid: gid ?? owner.gid,
            permissions: permissions,
            isKeyring: type is KeyringType
        )
        try type.instantiate(&key, prep, kernel: kernel)
        key.payload.dataLength = prep.quotaLength
        keys[serial] = key
        charge(key.uid, keys: 1, bytes: key.quotaBytes)
        return serial
    }

    /// Creates an empty keyring owned by `owner` without a quota check (session, process and user
    /// keyrings: `KEY_ALLOC_QUOTA_OVERRUN`). Remembered so a failing operation removes it again.
    func createSpecialKeyring(
        _ description: String,
        owner: Credentials,
        gid: UInt32? = nil,
        permissions: KeyPermissions
    ) throws(HWKeysError) -> Int32 {
        guard let type = types["keyring"] else { preconditionFailure("keyring type not registered") }
        let prep = KeyPreparsedPayload(
            description: description,
            data: SecretBytes(count: 0),
            credentials: owner,
            pid: 0
        )
        let serial = try createKey(
            type: type,
            description: description,
            owner: owner,
            gid: gid,
            permissions: permissions,
            prep: prep
        )
        createdByOperation.append(serial)
        return serial
    }

    /// Removes the keyrings the failed operation created on demand, as if they had never existed.
    func discardCreatedKeyrings() {
        for serial in createdByOperation.reversed() {
            guard let key = keys[serial] else { continue }
            for child in key.links { removeLink(from: serial, child) }
            for parent in key.linkedFrom.sorted() { removeLink(from: parent, serial) }
            for (pid, rings) in processKeyrings.sorted(by: { $0.key < $1.key }) where rings.held.contains(serial) {
                var updated = rings
                if rings.session == serial { updated.session = nil }
                if rings.process == serial { updated.process = nil }
                if rings.thread == serial { updated.thread = nil }
                processKeyrings[pid] = updated
            }
            if userKeyrings[key.uid] == serial { userKeyrings.removeValue(forKey: key.uid) }
            if userSessionKeyrings[key.uid] == serial { userSessionKeyrings.removeValue(forKey: key.uid) }
            gcQueue.cancel(serial)
            keys.removeValue(forKey: serial)
            charge(key.uid, keys: -1, bytes: -key.quotaBytes)
        }
        createdByOperation = []
    }

    // MARK: Revocation and invalidation

    /// Revokes a key (Linux `key_revoke`): the type's revoke runs once, a keyring drops its links
    /// (`keyring_revoke`), and the key is collected `gc_delay` seconds later.
    func revokeKey(_ serial: Int32) {
        guard keys[serial]?.revokedAt == nil, let isKeyring = keys[serial]?.isKeyring else { return }
        do {
            var key = keys[serial]!
            let before = key.payload.dataLength
            types[key.type]?.revoke(&key, kernel: kernel)
            precondition(key.payload.dataLength <= before, "revoke must not grow the payload")
            keys[serial]?.payload = key.payload
            keys[serial]?.revokedAt = kernel.now
            charge(key.uid, keys: 0, bytes: key.payload.dataLength - before)
        }
        if isKeyring { clearLinks(of: serial) }
        scheduleCollection(of: serial)
    }

    /// Invalidates a key (Linux `key_invalidate`): it vanishes from every keyring at once and is
    /// destroyed as soon as nothing else holds it.
    func invalidateKey(_ serial: Int32) {
        guard keys[serial] != nil else { return }
        keys[serial]?.invalidated = true
        unlinkEverywhere(serial)
        releaseIfUnreferenced(serial)
    }

    // MARK: References and destruction

    /// Marks a key dead once nothing links or holds it: an invalidated key is destroyed at once, any
    /// other after `gc_delay` (docs/contract.md §5). Dead keys are unreachable (ENOKEY) from then on.
    ///
    /// A keyring that dies drops its links at once, so a key it alone held dies with it — unreachable
    /// straight away, as in Linux, where the last `key_put` hands the keyring to the collector, which
    /// destroys it (and puts every key it links) without waiting for `gc_delay`. Only the destruction of
    /// the dead keys — their payload and remaining quota — waits for the delay here.
    func releaseIfUnreferenced(_ serial: Int32) {
        guard let key = keys[serial], key.referenceCount == 0, key.unreferencedAt == nil else { return }
        if key.invalidated {
            destroy(serial)
        } else {
            keys[serial]?.unreferencedAt = kernel.now
            scheduleCollection(of: serial)
            // Links form a forest (cycles are refused), so this recursion ends; its depth is the nesting.
            if key.isKeyring { clearLinks(of: serial) }
        }
    }

    /// Removes every link to `serial` and its user-keyring registration (what the Linux collector does to
    /// a revoked, expired or invalidated key).
    func unlinkEverywhere(_ serial: Int32) {
        guard let key = keys[serial] else { return }
        for parent in key.linkedFrom.sorted() { removeLink(from: parent, serial) }
        if key.pinned, userKeyrings[key.uid] == serial {
            userKeyrings.removeValue(forKey: key.uid)
            keys[serial]?.pinned = false
        }
        if key.pinned, userSessionKeyrings[key.uid] == serial {
            userSessionKeyrings.removeValue(forKey: key.uid)
            keys[serial]?.pinned = false
        }
    }

    /// Destroys a key and whatever dies with it (Linux `key_gc_unused_keys`): the type's destroy runs
    /// (the default zeroes and frees the payload in kernel memory), quota is released, and a keyring's
    /// links go, leaving keys nothing else holds dead.
    func destroy(_ serial: Int32) {
        var work = [serial]
        while let next = work.popLast() {
            guard let key = keys.removeValue(forKey: next) else { continue }
            precondition(key.linkedFrom.isEmpty, "destroying a linked key")
            gcQueue.cancel(next)
            for child in key.links {
                keys[child]?.linkedFrom.remove(next)
                guard let released = keys[child], released.referenceCount == 0, released.unreferencedAt == nil
                else { continue }
                if released.invalidated {
                    work.append(child)
                } else {
                    keys[child]?.unreferencedAt = kernel.now
                    scheduleCollection(of: child)
                }
            }
            if let type = types[key.type] {
                type.destroy(key, kernel: kernel)
            } else if let data = key.payload.data {
                kernel.freeKernelMemory(data)
            }
            charge(key.uid, keys: -1, bytes: -key.quotaBytes)
        }
    }

    // MARK: State

    /// The saved form: keys in serial order with their links, process keyrings, the user-keyring
    /// registry and the sysctls. Everything else is derived on restore.
    struct SavedState: Codable {
        var keys: [Key]
        var processes: StableDictionary<Int32, ProcessKeyrings>
        var userKeyrings: StableDictionary<UInt32, Int32>
        /// Absent while no user session keyring exists (so older images read as they were written).
        var userSessionKeyrings: StableDictionary<UInt32, Int32>?
        var limits: KeyLimits
    }

    func savedState() -> SavedState {
        var processes = StableDictionary<Int32, ProcessKeyrings>()
        for (pid, rings) in processKeyrings { processes[pid] = rings }
        var registry = StableDictionary<UInt32, Int32>()
        for (uid, serial) in userKeyrings { registry[uid] = serial }
        var sessionRegistry = StableDictionary<UInt32, Int32>()
        for (uid, serial) in userSessionKeyrings { sessionRegistry[uid] = serial }
        return SavedState(
            keys: keys.values.sorted { $0.serial < $1.serial },
            processes: processes,
            userKeyrings: registry,
            userSessionKeyrings: userSessionKeyrings.isEmpty ? nil : sessionRegistry,
            limits: limits
        )
    }

    /// Rebuilds the service from ``savedState()`` output.
    ///
    /// - Throws: EINVAL if the state is inconsistent (a link or reference to a missing key).
    func restore(_ saved: SavedState) throws(HWKeysError) {
        limits = saved.limits
        for key in saved.keys {
            guard key.serial > 0, keys[key.serial] == nil else { throw .einval("bad or duplicate key serial") }
            keys[key.serial] = key
        }
        for entry in saved.keys {
            guard let links = entry.savedLinks else { continue }
            var contents = KeyringContents()
            for child in links {
                guard let linked = keys[child], !contents.contains(child), contents.serial(for: linked.index) == nil
                else { throw .einval("keyring \(entry.serial) links a missing or duplicate key \(child)") }
                contents.insert(child, index: linked.index, isKeyring: linked.isKeyring)
                keys[child]?.linkedFrom.insert(entry.serial)
            }
            keys[entry.serial]?.contents = contents
            keys[entry.serial]?.savedLinks = nil
        }
        for (pid, rings) in saved.processes.sorted {
            for serial in rings.held {
                guard keys[serial] != nil else { throw .einval("process \(pid) holds a missing keyring") }
                keys[serial]?.processReferences += 1
            }
            processKeyrings[pid] = rings
        }
        for (uid, serial) in saved.userKeyrings.sorted {
            guard keys[serial] != nil else { throw .einval("uid \(uid) has a missing user keyring") }
            keys[serial]?.pinned = true
            userKeyrings[uid] = serial
        }
        for (uid, serial) in saved.userSessionKeyrings?.sorted ?? [] {
            guard keys[serial] != nil, keys[serial]?.pinned == false else {
                throw .einval("uid \(uid) has a missing or doubly registered user session keyring")
            }
            keys[serial]?.pinned = true
            userSessionKeyrings[uid] = serial
        }
        for key in saved.keys {
            if let restored = keys[key.serial] { charge(restored.uid, keys: 1, bytes: restored.quotaBytes) }
            scheduleCollection(of: key.serial)
        }
    }
}
