//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommands
//
//===----------------------------------------------------------------------===//

import ArgumentParser
import Foundation
import HWCrypto
import HWKeysBase
import Kernel

/// `hwkeys keyctl …`: the key retention service, with keyctl(1)'s verbs, argument order and output
/// (keyutils `keyctl.c`). Every verb acts as `--pid P` [100, the root shell]. Keys are named by serial
/// (decimal, `0x` hex or `0` octal, as `strtoul(…, 0)` reads them) or as `@u`, `@s`, `@p`.
///
/// With `--format json` each verb prints one object; payload bytes appear (as hex) only in `read` and
/// `print`, whose purpose is to show them.
public struct KeyctlCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "keyctl",
        abstract: "Key retention service: add, read, revoke, link, search and list keys (keyctl(1)).",
        discussion: """
            Keys are named by serial or as @u (user keyring), @s (session keyring), @p (process keyring). \
            Every verb acts as --pid P (default 100, the root shell).
            """,
        subcommands: [
            Add.self, Padd.self, Newring.self, Update.self, Pupdate.self, Describe.self, RDescribe.self,
            Read.self, Print.self, List.self, RList.self, Show.self, Search.self, Link.self, Unlink.self,
            Clear.self, Revoke.self, Invalidate.self, Timeout.self, Setperm.self, Chown.self, Chgrp.self,
        ]
    )

    public init() {}

    // MARK: add, padd, newring, update, pupdate

    /// `keyctl add TYPE DESC DATA KEYRING` → the new key's serial.
    public struct Add: LegacyCommand {
        public static let configuration = CommandConfiguration(
            commandName: "add",
            abstract: "Add a key (or update one of the same type and description) and print its serial."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "Key type: user, logon, keyring, …") var type: String
        @Argument(help: "Description.") var desc: String
        @Argument(help: "Payload (its bytes, as keyctl passes its argument).") var data: String
        @Argument(help: "Destination keyring.") var keyring: KeyID
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            let kernel = try session.kernel()
            let serial = try kernel.keys.addKey(
                type: type,
                description: desc,
                payload: SecretBytes(Array(data.utf8)),
                keyring: try keyring.serial(session, process),
                pid: try process.value()
            )
            return .serial(serial)
        }
    }

    /// `keyctl padd TYPE DESC KEYRING` with the payload on standard input (or `--input FILE`).
    public struct Padd: LegacyCommand {
        public static let configuration = CommandConfiguration(
            commandName: "padd",
            abstract: "Add a key whose payload is read from standard input and print its serial."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Option(help: "Read the payload from this file instead of standard input.") var input: String?
        @Argument(help: "Key type.") var type: String
        @Argument(help: "Description.") var desc: String
        @Argument(help: "Destination keyring.") var keyring: KeyID
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            let payload = try KeyctlCommand.readInput(input)
            let serial = try session.kernel().keys.addKey(
                type: type,
                description: desc,
                payload: payload,
                keyring: try keyring.serial(session, process),
                pid: try process.value()
            )
            return .serial(serial)
        }
    }

    /// `keyctl newring NAME KEYRING` → the new keyring's serial.
    public struct Newring: LegacyCommand {
        public static let configuration = CommandConfiguration(
            commandName: "newring",
            abstract: "Create a keyring inside KEYRING and print its serial."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "Name.") var name: String
        @Argument(help: "Destination keyring.") var keyring: KeyID
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            let serial = try session.kernel().keys.addKey(
                type: "keyring",
                description: name,
                payload: SecretBytes(count: 0),
                keyring: try keyring.serial(session, process),
                pid: try process.value()
            )
            return .serial(serial)
        }
    }

    /// `keyctl update KEY DATA`.
    public struct Update: LegacyCommand {
        public static let configuration = CommandConfiguration(
            commandName: "update",
            abstract: "Replace a key's payload."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "The key.") var key: KeyID
        @Argument(help: "The new payload.") var data: String
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            let payload = SecretBytes(Array(data.utf8))
            try session.kernel().keys.updateKey(
                try key.serial(session, process),
                payload: payload,
                pid: try process.value()
            )
            return .silent([("serial", key.json(session, process)), ("length", .count(payload.count))])
        }
    }

    /// `keyctl pupdate KEY` with the payload on standard input (or `--input FILE`).
    public struct Pupdate: LegacyCommand {
        public static let configuration = CommandConfiguration(
            commandName: "pupdate",
            abstract: "Replace a key's payload with standard input."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Option(help: "Read the payload from this file instead of standard input.") var input: String?
        @Argument(help: "The key.") var key: KeyID
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            let payload = try KeyctlCommand.readInput(input)
            try session.kernel().keys.updateKey(
                try key.serial(session, process),
                payload: payload,
                pid: try process.value()
            )
            return .silent([("serial", key.json(session, process)), ("length", .count(payload.count))])
        }
    }

    // MARK: describe, rdescribe, read, print

    /// `keyctl describe KEY` → `<serial>: <perm> <uid> <gid> <type>: <desc>`.
    public struct Describe: LegacyCommand {
        public static let configuration = CommandConfiguration(
            commandName: "describe",
            abstract: "Describe a key: permissions, owner, group, type and description."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "The key.") var key: KeyID
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            let info = try session.kernel().keys.describe(try key.serial(session, process), pid: try process.value())
            let text =
                String(format: "%9d: ", info.serial) + info.permissions.description
                + String(format: " %5d %5d ", Int(info.uid), Int(info.gid)) + "\(info.type): \(info.description)"
            return CommandOutput(json: KeyctlCommand.json(info), text: text)
        }
    }

    /// `keyctl rdescribe KEY [SEP]` → `type;uid;gid;perm;description`.
    public struct RDescribe: LegacyCommand {
        public static let configuration = CommandConfiguration(
            commandName: "rdescribe",
            abstract: "Describe a key in the kernel's raw form, type;uid;gid;perm;description."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "The key.") var key: KeyID
        @Argument(help: "A separator to use instead of ';'.") var separator: String?
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            if let separator, separator.isEmpty { throw HWKeysError.usage("the separator must not be empty") }
            let info = try session.kernel().keys.describe(try key.serial(session, process), pid: try process.value())
            var raw = info.raw
            if let first = separator?.first { raw = raw.replacingOccurrences(of: ";", with: String(first)) }
            return CommandOutput(
                json: .object([("serial", .int(Int64(info.serial))), ("raw", .string(raw))]),
                text: raw
            )
        }
    }

    /// `keyctl read KEY` → `N bytes of data in key:` and a hex dump in groups of 4 bytes, 32 per line.
    public struct Read: LegacyCommand {
        public static let configuration = CommandConfiguration(
            commandName: "read",
            abstract: "Read a key's payload as a hex dump."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "The key.") var key: KeyID
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            let bytes = try session.kernel().keys.read(try key.serial(session, process), pid: try process.value())
                .revealedBytes()
            var text = bytes.isEmpty ? "No data in key" : "\(bytes.count) bytes of data in key:\n"
            for (index, byte) in bytes.enumerated() {
                if index > 0 { text += index % 32 == 0 ? "\n" : (index % 4 == 0 ? " " : "") }
                text += String(format: "%02x", byte)
            }
            return CommandOutput(
                json: .object([
                    ("serial", key.json(session, process)), ("length", .count(bytes.count)), ("bytes", .bytes(bytes)),
                ]),
                text: text
            )
        }
    }

    /// `keyctl print KEY` → the payload if every byte is printable, else `:hex:` and hex digits.
    public struct Print: LegacyCommand {
        public static let configuration = CommandConfiguration(
            commandName: "print",
            abstract: "Print a key's payload: as text if printable, else as :hex:…."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "The key.") var key: KeyID
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            let bytes = try session.kernel().keys.read(try key.serial(session, process), pid: try process.value())
                .revealedBytes()
            let printable = bytes.allSatisfy { (0x20...0x7E).contains($0) }
            return CommandOutput(
                json: .object([
                    ("serial", key.json(session, process)), ("printable", .bool(printable)), ("bytes", .bytes(bytes)),
                ]),
                text: printable ? String(decoding: bytes, as: UTF8.self) : ":hex:" + hexString(bytes)
            )
        }
    }

    // MARK: list, rlist, show

    /// `keyctl list KEYRING` → `N keys in keyring:` and one described line per key.
    public struct List: LegacyCommand {
        public static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List the keys in a keyring."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "The keyring.") var keyring: KeyID
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            let kernel = try session.kernel()
            let pid = try process.value()
            let serials = try KeyctlCommand.links(kernel, try keyring.serial(session, process), pid: pid)
            let viewer = try kernel.processes.process(pid).credentials
            var lines = [
                serials.isEmpty
                    ? "keyring is empty"
                    : serials.count == 1 ? "1 key in keyring:" : "\(serials.count) keys in keyring:"
            ]
            var entries: [JSON] = []
            for serial in serials {
                do {
                    let info = try kernel.keys.describe(serial, pid: pid)
                    lines.append(
                        String(format: "%9d: ", serial) + KeyctlCommand.effectivePermissions(info, viewer)
                            + String(format: " %5d %5d ", Int(info.uid), Int(info.gid))
                            + "\(info.type): \(info.description)"
                    )
                    entries.append(KeyctlCommand.json(info))
                } catch {
                    lines.append(String(format: "%9d: ", serial) + "key inaccessible (\(strerror(error)))")
                    entries.append(.object([("serial", .int(Int64(serial))), ("error", .string(error.code.name))]))
                }
            }
            return CommandOutput(
                json: .object([("keyring", keyring.json(session, process)), ("keys", .array(entries))]),
                text: lines.joined(separator: "\n")
            )
        }
    }

    /// `keyctl rlist KEYRING` → the serials, space-separated.
    public struct RList: LegacyCommand {
        public static let configuration = CommandConfiguration(
            commandName: "rlist",
            abstract: "List the serials in a keyring, space-separated."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "The keyring.") var keyring: KeyID
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            let serials = try KeyctlCommand.links(
                try session.kernel(),
                try keyring.serial(session, process),
                pid: try process.value()
            )
            return CommandOutput(
                json: .object([
                    ("keyring", keyring.json(session, process)),
                    ("serials", .array(serials.map { .int(Int64($0)) })),
                ]),
                text: serials.map(String.init).joined(separator: " ")
            )
        }
    }

    /// `keyctl show [-x] [KEYRING]` → the tree under the session keyring (or KEYRING).
    public struct Show: LegacyCommand {
        public static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "Show the tree of keys under the session keyring, or under KEYRING."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Flag(name: .customShort("x"), help: "Show serials in hex.") var hex = false
        @Argument(help: "The keyring (default @s).") var keyring: KeyID?
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            let kernel = try session.kernel()
            let pid = try process.value()
            let root = try kernel.keys.keyringID(
                try keyring?.serial(session, process) ?? KeySpecial.session,
                create: false,
                pid: pid
            )
            var dumper = TreeDumper(
                kernel: kernel,
                pid: pid,
                viewer: try kernel.processes.process(pid).credentials,
                hex: hex
            )
            let tree = try dumper.dump(root, depth: 0, more: false)
            return CommandOutput(
                json: .object([("keyring", .int(Int64(root))), ("tree", tree)]),
                text: ([keyring == nil ? "Session Keyring" : "Keyring"] + dumper.lines).joined(separator: "\n")
            )
        }
    }

    // MARK: search, link, unlink, clear

    /// `keyctl search KEYRING TYPE DESC [DEST_KEYRING]` → the serial found.
    public struct Search: LegacyCommand {
        public static let configuration = CommandConfiguration(
            commandName: "search",
            abstract: "Search a keyring tree for a key; optionally link it into DEST_KEYRING."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "Keyring to search.") var keyring: KeyID
        @Argument(help: "Key type.") var type: String
        @Argument(help: "Description.") var desc: String
        @Argument(help: "Keyring to link the key into.") var destination: KeyID?
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            // keyctl passes 0 for no destination; so does a serial of 0 here.
            var destination = try self.destination?.serial(session, process)
            if destination == 0 { destination = nil }
            let serial = try session.kernel().keys.search(
                try keyring.serial(session, process),
                type: type,
                description: desc,
                destination: destination,
                pid: try process.value()
            )
            return .serial(serial)
        }
    }

    /// `keyctl link KEY KEYRING`.
    public struct Link: LegacyCommand {
        public static let configuration = CommandConfiguration(
            commandName: "link",
            abstract: "Link a key into a keyring."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "The key.") var key: KeyID
        @Argument(help: "The keyring.") var keyring: KeyID
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            try session.kernel().keys.link(
                try key.serial(session, process),
                into: try keyring.serial(session, process),
                pid: try process.value()
            )
            return .silent([("serial", key.json(session, process)), ("keyring", keyring.json(session, process))])
        }
    }

    /// `keyctl unlink KEY [KEYRING]`; without KEYRING, removes every link to KEY found in the session
    /// keyring tree and prints `N links removed`.
    public struct Unlink: LegacyCommand {
        public static let configuration = CommandConfiguration(
            commandName: "unlink",
            abstract: "Unlink a key from a keyring, or from everywhere in the session keyring tree."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "The key.") var key: KeyID
        @Argument(help: "The keyring.") var keyring: KeyID?
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            let kernel = try session.kernel()
            let pid = try process.value()
            let serial = key.json(session, process)
            if let keyring {
                let ring = keyring.json(session, process)
                try kernel.keys.unlink(
                    try key.serial(session, process),
                    from: try keyring.serial(session, process),
                    pid: pid
                )
                return .silent([("serial", serial), ("keyring", ring)])
            }
            let removed = KeyctlCommand.unlinkEverywhere(kernel, try key.serial(session, process), pid: pid)
            return CommandOutput(
                json: .object([("serial", serial), ("links_removed", .count(removed))]),
                text: "\(removed) links removed"
            )
        }
    }

    /// `keyctl clear KEYRING`.
    public struct Clear: LegacyCommand {
        public static let configuration = CommandConfiguration(
            commandName: "clear",
            abstract: "Unlink every key from a keyring."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "The keyring.") var keyring: KeyID
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            try session.kernel().keys.clear(try keyring.serial(session, process), pid: try process.value())
            return .silent([("keyring", keyring.json(session, process))])
        }
    }

    // MARK: revoke, invalidate, timeout, setperm, chown, chgrp

    /// `keyctl revoke KEY`.
    public struct Revoke: LegacyCommand {
        public static let configuration = CommandConfiguration(
            commandName: "revoke",
            abstract: "Revoke a key: everything but unlink fails with EKEYREVOKED until it is collected."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "The key.") var key: KeyID
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            let serial = key.json(session, process)
            try session.kernel().keys.revoke(try key.serial(session, process), pid: try process.value())
            return .silent([("serial", serial), ("state", .string(KeyState.revoked.rawValue))])
        }
    }

    /// `keyctl invalidate KEY`.
    public struct Invalidate: LegacyCommand {
        public static let configuration = CommandConfiguration(
            commandName: "invalidate",
            abstract: "Invalidate a key: it disappears at once and is collected immediately."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "The key.") var key: KeyID
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            let serial = key.json(session, process)
            try session.kernel().keys.invalidate(try key.serial(session, process), pid: try process.value())
            return .silent([("serial", serial), ("state", .string(KeyState.invalidated.rawValue))])
        }
    }

    /// `keyctl timeout KEY SECONDS` (0 removes the timeout).
    public struct Timeout: LegacyCommand {
        public static let configuration = CommandConfiguration(
            commandName: "timeout",
            abstract: "Make a key expire SECONDS from now (0: never)."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "The key.") var key: KeyID
        @Argument(help: "Seconds (decimal).") var timeout: String
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            guard let seconds = UInt32(timeout, radix: 10) else {
                throw HWKeysError.usage("Unparsable timeout: '\(timeout)'")
            }
            try session.kernel().keys.setTimeout(
                try key.serial(session, process),
                seconds: seconds,
                pid: try process.value()
            )
            return .silent([("serial", key.json(session, process)), ("timeout", .count(Int(seconds)))])
        }
    }

    /// `keyctl setperm KEY MASK` (MASK as `strtoul(…, 0)` reads it: `0x3f010000`).
    public struct Setperm: LegacyCommand {
        public static let configuration = CommandConfiguration(
            commandName: "setperm",
            abstract: "Set a key's permission mask, e.g. 0x3f010000."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "The key.") var key: KeyID
        @Argument(help: "The mask (possessor, user, group, other bytes).") var mask: String
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            guard let value = KeyID.strtoul(mask), let perm = UInt32(exactly: value) else {
                throw HWKeysError.usage("Unparsable permissions: '\(mask)'")
            }
            try session.kernel().keys.setPermissions(try key.serial(session, process), perm, pid: try process.value())
            return .silent([("serial", key.json(session, process)), ("perm", .hex(UInt64(perm)))])
        }
    }

    /// `keyctl chown KEY UID` (root only for another uid; -1 leaves it).
    public struct Chown: LegacyCommand {
        public static let configuration = CommandConfiguration(
            commandName: "chown",
            abstract: "Give a key to another user (root only); the new owner is charged for it."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "The key.") var key: KeyID
        @Argument(help: "The new uid (-1: unchanged).") var uid: String
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            let value = try KeyctlCommand.id(uid, "uid")
            try session.kernel().keys.chown(
                try key.serial(session, process),
                uid: value,
                gid: nil,
                pid: try process.value()
            )
            return .silent([("serial", key.json(session, process)), ("uid", value.map { .count(Int($0)) } ?? .null)])
        }
    }

    /// `keyctl chgrp KEY GID` (a group the caller is not in needs root; -1 leaves it).
    public struct Chgrp: LegacyCommand {
        public static let configuration = CommandConfiguration(
            commandName: "chgrp",
            abstract: "Change a key's group."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "The key.") var key: KeyID
        @Argument(help: "The new gid (-1: unchanged).") var gid: String
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            let value = try KeyctlCommand.id(gid, "gid")
            try session.kernel().keys.chown(
                try key.serial(session, process),
                uid: nil,
                gid: value,
                pid: try process.value()
            )
            return .silent([("serial", key.json(session, process)), ("gid", value.map { .count(Int($0)) } ?? .null)])
        }
    }
}

