//===----------------------------------------------------------------------===//
//
// hwkeys: Workspace
//
//===----------------------------------------------------------------------===//

import Foundation
import HWKeysBase
import Kernel

// keyctl's inspections: describe, rdescribe, list, rlist, show, id, supports, search. They read the key
// service's bookkeeping — descriptions, masks, a keyring's links — which lives in the kernel's state, not
// in emulated DRAM, and execute no instruction: readers (docs/workspace.md), except where a special keyring
// they name may have to be created (``KeySpecifier/mayCreateKeyring``) or `search` links what it finds.

/// `keyctl describe KEY` (`KEYCTL_DESCRIBE`): `<serial>: <perm> <uid> <gid> <type>: <desc>`.
public struct DescribeKey: WorkspaceRequest {
    public static let access = RequestAccess.read

    public var key: KeySpecifier
    public var pid: Int32

    public init(key: KeySpecifier, pid: Int32 = 100) {
        self.key = key
        self.pid = pid
    }

    public var requiredAccess: RequestAccess { key.mayCreateKeyring ? .write : .read }

    public func run(in context: RequestContext) throws(HWKeysError) -> DescribedKey {
        let kernel = try context.kernel()
        return DescribedKey(try kernel.keys.describe(try key.resolve(in: kernel, pid: pid), pid: pid))
    }
}

/// A key's description as `keyctl describe` prints it.
public struct DescribedKey: CommandResult, Hashable {
    public var serial: Int32
    public var type: String
    public var uid: UInt32
    /// As user space sees it (65534 for none).
    public var gid: Int64
    public var perm: Hex
    public var description: String

    public init(_ info: KeyDescription) {
        serial = info.serial
        type = info.type
        uid = info.uid
        gid = info.gid
        perm = Hex(info.permissions.rawValue)
        description = info.description
    }

    /// keyutils `act_keyctl_describe`: the serial, the whole mask as `alswrv` letters, owner, group.
    public var text: String {
        String(format: "%9d: ", serial) + KeyPermissions(rawValue: UInt32(perm.value)).description
            + String(format: " %5d %5d ", Int(uid), Int(gid)) + "\(type): \(description)"
    }

    /// keyutils `calc_perms`: `--alswrv` for what `viewer` gets — the possessor bits plus its user, group
    /// or other bits.
    func effectivePermissions(for viewer: Credentials) -> String {
        let mask = KeyPermissions(rawValue: UInt32(perm.value))
        var bits = mask.bits(of: .possessor)
        if uid == viewer.uid {
            bits |= mask.bits(of: .user)
        } else if gid == Int64(viewer.gid) {
            bits |= mask.bits(of: .group)
        } else {
            bits |= mask.bits(of: .other)
        }
        return "--" + KeyPermissions(rawValue: bits).description.suffix(6)
    }

    enum CodingKeys: String, CodingKey { case serial, type, uid, gid, perm, description }
}

/// `keyctl rdescribe KEY [SEP]`: the kernel's raw form, `type;uid;gid;perm;description`, with SEP's first
/// character for `;` if given.
public struct DescribeKeyRaw: WorkspaceRequest {
    public static let access = RequestAccess.read

    public var key: KeySpecifier
    public var separator: Character?
    public var pid: Int32

    public init(key: KeySpecifier, separator: Character? = nil, pid: Int32 = 100) {
        self.key = key
        self.separator = separator
        self.pid = pid
    }

    public var requiredAccess: RequestAccess { key.mayCreateKeyring ? .write : .read }

    public func run(in context: RequestContext) throws(HWKeysError) -> RawKeyDescription {
        let kernel = try context.kernel()
        let info = try kernel.keys.describe(try key.resolve(in: kernel, pid: pid), pid: pid)
        var raw = info.raw
        if let separator { raw = raw.replacingOccurrences(of: ";", with: String(separator)) }
        return RawKeyDescription(serial: info.serial, raw: raw)
    }
}

/// A raw description.
public struct RawKeyDescription: CommandResult {
    public var serial: Int32
    public var raw: String

    public var text: String { raw }
}

/// `keyctl id KEY` (`KEYCTL_GET_KEYRING_ID` without create): the serial a key argument names — `@s` as a
/// number, say.
public struct KeyringID: WorkspaceRequest {
    public static let access = RequestAccess.read

    public var key: KeySpecifier
    public var pid: Int32

    public init(key: KeySpecifier, pid: Int32 = 100) {
        self.key = key
        self.pid = pid
    }

    public var requiredAccess: RequestAccess { key.mayCreateKeyring ? .write : .read }

