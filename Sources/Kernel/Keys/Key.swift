//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

/// Special key serials a process may name instead of a real serial (`KEY_SPEC_*` in
/// `include/uapi/linux/keyctl.h`), and keyutils' `@x` spellings for them.
public enum KeySpecial {
    /// `@t`, the thread keyring (processes have one thread, so one per process).
    public static let thread: Int32 = -1
    /// `@p`, the process keyring.
    public static let process: Int32 = -2
    /// `@s`, the session keyring.
    public static let session: Int32 = -3
    /// `@u`, the user keyring.
    public static let user: Int32 = -4
    /// `@us`, the user session keyring (`_uid_ses.N`, one per uid).
    public static let userSession: Int32 = -5
    /// `@g`, the group keyring (never implemented in Linux either).
    public static let group: Int32 = -6
    /// `@a`, the request-key authorisation key (not modelled: never present).
    public static let requestKeyAuth: Int32 = -7
    /// `KEY_SPEC_REQUESTOR_KEYRING`, the keyring of the process that called `request_key` (not modelled:
    /// never present). keyutils has no `@` name for it.
    public static let requestorKeyring: Int32 = -8

    /// The serial keyutils' `get_key_id()` gives `@t`, `@p`, `@s`, `@u`, `@us`, `@g`, `@a`.
    public static func serial(named name: String) -> Int32? {
        switch name {
        case "@t": thread
        case "@p": process
        case "@s": session
        case "@u": user
        case "@us": userSession
        case "@g": group
        case "@a": requestKeyAuth
        default: nil
        }
    }
}

/// The lifecycle state of a key (docs/contract.md §5), derived from its flags and the emulated time.
public enum KeyState: String, Sendable, Codable, Hashable {
    /// Usable.
    case instantiated
    /// Revoked: every operation but unlink fails with EKEYREVOKED until garbage collection.
    case revoked
    /// Invalidated: gone for every lookup (ENOKEY) and collected at once.
    case invalidated
    /// Past its expiry: operations fail with EKEYEXPIRED until garbage collection.
    case expired
    /// No longer linked or referenced anywhere: unreachable (ENOKEY, as Linux `key_lookup()` on a zero
    /// usage count) and awaiting collection.
    case dead
}

/// What a key type keeps for a key (Linux `union key_payload` plus `key->datalen`).
///
/// Secret bytes live in emulated DRAM (docs/design.md rule 3): ``data`` is where, never what. ``attributes``
/// holds the type's non-secret bookkeeping (for example the `mktme` type's KeyID), saved with the
/// kernel's state.
public struct KeyPayload: Codable, Sendable, Hashable {
    /// The payload bytes in kernel memory, if the type keeps any.
    public var data: KernelAllocation?
    /// `key->datalen`: the payload length charged to the owner's byte quota.
    public var dataLength: Int
    /// Type-private, non-secret values.
    public var attributes: [String: String]

    public init(data: KernelAllocation? = nil, dataLength: Int = 0, attributes: [String: String] = [:]) {
        self.data = data
        self.dataLength = dataLength
        self.attributes = attributes
    }
}

/// A key's identity inside a keyring: its type and description (Linux `struct keyring_index_key`). A
/// keyring holds at most one link per index key; linking another key with the same one displaces it.
public struct KeyIndex: Hashable, Comparable, Sendable, Codable {
    public let type: String
    public let description: String

    public init(type: String, description: String) {
        self.type = type
        self.description = description
    }

    public static func < (lhs: KeyIndex, rhs: KeyIndex) -> Bool {
        (lhs.type, lhs.description) < (rhs.type, rhs.description)
    }
}

/// A key (Linux `struct key`, `include/linux/key.h`): identity, ownership, permissions, lifetime and
/// payload. Keyrings are keys of type `keyring` whose ``links`` are the keys they hold.
///
/// Times are emulated nanoseconds (`Kernel.now`). Values the service derives from other state (the
/// keyrings that link a key, process references) are rebuilt on restore and not saved.
public struct Key: Sendable {
    /// Positive, random, unique while the key exists.
    public let serial: Int32
    /// The key type's name (`user`, `logon`, `keyring`, `mktme`, …).
    public let type: String
    /// The description searches match on.
    public let description: String
    /// The owner, charged for the key's quota.
    public internal(set) var uid: UInt32
    /// The group; ``invalidGID`` for none (shown as 65534, `overflowgid`, as Linux does).
    public internal(set) var gid: UInt32
    /// The permission mask.
    public internal(set) var permissions: KeyPermissions
    /// When the key expires (emulated ns), or nil for never.
    public internal(set) var expiry: UInt64?
    /// When the key was revoked, or nil.
    public internal(set) var revokedAt: UInt64?
    /// Whether the key was invalidated.
    public internal(set) var invalidated: Bool
    /// When the last link and reference went away, or nil while the key is referenced.
    public internal(set) var unreferencedAt: UInt64?
    /// The type's payload (addresses and bookkeeping; secret bytes are in DRAM).
    public internal(set) var payload: KeyPayload
    /// For keyrings: the linked keys.
    var contents: KeyringContents?

