//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

import HWKeysBase

extension KeyRetentionService {
    /// The one access check (Linux `key_task_permission`, `security/keys/permission.c`).
    ///
    /// The caller gets the user bits if it owns the key; otherwise the group bits if the key has a valid
    /// group, grants the group anything, and the caller is in it; otherwise the other bits. A caller that
    /// possesses the key adds the possessor bits. There is no bypass for root.
    public func permitted(_ key: Key, _ credentials: Credentials, possessed: Bool, _ need: KeyNeed) -> Bool {
        let perm = key.permissions.rawValue
        var granted: UInt32
        if key.uid == credentials.uid {
            granted = perm >> 16
        } else if key.gid != Key.invalidGID, perm & 0x0000_3F00 != 0, key.gid == credentials.gid {
            granted = perm >> 8
        } else {
            granted = perm
        }
        if possessed { granted |= perm >> 24 }
        return granted & need.mask == need.mask
    }

    /// ``permitted(_:_:possessed:_:)`` or EACCES.
    func checkPermission(
        _ key: Key,
        _ credentials: Credentials,
        possessed: Bool,
        _ need: KeyNeed
    ) throws(HWKeysError) {
        guard permitted(key, credentials, possessed: possessed, need) else {
            throw .eacces("key \(key.serial) does not grant \(need.rawValue) permission to uid \(credentials.uid)")
        }
    }

    /// Whether a key may still be used (Linux `key_validate`): ENOKEY once invalidated, EKEYREVOKED once
    /// revoked (or its type is gone), EKEYEXPIRED once past its expiry.
    func validate(_ key: Key) throws(HWKeysError) {
        if key.invalidated { throw HWKeysError(.ENOKEY, "key \(key.serial) has been invalidated") }
        if key.revokedAt != nil || key.unreferencedAt != nil || types[key.type] == nil {
            throw HWKeysError(.EKEYREVOKED, "key \(key.serial) has been revoked")
        }
        if key.isExpired(at: kernel.now) { throw HWKeysError(.EKEYEXPIRED, "key \(key.serial) has expired") }
    }
}
