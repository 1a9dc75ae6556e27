//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

import HWKeysBase

/// The special keyrings, possession and key lookup for a process (`security/keys/process_keys.c`).
///
/// - `@u` (`_uid.N`): one per uid, created with the uid's first login session and kept in a per-uid
///   registry (Linux 5.3+ `user_keyring_register`), so it outlives the user's processes.
/// - `@s` (`_ses`): one per login session. A process started by init, or started as a different uid
///   than its parent (a login, `su`), gets a new one with `@u` linked into it — what `pam_keyinit`
///   does; every other child shares its parent's. Processes hold references to it; the last one to
///   exit leaves it dead.
/// - `@p` (`_pid`): created on demand (adding or linking to `@p`), never inherited by fork or spawn,
///   dead when its process exits.
/// - `@t` (`_tid`): the thread keyring, likewise; a modelled process has one thread.
/// - `@us` (`_uid_ses.N`): one per uid with `@u` linked into it, kept in the per-uid registry; created on
///   first use (Linux creates it together with `@u`).
extension KeyRetentionService: ProcessLifecycleObserver {
    /// How a lookup checks the key it found (Linux `lookup_user_key`'s `need_perm`).
    public enum LookupCheck: Sendable, Hashable {
        /// The key must be valid (not revoked, invalidated or expired) and grant `KeyNeed`.
        case need(KeyNeed)
        /// No checks: unlink only needs write permission on the keyring (`KEY_NEED_UNLINK`).
        case unlink
        /// No checks; the caller checks later (`KEY_DEFER_PERM_CHECK`).
        case deferred
    }

    /// Finds the key `serial` names for process `pid` (Linux `lookup_user_key`).
    ///
    /// `serial` is a key's serial or a special one (`KEY_SPEC_*`): ``KeySpecial/thread`` and
    /// ``KeySpecial/process`` (created if `create`, else ENOKEY), ``KeySpecial/session`` (installed on
    /// first use), ``KeySpecial/user`` and ``KeySpecial/userSession`` (created on first use, `create` or
    /// not, as Linux's `look_up_user_keyrings`). Possession: the special keyrings are possessed; another
    /// key is possessed if the process reaches it from its thread, process or session keyring through
    /// keyrings granting it search, and the key grants search too.
    ///
    /// - Throws: ESRCH (no process), EINVAL (0, an unknown special serial, the group keyring), ENOKEY (no
    ///   such key, a dead or invalidated key, no thread or process keyring, no request-key authorisation),
    ///   EKEYREVOKED, EKEYEXPIRED, EACCES.
    public func lookupUserKey(
        _ serial: Int32,
        for pid: Int32,
        create: Bool = false,
        check: LookupCheck
    ) throws(HWKeysError) -> KeyReference {
        try operation { () throws(HWKeysError) -> KeyReference in
            try lookup(serial, pid: pid, create: create, check: check)
        }
    }

    /// The key `serial` names for `pid`, valid and granting `need` (the common form of
    /// ``lookupUserKey(_:for:create:check:)`` for other subsystems, e.g. `encrypt_mprotect` with `.view`).
    public func lookupKey(_ serial: Int32, for pid: Int32, need: KeyNeed) throws(HWKeysError) -> Key {
        let reference = try lookupUserKey(serial, for: pid, check: .need(need))
        return keys[reference.serial]!
    }

    /// ``lookupUserKey(_:for:create:check:)`` inside an operation.
    func lookup(_ serial: Int32, pid: Int32, create: Bool, check: LookupCheck) throws(HWKeysError) -> KeyReference {
        let credentials = try credentials(of: pid)
        let reference: KeyReference
        switch serial {
        case KeySpecial.process:
            if let ring = processKeyrings[pid]?.process {
                reference = KeyReference(serial: ring, possessed: true)
            } else if create {
                reference = KeyReference(serial: try installProcessKeyring(pid, credentials), possessed: true)
            } else {
                throw HWKeysError(.ENOKEY, "process \(pid) has no process keyring")
            }
        case KeySpecial.session:
            if let ring = processKeyrings[pid]?.session {
                reference = KeyReference(serial: ring, possessed: true)
            } else {
                reference = KeyReference(serial: try joinNewSession(pid, credentials), possessed: true)
            }
        case KeySpecial.thread:
            if let ring = processKeyrings[pid]?.thread {
                reference = KeyReference(serial: ring, possessed: true)
            } else if create {
                reference = KeyReference(serial: try installThreadKeyring(pid, credentials), possessed: true)
            } else {
                throw HWKeysError(.ENOKEY, "process \(pid) has no thread keyring")
            }
        case KeySpecial.user:
            reference = KeyReference(serial: try userKeyring(for: credentials), possessed: true)
        case KeySpecial.userSession:
            reference = KeyReference(serial: try userSessionKeyring(for: credentials), possessed: true)
        case KeySpecial.requestKeyAuth, KeySpecial.requestorKeyring:
            // Only a request-key helper holds an authorisation key; no modelled process is one.
            throw HWKeysError(.ENOKEY, "process \(pid) holds no request-key authorisation")
        default:
            guard serial > 0 else { throw .einval("\(serial) is not a key serial") }
            guard let key = keys[serial], key.unreferencedAt == nil else {
                throw HWKeysError(.ENOKEY, "no key \(serial)")
            }
            reference = KeyReference(serial: serial, possessed: isPossessed(key, by: pid, credentials))
        }
        if case .need(let need) = check {
            let key = keys[reference.serial]!
            try validate(key)
            try checkPermission(key, credentials, possessed: reference.possessed, need)
        }
        return reference
    }

    // MARK: Possession

