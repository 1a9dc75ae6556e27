//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

import Foundation
import HWCrypto
import HWKeysBase

/// A key's description as `KEYCTL_DESCRIBE` returns it: `type;uid;gid;perm;description`.
public struct KeyDescription: Sendable, Hashable {
    public let serial: Int32
    public let type: String
    public let uid: UInt32
    /// The gid as user space sees it (65534 for none).
    public let gid: Int64
    public let permissions: KeyPermissions
    public let description: String

    /// The raw form, `user;0;0;3f010000;lizard`.
    public var raw: String {
        "\(type);\(uid);\(gid);\(String(format: "%08x", permissions.rawValue));\(description)"
    }
}

/// The key-management system calls (`add_key(2)`, `keyctl(2)`; `security/keys/keyctl.c`), each acting as
/// process `pid`. Arguments are checked before anything changes; errors carry Linux's errno for each case.
extension KeyRetentionService {
    /// The longest key type name (Linux: 32 bytes with the NUL).
    static let maximumTypeNameLength = 31
    /// The longest description (`KEY_MAX_DESC_SIZE` 4096 with the NUL).
    static let maximumDescriptionLength = 4095
    /// The largest `add_key` payload (1 MiB − 1).
    static let maximumAddPayload = 1024 * 1024 - 1
    /// The largest `KEYCTL_UPDATE` payload (`PAGE_SIZE`).
    static let maximumUpdatePayload = 4096

    /// `key_get_type_from_user`: EINVAL for an empty or over-long name, EPERM for one starting with `.`.
    func validateTypeName(_ name: String) throws(HWKeysError) {
        guard !name.isEmpty, name.utf8.count <= Self.maximumTypeNameLength, !name.contains("\0") else {
            throw .einval("key type names are 1 to \(Self.maximumTypeNameLength) bytes")
        }
        guard !name.hasPrefix(".") else { throw .eperm("key types starting with '.' are internal") }
    }

    /// `strndup_user(…, KEY_MAX_DESC_SIZE)`: EINVAL for an over-long description.
    func validateDescription(_ description: String) throws(HWKeysError) {
        guard description.utf8.count <= Self.maximumDescriptionLength, !description.contains("\0") else {
            throw .einval("descriptions are at most \(Self.maximumDescriptionLength) bytes")
        }
    }

    // MARK: add_key, KEYCTL_UPDATE

    /// `add_key(type, description, payload, keyring)`: creates a key and links it into `keyring`, or —
    /// when the type can be updated and the keyring already links a live key of the same type and
    /// description — updates that key instead. Returns the serial.
    ///
    /// - Throws: EINVAL (bad type name, description or payload; keyring serial 0), EPERM (type or keyring
    ///   description starting with `.`), ENODEV (unknown type), ENOTDIR (not a keyring), EACCES (no write
    ///   permission on the keyring, or on the key to update), EDQUOT, ENOKEY, EKEYREVOKED, EKEYEXPIRED,
    ///   or what the type throws.
    public func addKey(
        type typeName: String,
        description: String,
        payload: SecretBytes,
        keyring: Int32,
        pid: Int32
    ) throws(HWKeysError) -> Int32 {
        try operation { () throws(HWKeysError) -> Int32 in
            guard payload.count <= Self.maximumAddPayload else { throw .einval("payloads are below 1 MiB") }
            try validateTypeName(typeName)
            try validateDescription(description)
            if typeName == "keyring", description.hasPrefix(".") {
                throw .eperm("keyring descriptions starting with '.' are reserved")
            }
            let credentials = try credentials(of: pid)
            let ring = try lookup(keyring, pid: pid, create: true, check: .need(.write))
            guard let type = types[typeName] else { throw HWKeysError(.ENODEV, "no key type '\(typeName)'") }
            guard keys[ring.serial]?.isKeyring == true else {
                throw HWKeysError(.ENOTDIR, "key \(ring.serial) is not a keyring")
            }
            var prep = KeyPreparsedPayload(description: description, data: payload, credentials: credentials, pid: pid)
            try type.preparse(&prep, kernel: kernel)
            guard !description.isEmpty else { throw .einval("a key needs a description") }
            return try createOrUpdate(type, prep, in: ring, credentials)
        }
    }

