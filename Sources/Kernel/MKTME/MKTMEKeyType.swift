//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase
import X86

/// The `mktme` key type (docs/contract.md §6; RFC v2 `security/keys/mktme_keys.c`): a key that stands for a
/// hardware memory-encryption key. Its payload is never readable (no ``ReadableKeyType`` conformance:
/// `keyctl read` is EOPNOTSUPP); the key material of user keys goes from the payload into kernel memory
/// and is wiped as soon as the design no longer needs it.
///
/// Non-secret attributes kept with the key: `type` (user, cpu, clear, no-encrypt) and `algorithm`. The
/// KeyID lives in the ``MKTMEManager`` table.
final class MKTMEKeyType: UpdatableKeyType {
    let name = MKTMEManager.typeName
    unowned let manager: MKTMEManager

    init(manager: MKTMEManager) {
        self.manager = manager
    }

    /// Parses the payload for the design in force (``MKTMEKeyRequest/parse(_:design:activated:)``) and
    /// checks the caller: rfc-v2 needs CAP_SYS_RESOURCE for every key, revised only for user keys
    /// (EACCES). Charges the bytes the key keeps in kernel memory (a revised user key's fields).
    func preparse(_ prep: inout KeyPreparsedPayload, kernel: Kernel) throws(HWKeysError) {
        if manager.design == .rfcV2, !prep.credentials.isPrivileged {
            throw .eacces("mktme keys need CAP_SYS_RESOURCE")
        }
        // Without TME-MK nothing is activated; the grammar is still checked and ENOKEY comes where a KeyID
        // is needed (docs/choices.md).
        let activated = manager.keyIDsTotal == 0 ? Set(TMEAlgorithm.allCases) : manager.activated
        let request = try MKTMEKeyRequest.parse(prep.data, design: manager.design, activated: activated)
        if request.kind == .user, !prep.credentials.isPrivileged {
            throw .eacces("mktme user keys need CAP_SYS_RESOURCE")
        }
        prep.attributes["type"] = request.kind.rawValue
        if let algorithm = request.algorithm { prep.attributes["algorithm"] = algorithm.name }
        prep.material = request.material
        prep.quotaLength = manager.design == .revised && request.kind == .user ? request.material?.count ?? 0 : 0
    }

    /// rfc-v2: takes the lowest free KeyID and programs it on every package (ENOKEY when none is free or
    /// PCONFIG fails); user-key material is kept in the `mktme_savekeys` store if booted with it, else it
    /// exists only for the programming. Revised: no KeyID yet; a user key's fields go to kernel memory.
    func instantiate(_ key: inout Key, _ prep: KeyPreparsedPayload, kernel: Kernel) throws(HWKeysError) {
        let kind = MKTMEKeyKind(rawValue: prep.attributes["type"] ?? "") ?? .cpu
        switch manager.design {
        case .rfcV2:
            let keyID = try manager.lowestFreeKeyID(for: key.uid)
            let fields = try Self.rfcV2Fields(kind, prep.material, kernel: kernel)
            let saved = try saveIfAsked(kind, prep.material, kernel: kernel)
            do {
                try manager.program(
                    keyID,
                    kind.command,
                    algorithm: TMEAlgorithm(name: prep.attributes["algorithm"] ?? ""),
                    fields: fields
                )
            } catch {
                if let saved { kernel.freeKernelMemory(saved) }
                throw error
            }
            manager.assign(keyID, owner: key.serial, uid: key.uid)
            manager.entries[Int(keyID)].savedKey = saved
            kernel.printk("mktme", "key \(key.serial) (\(kind.rawValue)) takes KeyID \(keyID)")
        case .revised:
            if kind == .user, let material = prep.material {
                key.payload.data = try kernel.storeInKernelMemory(material)
            }
        }
        key.payload.attributes = prep.attributes
    }