// MARK: - Helpers

/// A key argument, as keyutils' `get_key_id` reads it: a serial as `strtoul(…, 0)` does (decimal, `0x`
/// hex, `0` octal, optionally negative for the special serials), `@t`, `@p`, `@s`, `@u`, `@us`, `@g`,
/// `@a`, or a key found by type and description: `%user:lizard`, `%:name` for a keyring.
public struct KeyID: ExpressibleByArgument, Sendable, Hashable {
    enum Spec: Sendable, Hashable {
        case serial(Int32)
        case named(type: String, description: String)
    }

    let spec: Spec
    public let text: String

    public init?(argument: String) {
        if argument.hasPrefix("@") {
            guard let serial = KeySpecial.serial(named: argument) else { return nil }
            spec = .serial(serial)
        } else if argument.hasPrefix("%") {
            let body = argument.dropFirst()
            guard let colon = body.firstIndex(of: ":") else { return nil }
            let type = colon == body.startIndex ? "keyring" : String(body[..<colon])
            let description = String(body[body.index(after: colon)...])
            guard !description.isEmpty else { return nil }
            spec = .named(type: type, description: description)
        } else {
            var body = Substring(argument)
            let negative = body.hasPrefix("-")
            if negative { body = body.dropFirst() }
            guard let magnitude = Self.strtoul(String(body)) else { return nil }
            let value = negative ? -Int64(magnitude) : Int64(magnitude)
            guard let serial = Int32(exactly: value) else { return nil }
            spec = .serial(serial)
        }
        text = argument
    }

