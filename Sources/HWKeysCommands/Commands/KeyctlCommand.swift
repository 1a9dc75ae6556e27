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
import Workspace

/// `hwkeys keyctl …`: the key retention service, with keyctl(1)'s verbs, argument order and output
/// (keyutils `keyctl.c`). Every verb acts as `--pid P` [100, the root shell]. Keys are named by serial
/// (decimal, `0x` hex or `0` octal, as `strtoul(…, 0)` reads them; negative for the special `KEY_SPEC_*`
/// serials), as `@t`, `@p`, `@s`, `@u`, `@us`, `@g`, `@a`, or as `%type:description`. A verb may be
/// abbreviated to a prefix keyctl(1) finds unambiguous (``KeyctlCommand/normalize(_:)``).
///
/// With `--format json` each verb prints one object; payload bytes appear (as hex) only in `read`,
/// `print` and `pipe`, whose purpose is to show them. The requests are in
/// `Sources/Workspace/Requests/Keyctl*.swift`.
public struct KeyctlCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "keyctl",
        abstract: "Key retention service: add, read, revoke, link, search and list keys (keyctl(1)).",
        discussion: """
            Keys are named by serial (negative for the special keyrings: -1 thread … -5 user session) or as \
            @t (thread keyring), @p (process keyring), @s (session keyring), @u (user keyring), @us (user \
            session keyring), or %type:description. Every verb acts as --pid P (default 100, the root \
            shell). Verbs may be abbreviated as keyctl(1) allows (a unique prefix).
            """,
        subcommands: [
            Add.self, Padd.self, Newring.self, Update.self, Pupdate.self, Describe.self, RDescribe.self,
            Read.self, Pipe.self, Print.self, List.self, RList.self, Show.self, Search.self, Link.self,
            Unlink.self, Clear.self, Revoke.self, Invalidate.self, Timeout.self, Setperm.self, Chown.self,
            Chgrp.self, ID.self, Supports.self,
        ]
    )

    public init() {}

    // MARK: add, padd, newring, update, pupdate

    /// `keyctl add [-x] TYPE DESC DATA KEYRING` → the new key's serial.
    public struct Add: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "add",
            abstract: "Add a key (or update one of the same type and description) and print its serial."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Flag(name: .customShort("x"), help: "DATA is hex (whitespace between byte pairs ignored).") var hex = false
        @Argument(help: "Key type: user, logon, keyring, …") var type: String
        @Argument(help: "Description.") var desc: String
        @Argument(help: "Payload (its bytes, as keyctl passes its argument).") var data: String
        @Argument(help: "Destination keyring.") var keyring: KeyID
        public init() {}

        public func request() throws(HWKeysError) -> AddKey {
            AddKey(
                type: type,
                description: desc,
                payload: try KeyctlCommand.payload(Array(data.utf8), hex: hex),
                keyring: keyring.spec,
                pid: try process.value()
            )
        }
    }

    /// `keyctl padd [-x] TYPE DESC KEYRING` with the payload on standard input (or `--input FILE`).
    public struct Padd: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "padd",
            abstract: "Add a key whose payload is read from standard input and print its serial."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Option(help: "Read the payload from this file instead of standard input.") var input: String?
        @Flag(name: .customShort("x"), help: "The payload is hex (whitespace between byte pairs ignored).")
        var hex = false
        @Argument(help: "Key type.") var type: String
        @Argument(help: "Description.") var desc: String
        @Argument(help: "Destination keyring.") var keyring: KeyID
        public init() {}

        public func request() throws(HWKeysError) -> AddKey {
            AddKey(
                type: type,
                description: desc,
                payload: try KeyctlCommand.payload(try KeyctlCommand.readInput(input), hex: hex),
                keyring: keyring.spec,
                pid: try process.value()
            )
        }
    }

    /// `keyctl newring NAME KEYRING` → the new keyring's serial.
    public struct Newring: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "newring",
            abstract: "Create a keyring inside KEYRING and print its serial."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "Name.") var name: String
        @Argument(help: "Destination keyring.") var keyring: KeyID
        public init() {}

        public func request() throws(HWKeysError) -> AddKey {
            AddKey(
                type: "keyring",
                description: name,
                payload: SecretBytes(count: 0),
                keyring: keyring.spec,
                pid: try process.value()
            )
        }
    }

    /// `keyctl update [-x] KEY DATA`.
    public struct Update: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "update",
            abstract: "Replace a key's payload."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Flag(name: .customShort("x"), help: "DATA is hex (whitespace between byte pairs ignored).") var hex = false
        @Argument(help: "The key.") var key: KeyID
        @Argument(help: "The new payload.") var data: String
        public init() {}

        public func request() throws(HWKeysError) -> UpdateKey {
            UpdateKey(
                key: key.spec,
                payload: try KeyctlCommand.payload(Array(data.utf8), hex: hex),
                pid: try process.value()
            )
        }
    }

    /// `keyctl pupdate [-x] KEY` with the payload on standard input (or `--input FILE`).
    public struct Pupdate: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "pupdate",
            abstract: "Replace a key's payload with standard input."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Option(help: "Read the payload from this file instead of standard input.") var input: String?
        @Flag(name: .customShort("x"), help: "The payload is hex (whitespace between byte pairs ignored).")
        var hex = false
        @Argument(help: "The key.") var key: KeyID
        public init() {}

        public func request() throws(HWKeysError) -> UpdateKey {
            UpdateKey(
                key: key.spec,
                payload: try KeyctlCommand.payload(try KeyctlCommand.readInput(input), hex: hex),
                pid: try process.value()
            )
        }
    }

    // MARK: describe, rdescribe, read, pipe, print

    /// `keyctl describe KEY` → `<serial>: <perm> <uid> <gid> <type>: <desc>`.
    public struct Describe: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "describe",
            abstract: "Describe a key: permissions, owner, group, type and description."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "The key.") var key: KeyID
        public init() {}

        public func request() throws(HWKeysError) -> DescribeKey {
            DescribeKey(key: key.spec, pid: try process.value())
        }
    }

    /// `keyctl rdescribe KEY [SEP]` → `type;uid;gid;perm;description`.
    public struct RDescribe: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "rdescribe",
            abstract: "Describe a key in the kernel's raw form, type;uid;gid;perm;description."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "The key.") var key: KeyID
        @Argument(help: "A separator to use instead of ';'.") var separator: String?
        public init() {}

        public func request() throws(HWKeysError) -> DescribeKeyRaw {
            if let separator, separator.isEmpty { throw HWKeysError.usage("the separator must not be empty") }
            return DescribeKeyRaw(key: key.spec, separator: separator?.first, pid: try process.value())
        }
    }

    /// `keyctl read KEY` → `N bytes of data in key:` and a hex dump in groups of 4 bytes, 32 per line.
    public struct Read: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "read",
            abstract: "Read a key's payload as a hex dump."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "The key.") var key: KeyID
        public init() {}

        public func request() throws(HWKeysError) -> ReadKeyPayload {
            ReadKeyPayload(key: key.spec, form: .hexDump, pid: try process.value())
        }
    }

    /// `keyctl pipe KEY` → the payload's raw bytes on standard output, nothing added.
    public struct Pipe: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "pipe",
            abstract: "Write a key's payload, raw, to standard output."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "The key.") var key: KeyID
        public init() {}

        public func request() throws(HWKeysError) -> ReadKeyPayload {
            ReadKeyPayload(key: key.spec, form: .raw, pid: try process.value())
        }
    }

    /// `keyctl print KEY` → the payload if every byte is printable, else `:hex:` and hex digits.
    public struct Print: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "print",
            abstract: "Print a key's payload: as text if printable, else as :hex:…."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "The key.") var key: KeyID
        public init() {}

        public func request() throws(HWKeysError) -> ReadKeyPayload {
            ReadKeyPayload(key: key.spec, form: .printable, pid: try process.value())
        }
    }

    // MARK: list, rlist, show

    /// `keyctl list KEYRING` → `N keys in keyring:` and one described line per key.
    public struct List: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List the keys in a keyring."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "The keyring.") var keyring: KeyID
        public init() {}

        public func request() throws(HWKeysError) -> ListKeyring {
            ListKeyring(keyring: keyring.spec, pid: try process.value())
        }
    }

    /// `keyctl rlist KEYRING` → the serials, space-separated.
    public struct RList: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "rlist",
            abstract: "List the serials in a keyring, space-separated."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "The keyring.") var keyring: KeyID
        public init() {}

        public func request() throws(HWKeysError) -> ListKeyringSerials {
            ListKeyringSerials(keyring: keyring.spec, pid: try process.value())
        }
    }

    /// `keyctl show [-x] [KEYRING]` → the tree under the session keyring (or KEYRING).
    public struct Show: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "Show the tree of keys under the session keyring, or under KEYRING."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Flag(name: .customShort("x"), help: "Show serials in hex.") var hex = false
        @Argument(help: "The keyring (default @s).") var keyring: KeyID?
        public init() {}

        public func request() throws(HWKeysError) -> ShowKeyTree {
            ShowKeyTree(keyring: keyring?.spec, hexSerials: hex, pid: try process.value())
        }
    }

    // MARK: search, link, unlink, clear

    /// `keyctl search KEYRING TYPE DESC [DEST_KEYRING]` → the serial found.
    public struct Search: HWKeysCommand {
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

        public func request() throws(HWKeysError) -> SearchKey {
            SearchKey(
                keyring: keyring.spec,
                type: type,
                description: desc,
                destination: destination?.spec,
                pid: try process.value()
            )
        }
    }

    /// `keyctl link KEY KEYRING`.
    public struct Link: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "link",
            abstract: "Link a key into a keyring."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "The key.") var key: KeyID
        @Argument(help: "The keyring.") var keyring: KeyID
        public init() {}

        public func request() throws(HWKeysError) -> LinkKey {
            LinkKey(key: key.spec, keyring: keyring.spec, pid: try process.value())
        }
    }

    /// `keyctl unlink KEY [KEYRING]`; without KEYRING, removes every link to KEY found in the session
    /// keyring tree and prints `N links removed`.
    public struct Unlink: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "unlink",
            abstract: "Unlink a key from a keyring, or from everywhere in the session keyring tree."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "The key.") var key: KeyID
        @Argument(help: "The keyring.") var keyring: KeyID?
        public init() {}

        public func request() throws(HWKeysError) -> UnlinkKey {
            UnlinkKey(key: key.spec, from: keyring?.spec, pid: try process.value())
        }
    }

    /// `keyctl clear KEYRING`.
    public struct Clear: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "clear",
            abstract: "Unlink every key from a keyring."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "The keyring.") var keyring: KeyID
        public init() {}

        public func request() throws(HWKeysError) -> ClearKeyring {
            ClearKeyring(keyring: keyring.spec, pid: try process.value())
        }
    }

    // MARK: revoke, invalidate, timeout, setperm, chown, chgrp

    /// `keyctl revoke KEY`.
    public struct Revoke: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "revoke",
            abstract: "Revoke a key: everything but unlink fails with EKEYREVOKED until it is collected."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "The key.") var key: KeyID
        public init() {}

        public func request() throws(HWKeysError) -> EndKey {
            EndKey(.revoked, key: key.spec, pid: try process.value())
        }
    }

    /// `keyctl invalidate KEY`.
    public struct Invalidate: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "invalidate",
            abstract: "Invalidate a key: it disappears at once and is collected immediately."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "The key.") var key: KeyID
        public init() {}

        public func request() throws(HWKeysError) -> EndKey {
            EndKey(.invalidated, key: key.spec, pid: try process.value())
        }
    }

    /// `keyctl timeout KEY SECONDS` (0 removes the timeout).
    public struct Timeout: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "timeout",
            abstract: "Make a key expire SECONDS from now (0: never)."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "The key.") var key: KeyID
        @Argument(help: "Seconds (decimal).") var timeout: String
        public init() {}

        public func request() throws(HWKeysError) -> SetKeyTimeout {
            guard let seconds = UInt32(timeout, radix: 10) else {
                throw HWKeysError.usage("Unparsable timeout: '\(HWKeysCLI.echo(timeout))'")
            }
            return SetKeyTimeout(key: key.spec, seconds: seconds, pid: try process.value())
        }
    }

    /// `keyctl setperm KEY MASK` (MASK as `strtoul(…, 0)` reads it: `0x3f010000`).
    public struct Setperm: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "setperm",
            abstract: "Set a key's permission mask, e.g. 0x3f010000."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "The key.") var key: KeyID
        @Argument(help: "The mask (possessor, user, group, other bytes).") var mask: String
        public init() {}

        public func request() throws(HWKeysError) -> SetKeyPermissions {
            guard let value = KeyID.strtoul(mask), let perm = UInt32(exactly: value) else {
                throw HWKeysError.usage("Unparsable permissions: '\(HWKeysCLI.echo(mask))'")
            }
            return SetKeyPermissions(key: key.spec, mask: perm, pid: try process.value())
        }
    }

    /// `keyctl chown KEY UID` (root only for another uid; -1 leaves it).
    public struct Chown: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "chown",
            abstract: "Give a key to another user (root only); the new owner is charged for it."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "The key.") var key: KeyID
        @Argument(help: "The new uid (-1: unchanged).") var uid: String
        public init() {}

        public func request() throws(HWKeysError) -> ChangeKeyOwnership {
            ChangeKeyOwnership(key: key.spec, .uid, to: try KeyctlCommand.id(uid, "uid"), pid: try process.value())
        }
    }

    /// `keyctl chgrp KEY GID` (a group the caller is not in needs root; -1 leaves it).
    public struct Chgrp: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "chgrp",
            abstract: "Change a key's group."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "The key.") var key: KeyID
        @Argument(help: "The new gid (-1: unchanged).") var gid: String
        public init() {}

        public func request() throws(HWKeysError) -> ChangeKeyOwnership {
            ChangeKeyOwnership(key: key.spec, .gid, to: try KeyctlCommand.id(gid, "gid"), pid: try process.value())
        }
    }

    // MARK: id, supports

    /// `keyctl id KEY` → the serial KEY names (`@s` as a number, say).
    public struct ID: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "id",
            abstract: "Print the serial a key argument names (e.g. the session keyring's for @s)."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "The key.") var key: KeyID
        public init() {}

        public func request() throws(HWKeysError) -> KeyringID {
            KeyringID(key: key.spec, pid: try process.value())
        }
    }

    /// `keyctl supports [CAP | --raw]`: the key service's capabilities.
    public struct Supports: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "supports",
            abstract: "List the key service's capabilities (have_NAME=0|1), print them raw, or test one.",
            discussion: """
                With CAP: exit status 0 if supported, 1 (EOPNOTSUPP) if not; an unknown CAP is a usage error \
                (keyctl exits 3).
                """
        )
        @OptionGroup public var global: GlobalOptions
        @Flag(name: .customLong("raw"), help: "Print the capability bytes in hex.") var raw = false
        @Argument(help: "A capability, e.g. key_invalidate.") var capability: String?
        public init() {}

        public func request() throws(HWKeysError) -> KeyCapabilities {
            switch (raw, capability) {
            case (true, nil): return KeyCapabilities(.raw)
            case (false, nil): return KeyCapabilities(.all)
            case (false, let name?): return KeyCapabilities(.named(name))
            case (true, _?): throw HWKeysError.usage("give a capability or --raw, not both")
            }
        }
    }
}