    /// `key_create_or_update`.
    private func createOrUpdate(
        _ type: any KeyType,
        _ prep: KeyPreparsedPayload,
        in ring: KeyReference,
        _ credentials: Credentials
    ) throws(HWKeysError) -> Int32 {
        // No local copy of the keyring: it would make the link below copy its contents.
        let owner = keys[ring.serial]!.uid
        let index = KeyIndex(type: type.name, description: prep.description)
        let existing = keys[ring.serial]?.contents?.serial(for: index)
        // __key_link_begin: a new link costs the keyring's owner KEYQUOTA_LINK_BYTES.
        let linkBytes = existing == nil ? Self.linkQuotaBytes : 0
        try checkQuota(owner, keys: 0, bytes: linkBytes)
        if let updatable = type as? any UpdatableKeyType, let existing, let key = keys[existing],
            key.revokedAt == nil, !key.invalidated
        {
            // __key_update: write permission on the key found.
            try checkPermission(key, credentials, possessed: ring.possessed, .write)
            try update(existing, type: updatable, with: prep)
            return existing
        }
        try type.vetDescription(prep.description)
        let bytes = prep.description.utf8.count + 1 + prep.quotaLength
        try checkQuota(credentials.uid, keys: 1, bytes: bytes + (owner == credentials.uid ? linkBytes : 0))
        let permissions = KeyPermissions.defaultMask(
            readable: type is any ReadableKeyType,
            writable: type is any UpdatableKeyType || type is KeyringType
        )
        let serial = try createKey(
            type: type,
            description: prep.description,
            owner: credentials,
            permissions: permissions,
            prep: prep
        )
        addLink(serial, into: ring.serial)
        return serial
    }

    /// Runs the type's update with the quota checked first (`key_payload_reserve`).
    private func update(
        _ serial: Int32,
        type: any UpdatableKeyType,
        with prep: KeyPreparsedPayload
    ) throws(HWKeysError) {
        let key = keys[serial]!
        let delta = prep.quotaLength - key.payload.dataLength
        try checkQuota(key.uid, keys: 0, bytes: delta)
        var updated = key
        try type.update(&updated, prep, kernel: kernel)
        updated.payload.dataLength = prep.quotaLength
        keys[serial]?.payload = updated.payload
        keys[serial]?.expiry = updated.expiry
        charge(key.uid, keys: 0, bytes: delta)
        if updated.expiry != key.expiry { scheduleCollection(of: serial) }
    }

    /// `KEYCTL_UPDATE`: replaces a key's payload. Needs write permission.
    ///
    /// - Throws: EINVAL (payload over 4096 bytes, or refused by the type), EOPNOTSUPP (the type cannot
    ///   be updated, e.g. keyrings), EACCES, EDQUOT, ENOKEY, EKEYREVOKED, EKEYEXPIRED, or what the type
    ///   throws (EBUSY for an `mktme` key in use).
    public func updateKey(_ serial: Int32, payload: SecretBytes, pid: Int32) throws(HWKeysError) {
        try operation { () throws(HWKeysError) in
            guard payload.count <= Self.maximumUpdatePayload else { throw .einval("updates are at most 4096 bytes") }
            let credentials = try credentials(of: pid)
            let reference = try lookup(serial, pid: pid, create: false, check: .need(.write))
            let key = keys[reference.serial]!
            guard let type = types[key.type] as? any UpdatableKeyType else {
                throw HWKeysError(.EOPNOTSUPP, "\(key.type) keys cannot be updated")
            }
            var prep = KeyPreparsedPayload(
                description: key.description,
                data: payload,
                credentials: credentials,
                pid: pid
            )
            try type.preparse(&prep, kernel: kernel)
            try update(reference.serial, type: type, with: prep)
        }
    }

    // MARK: Revoke, invalidate, timeout

    /// `KEYCTL_REVOKE`: needs write or setattr permission. Afterwards every operation but unlink fails
    /// with EKEYREVOKED; the key is collected `gc_delay` seconds later.
    public func revoke(_ serial: Int32, pid: Int32) throws(HWKeysError) {
        try operation { () throws(HWKeysError) in
            let reference: KeyReference
            do throws(HWKeysError) {
                reference = try lookup(serial, pid: pid, create: false, check: .need(.write))
            } catch {
                guard error.errno == .EACCES else { throw error }
                reference = try lookup(serial, pid: pid, create: false, check: .need(.setattr))
            }
            revokeKey(reference.serial)
        }
    }

    /// `KEYCTL_INVALIDATE`: needs search permission. The key disappears at once (ENOKEY) and is collected
    /// immediately.
    public func invalidate(_ serial: Int32, pid: Int32) throws(HWKeysError) {
        try operation { () throws(HWKeysError) in
            let reference = try lookup(serial, pid: pid, create: false, check: .need(.search))
            invalidateKey(reference.serial)
        }
    }