    /// rfc-v2: reprograms the key's KeyID with the new payload — EBUSY while any VMA or page uses it (the
    /// RFC's `ref_count > 1` check, asked of the memory manager too). Revised: a key in use is **rotated**
    /// (a cpu key only; EBUSY for a user key in use): a fresh KeyID is programmed, the memory manager
    /// moves every mapping to it (contents re-encrypted in place), and the old KeyID is cleared.
    func update(_ key: inout Key, _ prep: KeyPreparsedPayload, kernel: Kernel) throws(HWKeysError) {
        let kind = MKTMEKeyKind(rawValue: prep.attributes["type"] ?? "") ?? .cpu
        let algorithm = TMEAlgorithm(name: prep.attributes["algorithm"] ?? "")
        switch manager.design {
        case .rfcV2:
            guard let keyID = manager.keyID(ofKey: key.serial) else { throw .einval("key \(key.serial) has no KeyID") }
            let users = max(manager.entries[Int(keyID)].references, manager.mappingUsers(keyID))
            guard users == 0 else { throw HWKeysError(.EBUSY, "KeyID \(keyID) is used by \(users) mapping(s)") }
            let fields = try Self.rfcV2Fields(kind, prep.material, kernel: kernel)
            let saved = try saveIfAsked(kind, prep.material, kernel: kernel)
            do {
                try manager.program(keyID, kind.command, algorithm: algorithm, fields: fields)
            } catch {
                if let saved { kernel.freeKernelMemory(saved) }
                manager.restoreAfterFailedUpdate(keyID)
                throw error
            }
            manager.entries[Int(keyID)].lostKey = nil
            if let old = manager.entries[Int(keyID)].savedKey { kernel.freeKernelMemory(old) }
            manager.entries[Int(keyID)].savedKey = saved
            kernel.printk("mktme", "key \(key.serial) updated to \(kind.rawValue) on KeyID \(keyID)")
        case .revised:
            let fresh =
                kind == .user
                ? try prep.material.map { (m) throws(HWKeysError) in try kernel.storeInKernelMemory(m) }
                : nil
            if let keyID = manager.keyID(ofKey: key.serial) {
                guard kind == .cpu else {
                    if let fresh { kernel.freeKernelMemory(fresh) }
                    throw HWKeysError(.EBUSY, "key \(key.serial) is in use; only a cpu key can be rotated")
                }
                do {
                    try manager.rotate(key.serial, from: keyID, algorithm: algorithm ?? .aesXTS128, uid: key.uid)
                } catch {
                    if let fresh { kernel.freeKernelMemory(fresh) }
                    throw error
                }
            }
            if let old = key.payload.data { kernel.freeKernelMemory(old) }
            key.payload.data = fresh
        }
        key.payload.attributes = prep.attributes
    }

    /// Revised user keys give their fields back at once (like `user_revoke`); the KeyID of a revoked key
    /// stays until the key is destroyed and its last user is gone.
    func revoke(_ key: inout Key, kernel: Kernel) {
        if let data = key.payload.data { kernel.freeKernelMemory(data) }
        key.payload.data = nil
        key.payload.dataLength = 0
    }

    /// Drops the key's reference on its KeyID (`mktme_destroy_key`): the KeyID is freed now if nothing
    /// uses it, else when its last user goes (rfc-v2 without clearing the slot, revised cleared).
    func destroy(_ key: Key, kernel: Kernel) {
        if let data = key.payload.data { kernel.freeKernelMemory(data) }
        manager.keyDestroyed(key.serial)
    }

    /// `description: type algorithm keyid` — never key bytes.
    func describe(_ key: Key) -> String {
        let type = key.payload.attributes["type"] ?? "cpu"
        let algorithm = key.payload.attributes["algorithm"].map { " \($0)" } ?? ""
        let keyID = manager.keyID(ofKey: key.serial).map { " keyid \($0)" } ?? ""
        return "\(key.description): \(type)\(algorithm)\(keyID)"
    }

