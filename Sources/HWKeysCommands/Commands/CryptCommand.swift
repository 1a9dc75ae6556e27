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

/// `hwkeys crypt …`: dm-crypt-like volumes on emulated disks, with the key in kernel memory
/// (`aes-xts-plain64`) or as Key Locker handles (`aes-xts-kl-plain64`) (docs/contract.md §7; docs/crypt-volumes.md).
public struct CryptCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "crypt",
        abstract:
            "Crypt volumes: AES-256-XTS over 512- or 4096-byte sectors (plain64), key in kernel memory or Key Locker handles.",
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
        func secret() throws(HWKeysError) -> RequestSecret {
            switch (key, keyFile) {
            case (let hex?, nil):
                return RequestSecret(copying: hex.bytes)
            case (nil, let path?):
                guard let data = FileManager.default.contents(atPath: path) else {
                    throw HWKeysError(.ENOENT, "cannot read key file \(path)")
                }
                guard data.count <= 4096 else { throw HWKeysError(.EINVAL, "key file \(path) is too large") }
                return RequestSecret(data.withUnsafeBytes { SecretBytes(copying: $0) })
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

    /// `--sector-size 512|4096` (cryptsetup's option).
    struct SectorSizeArgument: ExpressibleByArgument {
        let bytes: Int
        init(bytes: Int) { self.bytes = bytes }
        init?(argument: String) {
            guard let bytes = Int(argument), bytes == 512 || bytes == 4096 else { return nil }
            self.bytes = bytes
        }
        static var allValueStrings: [String] { ["512", "4096"] }
        var defaultValueDescription: String { String(bytes) }
    }

    // MARK: Verbs

    /// `crypt create NAME --size SIZE --cipher C [--sector-size 512|4096] (--key HEX | --key-file F)`.
    public struct Create: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Create a volume on a new disk (header + SIZE bytes) and open it with the key."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "Volume name (also its disk's name).") var name: String
        @Option(help: "Payload size (K/M/G suffixes), whole sectors.") var size: Size
        @Option(help: "aes-xts-plain64 (key in kernel memory) or aes-xts-kl-plain64 (Key Locker handles).")
        var cipher: CipherArgument
        @Option(
            name: .customLong("sector-size"),
            help: "Encryption sector size: 512 or 4096 bytes (the plain64 IV counts 512-byte units either way)."
        )
        var sectorSize = SectorSizeArgument(bytes: 512)
        @OptionGroup var key: KeyOptions
        public init() {}

        public func request() throws(HWKeysError) -> CreateCryptVolume {
            let secret = try key.secret()
            return CreateCryptVolume(
                name: name,
                size: size.bytes,
                cipher: cipher.cipher,
                sectorSize: sectorSize.bytes,
                key: secret,
                pid: try process.value()
            )
        }
    }

    /// `crypt open NAME (--key HEX | --key-file F)`.
    public struct Open: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Open (map) a volume with its key; on an open volume, replace its key material."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "Volume name.") var name: String
        @OptionGroup var key: KeyOptions
        public init() {}

        public func request() throws(HWKeysError) -> OpenCryptVolume {
            let secret = try key.secret()
            return OpenCryptVolume(name: name, key: secret, pid: try process.value())
        }
    }

    /// `crypt close NAME`.
    public struct Close: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Close a volume: its key or handles are wiped from kernel memory."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "Volume name.") var name: String
        public init() {}

        public func request() throws(HWKeysError) -> CloseCryptVolume {
            CloseCryptVolume(name: name, pid: try process.value())
        }
    }

    /// `crypt write NAME OFFSET HEX`.
    public struct Write: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Write plaintext bytes into an open volume at OFFSET (any alignment: read-modify-write)."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "Volume name.") var name: String
        @Argument(help: "Byte offset in the volume.") var offset: Number
        @Argument(help: "Bytes to write, as hex.") var bytes: HexBytes
        public init() {}

        public func request() throws(HWKeysError) -> WriteCryptVolume {
            let pid = try process.value()
            guard !bytes.bytes.isEmpty else { throw HWKeysError.usage("nothing to write") }
            return WriteCryptVolume(name: name, offset: offset.value, bytes: bytes.bytes, pid: pid)
        }
    }

    /// `crypt read NAME OFFSET LEN`.
    public struct Read: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Read (decrypt) LEN bytes of an open volume from OFFSET."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "Volume name.") var name: String
        @Argument(help: "Byte offset in the volume.") var offset: Number
        @Argument(help: "Length in bytes (K/M suffixes allowed, at most 16 MiB).") var length: Size
        public init() {}

        public func request() throws(HWKeysError) -> ReadCryptVolume {
            let pid = try process.value()
            guard length.bytes > 0 else { throw HWKeysError.usage("length must be positive") }
            guard length.bytes <= UInt64(CryptVolumes.maximumIO) else {
                throw HWKeysError.usage("length must be at most \(CryptVolumes.maximumIO) bytes")
            }
            return ReadCryptVolume(name: name, offset: offset.value, length: Int(length.bytes), pid: pid)
        }
    }

    /// `crypt status NAME`.
    public struct Status: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            abstract:
                "Show a volume: cipher, sector size, size, open or closed, whether a key or handles are held (never key bytes)."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "Volume name.") var name: String
        public init() {}

        public func request() throws(HWKeysError) -> ShowCryptVolume {
            ShowCryptVolume(name: name, pid: try process.value())
        }
    }

    /// `crypt list`.
    public struct List: HWKeysCommand {
        public static let configuration = CommandConfiguration(abstract: "List crypt volumes.")
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        public init() {}

        public func request() throws(HWKeysError) -> ListCryptVolumes {
            ListCryptVolumes(pid: try process.value())
        }
    }
}
