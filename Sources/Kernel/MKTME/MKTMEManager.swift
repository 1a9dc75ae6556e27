//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase
import X86

/// The `mktme` subsystem (docs/contract.md §6): the hardware KeyID table, the `mktme` key type's policy in both API
/// designs, and the kernel's side of `encrypt_mprotect()` (``MemoryEncryptionKeys``), CPU hotplug and
/// suspend. Programming goes through PCONFIG on one lead CPU per package (`MKTMEManager+PCONFIG.swift`).
///
/// The design comes from `mktme.api=` (``KernelCommandLine/mktmeAPI``):
/// - **rfc-v2**: a key takes the lowest free KeyID when it is instantiated; destroying it frees the KeyID
///   once the last VMA or page using it is gone, **without** clearing the hardware slot (RFC v2: the user
///   was expected to update the key to `type=clear` first).
/// - **revised**: a `cpu` key takes a KeyID at its first `encrypt_mprotect()` and returns it, cleared,
///   when the last page and VMA go; serial 0 shares one NO_ENCRYPT KeyID; updating a key in use rotates it.
///
/// Without active TME-MK (TME off, no KeyID bits, no PCONFIG) the table is empty and the type still
/// registers: whatever needs a KeyID then fails with ENOKEY, and ``Kernel/memoryEncryption`` stays nil
/// (docs/choices.md).
public final class MKTMEManager {
    unowned let kernel: Kernel
    /// The API design in force.
    public let design: MKTMEAPIDesign
    /// `mktme_savekeys`: keep user-key material in kernel memory for hotplug and resume.
    public let saveKeys: Bool
    /// The algorithms `IA32_TME_ACTIVATE[63:48]` enables for KeyIDs ≥ 1.
    let activated: Set<TMEAlgorithm>
    /// The usable KeyIDs: 1…min(2^k − 1, MK_TME_MAX_KEYS), or 0 without TME-MK.
    public let keyIDsTotal: Int

    var entries: [MKTMEKeyIDEntry]
    /// `keyids_max_per_uid` [keyIDsTotal].
    var maxPerUID: Int
    /// Derived: the KeyID of each key serial that has one.
    var keyIDByOwner: [Int32: UInt16] = [:]

    /// The sysfs directory.
    static let sysfsDirectory = "/sys/kernel/mm/mktme"
    /// The key type name.
    public static let typeName = "mktme"

    init(kernel: Kernel) {
        self.kernel = kernel
        design = kernel.commandLine.mktmeAPI
        saveKeys = kernel.commandLine.mktmeSaveKeys
        var total = 0
        var algorithms = Set<TMEAlgorithm>()
        let cpu = kernel.cpu
        if kernel.tmeActive, kernel.keyIDLayout.keyIDBits > 0,
            cpu.cpuid(leaf: CPUIDLeaf.structuredExtendedFeatures, subleaf: 0).edx & CPUIDBit.pconfigEDX != 0,
            let capability = try? cpu.rdmsr(MSR.tmeCapability),
            let activate = try? cpu.rdmsr(MSR.tmeActivate)
        {
            total = min(kernel.keyIDLayout.keyIDCount - 1, TMECapability.maxKeys(capability))
            let bitmap = TMEActivate.algorithms(activate)
            for algorithm in TMEAlgorithm.allCases where bitmap & (1 << UInt16(algorithm.rawValue)) != 0 {
                algorithms.insert(algorithm)
            }
        }
        activated = algorithms
        keyIDsTotal = total
        entries = Array(repeating: MKTMEKeyIDEntry(), count: total + 1)
        maxPerUID = total
    }

    // MARK: Start-up and state

    /// Registers the key type, the sysfs files, and the hotplug and power participants; on boot logs the
    /// table size (`mktme_init`).
    func start(booting: Bool) {
        kernel.keys.register(MKTMEKeyType(manager: self))
        // The seam stays nil without TME-MK (encrypt_mprotect is then EOPNOTSUPP in the memory manager).
        if keyIDsTotal > 0 { kernel.memoryEncryption = self }
        kernel.hotplugParticipants.append(self)
        kernel.powerParticipants.append(self)
        registerSysfs()
        if booting {
            kernel.printk(
                "mktme",
                keyIDsTotal > 0
                    ? "\(keyIDsTotal) KeyIDs, API \(design.rawValue)\(saveKeys ? ", user keys saved for hotplug" : "")"
                    : "no MKTME KeyIDs (TME-MK not active); mktme keys cannot be programmed"
            )
        }
    }