    /// `strtoul(text, &end, 0)` that accepts only a complete number.
    static func strtoul(_ text: String) -> UInt64? {
        let lower = text.lowercased()
        if lower.hasPrefix("0x") { return lower.count > 2 ? UInt64(lower.dropFirst(2), radix: 16) : nil }
        if lower.count > 1, lower.hasPrefix("0") { return UInt64(lower.dropFirst(), radix: 8) }
        return UInt64(lower, radix: 10)
    }

    /// The serial to pass to the kernel. A `%type:desc` name is looked up the way the process would find
    /// it: searching its process keyring, then its session keyring (keyutils scans `/proc/keys` as a
    /// last resort; hwkeys does not).
    func serial(_ session: Session, _ process: ProcessOptions) throws -> Int32 {
        switch spec {
        case .serial(let serial):
            return serial
        case .named(let type, let description):
            let kernel = try session.kernel()
            let pid = try process.value()
            var failure: HWKeysError?
            for ring in [KeySpecial.process, KeySpecial.session] {
                let found = Result { () throws(HWKeysError) -> Int32 in
                    try kernel.keys.search(ring, type: type, description: description, pid: pid)
                }
                switch found {
                case .success(let serial): return serial
                case .failure(let error): if failure == nil || failure?.errno == .ENOKEY { failure = error }
                }
            }
            let error = failure ?? HWKeysError(.ENOKEY, "")
            throw HWKeysError(error.code, "Can't find '\(type):\(description)': \(error.message)")
        }
    }

