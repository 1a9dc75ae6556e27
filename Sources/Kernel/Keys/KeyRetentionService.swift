//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

import HWKeysBase

/// The kernel key retention service (docs/contract.md §5; Linux `security/keys/`,
/// `Documentation/security/keys/core.rst`): keys with serials, types, owners, permission masks, expiry
/// and payloads kept in kernel memory; keyrings; possession; quotas; garbage collection.
///
/// The code is split as Linux splits it:
/// - `KeyRetentionService+Keyctl.swift` — the system-call ABI (`keyctl.c`): add, update, revoke,
///   invalidate, link, unlink, search, read, describe, timeout, setperm, chown, clear;
/// - `KeyRetentionService+Lifecycle.swift` — allocation, serials, quotas, destruction (`key.c`);
/// - `KeyRetentionService+Keyring.swift` — links, searches, cycle detection (`keyring.c`);
/// - `KeyRetentionService+Permission.swift` — the one access check (`permission.c`);
/// - `KeyRetentionService+ProcessKeys.swift` — `@u`/`@s`/`@p`, possession, `lookup_user_key`
///   (`process_keys.c`);
/// - `KeyRetentionService+GC.swift` — the garbage collector (`gc.c`);
/// - `KeyRetentionService+Proc.swift` — `/proc/keys`, `/proc/key-users`, the sysctls (`proc.c`, `sysctl.c`).
///
/// ## API for other subsystems
///
/// ```swift
/// // at start-up (Kernel.startSubsystems), after the key service:
/// kernel.keys.register(MyKeyType())                       // register_key_type()
/// // a key for process `pid`, with the permission the operation needs (lookup_user_key):
/// let key = try kernel.keys.lookupKey(serial, for: pid, need: .view)  // ENOKEY, EACCES, EKEYREVOKED, EKEYEXPIRED
/// let snapshot = kernel.keys.key(serial)                  // no checks: the kernel's own view
/// try kernel.keys.modifyPayload(of: serial) { payload in payload.attributes["keyid"] = "5" }
/// ```
///
/// A type learns of its key's end through ``KeyType/destroy(_:kernel:)`` (and of revocation through
/// ``KeyType/revoke(_:kernel:)``), refuses an update by throwing EBUSY from
/// ``UpdatableKeyType/update(_:_:kernel:)``, and sees the caller's credentials in
/// ``KeyPreparsedPayload/credentials`` (CAP_SYS_RESOURCE is `isPrivileged`).
///
/// ## Costs
///
/// Every operation is O(log n) or better in the number of keys n: keys by serial, keyring links by index
/// key and by serial, nested keyrings apart from leaves, the keyrings that link each key, per-uid quota
/// totals and garbage-collection deadlines in an indexed heap. Possession and searches visit keyrings,
/// not keys. Only listings (`keyctl list`, `/proc/keys`) and revoking or clearing a keyring are
/// proportional to what they show or change.
///
/// Garbage collection is lazy: it runs at the start of each key operation once emulated time has passed
/// the earliest deadline (time moves only with `clock advance` and modelled costs).
public final class KeyRetentionService {
    unowned let kernel: Kernel

    /// Every key, by serial.
    var keys: [Int32: Key] = [:]
    /// Quota use per uid (Linux `struct key_user`).
    var users: [UInt32: KeyUser] = [:]
    /// Session and process keyrings per process.
    var processKeyrings: [Int32: ProcessKeyrings] = [:]
    /// The user keyring of each uid (Linux `user_keyring_register`).
    var userKeyrings: [UInt32: Int32] = [:]
    /// The user session keyring of each uid (`_uid_ses.N`, in the same register), created on first use.
    var userSessionKeyrings: [UInt32: Int32] = [:]
    /// Garbage-collection deadlines.
    var gcQueue = KeyGCQueue()
    /// The `/proc/sys/kernel/keys` settings.
    public internal(set) var limits = KeyLimits()
    /// Registered key types by name.
    var types: [String: any KeyType] = [:]
    /// Keyrings created on demand by the operation in progress; removed again if it fails, so bad input
    /// changes nothing.
    var createdByOperation: [Int32] = []
    /// How deeply operations are nested (only the outermost collects garbage and rolls back).
    var operationDepth = 0
    /// Whether registrations are logged (at boot, not when a saved kernel is restored).
    var logsRegistrations = true

    init(kernel: Kernel) {
        self.kernel = kernel
    }

    // MARK: Types

    /// Registers a key type (Linux `register_key_type`). Types are code, not state: register them in
    /// every start-up, boot or restore.
    ///
    /// - Precondition: the name is 1–31 bytes, does not start with `.`, and is not registered yet.
    public func register(_ type: any KeyType) {
        precondition(
            (1...31).contains(type.name.utf8.count) && !type.name.hasPrefix("."),
            "bad key type name '\(type.name)'"
        )
        precondition(types[type.name] == nil, "key type '\(type.name)' registered twice")
        types[type.name] = type
        if logsRegistrations { kernel.printk("Key type \(type.name) registered") }
    }

    /// The registered type named `name`.
    public func type(named name: String) -> (any KeyType)? { types[name] }

    // MARK: Queries without checks

    /// The key with `serial` as the kernel sees it (no permission or state checks), or nil.
    public func key(_ serial: Int32) -> Key? { keys[serial] }