    public func run(in context: RequestContext) throws(HWKeysError) -> KeySerial {
        let kernel = try context.kernel()
        let serial = try kernel.keys.getKeyringID(try key.resolve(in: kernel, pid: pid), create: false, pid: pid)
        return KeySerial(serial: serial)
    }
}

// MARK: list, rlist

/// `keyctl list KEYRING`: `N keys in keyring:` and one line per key, described for the caller (ENOTDIR for
/// a key that is not a keyring).
public struct ListKeyring: WorkspaceRequest {
    public static let access = RequestAccess.read

    public var keyring: KeySpecifier
    public var pid: Int32

    public init(keyring: KeySpecifier, pid: Int32 = 100) {
        self.keyring = keyring
        self.pid = pid
    }

    public var requiredAccess: RequestAccess { keyring.mayCreateKeyring ? .write : .read }

    public func run(in context: RequestContext) throws(HWKeysError) -> KeyringListing {
        let kernel = try context.kernel()
        let ring = try keyring.resolve(in: kernel, pid: pid)
        let serials = try kernel.keys.readLinks(ring, pid: pid)
        let viewer = try kernel.processes.process(pid).credentials
        let entries = serials.map { serial -> KeyringListing.Entry in
            do throws(HWKeysError) {
                let key = DescribedKey(try kernel.keys.describe(serial, pid: pid))
                return .key(key, effective: key.effectivePermissions(for: viewer))
            } catch {
                return .inaccessible(serial: serial, error: error)
            }
        }
        return KeyringListing(keyring: KeySpecifier.reported(ring, in: kernel, pid: pid), keys: entries)
    }
}

/// A keyring's keys as `keyctl list` shows them.
public struct KeyringListing: CommandResult {
    /// One linked key: described, or why it could not be (keyctl's `key inaccessible (…)`).
    public enum Entry: Encodable, Sendable, Hashable {
        case key(DescribedKey, effective: String)
        case inaccessible(serial: Int32, error: HWKeysError)

        private enum CodingKeys: String, CodingKey { case serial, error }

        public func encode(to encoder: any Encoder) throws {
            switch self {
            case .key(let key, _):
                try key.encode(to: encoder)
            case .inaccessible(let serial, let error):
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(serial, forKey: .serial)
                try container.encode(error.code.name, forKey: .error)
            }
        }

        /// keyutils `act_keyctl_list`'s line.
        var line: String {
            switch self {
            case .key(let key, let effective):
                String(format: "%9d: ", key.serial) + effective
                    + String(format: " %5d %5d ", Int(key.uid), Int(key.gid)) + "\(key.type): \(key.description)"
            case .inaccessible(let serial, let error):
                String(format: "%9d: ", serial) + "key inaccessible (\(error.perrorText))"
            }
        }
    }

    public var keyring: Int32
    public var keys: [Entry]

    public var text: String {
        let head =
            keys.isEmpty ? "keyring is empty" : keys.count == 1 ? "1 key in keyring:" : "\(keys.count) keys in keyring:"
        return ([head] + keys.map(\.line)).joined(separator: "\n")
    }
}

/// `keyctl rlist KEYRING`: the serials, space-separated (an empty line for an empty keyring; ENOTDIR for a
/// key that is not a keyring).
public struct ListKeyringSerials: WorkspaceRequest {
    public static let access = RequestAccess.read

    public var keyring: KeySpecifier
    public var pid: Int32

    public init(keyring: KeySpecifier, pid: Int32 = 100) {
        self.keyring = keyring
        self.pid = pid
    }

    public var requiredAccess: RequestAccess { keyring.mayCreateKeyring ? .write : .read }

    public func run(in context: RequestContext) throws(HWKeysError) -> KeyringSerials {
        let kernel = try context.kernel()
        let ring = try keyring.resolve(in: kernel, pid: pid)
        let serials = try kernel.keys.readLinks(ring, pid: pid)
        return KeyringSerials(keyring: KeySpecifier.reported(ring, in: kernel, pid: pid), serials: serials)
    }
}

/// A keyring's serials.
public struct KeyringSerials: CommandResult {
    public var keyring: Int32
    public var serials: [Int32]

    public var text: String { serials.map(String.init).joined(separator: " ") }

    /// keyutils `act_keyctl_rlist` prints a newline even for an empty keyring.
    public var rawOutput: [UInt8]? { serials.isEmpty ? [0x0A] : nil }
}

// MARK: show

/// `keyctl show [-x] [KEYRING]`: the tree of keys under the session keyring (or KEYRING).
public struct ShowKeyTree: WorkspaceRequest {
    public static let access = RequestAccess.read