    /// The serial this argument names, for output (special names resolved when they can be).
    func json(_ session: Session, _ process: ProcessOptions) -> JSON {
        guard let serial = try? serial(session, process) else { return .string(text) }
        guard serial < 0, let kernel = try? session.kernel(), let pid = try? process.value(),
            let resolved = try? kernel.keys.keyringID(serial, create: false, pid: pid)
        else { return .int(Int64(serial)) }
        return .int(Int64(resolved))
    }
}

extension CommandOutput {
    /// `keyctl` prints a new or found serial as a bare number.
    static func serial(_ serial: Int32) -> CommandOutput {
        CommandOutput(json: .object([("serial", .int(Int64(serial)))]), text: "\(serial)")
    }

    /// Verbs that print nothing (as keyctl(1)) but report in JSON.
    static func silent(_ fields: [(String, JSON)]) -> CommandOutput {
        CommandOutput(json: .object(fields), text: "")
    }
}

extension KeyctlCommand {
    /// The payload of `padd` and `pupdate`: the file, or standard input.
    static func readInput(_ path: String?) throws -> SecretBytes {
        let data: Data
        if let path {
            guard let contents = FileManager.default.contents(atPath: path) else {
                throw HWKeysError(.ENOENT, "cannot read \(path)")
            }
            data = contents
        } else {
            data = FileHandle.standardInput.readDataToEndOfFile()
        }
        guard data.count <= 1024 * 1024 else { throw HWKeysError(.E2BIG, "Too much data read on stdin") }
        return SecretBytes(data)
    }