    var savedState: MKTMESavedState { MKTMESavedState(entries: entries, maxPerUID: maxPerUID) }

    /// Restores the table from an image saved on this hardware.
    ///
    /// - Throws: EINVAL when the saved table does not match the hardware.
    func restore(_ saved: MKTMESavedState) throws(HWKeysError) {
        guard saved.entries.count == entries.count, (0...keyIDsTotal).contains(saved.maxPerUID) else {
            throw .einval("saved MKTME KeyID table does not match the hardware")
        }
        // A saved kernel is attacker-writable (docs/robustness.md): references that count, one KeyID per
        // owner, a saved user key only for a user key and of its algorithm's length.
        var owners = Set<Int32>()
        for entry in saved.entries.dropFirst() {
            guard (0...Int(Int32.max)).contains(entry.references),
                entry.owner.map({ owners.insert($0).inserted }) ?? true
            else { throw .einval("saved MKTME KeyID table has impossible references or owners") }
            if let key = entry.savedKey {
                guard entry.command == .setKeyDirect, let algorithm = entry.algorithm,
                    key.length == 2 * algorithm.keyLength
                else { throw .einval("saved MKTME key store entry does not match its KeyID") }
            }
        }
        entries = saved.entries
        maxPerUID = saved.maxPerUID
        keyIDByOwner = [:]
        for keyID in entries.indices.dropFirst() {
            if let owner = entries[keyID].owner { keyIDByOwner[owner] = UInt16(keyID) }
        }
    }

    // MARK: Queries

    /// KeyIDs not free.
    public var keyIDsUsed: Int { entries.dropFirst().filter { $0.state != .free }.count }

    /// The KeyID key `serial` holds, if any.
    public func keyID(ofKey serial: Int32) -> UInt16? { keyIDByOwner[serial] }

    /// The kernel's view of KeyID `keyID`: its state name (`free`, `assigned`, `orphaned`), references
    /// and owner. For tests and `/sys/kernel/mm/mktme`.
    public func keyIDStatus(_ keyID: UInt16) -> (state: String, references: Int, owner: Int32?)? {
        guard keyID > 0, Int(keyID) < entries.count else { return nil }
        let entry = entries[Int(keyID)]
        return (entry.state.rawValue, entry.references, entry.owner)
    }

    /// The shared NO_ENCRYPT KeyID (revised), if taken.
    var sharedKeyID: UInt16? {
        entries.indices.dropFirst().first { entries[$0].shared }.map { UInt16($0) }
    }

    /// Users of `keyID` as the memory manager counts them (0 without one).
    func mappingUsers(_ keyID: UInt16) -> Int { kernel.keyIDMappings?.users(ofKeyID: keyID) ?? 0 }

    // MARK: Allocation

    /// The lowest free KeyID, charged to `uid` (nil: not charged), checking the per-uid limit.
    ///
    /// - Throws: ENOKEY when none is free or `uid` holds `keyids_max_per_uid` already.
    func lowestFreeKeyID(for uid: UInt32?) throws(HWKeysError) -> UInt16 {
        guard let keyID = entries.indices.dropFirst().first(where: { entries[$0].state == .free }) else {
            throw HWKeysError(
                .ENOKEY,
                keyIDsTotal == 0 ? "no MKTME KeyIDs on this machine" : "all \(keyIDsTotal) KeyIDs are in use"
            )
        }
        if let uid {
            let held = entries.dropFirst().filter { $0.state != .free && $0.uid == uid }.count
            guard held < maxPerUID else {
                throw HWKeysError(.ENOKEY, "uid \(uid) holds \(held) KeyIDs; keyids_max_per_uid is \(maxPerUID)")
            }
        }
        return UInt16(keyID)
    }

    /// Marks `keyID` assigned after it was programmed.
    func assign(_ keyID: UInt16, owner: Int32?, uid: UInt32?, shared: Bool = false) {
        let index = Int(keyID)
        entries[index].state = .assigned
        entries[index].owner = owner
        entries[index].uid = uid
        entries[index].references = 0
        entries[index].shared = shared
        if let owner { keyIDByOwner[owner] = keyID }
    }

