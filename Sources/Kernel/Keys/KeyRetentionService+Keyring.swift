//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

import HWKeysBase

/// Keyrings: links, cycle detection and searches (`security/keys/keyring.c`).
extension KeyRetentionService {
    /// How deep searches descend into nested keyrings (Linux `KEYRING_SEARCH_MAX_DEPTH`).
    static let maximumSearchDepth = 6
    /// Quota bytes each link costs the keyring's owner (Linux `KEYQUOTA_LINK_BYTES`).
    static let linkQuotaBytes = 4

    // MARK: Links

    /// Whether linking `serial` into `ring` makes a new link (and so costs the ring's owner
    /// ``linkQuotaBytes``) rather than replacing one with the same type and description.
    func linkNeedsQuota(_ serial: Int32, into ring: Int32) -> Bool {
        guard let key = keys[serial], let contents = keys[ring]?.contents else { return false }
        return contents.serial(for: key.index) == nil
    }

    /// Links `serial` into keyring `ring` (Linux `__key_link`), displacing any key with the same type and
    /// description; the displaced key dies if nothing else holds it. Callers have checked permissions,
    /// cycles and the link quota.
    ///
    /// Keyrings are changed in place through `keys[ring]`: a local copy of a large keyring alive during
    /// the change would make copy-on-write duplicate its links, O(n) per link.
    func addLink(_ serial: Int32, into ring: Int32) {
        guard let index = keys[serial]?.index, let isKeyring = keys[serial]?.isKeyring,
            let owner = keys[ring]?.uid, keys[ring]?.contents != nil
        else { preconditionFailure("linking a missing key or into a non-keyring") }
        let existing = keys[ring]?.contents?.serial(for: index)
        if existing == serial { return }
        if let existing {
            keys[ring]?.contents?.remove(existing, index: index)
            keys[existing]?.linkedFrom.remove(ring)
        } else {
            keys[ring]?.payload.dataLength += Self.linkQuotaBytes
            charge(owner, keys: 0, bytes: Self.linkQuotaBytes)
        }
        keys[ring]?.contents?.insert(serial, index: index, isKeyring: isKeyring)
        keys[serial]?.linkedFrom.insert(ring)
        if let existing { releaseIfUnreferenced(existing) }
    }

    /// Removes the link to `serial` from `ring`, releasing its quota; false if there was none. The caller
    /// decides what happens to a key left unreferenced.
    @discardableResult
    func removeLink(from ring: Int32, _ serial: Int32) -> Bool {
        guard let index = keys[serial]?.index, let owner = keys[ring]?.uid,
            keys[ring]?.contents?.remove(serial, index: index) == true
        else { return false }
        keys[ring]?.payload.dataLength -= Self.linkQuotaBytes
        charge(owner, keys: 0, bytes: -Self.linkQuotaBytes)
        keys[serial]?.linkedFrom.remove(ring)
        return true
    }

    /// Drops every link of `ring` (Linux `keyring_clear`, `keyring_revoke`).
    func clearLinks(of ring: Int32) {
        guard let links = keys[ring]?.links else { return }
        for serial in links { removeLink(from: ring, serial) }
        for serial in links { releaseIfUnreferenced(serial) }
    }

    // MARK: Cycles

    /// Refuses a link of keyring `serial` into `ring` that would make a cycle (EDEADLK) or a tree deeper
    /// than searches go (ELOOP) (Linux `keyring_detect_cycle`: search `serial`'s tree for `ring`,
    /// without permission or state checks, skipping revoked and invalidated keyrings).
    func detectCycle(linking serial: Int32, into ring: Int32) throws(HWKeysError) {
        guard let target = keys[ring], let start = keys[serial] else { return }
        if serial == ring { throw HWKeysError(.EDEADLK, "a keyring cannot be linked into itself") }
        try detectCycle(in: start, target: target, depth: 0)
    }

    private func detectCycle(in keyring: Key, target: Key, depth: Int) throws(HWKeysError) {
        guard keyring.revokedAt == nil, !keyring.invalidated, let contents = keyring.contents else { return }
        if contents.serial(for: target.index) == target.serial {
            throw HWKeysError(.EDEADLK, "keyring \(target.serial) is already inside keyring \(keyring.serial)")
        }
        for nested in contents.nestedInOrder() {
            guard depth < Self.maximumSearchDepth else {
                throw HWKeysError(
                    .ELOOP,
                    "the keyring tree would nest deeper than \(Self.maximumSearchDepth + 1) levels"
                )
            }
            if let child = keys[nested] { try detectCycle(in: child, target: target, depth: depth + 1) }
        }
    }