    /// A uid or gid argument; `-1` means unchanged.
    static func id(_ text: String, _ what: String) throws -> UInt32? {
        if text == "-1" { return nil }
        guard let value = KeyID.strtoul(text), let id = UInt32(exactly: value), id != UInt32.max else {
            throw HWKeysError.usage("Unparsable \(what): '\(text)'")
        }
        return id
    }

    /// The serials a keyring links, read as `keyctl list` reads them (the payload as 32-bit integers).
    static func links(_ kernel: Kernel, _ keyring: Int32, pid: Int32) throws -> [Int32] {
        let bytes = try kernel.keys.read(keyring, pid: pid).revealedBytes()
        return stride(from: 0, to: bytes.count / 4 * 4, by: 4).map { offset in
            Int32(
                bitPattern: UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16
                    | UInt32(bytes[offset + 3]) << 24
            )
        }
    }

    static func json(_ info: KeyDescription) -> JSON {
        .object([
            ("serial", .int(Int64(info.serial))), ("type", .string(info.type)), ("uid", .count(Int(info.uid))),
            ("gid", .int(info.gid)), ("perm", .hex(UInt64(info.permissions.rawValue))),
            ("description", .string(info.description)),
        ])
    }

    /// keyutils `calc_perms`: `--alswrv` for what the viewer gets — the possessor bits plus its user,
    /// group or other bits.
    static func effectivePermissions(_ info: KeyDescription, _ viewer: Credentials) -> String {
        let perm = info.permissions
        var bits = perm.bits(of: .possessor)
        if info.uid == viewer.uid {
            bits |= perm.bits(of: .user)
        } else if info.gid == Int64(viewer.gid) {
            bits |= perm.bits(of: .group)
        } else {
            bits |= perm.bits(of: .other)
        }
        return "--" + KeyPermissions(rawValue: bits).description.suffix(6)
    }