    /// The KEY_FIELD_1 ‖ KEY_FIELD_2 an rfc-v2 key is programmed with: a user key's data and tweak keys as
    /// given; for a cpu key the user's entropy (`key=`/`tweak=`, zero where missing) XORed with fresh kernel
    /// randomness (``Kernel/randomBytes(_:)``), as the RFC v2 kernel did with `get_random_bytes()`
    /// ("Strengthen the entropy of CPU generated MKTME keys", docs/research/mktme-research.md §1.5) before
    /// SET_KEY_RANDOM XORs the fields into the CPU's own random keys. Each field gets its own kernel bytes.
    ///
    /// - Throws: EIO when RDRAND fails (before anything is programmed).
    static func rfcV2Fields(
        _ kind: MKTMEKeyKind,
        _ material: SecretBytes?,
        kernel: Kernel
    ) throws(HWKeysError) -> SecretBytes? {
        guard kind == .cpu else { return material }
        let fields = try kernel.randomBytes(2 * TMEAlgorithm.aesXTS128.keyLength)
        if let material { fields.formXor(material) }
        return fields
    }

    /// The `mktme_savekeys` store entry for a user key's fields, or nil (not a user key, or not asked).
    private func saveIfAsked(
        _ kind: MKTMEKeyKind,
        _ material: SecretBytes?,
        kernel: Kernel
    ) throws(HWKeysError)
        -> KernelAllocation?
    {
        guard kind == .user, manager.saveKeys, let material else { return nil }
        return try kernel.storeInKernelMemory(material)
    }
}

extension MKTMEManager {
    /// After a failed rfc-v2 update (the packages already reprogrammed were rolled back to CLEAR_KEY and
    /// nothing uses the KeyID): programs the key's previous configuration again — random afresh, user from
    /// the `mktme_savekeys` store. When that is impossible the slot stays cleared and the KeyID is marked
    /// lost, so encrypt_mprotect cannot silently fall back to KeyID-0 protection.
    func restoreAfterFailedUpdate(_ keyID: UInt16) {
        do {
            try reprogram(keyID)
        } catch {
            entries[Int(keyID)].lostKey = true
            kernel.printk(
                "mktme",
                "KeyID \(keyID) lost its key in a failed update (\(error.code.name)); update the key again"
            )
        }
    }

    /// Rotation (docs/contract.md §6 revised): takes the lowest free KeyID (not charged against the per-uid limit
    /// while the old one is held), programs a fresh random key, asks the memory manager to move every
    /// mapping from `old` to it, and clears `old` once its last user has gone.
    ///
    /// - Throws: ENOKEY (no free KeyID, PCONFIG), EBUSY (no memory manager to move the mappings), or what
    ///   ``KeyIDMappings/moveMappings(fromKeyID:to:)`` throws; nothing has changed then.
    func rotate(_ serial: Int32, from old: UInt16, algorithm: TMEAlgorithm, uid: UInt32) throws(HWKeysError) {
        guard let mappings = kernel.keyIDMappings else {
            throw HWKeysError(.EBUSY, "KeyID \(old) is in use and no memory manager can move its mappings")
        }
        let new = try lowestFreeKeyID(for: nil)
        try program(new, .setKeyRandom, algorithm: algorithm, fields: nil)
        assign(new, owner: serial, uid: uid)
        // The old KeyID no longer belongs to the key: releases during the move clear it.
        entries[Int(old)].state = .orphaned
        entries[Int(old)].owner = nil
        do {
            try mappings.moveMappings(fromKeyID: old, to: new)
        } catch {
            entries[Int(old)].state = .assigned
            entries[Int(old)].owner = serial
            keyIDByOwner[serial] = old
            entries[Int(new)].owner = nil
            free(new, clear: true)
            keyIDByOwner[serial] = old
            throw error
        }
        kernel.printk("mktme", "key \(serial) rotated from KeyID \(old) to KeyID \(new)")
        releaseIfUnused(old)
        releaseIfUnused(new)
    }
}
