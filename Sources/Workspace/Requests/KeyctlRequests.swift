//===----------------------------------------------------------------------===//
//
// hwkeys: Workspace
//
//===----------------------------------------------------------------------===//

import Foundation
import HWCrypto
import HWKeysBase
import Kernel

// `hwkeys keyctl …`: the key retention service with keyctl(1)'s verbs (keyutils `keyctl.c`), each acting as
// process `pid` (docs/kernel-keys.md). This file holds the verbs that change keys; the inspections are in
// KeyctlInspectionRequests.swift, the payload reads in KeyctlPayloadRequests.swift.

/// A key as keyctl(1) names it (keyutils `get_key_id`): a serial — positive, or a special `KEY_SPEC_*`
/// value (`@t` −1, `@p` −2, `@s` −3, `@u` −4, `@us` −5, `@g` −6, `@a` −7) — or a key found by type and
/// description (`%type:desc`; `%:name` for a keyring).
public enum KeySpecifier: Sendable, Hashable {
    case serial(Int32)
    case named(type: String, description: String)

    /// Whether resolving this may create a keyring even where the operation asks for no creation: `@u`
    /// and `@us`, which Linux's `look_up_user_keyrings` makes on first use (`@us` on first use in hwkeys;
    /// `@u` again after its collection). An inspection naming them runs as a writer.
    public var mayCreateKeyring: Bool {
        self == .serial(KeySpecial.user) || self == .serial(KeySpecial.userSession)
    }

    /// The serial to pass to the kernel. A `%type:desc` name is found the way libkeyutils'
    /// `find_key_by_type_and_desc` finds it with `request_key`: searching the process's thread, process
    /// and session keyrings in turn (keyutils then scans `/proc/keys` as a last resort; hwkeys does not).
    ///
    /// - Throws: the search's error (ENOKEY if nothing matched), as `Can't find 'type:desc'`.
    public func resolve(in kernel: Kernel, pid: Int32) throws(HWKeysError) -> Int32 {
        switch self {
        case .serial(let serial):
            return serial
        case .named(let type, let description):
            var failure: HWKeysError?
            for ring in [KeySpecial.thread, KeySpecial.process, KeySpecial.session] {
                let found = Result { () throws(HWKeysError) -> Int32 in
                    try kernel.keys.search(ring, type: type, description: description, pid: pid)
                }
                switch found {
                case .success(let serial): return serial
                case .failure(let error): if failure == nil || failure?.errno == .ENOKEY { failure = error }
                }
            }
            let error = failure ?? HWKeysError(.ENOKEY, "")
            throw HWKeysError(error.code, "Can't find '\(Self.echo("\(type):\(description)"))': \(error.message)")
        }
    }

    /// A resolved serial as output shows it: a special serial replaced by the keyring it names when that
    /// exists, else left as it is. Never fails: it reports on an operation that already happened.
    static func reported(_ serial: Int32, in kernel: Kernel, pid: Int32) -> Int32 {
        guard serial < 0, let resolved = try? kernel.keys.keyringID(serial, create: false, pid: pid) else {
            return serial
        }
        return resolved
    }

    /// `text` as an error message quotes it: at most 80 characters, cut with `…`.
    static func echo(_ text: String) -> String { text.count <= 80 ? text : String(text.prefix(79)) + "…" }
}

extension HWKeysError {
    /// What keyctl's `%m` prints for this error: the C library's `strerror` text for an errno, else the
    /// code's name.
    var perrorText: String { errno?.strerror ?? code.name }
}

/// A key's serial: what `add`, `padd`, `newring`, `search` and `id` print (a bare number, as keyctl).
public struct KeySerial: CommandResult {
    public var serial: Int32

    public var text: String { "\(serial)" }
}

// MARK: add, padd, newring, update, pupdate

/// `keyctl add|padd TYPE DESC DATA KEYRING`, `keyctl newring NAME KEYRING` (`add_key(2)`): creates a key
/// (or updates one of the same type and description) and links it into the keyring.
public struct AddKey: WorkspaceRequest, @unchecked Sendable {
    // @unchecked Sendable: `payload` (zeroizing storage, a class) is filled when the request is built and
    // only read afterwards, by the one thread that runs the request.
    public static let access = RequestAccess.write