    /// The keyring to start from; nil: the session keyring.
    public var keyring: KeySpecifier?
    /// Serials in hex (`-x`).
    public var hexSerials: Bool
    public var pid: Int32

    public init(keyring: KeySpecifier? = nil, hexSerials: Bool = false, pid: Int32 = 100) {
        self.keyring = keyring
        self.hexSerials = hexSerials
        self.pid = pid
    }

    public var requiredAccess: RequestAccess { keyring?.mayCreateKeyring == true ? .write : .read }

    public func run(in context: RequestContext) throws(HWKeysError) -> KeyTree {
        let kernel = try context.kernel()
        // keyutils `dump_key_tree`: the root through keyctl_get_keyring_ID(…, 0).
        let root = try kernel.keys.getKeyringID(
            try keyring?.resolve(in: kernel, pid: pid) ?? KeySpecial.session,
            create: false,
            pid: pid
        )
        var dumper = KeyTreeDumper(
            kernel: kernel,
            pid: pid,
            viewer: try kernel.processes.process(pid).credentials,
            hex: hexSerials
        )
        let tree = try dumper.dump(root, depth: 0, more: false)
        return KeyTree(
            keyring: root,
            tree: tree,
            lines: [keyring == nil ? "Session Keyring" : "Keyring"] + dumper.lines
        )
    }
}

/// A key tree as `keyctl show` draws it.
public struct KeyTree: CommandResult {
    /// One key of the tree: described (keyrings with their keys), or why it could not be.
    public indirect enum Node: Encodable, Sendable, Hashable {
        case key(DescribedKey, keys: [Node?]?)
        case inaccessible(serial: Int32, error: HWKeysError)

        private enum CodingKeys: String, CodingKey { case serial, perm, uid, gid, type, description, keys, error }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            switch self {
            case .key(let key, let keys):
                try container.encode(key.serial, forKey: .serial)
                try container.encode(key.perm, forKey: .perm)
                try container.encode(key.uid, forKey: .uid)
                try container.encode(key.gid, forKey: .gid)
                try container.encode(key.type, forKey: .type)
                try container.encode(key.description, forKey: .description)
                if let keys { try container.encode(keys, forKey: .keys) }
            case .inaccessible(let serial, let error):
                try container.encode(serial, forKey: .serial)
                try container.encode(error.code.name, forKey: .error)
            }
        }
    }

    public var keyring: Int32
    public var tree: Node?
    /// The text lines (text only).
    var lines: [String]

    enum CodingKeys: String, CodingKey { case keyring, tree }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(keyring, forKey: .keyring)
        if let tree { try container.encode(tree, forKey: .tree) } else { try container.encodeNil(forKey: .tree) }
    }

    public var text: String { lines.joined(separator: "\n") }
}

/// keyutils `dump_key_tree_aux`: one line per key, nested keyrings indented under `\_`, a `|` continuing
/// the line of a keyring with more keys after it; at most 32 columns of indentation.
private struct KeyTreeDumper {
    let kernel: Kernel
    let pid: Int32
    let viewer: Credentials
    let hex: Bool
    var lines: [String] = []
    private var indent: [Character] = Array(repeating: " ", count: 64)

    init(kernel: Kernel, pid: Int32, viewer: Credentials, hex: Bool) {
        self.kernel = kernel
        self.pid = pid
        self.viewer = viewer
        self.hex = hex
    }

    mutating func dump(_ serial: Int32, depth: Int, more: Bool) throws(HWKeysError) -> KeyTree.Node? {
        guard depth <= 32 else { return nil }
        let key: DescribedKey
        do throws(HWKeysError) {
            key = DescribedKey(try kernel.keys.describe(serial, pid: pid))
        } catch {
            lines.append("\(serial): key inaccessible (\(error.perrorText))")
            return .inaccessible(serial: serial, error: error)
        }
        let id = hex ? "0x" + String(format: "%08x", UInt32(bitPattern: serial)) : String(format: "%10d", serial)
        lines.append(
            id + " " + key.effectivePermissions(for: viewer)
                + String(format: "  %5d %5d  ", Int(key.uid), Int(key.gid)) + String(indent[0..<depth])
                + (depth > 0 ? "\\_ " : "") + "\(key.type): \(key.description)"
        )
        guard key.type == "keyring" else { return .key(key, keys: nil) }
        let children = try kernel.keys.readLinks(serial, pid: pid)
        var nested: [KeyTree.Node?] = []
        for (position, child) in children.enumerated() {
            var next = depth
            if depth == 0 {
                indent[next] = " "
                next += 1
            } else {
                for _ in 0..<4 {
                    indent[next] = " "
                    next += 1
                }
            }
            if more { indent[depth] = "|" }
            nested.append(try dump(child, depth: next, more: position < children.count - 1))
        }
        return .key(key, keys: nested)
    }
}