    /// Returns `keyID` to the free pool. rfc-v2 leaves the hardware slot as it is (stale); revised
    /// programs CLEAR_KEY first. Either way the saved user key is wiped.
    func free(_ keyID: UInt16, clear: Bool) {
        let index = Int(keyID)
        if let owner = entries[index].owner, keyIDByOwner[owner] == keyID { keyIDByOwner[owner] = nil }
        if let saved = entries[index].savedKey { kernel.freeKernelMemory(saved) }
        entries[index].savedKey = nil
        if clear {
            do {
                try program(keyID, .clearKey, algorithm: nil, fields: nil)
            } catch {
                kernel.printk("mktme", "KeyID \(keyID): CLEAR_KEY failed (\(error.code.name)); slot left stale")
            }
        } else {
            kernel.printk("mktme", "KeyID \(keyID) released without clearing the hardware slot")
        }
        entries[index] = MKTMEKeyIDEntry(
            state: .free,
            command: entries[index].command,
            algorithm: entries[index].algorithm
        )
    }

    /// Called when `keyID` may have lost its last user: frees it if nothing uses it any more and the
    /// design says so.
    func releaseIfUnused(_ keyID: UInt16) {
        let entry = entries[Int(keyID)]
        // The references are the memory manager's VMAs and pages (retain/release), counted exactly here.
        guard entry.state != .free, entry.references == 0 else { return }
        switch design {
        case .rfcV2:
            // The key's own reference keeps an assigned KeyID; a destroyed key's goes with its last user.
            if entry.state == .orphaned { free(keyID, clear: false) }
        case .revised:
            free(keyID, clear: true)
        }
    }

    /// Drops the key's own reference (key destruction, `percpu_ref_kill`).
    func keyDestroyed(_ serial: Int32) {
        guard let keyID = keyIDByOwner.removeValue(forKey: serial) else { return }
        entries[Int(keyID)].state = .orphaned
        entries[Int(keyID)].owner = nil
        releaseIfUnused(keyID)
    }

    // MARK: Sysfs

    /// `/sys/kernel/mm/mktme/keyid_map` (hwkeys' addition): one line per KeyID that is in use or was ever
    /// programmed — `KEYID STATE REFS OWNER PROGRAMMING` — where a free KeyID whose slot still holds a key
    /// reads `free-stale` (rfc-v2 releases without CLEAR_KEY). Never key bytes.
    var keyIDMap: String {
        var lines = ["keyid state refs owner programmed"]
        for keyID in entries.indices.dropFirst() {
            let entry = entries[keyID]
            guard entry.state != .free || entry.command != nil else { continue }
            var state = entry.state.rawValue
            if entry.state == .free, let command = entry.command, command != .clearKey { state = "free-stale" }
            if entry.lostKey == true { state += "-lost" }
            let owner = entry.shared ? "no-encrypt" : entry.owner.map(String.init) ?? "-"
            let programmed = entry.command.map { "\($0.name) \(entry.algorithm?.name ?? "")" } ?? "-"
            lines.append("\(keyID) \(state) \(entry.references) \(owner) \(programmed)")
        }
        return lines.joined(separator: "\n")
    }

    private func registerSysfs() {
        let directory = Self.sysfsDirectory
        kernel.sysfs.register("\(directory)/api", SysfsAttribute(read: { [unowned self] _ in design.rawValue }))
        kernel.sysfs.register(
            "\(directory)/keyids_total",
            SysfsAttribute(read: { [unowned self] _ in String(keyIDsTotal) })
        )
        kernel.sysfs.register(
            "\(directory)/keyids_used",
            SysfsAttribute(read: { [unowned self] _ in String(keyIDsUsed) })
        )
        kernel.sysfs.register(
            "\(directory)/keyid_map",
            SysfsAttribute(read: { [unowned self] _ in keyIDMap })
        )
        let limits: ClosedRange<Int64> = keyIDsTotal == 0 ? 0...0 : 1...Int64(keyIDsTotal)
        kernel.registerInteger(
            "\(directory)/keyids_max_per_uid",
            in: limits,
            get: { [unowned self] _ in Int64(maxPerUID) },
            set: { [unowned self] _, value in maxPerUID = Int(value) }
        )
    }
}

// MARK: - MemoryEncryptionKeys