    /// Whether `pid` possesses `key` (Linux `search_process_keyrings_rcu` with a direct match): found
    /// by searching from its thread keyring, then its process keyring, then its session keyring, with
    /// search permission everywhere and no state checks below the top keyring.
    func isPossessed(_ key: Key, by pid: Int32, _ credentials: Credentials) -> Bool {
        guard let rings = processKeyrings[pid] else { return false }
        let now = kernel.now
        for root in rings.held {
            guard let keyring = keys[root], permitted(keyring, credentials, possessed: true, .search) else {
                continue
            }
            if keyring.serial == key.serial {
                if case .found = match(keyring, credentials, possessed: true, now: now, stateChecks: true) {
                    return true
                }
                continue
            }
            var skipped: HWKeysError?
            if search(
                keyring,
                index: key.index,
                target: key.serial,
                credentials: credentials,
                possessed: true,
                stateChecks: false,
                now: now,
                depth: 0,
                skipped: &skipped
            ) == key.serial {
                return true
            }
        }
        return false
    }

    // MARK: Special keyrings

    /// The user keyring of `credentials.uid`, created if it does not exist (Linux `look_up_user_keyrings`).
    func userKeyring(for credentials: Credentials) throws(HWKeysError) -> Int32 {
        if let ring = userKeyrings[credentials.uid] { return ring }
        let ring = try createSpecialKeyring(
            "_uid.\(credentials.uid)",
            owner: credentials,
            gid: Key.invalidGID,
            permissions: .userKeyring
        )
        userKeyrings[credentials.uid] = ring
        keys[ring]?.pinned = true
        return ring
    }

    /// The user session keyring of `credentials.uid` (`_uid_ses.N`, the user keyring linked in), created
    /// if it does not exist (Linux `look_up_user_keyrings`; Linux makes it together with the user keyring,
    /// hwkeys on first use, so machines whose users never name `@us` hold no such keyring).
    func userSessionKeyring(for credentials: Credentials) throws(HWKeysError) -> Int32 {
        if let ring = userSessionKeyrings[credentials.uid] { return ring }
        let user = try userKeyring(for: credentials)
        let ring = try createSpecialKeyring(
            "_uid_ses.\(credentials.uid)",
            owner: credentials,
            gid: Key.invalidGID,
            permissions: .userKeyring
        )
        // KEY_ALLOC_IN_QUOTA: the link costs the owner its 4 bytes like any other; a user over quota
        // gets the keyring without @u in it rather than no keyring.
        if (try? checkQuota(credentials.uid, keys: 0, bytes: Self.linkQuotaBytes)) != nil {
            addLink(user, into: ring)
        }
        userSessionKeyrings[credentials.uid] = ring
        keys[ring]?.pinned = true
        return ring
    }

    /// Gives `pid` a new session keyring with its user keyring linked in (Linux `join_session_keyring`
    /// plus `pam_keyinit`'s `keyctl link @u @s`), leaving its old session.
    @discardableResult
    func joinNewSession(_ pid: Int32, _ credentials: Credentials) throws(HWKeysError) -> Int32 {
        let user = try userKeyring(for: credentials)
        let session = try createSpecialKeyring("_ses", owner: credentials, permissions: .sessionKeyring)
        // pam_keyinit ignores a failure to link @u; so does hwkeys (the 4 link bytes may not fit).
        if (try? checkQuota(credentials.uid, keys: 0, bytes: Self.linkQuotaBytes)) != nil {
            addLink(user, into: session)
        }
        let old = processKeyrings[pid]?.session
        processKeyrings[pid, default: ProcessKeyrings()].session = session
        keys[session]?.processReferences += 1
        if let old { dropProcessReference(old) }
        return session
    }

    /// Creates `pid`'s process keyring (Linux `install_process_keyring`).
    func installProcessKeyring(_ pid: Int32, _ credentials: Credentials) throws(HWKeysError) -> Int32 {
        let ring = try createSpecialKeyring("_pid", owner: credentials, permissions: .processKeyring)
        processKeyrings[pid, default: ProcessKeyrings()].process = ring
        keys[ring]?.processReferences += 1
        return ring
    }

    /// Creates `pid`'s thread keyring (Linux `install_thread_keyring`).
    func installThreadKeyring(_ pid: Int32, _ credentials: Credentials) throws(HWKeysError) -> Int32 {
        let ring = try createSpecialKeyring("_tid", owner: credentials, permissions: .threadKeyring)
        processKeyrings[pid, default: ProcessKeyrings()].thread = ring
        keys[ring]?.processReferences += 1
        return ring
    }

    func dropProcessReference(_ serial: Int32) {
        guard keys[serial] != nil else { return }
        keys[serial]?.processReferences -= 1
        releaseIfUnreferenced(serial)
    }

    // MARK: ProcessLifecycleObserver

    /// A new process shares its parent's session keyring, or starts a new session when it is a login:
    /// started by init, started as another uid, or its parent has none.
    public func processCreated(_ child: Int32, parent: Int32, exec: Bool) throws(HWKeysError) {
        try operation { () throws(HWKeysError) in
            let credentials = try credentials(of: child)
            let parentProcess = kernel.processes[parent]
            if parent != ProcessTable.initPID, let parentProcess,
                parentProcess.credentials.uid == credentials.uid,
                let session = processKeyrings[parent]?.session, keys[session] != nil
            {
                processKeyrings[child] = ProcessKeyrings(session: session, process: nil)
                keys[session]?.processReferences += 1
            } else {
                try joinNewSession(child, credentials)
            }
        }
    }

    /// The process's keyrings lose its reference: its thread and process keyrings die, its session
    /// keyring dies with the last process of the session.
    public func processExiting(_ pid: Int32) {
        collectGarbage()
        guard let rings = processKeyrings.removeValue(forKey: pid) else { return }
        for ring in rings.held { dropProcessReference(ring) }
    }
}