// MARK: supports

/// `keyctl supports [CAP | --raw]` (`KEYCTL_CAPABILITIES`): what the key service supports — every
/// capability as `have_NAME=0|1`, the raw bytes in hex, or one capability (an error if unsupported).
public struct KeyCapabilities: WorkspaceRequest {
    public static let access = RequestAccess.read

    /// What to report.
    public enum Query: Sendable, Hashable {
        /// Every capability, `have_NAME=0|1`.
        case all
        /// The raw bytes, as hex.
        case raw
        /// One capability by keyutils' name; EOPNOTSUPP if unsupported.
        case named(String)
    }

    public var query: Query

    public init(_ query: Query = .all) { self.query = query }

    /// keyutils' capability names, with their byte and bit (`KEYCTL_CAPS0_*`, `KEYCTL_CAPS1_*`).
    public static let names: [(name: String, index: Int, mask: UInt8)] = [
        ("capabilities", 0, 0x01), ("persistent_keyrings", 0, 0x02), ("dh_compute", 0, 0x04),
        ("public_key", 0, 0x08), ("big_key_type", 0, 0x10), ("key_invalidate", 0, 0x20),
        ("restrict_keyring", 0, 0x40), ("move_key", 0, 0x80), ("ns_keyring_name", 1, 0x01),
        ("ns_key_tag", 1, 0x02), ("notify", 1, 0x04),
    ]

    public func run(in context: RequestContext) throws(HWKeysError) -> KeyServiceCapabilities {
        let raw = try context.kernel().keys.capabilities
        var have: [String: Bool] = [:]
        for (name, index, mask) in Self.names { have[name] = index < raw.count && raw[index] & mask != 0 }
        if case .named(let name) = query {
            guard let supported = have[name] else {
                throw .usage(
                    "unknown capability '\(KeySpecifier.echo(name))'; known: \(Self.names.map(\.name).joined(separator: ", "))"
                )
            }
            guard supported else { throw HWKeysError(.EOPNOTSUPP, "the key service does not support \(name)") }
        }
        return KeyServiceCapabilities(query: query, raw: HexBytes(raw), capabilities: have)
    }
}

/// The key service's capabilities.
public struct KeyServiceCapabilities: CommandResult {
    var query: KeyCapabilities.Query
    /// The `KEYCTL_CAPABILITIES` bytes.
    public var raw: HexBytes
    /// Each capability by keyutils' name.
    public var capabilities: [String: Bool]

    enum CodingKeys: String, CodingKey { case raw, capabilities }

    public var text: String {
        switch query {
        case .all:
            KeyCapabilities.names.map { "have_\($0.name)=\(capabilities[$0.name] == true ? 1 : 0)" }
                .joined(separator: "\n")
        case .raw: raw.description
        case .named: ""
        }
    }
}

// MARK: search

/// `keyctl search KEYRING TYPE DESC [DEST]` (`KEYCTL_SEARCH`): the serial found, linked into DEST if given.
/// A reader unless it links (DEST) or names `@u`/`@us`.
public struct SearchKey: WorkspaceRequest {
    public static let access = RequestAccess.read

    public var keyring: KeySpecifier
    public var type: String
    public var description: String
    /// Where to link what is found (keyctl passes 0 for none; so does a serial of 0 here).
    public var destination: KeySpecifier?
    public var pid: Int32

    public init(
        keyring: KeySpecifier,
        type: String,
        description: String,
        destination: KeySpecifier? = nil,
        pid: Int32 = 100
    ) {
        self.keyring = keyring
        self.type = type
        self.description = description
        self.destination = destination == .serial(0) ? nil : destination
        self.pid = pid
    }

    public var requiredAccess: RequestAccess {
        destination != nil || keyring.mayCreateKeyring ? .write : .read
    }

    public func run(in context: RequestContext) throws(HWKeysError) -> KeySerial {
        let kernel = try context.kernel()
        let ring = try keyring.resolve(in: kernel, pid: pid)
        let destination = try self.destination.map { (spec) throws(HWKeysError) -> Int32 in
            try spec.resolve(in: kernel, pid: pid)
        }
        let serial = try kernel.keys.search(
            ring,
            type: type,
            description: description,
            destination: destination,
            pid: pid
        )
        return KeySerial(serial: serial)
    }
}