    /// `KEYCTL_SET_TIMEOUT`: the key expires `seconds` from now (0: never). Needs setattr permission.
    /// Afterwards operations fail with EKEYEXPIRED; the key is collected `gc_delay` seconds after expiry.
    public func setTimeout(_ serial: Int32, seconds: UInt32, pid: Int32) throws(HWKeysError) {
        try operation { () throws(HWKeysError) in
            let reference = try lookup(serial, pid: pid, create: true, check: .need(.setattr))
            keys[reference.serial]?.expiry = seconds == 0 ? nil : kernel.now + UInt64(seconds) * 1_000_000_000
            scheduleCollection(of: reference.serial)
        }
    }

    // MARK: Attributes

    /// `KEYCTL_SETPERM`: only the owner (or root) may change the mask, and needs setattr permission.
    ///
    /// - Throws: EINVAL (bits outside `0x3f3f3f3f`), EACCES, ENOKEY, EKEYREVOKED, EKEYEXPIRED.
    public func setPermissions(_ serial: Int32, _ permissions: UInt32, pid: Int32) throws(HWKeysError) {
        try operation { () throws(HWKeysError) in
            guard permissions & ~KeyPermissions.validBits == 0 else {
                throw .einval("permission masks use only the bits of 0x3f3f3f3f")
            }
            let credentials = try credentials(of: pid)
            let reference = try lookup(serial, pid: pid, create: true, check: .need(.setattr))
            guard credentials.isPrivileged || keys[reference.serial]!.uid == credentials.uid else {
                throw .eacces("only the owner may change a key's permissions")
            }
            keys[reference.serial]?.permissions = KeyPermissions(rawValue: permissions)
        }
    }

    /// `KEYCTL_CHOWN`: changes owner and/or group (nil leaves it). Needs setattr permission; giving the
    /// key to another uid, or a group the caller is not in, needs CAP_SYS_ADMIN (root). A new owner takes
    /// over the quota charge.
    ///
    /// - Throws: EACCES, EDQUOT (the new owner's quota), ENOKEY, EKEYREVOKED, EKEYEXPIRED.
    public func chown(_ serial: Int32, uid: UInt32?, gid: UInt32?, pid: Int32) throws(HWKeysError) {
        try operation { () throws(HWKeysError) in
            guard uid != nil || gid != nil else { return }
            let credentials = try credentials(of: pid)
            let reference = try lookup(serial, pid: pid, create: true, check: .need(.setattr))
            let key = keys[reference.serial]!
            let newOwner = uid.flatMap { $0 == key.uid ? nil : $0 }
            let newGroup = gid.flatMap { $0 == key.gid ? nil : $0 }
            let privileged = newOwner != nil || (newGroup.map { $0 != credentials.gid } ?? false)
            guard !privileged || credentials.isPrivileged else {
                throw .eacces("only root may give a key to another user or a group it is not in")
            }
            if let newOwner {
                try checkQuota(newOwner, keys: 1, bytes: key.quotaBytes)
                charge(newOwner, keys: 1, bytes: key.quotaBytes)
                charge(key.uid, keys: -1, bytes: -key.quotaBytes)
                keys[reference.serial]?.uid = newOwner
            }
            if let newGroup { keys[reference.serial]?.gid = newGroup }
        }
    }

    // MARK: Links

    /// `KEYCTL_LINK`: links `serial` into `keyring`. Needs write permission on the keyring and link
    /// permission on the key. A key with the same type and description already there is displaced.
    ///
    /// - Throws: ENOTDIR, EDEADLK (a cycle), ELOOP (too deep), EACCES, EDQUOT, EINVAL, ENOKEY,
    ///   EKEYREVOKED, EKEYEXPIRED.
    public func link(_ serial: Int32, into keyring: Int32, pid: Int32) throws(HWKeysError) {
        try operation { () throws(HWKeysError) in
            let ring = try lookup(keyring, pid: pid, create: true, check: .need(.write))
            let key = try lookup(serial, pid: pid, create: true, check: .need(.link))
            try linkChecked(key.serial, into: ring.serial)
        }
    }

