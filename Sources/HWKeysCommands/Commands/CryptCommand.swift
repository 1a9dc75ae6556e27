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

/// `hwkeys crypt …`: dm-crypt-like volumes on emulated disks, with the key in kernel memory
/// (`aes-xts-plain64`) or as Key Locker handles (`aes-xts-kl-plain64`) (docs/contract.md §7; docs/crypt-volumes.md).
public struct CryptCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "crypt",
        abstract:
            "Crypt volumes: AES-256-XTS over 512-byte sectors (plain64), key in kernel memory or Key Locker handles.",
        subcommands: [Create.self, Open.self, Close.self, Write.self, Read.self, Status.self, List.self]
    )
    public init() {}

    /// `--key HEX | --key-file F`: the 64-byte AES-256-XTS key K1 ‖ K2.
    struct KeyOptions: ParsableArguments {
        @Option(help: "The key as hex: 64 bytes (K1 ‖ K2, AES-256-XTS).") var key: HexBytes?
        @Option(
            name: .customLong("key-file"),
            help: "Read the key from FILE: 64 raw bytes, as cryptsetup's --key-file."
        )
        var keyFile: String?

        /// The key as a secret; exactly one source must be given (a usage error otherwise).
        func secret() throws -> SecretBytes {
            switch (key, keyFile) {
            case (let hex?, nil):
                return SecretBytes(hex.bytes)
            case (nil, let path?):
                guard let data = FileManager.default.contents(atPath: path) else {
                    throw HWKeysError(.ENOENT, "cannot read key file \(path)")
                }
                guard data.count <= 4096 else { throw HWKeysError(.EINVAL, "key file \(path) is too large") }
                return data.withUnsafeBytes { SecretBytes(copying: $0) }
            case (nil, nil):
                throw HWKeysError.usage("give the key with --key HEX or --key-file FILE")
            case (.some, .some):
                throw HWKeysError.usage("give either --key or --key-file, not both")
            }
        }
    }

    /// A cipher name on the command line.
    struct CipherArgument: ExpressibleByArgument {
        let cipher: CryptCipher
        init?(argument: String) {
            guard let cipher = CryptCipher(rawValue: argument) else { return nil }
            self.cipher = cipher
        }
        static var allValueStrings: [String] { CryptCipher.allCases.map(\.rawValue) }
    }

    // MARK: Verbs

    /// `crypt create NAME --size SIZE --cipher C (--key HEX | --key-file F)`.
    public struct Create: LegacyCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Create a volume on a new disk (header + SIZE bytes) and open it with the key."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "Volume name (also its disk's name).") var name: String
        @Option(help: "Payload size (K/M/G suffixes), whole 512-byte sectors.") var size: Size
        @Option(help: "aes-xts-plain64 (key in kernel memory) or aes-xts-kl-plain64 (Key Locker handles).")
        var cipher: CipherArgument
        @OptionGroup var key: KeyOptions
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            let secret = try key.secret()
            defer { secret.wipe() }
            let pid = try process.value()
            let kernel = try session.kernel()
            try kernel.crypt.create(name, size: size.bytes, cipher: cipher.cipher, key: secret, as: pid)
            var output = CryptCommand.describe(try kernel.crypt.status(name, as: pid))
            output.text = "created \(name)\n" + output.text
            return output
        }
    }

    /// `crypt open NAME (--key HEX | --key-file F)`.
    public struct Open: LegacyCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Open (map) a volume with its key; on an open volume, replace its key material."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "Volume name.") var name: String
        @OptionGroup var key: KeyOptions
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            let secret = try key.secret()
            defer { secret.wipe() }
            let pid = try process.value()
            let kernel = try session.kernel()
            try kernel.crypt.open(name, key: secret, as: pid)
            return CryptCommand.describe(try kernel.crypt.status(name, as: pid))
        }
    }

    /// `crypt close NAME`.
    public struct Close: LegacyCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Close a volume: its key or handles are wiped from kernel memory."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "Volume name.") var name: String
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            let pid = try process.value()
            let kernel = try session.kernel()
            try kernel.crypt.close(name, as: pid)
            return CryptCommand.describe(try kernel.crypt.status(name, as: pid))
        }
    }

    /// `crypt write NAME OFFSET HEX`.
    public struct Write: LegacyCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Write plaintext bytes into an open volume at OFFSET (any alignment: read-modify-write)."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "Volume name.") var name: String
        @Argument(help: "Byte offset in the volume.") var offset: Number
        @Argument(help: "Bytes to write, as hex.") var bytes: HexBytes
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            let pid = try process.value()
            guard !bytes.bytes.isEmpty else { throw HWKeysError.usage("nothing to write") }
            let kernel = try session.kernel()
            try bytes.bytes.withUnsafeBytes { data in
                try kernel.crypt.write(name, offset: offset.value, data: data, as: pid)
            }
            return CommandOutput(
                json: .object([
                    ("name", .string(name)), ("offset", .uint(offset.value)), ("written", .count(bytes.bytes.count)),
                ]),
                text: "wrote \(bytes.bytes.count) bytes to \(name) at offset \(offset.value)"
            )
        }
    }

    /// `crypt read NAME OFFSET LEN`.
    public struct Read: LegacyCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Read (decrypt) LEN bytes of an open volume from OFFSET."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "Volume name.") var name: String
        @Argument(help: "Byte offset in the volume.") var offset: Number
        @Argument(help: "Length in bytes (K/M suffixes allowed, at most 16 MiB).") var length: Size
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            let pid = try process.value()
            let count = try checkedLength(length.bytes, limit: UInt64(CryptVolumes.maximumIO))
            let bytes = try session.kernel().crypt.read(name, offset: offset.value, count: count, as: pid)
            return CommandOutput(
                json: .object([("name", .string(name)), ("offset", .uint(offset.value)), ("bytes", .bytes(bytes))]),
                text: hexDump(bytes, startingAt: offset.value)
            )
        }
    }

    /// `crypt status NAME`.
    public struct Status: LegacyCommand {
        public static let configuration = CommandConfiguration(
            abstract:
                "Show a volume: cipher, size, open or closed, whether a key or handles are held (never key bytes)."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "Volume name.") var name: String
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            CryptCommand.describe(try session.kernel().crypt.status(name, as: try process.value()))
        }
    }

    /// `crypt list`.
    public struct List: LegacyCommand {
        public static let configuration = CommandConfiguration(abstract: "List crypt volumes.")
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            let volumes = try session.kernel().crypt.list(as: try process.value())
            return CommandOutput(
                json: .object([("volumes", .array(volumes.map(CryptCommand.json)))]),
                text: volumes.isEmpty
                    ? "no crypt volumes"
                    : volumes.map { volume in
                        "\(volume.name)\t\(volume.cipher.rawValue)\t\(volume.size) bytes\t"
                            + (volume.isOpen ? "open" : "closed")
                    }.joined(separator: "\n")
            )
        }
    }

    // MARK: Output

    static func json(_ status: CryptVolumeStatus) -> JSON {
        .object([
            ("name", .string(status.name)),
            ("cipher", .string(status.cipher.rawValue)),
            ("size", .uint(status.size)),
            ("sector_size", .count(512)),
            ("disk", .string(status.name)),
            ("payload_offset", .uint(status.payloadOffset)),
            ("open", .bool(status.isOpen)),
            ("key_held", .bool(status.holdsKey)),
            ("handles_held", .bool(status.holdsHandles)),
        ])
    }

    static func describe(_ status: CryptVolumeStatus) -> CommandOutput {
        let material =
            status.holdsKey
            ? "key in kernel memory"
            : status.holdsHandles ? "two CPL0-only Key Locker handles in kernel memory" : "none"
        let text = [
            "\(status.name): \(status.isOpen ? "open" : "closed")",
            "  cipher:  \(status.cipher.rawValue) (AES-256-XTS, 512-byte sectors)",
            "  size:    \(status.size) bytes (\(status.size / 512) sectors)",
            "  disk:    \(status.name), payload at offset \(status.payloadOffset)",
            "  held:    \(material)",
        ].joined(separator: "\n")
        return CommandOutput(json: json(status), text: text)
    }
}