    // Derived (rebuilt on restore).
    /// Keyrings that link this key.
    var linkedFrom: Set<Int32> = []
    /// Processes holding the key as their session or process keyring.
    var processReferences = 0
    /// True for a user keyring held by the per-uid registry (Linux `user_keyring_register`).
    var pinned = false
    /// Links read from a saved image, until the service rebuilds ``contents``.
    var savedLinks: [Int32]?

    /// `INVALID_GID`.
    public static let invalidGID = UInt32.max

    init(
        serial: Int32,
        type: String,
        description: String,
        uid: UInt32,
        gid: UInt32,
        permissions: KeyPermissions,
        isKeyring: Bool
    ) {
        self.serial = serial
        self.type = type
        self.description = description
        self.uid = uid
        self.gid = gid
        self.permissions = permissions
        self.invalidated = false
        self.payload = KeyPayload()
        self.contents = isKeyring ? KeyringContents() : nil
    }

    /// The key's index in keyrings.
    public var index: KeyIndex { KeyIndex(type: type, description: description) }

    /// Whether the key is a keyring.
    public var isKeyring: Bool { contents != nil }

    /// The serials of the linked keys, in link order (keyrings only).
    public var links: [Int32] { contents?.serialsInOrder() ?? [] }

    /// Links, process references and registry pins: a key with none is dead.
    var referenceCount: Int { linkedFrom.count + processReferences + (pinned ? 1 : 0) }

    /// Bytes charged to the owner's quota: description, its NUL and the payload (`key->quotalen`).
    var quotaBytes: Int { description.utf8.count + 1 + payload.dataLength }

    /// Whether the key is past its expiry at `now`.
    public func isExpired(at now: UInt64) -> Bool { expiry.map { now >= $0 } ?? false }

    /// The state at `now`.
    public func state(at now: UInt64) -> KeyState {
        if unreferencedAt != nil { return .dead }
        if invalidated { return .invalidated }
        if revokedAt != nil { return .revoked }
        if isExpired(at: now) { return .expired }
        return .instantiated
    }

    /// The gid as user space sees it (`from_kgid_munged`: an invalid gid reads as 65534).
    public var displayGID: Int64 { gid == Self.invalidGID ? 65534 : Int64(gid) }
}

extension Key: Codable {
    private enum CodingKeys: String, CodingKey {
        case serial, type, description, uid, gid, permissions, expiry, revokedAt, invalidated, unreferencedAt,
            payload, links
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        serial = try container.decode(Int32.self, forKey: .serial)
        type = try container.decode(String.self, forKey: .type)
        description = try container.decode(String.self, forKey: .description)
        uid = try container.decode(UInt32.self, forKey: .uid)
        gid = try container.decode(UInt32.self, forKey: .gid)
        permissions = try container.decode(KeyPermissions.self, forKey: .permissions)
        expiry = try container.decodeIfPresent(UInt64.self, forKey: .expiry)
        revokedAt = try container.decodeIfPresent(UInt64.self, forKey: .revokedAt)
        invalidated = try container.decode(Bool.self, forKey: .invalidated)
        unreferencedAt = try container.decodeIfPresent(UInt64.self, forKey: .unreferencedAt)
        payload = try container.decode(KeyPayload.self, forKey: .payload)
        // Keyring contents are rebuilt by the service, which knows every key's index.
        savedLinks = try container.decodeIfPresent([Int32].self, forKey: .links)
        contents = savedLinks == nil ? nil : KeyringContents()
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(serial, forKey: .serial)
        try container.encode(type, forKey: .type)
        try container.encode(description, forKey: .description)
        try container.encode(uid, forKey: .uid)
        try container.encode(gid, forKey: .gid)
        try container.encode(permissions, forKey: .permissions)
        try container.encodeIfPresent(expiry, forKey: .expiry)
        try container.encodeIfPresent(revokedAt, forKey: .revokedAt)
        try container.encode(invalidated, forKey: .invalidated)
        try container.encodeIfPresent(unreferencedAt, forKey: .unreferencedAt)
        try container.encode(payload, forKey: .payload)
        try container.encodeIfPresent(contents?.serialsInOrder(), forKey: .links)
    }
}