    /// `key_link`: ENOTDIR, the link quota, then cycles.
    func linkChecked(_ serial: Int32, into ring: Int32) throws(HWKeysError) {
        guard let owner = keys[ring]?.uid, keys[ring]?.isKeyring == true else {
            throw HWKeysError(.ENOTDIR, "key \(ring) is not a keyring")
        }
        if linkNeedsQuota(serial, into: ring) { try checkQuota(owner, keys: 0, bytes: Self.linkQuotaBytes) }
        if keys[serial]?.isKeyring == true { try detectCycle(linking: serial, into: ring) }
        addLink(serial, into: ring)
    }

    /// `KEYCTL_UNLINK`: removes `serial`'s link from `keyring`. Needs write permission on the keyring
    /// only, so it works on revoked and expired keys. A key left with no links or holders is dead at once
    /// (ENOKEY) and collected after `gc_delay`.
    ///
    /// - Throws: ENOENT (not linked there), ENOTDIR, EACCES, EINVAL, ENOKEY, EKEYREVOKED (the keyring).
    public func unlink(_ serial: Int32, from keyring: Int32, pid: Int32) throws(HWKeysError) {
        try operation { () throws(HWKeysError) in
            let ring = try lookup(keyring, pid: pid, create: false, check: .need(.write))
            let key = try lookup(serial, pid: pid, create: false, check: .unlink)
            guard keys[ring.serial]?.isKeyring == true else {
                throw HWKeysError(.ENOTDIR, "key \(ring.serial) is not a keyring")
            }
            guard removeLink(from: ring.serial, key.serial) else {
                throw HWKeysError(.ENOENT, "key \(key.serial) is not linked in keyring \(ring.serial)")
            }
            releaseIfUnreferenced(key.serial)
        }
    }

    /// `KEYCTL_CLEAR`: unlinks everything from `keyring`. Needs write permission.
    public func clear(_ keyring: Int32, pid: Int32) throws(HWKeysError) {
        try operation { () throws(HWKeysError) in
            let ring = try lookup(keyring, pid: pid, create: true, check: .need(.write))
            guard keys[ring.serial]?.isKeyring == true else {
                throw HWKeysError(.ENOTDIR, "key \(ring.serial) is not a keyring")
            }
            clearLinks(of: ring.serial)
        }
    }

    /// `KEYCTL_SEARCH`: searches `keyring` and the keyrings nested in it for a key of `type` with
    /// `description` (see ``search(from:index:credentials:)``), and links the result into `destination`
    /// if given (needs link permission on the key and write permission on the destination).
    ///
    /// - Throws: EINVAL, EPERM (bad type name or description), ENOKEY (nothing found or unknown type),
    ///   ENOTDIR, EACCES, EKEYREVOKED, EKEYEXPIRED, and the link errors.
    public func search(
        _ keyring: Int32,
        type: String,
        description: String,
        destination: Int32? = nil,
        pid: Int32
    ) throws(HWKeysError) -> Int32 {
        try operation { () throws(HWKeysError) -> Int32 in
            try validateTypeName(type)
            try validateDescription(description)
            let credentials = try credentials(of: pid)
            let ring = try lookup(keyring, pid: pid, create: false, check: .need(.search))
            let dest = try destination.map { (serial) throws(HWKeysError) -> KeyReference in
                try lookup(serial, pid: pid, create: true, check: .need(.write))
            }
            guard types[type] != nil else { throw HWKeysError(.ENOKEY, "no key type '\(type)'") }
            let found = try search(
                from: ring,
                index: KeyIndex(type: type, description: description),
                credentials: credentials
            )
            if let dest {
                try checkPermission(keys[found.serial]!, credentials, possessed: found.possessed, .link)
                try linkChecked(found.serial, into: dest.serial)
            }
            return found.serial
        }
    }

    // MARK: Reading

    /// `KEYCTL_DESCRIBE`: type, owner, group, mask and description. Needs view permission.
    public func describe(_ serial: Int32, pid: Int32) throws(HWKeysError) -> KeyDescription {
        try operation { () throws(HWKeysError) -> KeyDescription in
            let reference = try lookup(serial, pid: pid, create: false, check: .need(.view))
            let key = keys[reference.serial]!
            return KeyDescription(
                serial: key.serial,
                type: key.type,
                uid: key.uid,
                gid: key.displayGID,
                permissions: key.permissions,
                description: key.description
            )
        }
    }