extension MKTMEManager: MemoryEncryptionKeys {
    /// docs/contract.md §6 "Common to both" and the design's KeyID rules; see ``MemoryEncryptionKeys``.
    public func keyIDForEncryptMprotect(serial: Int32, pid: Int32) throws(HWKeysError) -> UInt16 {
        switch try lookUpForEncryptMprotect(serial: serial, pid: pid) {
        case .sharedNoEncrypt:
            return try sharedNoEncryptKeyID()
        case .existing(let keyID):
            entries[Int(keyID)].references += 1
            return keyID
        case .needsKeyID(let key):
            return try takeKeyID(for: key, serial: serial)
        }
    }

    /// The key lookup alone (a zero-length call): every check, no KeyID taken.
    public func checkKeyForEncryptMprotect(serial: Int32, pid: Int32) throws(HWKeysError) {
        _ = try lookUpForEncryptMprotect(serial: serial, pid: pid)
    }

    /// What ``lookUpForEncryptMprotect(serial:pid:)`` found.
    private enum EncryptMprotectKey {
        /// Serial 0 in the revised design.
        case sharedNoEncrypt
        /// A key that holds `keyID`.
        case existing(UInt16)
        /// A revised cpu key without a KeyID yet.
        case needsKeyID(Key)
    }

    /// The key checks of encrypt_mprotect (see ``MemoryEncryptionKeys/keyIDForEncryptMprotect(serial:pid:)``),
    /// changing nothing.
    private func lookUpForEncryptMprotect(serial: Int32, pid: Int32) throws(HWKeysError) -> EncryptMprotectKey {
        if serial == 0 {
            guard design == .revised else { throw .einval("serial 0 (no encryption) exists only in the revised API") }
            return .sharedNoEncrypt
        }
        let key = try kernel.keys.lookupKey(serial, for: pid, need: .view)
        guard key.type == Self.typeName else { throw .einval("key \(serial) is a \(key.type) key, not mktme") }
        if let keyID = keyIDByOwner[serial] {
            guard entries[Int(keyID)].lostKey != true else {
                throw HWKeysError(.ENOKEY, "KeyID \(keyID) of key \(serial) lost its key in a failed update")
            }
            return .existing(keyID)
        }
        guard design == .revised else { throw .einval("key \(serial) has no KeyID") }
        let kind = MKTMEKeyKind(rawValue: key.payload.attributes["type"] ?? "") ?? .cpu
        guard kind == .cpu else {
            throw .einval("user keys are for persistent-memory volumes, not anonymous memory")
        }
        return .needsKeyID(key)
    }

    /// A revised cpu key's first use: the lowest free KeyID, programmed with SET_KEY_RANDOM, one reference.
    private func takeKeyID(for key: Key, serial: Int32) throws(HWKeysError) -> UInt16 {
        let algorithm = TMEAlgorithm(name: key.payload.attributes["algorithm"] ?? "") ?? .aesXTS128
        let keyID = try lowestFreeKeyID(for: key.uid)
        try program(keyID, .setKeyRandom, algorithm: algorithm, fields: nil)
        assign(keyID, owner: serial, uid: key.uid)
        entries[Int(keyID)].references = 1
        kernel.printk("mktme", "key \(serial) takes KeyID \(keyID)")
        return keyID
    }

    /// The revised design's one NO_ENCRYPT KeyID, programmed on first use, with one reference taken.
    private func sharedNoEncryptKeyID() throws(HWKeysError) -> UInt16 {
        if let keyID = sharedKeyID {
            entries[Int(keyID)].references += 1
            return keyID
        }
        let keyID = try lowestFreeKeyID(for: nil)
        try program(keyID, .noEncrypt, algorithm: nil, fields: nil)
        assign(keyID, owner: nil, uid: nil, shared: true)
        entries[Int(keyID)].references = 1
        kernel.printk("mktme", "KeyID \(keyID) is the shared no-encrypt KeyID")
        return keyID
    }

    public func retainKeyID(_ keyID: UInt16, count: Int) {
        guard keyID > 0, Int(keyID) < entries.count, count > 0, entries[Int(keyID)].state != .free else { return }
        entries[Int(keyID)].references += count
    }

    public func releaseKeyID(_ keyID: UInt16, count: Int) {
        guard keyID > 0, Int(keyID) < entries.count, count > 0, entries[Int(keyID)].state != .free else { return }
        entries[Int(keyID)].references = max(0, entries[Int(keyID)].references - count)
        releaseIfUnused(keyID)
    }
}