    // MARK: Searches

    /// Searches keyring `start` and the keyrings nested in it for a key of `type` with `description`
    /// (Linux `keyring_search`): the starting keyring and every keyring descended into must grant the
    /// caller search permission, as must the key found; revoked, invalidated and expired matches are
    /// skipped. Possession of `start` carries to everything found beneath it.
    ///
    /// - Throws: the reason the last match was skipped (EKEYREVOKED, EKEYEXPIRED, EACCES), or ENOKEY if
    ///   nothing matched.
    func search(
        from start: KeyReference,
        index: KeyIndex,
        credentials: Credentials
    ) throws(HWKeysError) -> KeyReference {
        guard let keyring = keys[start.serial], keyring.isKeyring else {
            throw HWKeysError(.ENOTDIR, "key \(start.serial) is not a keyring")
        }
        try checkPermission(keyring, credentials, possessed: start.possessed, .search)
        var skipped: HWKeysError?
        let now = kernel.now
        // The top-level keyring may itself be what is sought (always with state checks).
        if keyring.index == index {
            switch match(keyring, credentials, possessed: start.possessed, now: now, stateChecks: true) {
            case .found: return start
            case .skipped(let error): throw error
            case .mismatch: break
            }
        }
        if let found = search(
            keyring,
            index: index,
            credentials: credentials,
            possessed: start.possessed,
            stateChecks: true,
            now: now,
            depth: 0,
            skipped: &skipped
        ) {
            return KeyReference(serial: found, possessed: start.possessed)
        }
        throw skipped ?? HWKeysError(.ENOKEY, "no \(index.type) key '\(Self.quoted(index.description))' found")
    }

    /// A description as a message quotes it: at most 80 characters, cut with `…` (descriptions run to
    /// 4095 bytes).
    static func quoted(_ text: String) -> String { text.count <= 80 ? text : String(text.prefix(79)) + "…" }

    enum Match {
        case found
        case mismatch
        case skipped(HWKeysError)
    }

    /// Linux `keyring_search_iterator` for one candidate.
    func match(_ key: Key, _ credentials: Credentials, possessed: Bool, now: UInt64, stateChecks: Bool) -> Match {
        if stateChecks {
            if key.invalidated || key.revokedAt != nil || key.unreferencedAt != nil {
                return .skipped(HWKeysError(.EKEYREVOKED, "key \(key.serial) has been revoked"))
            }
            if key.isExpired(at: now) { return .skipped(HWKeysError(.EKEYEXPIRED, "key \(key.serial) has expired")) }
        }
        guard permitted(key, credentials, possessed: possessed, .search) else {
            return .skipped(.eacces("key \(key.serial) does not grant search permission"))
        }
        return .found
    }

    /// Linux `search_nested_keyrings`: this keyring's direct match first, then nested keyrings in link
    /// order, depth first, up to ``maximumSearchDepth``. With `target`, only that very key matches (the
    /// possession search's `lookup_user_key_possessed`); a different key with the same index is passed over.
    func search(
        _ keyring: Key,
        index: KeyIndex,
        target: Int32? = nil,
        credentials: Credentials,
        possessed: Bool,
        stateChecks: Bool,
        now: UInt64,
        depth: Int,
        skipped: inout HWKeysError?
    ) -> Int32? {
        guard keyring.revokedAt == nil, !keyring.invalidated, let contents = keyring.contents else { return nil }
        if let candidate = contents.serial(for: index), target == nil || target == candidate,
            let key = keys[candidate]
        {
            switch match(key, credentials, possessed: possessed, now: now, stateChecks: stateChecks) {
            case .found: return candidate
            case .skipped(let error): skipped = error
            case .mismatch: break
            }
        }
        for nested in contents.nestedInOrder() {
            guard depth < Self.maximumSearchDepth else { break }
            guard let child = keys[nested], permitted(child, credentials, possessed: possessed, .search) else {
                continue
            }
            if let found = search(
                child,
                index: index,
                target: target,
                credentials: credentials,
                possessed: possessed,
                stateChecks: stateChecks,
                now: now,
                depth: depth + 1,
                skipped: &skipped
            ) {
                return found
            }
        }
        return nil
    }
}