    /// The number of keys that exist, dead ones awaiting collection included.
    public var count: Int { keys.count }

    /// Quota use of `uid`.
    public func usage(of uid: UInt32) -> KeyUser { users[uid] ?? KeyUser() }

    /// The session and process keyrings of `pid`.
    public func keyrings(of pid: Int32) -> ProcessKeyrings? { processKeyrings[pid] }

    /// The user keyring of `uid`, if it exists.
    public func userKeyring(of uid: UInt32) -> Int32? { userKeyrings[uid] }

    /// The user session keyring of `uid`, if it exists.
    public func userSessionKeyring(of uid: UInt32) -> Int32? { userSessionKeyrings[uid] }

    /// Runs `body` on the payload of `serial` (for key types keeping bookkeeping such as a KeyID in
    /// ``KeyPayload/attributes``). The data length, and so the quota, must not change.
    ///
    /// - Throws: ENOKEY if the key does not exist; whatever `body` throws (then nothing changes).
    public func modifyPayload<R>(
        of serial: Int32,
        _ body: (inout KeyPayload) throws(HWKeysError) -> R
    ) throws(HWKeysError) -> R {
        guard var payload = keys[serial]?.payload else { throw HWKeysError(.ENOKEY, "no key \(serial)") }
        let length = payload.dataLength
        let result = try body(&payload)
        precondition(payload.dataLength == length, "modifyPayload must not change the data length")
        keys[serial]?.payload = payload
        return result
    }

    // MARK: Start-up

    /// Registers the built-in types, the sysctls and `/proc` files, and the process observer.
    func start(booting: Bool) {
        logsRegistrations = booting
        register(UserKeyType())
        register(LogonKeyType())
        register(KeyringType())
        registerProcFiles()
        kernel.processObservers.append(self)
    }

    // MARK: Operations

    /// Runs one key operation: collects due garbage first, and removes keyrings the operation created on
    /// demand if it fails. Re-entrant: an operation a key type starts from inside another (a lookup from
    /// `instantiate`, say) belongs to the outer one.
    func operation<R>(_ body: () throws(HWKeysError) -> R) throws(HWKeysError) -> R {
        if operationDepth > 0 { return try body() }
        collectGarbage()
        createdByOperation = []
        operationDepth += 1
        defer { operationDepth -= 1 }
        do {
            let result = try body()
            createdByOperation = []
            return result
        } catch {
            discardCreatedKeyrings()
            throw error
        }
    }

    /// The credentials of `pid` (ESRCH if it does not exist).
    func credentials(of pid: Int32) throws(HWKeysError) -> Credentials {
        try kernel.processes.process(pid).credentials
    }
}

/// Quota use of one uid (Linux `struct key_user`: `qnkeys`, `qnbytes`).
public struct KeyUser: Sendable, Hashable, Codable {
    /// Keys owned (every key is charged; `/proc/key-users` shows this as both nkeys and qnkeys).
    public internal(set) var keys = 0
    /// Bytes charged: descriptions with their NUL, payloads, and 4 per keyring link.
    public internal(set) var bytes = 0

    public init() {}
}

/// The `/proc/sys/kernel/keys` settings (`security/keys/sysctl.c`), with Linux's defaults.
public struct KeyLimits: Sendable, Hashable, Codable {
    /// `gc_delay`: seconds a revoked, expired or unreferenced key lingers before collection [300].
    public var gcDelay: Int64 = 300
    /// `maxkeys` [200] and `maxbytes` [20000] for every uid but root.
    public var maxKeys: Int64 = 200
    public var maxBytes: Int64 = 20000
    /// `root_maxkeys` [1000000] and `root_maxbytes` [25000000].
    public var rootMaxKeys: Int64 = 1_000_000
    public var rootMaxBytes: Int64 = 25_000_000

    public init() {}

    /// The (keys, bytes) limits of `uid`.
    func quota(for uid: UInt32) -> (keys: Int, bytes: Int) {
        uid == 0 ? (Int(rootMaxKeys), Int(rootMaxBytes)) : (Int(maxKeys), Int(maxBytes))
    }
}

/// The keyrings a process holds (Linux `cred->session_keyring`, `cred->process_keyring`).
public struct ProcessKeyrings: Sendable, Hashable, Codable {
    /// `@s`: shared with the processes of the same login session.
    public internal(set) var session: Int32?
    /// `@p`: created on demand, never inherited.
    public internal(set) var process: Int32?
    /// `@t` (`cred->thread_keyring`): created on demand, never inherited. A modelled process has one
    /// thread, so this is per process; it dies with the process.
    public internal(set) var thread: Int32?

    init(session: Int32? = nil, process: Int32? = nil, thread: Int32? = nil) {
        self.session = session
        self.process = process
        self.thread = thread
    }

    /// The keyrings the process holds, thread first (the order `search_process_keyrings_rcu` searches).
    var held: [Int32] { [thread, process, session].compactMap { $0 } }
}

/// A key as found by a lookup: its serial and whether the caller possesses it (Linux `key_ref_t`).
public struct KeyReference: Sendable, Hashable {
    public let serial: Int32
    /// Possessed keys get the possessor permission bits too.
    public let possessed: Bool
}