    /// keyutils' `recursive_session_key_scan` with `act_keyctl_unlink_func`: walks the session keyring
    /// tree and unlinks `serial` wherever it is found. Returns the number of links removed.
    static func unlinkEverywhere(_ kernel: Kernel, _ serial: Int32, pid: Int32) -> Int {
        guard let session = try? kernel.keys.keyringID(KeySpecial.session, create: false, pid: pid) else { return 0 }
        func scan(parent: Int32?, key: Int32, depth: Int) -> Int {
            guard depth <= 800 else { return 0 }
            var removed = 0
            if let info = try? kernel.keys.describe(key, pid: pid), info.type == "keyring",
                let children = try? links(kernel, key, pid: pid)
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

    /// The C library's `strerror` text for a failed key lookup (what keyctl's `%m` prints).
    static func strerror(_ error: HWKeysError) -> String { error.errno?.strerror ?? error.code.name }
}

/// keyutils `dump_key_tree_aux`: one line per key, nested keyrings indented under `\_`, a `|` continuing
/// the line of a keyring with more keys after it.
private struct TreeDumper {
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

    mutating func dump(_ serial: Int32, depth: Int, more: Bool) throws -> JSON {
        guard depth <= 32 else { return .null }
        let info: KeyDescription
        do {
            info = try kernel.keys.describe(serial, pid: pid)
        } catch {
            lines.append("\(serial): key inaccessible (\(KeyctlCommand.strerror(error)))")
            return .object([("serial", .int(Int64(serial))), ("error", .string(error.code.name))])
        }
        let id =
            hex
            ? "0x" + String(format: "%08x", UInt32(bitPattern: serial))
            : String(format: "%10d", serial)
        lines.append(
            id + " " + KeyctlCommand.effectivePermissions(info, viewer)
                + String(format: "  %5d %5d  ", Int(info.uid), Int(info.gid)) + String(indent[0..<depth])
                + (depth > 0 ? "\\_ " : "") + "\(info.type): \(info.description)"
        )
        var fields: [(String, JSON)] = [
            ("serial", .int(Int64(serial))), ("perm", .hex(UInt64(info.permissions.rawValue))),
            ("uid", .count(Int(info.uid))), ("gid", .int(info.gid)), ("type", .string(info.type)),
            ("description", .string(info.description)),
        ]
        if info.type == "keyring" {
            let children = try KeyctlCommand.links(kernel, serial, pid: pid)
            var nested: [JSON] = []
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
            fields.append(("keys", .array(nested)))
        }
        return .object(fields)
    }
}