    public var type: String
    public var description: String
    public var payload: SecretBytes
    public var keyring: KeySpecifier
    public var pid: Int32

    public init(type: String, description: String, payload: SecretBytes, keyring: KeySpecifier, pid: Int32 = 100) {
        self.type = type
        self.description = description
        self.payload = payload
        self.keyring = keyring
        self.pid = pid
    }

    public func run(in context: RequestContext) throws(HWKeysError) -> KeySerial {
        let kernel = try context.kernel()
        let serial = try kernel.keys.addKey(
            type: type,
            description: description,
            payload: payload,
            keyring: try keyring.resolve(in: kernel, pid: pid),
            pid: pid
        )
        return KeySerial(serial: serial)
    }
}

/// `keyctl update|pupdate KEY DATA` (`KEYCTL_UPDATE`): replaces a key's payload. Prints nothing.
public struct UpdateKey: WorkspaceRequest, @unchecked Sendable {
    // @unchecked Sendable: as ``AddKey``'s payload.
    public static let access = RequestAccess.write

    public var key: KeySpecifier
    public var payload: SecretBytes
    public var pid: Int32

    public init(key: KeySpecifier, payload: SecretBytes, pid: Int32 = 100) {
        self.key = key
        self.payload = payload
        self.pid = pid
    }

    public func run(in context: RequestContext) throws(HWKeysError) -> KeyPayloadReplaced {
        let kernel = try context.kernel()
        let serial = try key.resolve(in: kernel, pid: pid)
        try kernel.keys.updateKey(serial, payload: payload, pid: pid)
        return KeyPayloadReplaced(serial: KeySpecifier.reported(serial, in: kernel, pid: pid), length: payload.count)
    }
}

/// A payload replaced.
public struct KeyPayloadReplaced: CommandResult {
    public var serial: Int32
    public var length: Int

    public var text: String { "" }
}

// MARK: link, unlink, clear

/// `keyctl link KEY KEYRING` (`KEYCTL_LINK`). Prints nothing.
public struct LinkKey: WorkspaceRequest {
    public static let access = RequestAccess.write

    public var key: KeySpecifier
    public var keyring: KeySpecifier
    public var pid: Int32

    public init(key: KeySpecifier, keyring: KeySpecifier, pid: Int32 = 100) {
        self.key = key
        self.keyring = keyring
        self.pid = pid
    }

    public func run(in context: RequestContext) throws(HWKeysError) -> KeyLink {
        let kernel = try context.kernel()
        let serial = try key.resolve(in: kernel, pid: pid)
        let ring = try keyring.resolve(in: kernel, pid: pid)
        try kernel.keys.link(serial, into: ring, pid: pid)
        return KeyLink(
            serial: KeySpecifier.reported(serial, in: kernel, pid: pid),
            keyring: KeySpecifier.reported(ring, in: kernel, pid: pid)
        )
    }
}

/// A link made or removed.
public struct KeyLink: CommandResult {
    public var serial: Int32
    public var keyring: Int32

    public var text: String { "" }
}

/// `keyctl unlink KEY [KEYRING]` (`KEYCTL_UNLINK`). With a keyring it prints nothing; without one it is
/// keyutils' `recursive_session_key_scan` with `act_keyctl_unlink_func` — every link to KEY in the session
/// keyring tree is removed — and prints `N links removed`.
public struct UnlinkKey: WorkspaceRequest {
    public static let access = RequestAccess.write

    public var key: KeySpecifier
    /// The keyring to unlink from; nil: everywhere in the session keyring tree.
    public var keyring: KeySpecifier?
    public var pid: Int32

    public init(key: KeySpecifier, from keyring: KeySpecifier?, pid: Int32 = 100) {
        self.key = key
        self.keyring = keyring
        self.pid = pid
    }