    /// `KEYCTL_READ`: the payload, copied out of kernel memory (for a keyring, its linked serials as
    /// little-endian 32-bit integers). Needs read permission — or possession: a key the process can
    /// find by searching its keyrings may be read without it, as in Linux.
    ///
    /// - Throws: ENOKEY (also for a bad serial, as Linux reports every lookup failure here), EACCES,
    ///   EOPNOTSUPP (the type has no read: `logon`, `mktme`), EKEYREVOKED, EKEYEXPIRED.
    public func read(_ serial: Int32, pid: Int32) throws(HWKeysError) -> SecretBytes {
        try operation { () throws(HWKeysError) -> SecretBytes in
            let credentials = try credentials(of: pid)
            let reference: KeyReference
            do throws(HWKeysError) {
                reference = try lookup(serial, pid: pid, create: false, check: .deferred)
            } catch {
                throw HWKeysError(.ENOKEY, error.message)
            }
            let key = keys[reference.serial]!
            if !permitted(key, credentials, possessed: reference.possessed, .read), !reference.possessed {
                throw .eacces("key \(key.serial) does not grant read permission and is not possessed")
            }
            guard let type = types[key.type] as? any ReadableKeyType else {
                throw HWKeysError(.EOPNOTSUPP, "\(key.type) keys cannot be read")
            }
            try validate(key)
            return try type.read(key, kernel: kernel)
        }
    }

    /// The serial `serial` names for `pid` (resolving the special serials, creating `@t` or `@p` if
    /// `create`), without permission or state checks: the kernel's own resolution, e.g. to report which
    /// key a command acted on.
    public func keyringID(_ serial: Int32, create: Bool, pid: Int32) throws(HWKeysError) -> Int32 {
        try operation { () throws(HWKeysError) -> Int32 in
            try lookup(serial, pid: pid, create: create, check: .deferred).serial
        }
    }

    /// `KEYCTL_GET_KEYRING_ID` (`keyctl_get_keyring_ID`): the serial `serial` names, creating `@t` or `@p`
    /// if `create`. As Linux, the key must be valid and grant search (`lookup_user_key(…,
    /// KEY_NEED_SEARCH)`).
    ///
    /// - Throws: ENOKEY, EINVAL, ESRCH, EKEYREVOKED, EKEYEXPIRED, EACCES.
    public func getKeyringID(_ serial: Int32, create: Bool, pid: Int32) throws(HWKeysError) -> Int32 {
        try operation { () throws(HWKeysError) -> Int32 in
            try lookup(serial, pid: pid, create: create, check: .need(.search)).serial
        }
    }

    /// The serials keyring `keyring` links, as `KEYCTL_READ` returns them to `keyctl list`, `rlist` and
    /// `show` — with the same lookup and permission rules as ``read(_:pid:)`` — but ENOTDIR for a key
    /// that is not a keyring (whose payload is no list of serials). A keyring's links are bookkeeping, not
    /// kernel memory: nothing is copied out of DRAM.
    ///
    /// - Throws: ENOKEY (every lookup failure), EACCES, ENOTDIR, EKEYREVOKED, EKEYEXPIRED.
    public func readLinks(_ keyring: Int32, pid: Int32) throws(HWKeysError) -> [Int32] {
        try operation { () throws(HWKeysError) -> [Int32] in
            let credentials = try credentials(of: pid)
            let reference: KeyReference
            do throws(HWKeysError) {
                reference = try lookup(keyring, pid: pid, create: false, check: .deferred)
            } catch {
                throw HWKeysError(.ENOKEY, error.message)
            }
            let key = keys[reference.serial]!
            if !permitted(key, credentials, possessed: reference.possessed, .read), !reference.possessed {
                throw .eacces("key \(key.serial) does not grant read permission and is not possessed")
            }
            guard key.isKeyring else { throw HWKeysError(.ENOTDIR, "key \(key.serial) is not a keyring") }
            try validate(key)
            return key.links
        }
    }

    // MARK: KEYCTL_CAPABILITIES

    /// `KEYCTL_CAPABILITIES` (Linux 5.3+ `keyctl_capabilities`): what the modelled service supports, as
    /// bits in bytes (`KEYCTL_CAPS0_*`, `KEYCTL_CAPS1_*` in `include/uapi/linux/keyctl.h`). hwkeys sets
    /// `KEYCTL_CAPS0_CAPABILITIES` (0x01) and `KEYCTL_CAPS0_INVALIDATE` (0x20) only: persistent keyrings,
    /// Diffie-Hellman, public keys, big keys, keyring restrictions, `KEYCTL_MOVE`, user namespaces and
    /// notifications are not modelled.
    public var capabilities: [UInt8] { [0x21, 0x00] }
}