// MARK: - Helpers

/// A key argument, as keyutils' `get_key_id` reads it: a serial as `strtoul(…, 0)` does (decimal, `0x`
/// hex, `0` octal, negative for the special `KEY_SPEC_*` serials), `@t`, `@p`, `@s`, `@u`, `@us`, `@g`,
/// `@a`, or a key found by type and description: `%user:lizard`, `%:name` for a keyring.
public struct KeyID: ExpressibleByArgument, Sendable, Hashable {
    /// What the argument names.
    public let spec: KeySpecifier

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
            let value = negative ? -Int64(clamping: magnitude) : Int64(clamping: magnitude)
            guard let serial = Int32(exactly: value) else { return nil }
            spec = .serial(serial)
        }
    }

    /// `strtoul(text, &end, 0)` that accepts only a complete number.
    static func strtoul(_ text: String) -> UInt64? {
        let lower = text.lowercased()
        if lower.hasPrefix("0x") { return lower.count > 2 ? UInt64(lower.dropFirst(2), radix: 16) : nil }
        if lower.count > 1, lower.hasPrefix("0") { return UInt64(lower.dropFirst(), radix: 8) }
        return UInt64(lower, radix: 10)
    }
}

extension KeyctlCommand {
    /// The largest payload keyctl reads from standard input (keyutils `grab_stdin`: 1 MiB).
    static let maximumInput = 1024 * 1024