    public func run(in context: RequestContext) throws(HWKeysError) -> KeyUnlinked {
        let kernel = try context.kernel()
        let serial = try key.resolve(in: kernel, pid: pid)
        // Reported before: the unlink may leave the key (or the keyring) dead.
        let reported = KeySpecifier.reported(serial, in: kernel, pid: pid)
        guard let keyring else {
            return KeyUnlinked(
                serial: reported,
                keyring: nil,
                linksRemoved: Self.unlinkEverywhere(kernel, serial, pid: pid)
            )
        }
        let ring = try keyring.resolve(in: kernel, pid: pid)
        let reportedRing = KeySpecifier.reported(ring, in: kernel, pid: pid)
        try kernel.keys.unlink(serial, from: ring, pid: pid)
        return KeyUnlinked(serial: reported, keyring: reportedRing, linksRemoved: nil)
    }

    /// Walks the session keyring tree depth first (as keyutils, up to its depth limit) and unlinks
    /// `serial` from every keyring that links it; returns the number of links removed.
    static func unlinkEverywhere(_ kernel: Kernel, _ serial: Int32, pid: Int32) -> Int {
        guard let session = try? kernel.keys.getKeyringID(KeySpecial.session, create: false, pid: pid) else {
            return 0
        }
        func scan(parent: Int32?, key: Int32, depth: Int) -> Int {
            guard depth <= 800 else { return 0 }
            var removed = 0
            // keyutils `recursive_key_scan_aux`: descend into what describes as a keyring and reads.
            if let info = try? kernel.keys.describe(key, pid: pid), info.type == "keyring",
                let children = try? kernel.keys.readLinks(key, pid: pid)
            {
                for child in children { removed += scan(parent: key, key: child, depth: depth + 1) }
            }
            if key == serial, let parent, (try? kernel.keys.unlink(key, from: parent, pid: pid)) != nil {
                removed += 1
            }
            return removed
        }
        return scan(parent: nil, key: session, depth: 0)
    }
}

/// Links removed: `{"serial", "keyring"}` from one keyring, `{"serial", "links_removed"}` from the session
/// keyring tree.
public struct KeyUnlinked: CommandResult {
    public var serial: Int32
    public var keyring: Int32?
    public var linksRemoved: Int?

    enum CodingKeys: String, CodingKey {
        case serial, keyring
        case linksRemoved = "links_removed"
    }

    public var text: String { linksRemoved.map { "\($0) links removed" } ?? "" }
}

/// `keyctl clear KEYRING` (`KEYCTL_CLEAR`). Prints nothing.
public struct ClearKeyring: WorkspaceRequest {
    public static let access = RequestAccess.write

    public var keyring: KeySpecifier
    public var pid: Int32

    public init(keyring: KeySpecifier, pid: Int32 = 100) {
        self.keyring = keyring
        self.pid = pid
    }

    public func run(in context: RequestContext) throws(HWKeysError) -> KeyringCleared {
        let kernel = try context.kernel()
        let ring = try keyring.resolve(in: kernel, pid: pid)
        try kernel.keys.clear(ring, pid: pid)
        return KeyringCleared(keyring: KeySpecifier.reported(ring, in: kernel, pid: pid))
    }
}

/// A keyring emptied.
public struct KeyringCleared: CommandResult {
    public var keyring: Int32

    public var text: String { "" }
}

// MARK: revoke, invalidate, timeout, setperm, chown, chgrp

/// `keyctl revoke KEY` (`KEYCTL_REVOKE`) or `keyctl invalidate KEY` (`KEYCTL_INVALIDATE`). Prints nothing.
public struct EndKey: WorkspaceRequest {
    public static let access = RequestAccess.write

    /// Revoke or invalidate.
    public var state: KeyState
    public var key: KeySpecifier
    public var pid: Int32

    /// - Precondition: `state` is `.revoked` or `.invalidated`.
    public init(_ state: KeyState, key: KeySpecifier, pid: Int32 = 100) {
        precondition(state == .revoked || state == .invalidated, "keys are ended by revoking or invalidating")
        self.state = state
        self.key = key
        self.pid = pid
    }

    public func run(in context: RequestContext) throws(HWKeysError) -> KeyEnded {
        let kernel = try context.kernel()
        let serial = try key.resolve(in: kernel, pid: pid)
        let reported = KeySpecifier.reported(serial, in: kernel, pid: pid)
        if state == .revoked {
            try kernel.keys.revoke(serial, pid: pid)
        } else {
            try kernel.keys.invalidate(serial, pid: pid)
        }
        return KeyEnded(serial: reported, state: state.rawValue)
    }
}