    /// The payload of `padd` and `pupdate`: the file, or standard input.
    static func readInput(_ path: String?) throws(HWKeysError) -> [UInt8] {
        let data: Data
        if let path {
            guard let contents = FileManager.default.contents(atPath: path) else {
                throw HWKeysError(.ENOENT, "cannot read \(HWKeysCLI.echo(path))")
            }
            data = contents
        } else {
            data = FileHandle.standardInput.readDataToEndOfFile()
        }
        guard data.count <= maximumInput else { throw HWKeysError(.E2BIG, "Too much data read on stdin") }
        return Array(data)
    }

    /// A payload argument or input as the kernel gets it: as is, or with `-x` decoded from hex the way
    /// keyutils' `hex2bin` does — whitespace skipped between byte pairs, an odd digit at the end "Short hex
    /// doublet", anything else "Bad hex doublet" (keyctl exits 1 for both, so these are not usage errors).
    static func payload(_ bytes: [UInt8], hex: Bool) throws(HWKeysError) -> SecretBytes {
        guard hex else { return SecretBytes(bytes) }
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || (0x09...0x0D).contains(byte) }
        func nibble(_ byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var decoded: [UInt8] = []
        decoded.reserveCapacity(bytes.count / 2)
        var index = 0
        while index < bytes.count {
            if isSpace(bytes[index]) {
                index += 1
                continue
            }
            guard bytes.count - index >= 2 else { throw .einval("Short hex doublet") }
            guard let high = nibble(bytes[index]), let low = nibble(bytes[index + 1]) else {
                throw .einval("Bad hex doublet")
            }
            decoded.append(high << 4 | low)
            index += 2
        }
        return SecretBytes(decoded)
    }

    /// A uid or gid argument as keyctl's `strtoul(…, 0)` reads it into a `uid_t`: `-1` (or 4294967295)
    /// means unchanged; `-N` wraps as in C.
    static func id(_ text: String, _ what: String) throws(HWKeysError) -> UInt32? {
        var body = Substring(text)
        let negative = body.hasPrefix("-")
        if negative { body = body.dropFirst() }
        guard let magnitude = KeyID.strtoul(String(body)), let value = UInt32(exactly: magnitude) else {
            throw HWKeysError.usage("Unparsable \(what): '\(HWKeysCLI.echo(text))'")
        }
        let id = negative ? 0 &- value : value
        return id == UInt32.max ? nil : id
    }
}