/// A key revoked or invalidated.
public struct KeyEnded: CommandResult {
    public var serial: Int32
    /// `revoked` or `invalidated`.
    public var state: String

    public var text: String { "" }
}

/// `keyctl timeout KEY SECONDS` (`KEYCTL_SET_TIMEOUT`; 0 removes the timeout). Prints nothing.
public struct SetKeyTimeout: WorkspaceRequest {
    public static let access = RequestAccess.write

    public var key: KeySpecifier
    public var seconds: UInt32
    public var pid: Int32

    public init(key: KeySpecifier, seconds: UInt32, pid: Int32 = 100) {
        self.key = key
        self.seconds = seconds
        self.pid = pid
    }

    public func run(in context: RequestContext) throws(HWKeysError) -> KeyTimeoutSet {
        let kernel = try context.kernel()
        let serial = try key.resolve(in: kernel, pid: pid)
        try kernel.keys.setTimeout(serial, seconds: seconds, pid: pid)
        return KeyTimeoutSet(serial: KeySpecifier.reported(serial, in: kernel, pid: pid), timeout: Int(seconds))
    }
}

/// A timeout set.
public struct KeyTimeoutSet: CommandResult {
    public var serial: Int32
    /// Seconds.
    public var timeout: Int

    public var text: String { "" }
}

/// `keyctl setperm KEY MASK` (`KEYCTL_SETPERM`). Prints nothing.
public struct SetKeyPermissions: WorkspaceRequest {
    public static let access = RequestAccess.write

    public var key: KeySpecifier
    public var mask: UInt32
    public var pid: Int32

    public init(key: KeySpecifier, mask: UInt32, pid: Int32 = 100) {
        self.key = key
        self.mask = mask
        self.pid = pid
    }

    public func run(in context: RequestContext) throws(HWKeysError) -> KeyPermissionsSet {
        let kernel = try context.kernel()
        let serial = try key.resolve(in: kernel, pid: pid)
        try kernel.keys.setPermissions(serial, mask, pid: pid)
        return KeyPermissionsSet(serial: KeySpecifier.reported(serial, in: kernel, pid: pid), perm: Hex(mask))
    }
}

/// A permission mask set.
public struct KeyPermissionsSet: CommandResult {
    public var serial: Int32
    public var perm: Hex

    public var text: String { "" }
}

/// `keyctl chown KEY UID` / `keyctl chgrp KEY GID` (`KEYCTL_CHOWN`; nil — keyctl's `-1` — leaves the
/// owner or group as it is). Prints nothing.
public struct ChangeKeyOwnership: WorkspaceRequest {
    public static let access = RequestAccess.write

    /// Which of the two the command names (`chown` the owner, `chgrp` the group).
    public enum Field: String, Sendable, Hashable {
        case uid
        case gid
    }

    public var key: KeySpecifier
    public var field: Field
    /// The new uid or gid; nil leaves it.
    public var id: UInt32?
    public var pid: Int32

    public init(key: KeySpecifier, _ field: Field, to id: UInt32?, pid: Int32 = 100) {
        self.key = key
        self.field = field
        self.id = id
        self.pid = pid
    }

    public func run(in context: RequestContext) throws(HWKeysError) -> KeyOwnershipChanged {
        let kernel = try context.kernel()
        let serial = try key.resolve(in: kernel, pid: pid)
        try kernel.keys.chown(serial, uid: field == .uid ? id : nil, gid: field == .gid ? id : nil, pid: pid)
        return KeyOwnershipChanged(serial: KeySpecifier.reported(serial, in: kernel, pid: pid), field: field, id: id)
    }
}

/// A key's owner or group changed: `{"serial": N, "uid": N|null}` or `{"serial": N, "gid": N|null}`.
public struct KeyOwnershipChanged: CommandResult {
    public var serial: Int32
    public var field: ChangeKeyOwnership.Field
    public var id: UInt32?

    private struct Key: CodingKey {
        let stringValue: String
        init(_ string: String) { stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(serial, forKey: Key("serial"))
        if let id {
            try container.encode(id, forKey: Key(field.rawValue))
        } else {
            try container.encodeNil(forKey: Key(field.rawValue))
        }
    }

    public var text: String { "" }
}
