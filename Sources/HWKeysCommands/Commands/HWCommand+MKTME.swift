//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommands
//
//===----------------------------------------------------------------------===//

import ArgumentParser
import HWKeysBase
import Workspace
import X86

/// `--keyid N`: the KeyID of a CPU access, when the physical address does not carry it in its KeyID bits.
struct KeyIDOption: ParsableArguments, Sendable {
    @Option(name: .customLong("keyid"), help: "KeyID to access through (default: the KeyID bits of PA).")
    var keyID: Number?

    init() {}

    /// `pa` with the KeyID from `--keyid`, if given (PA's own KeyID bits must then be zero or the same).
    func address(_ pa: Number) -> MonitorAddress {
        MonitorAddress(pa: pa.value, keyID: keyID?.value)
    }
}

extension HWCommand {
    /// `hw pconfig`: PCONFIG leaf 0 (MKTME_KEY_PROGRAM) on one CPU, with the structure given by value (it is
    /// never written to emulated DRAM).
    public struct PCONFIG: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "pconfig",
            abstract: "Execute PCONFIG MKTME_KEY_PROGRAM on one CPU (programs that CPU's package only).",
            discussion: """
                The structure is built from the options and handed to the instruction by value. Failures of the \
                programming are architected status (RAX, ZF), printed, exit 0; faults (#UD, #GP(0)) are errors.
                """
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var cpu: CPUOptions
        @Option(name: .customLong("keyid"), help: "KEYID (0…65535; valid ones are 1…MAX_KEYS and < 2^k).")
        var keyID: Number
        @Option(help: "set-key-direct, set-key-random, clear-key or no-encrypt.") var command: KeyCommandArgument?
        @Option(help: "ENC_ALG: aes-xts-128 or aes-xts-256.") var alg: TMEAlgorithm = .aesXTS128
        @Option(help: "KEY_FIELD_1 as hex (data key or entropy; at most 64 bytes).") var key: HexBytes?
        @Option(help: "KEY_FIELD_2 as hex (tweak key or entropy; at most 64 bytes).") var tweak: HexBytes?
        @Option(help: "Raw KEYID_CTRL (overrides --command and --alg).") var ctrl: Number?
        @Option(help: "EAX, the PCONFIG leaf.") var leaf: Number = Number(0)
        public init() {}

        public func request() throws(HWKeysError) -> ExecutePCONFIG {
            guard let keyID = UInt16(exactly: keyID.value) else {
                throw HWKeysError.usage("--keyid must fit in 16 bits")
            }
            let control: UInt32
            if let ctrl {
                control = try ctrl.uint32("--ctrl")
            } else if let command {
                control = MKTMEKeyProgramLayout.keyIDControl(command: command.command, algorithm: alg)
            } else {
                throw HWKeysError.usage("give --command (or a raw --ctrl)")
            }
            let leaf = try self.leaf.uint32("--leaf")
            let field1 = key?.bytes ?? []
            let field2 = tweak?.bytes ?? []
            guard field1.count <= MKTMEKeyProgramLayout.keyFieldSize, field2.count <= MKTMEKeyProgramLayout.keyFieldSize
            else { throw HWKeysError.usage("--key and --tweak are at most 64 bytes each") }
            return ExecutePCONFIG(
                processor: try cpu.selection(),
                leaf: leaf,
                keyID: keyID,
                keyIDControl: control,
                keyField1: field1,
                keyField2: field2
            )
        }
    }

    /// `hw store PA HEX [--keyid N]`: a CPU store through the package cache.
    public struct Store: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "store",
            abstract: "Store bytes through the CPU's cache (KeyID from --keyid or from PA's KeyID bits)."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var cpu: CPUOptions
        @OptionGroup var keyID: KeyIDOption
        @Argument(help: "Physical address.") var pa: Number
        @Argument(help: "Bytes to store, as hex.") var bytes: HexBytes
        public init() {}

        public func request() throws(HWKeysError) -> StoreThroughCache {
            guard !bytes.bytes.isEmpty else { throw HWKeysError.usage("nothing to store") }
            return StoreThroughCache(processor: try cpu.selection(), address: keyID.address(pa), bytes: bytes.bytes)
        }
    }

    /// `hw load PA LEN [--keyid N]`: a CPU load through the package cache.
    public struct Load: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "load",
            abstract: "Load bytes through the CPU's cache (KeyID from --keyid or from PA's KeyID bits)."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var cpu: CPUOptions
        @OptionGroup var keyID: KeyIDOption
        @Argument(help: "Physical address.") var pa: Number
        @Argument(help: "Length in bytes (K/M suffixes allowed, at most 16 MiB).") var length: Size
        public init() {}

        public func request() throws(HWKeysError) -> LoadThroughCache {
            LoadThroughCache(
                processor: try cpu.selection(),
                address: keyID.address(pa),
                length: try checkedLength(length.bytes, limit: UInt64(MonitorLimits.maximumRead))
            )
        }
    }

    /// `hw clflush PA [--keyid N]`: CLFLUSH of one alias.
    public struct CLFLUSH: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "clflush",
            abstract: "Execute CLFLUSH: write back this alias's line if dirty and invalidate it in every cache."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var cpu: CPUOptions
        @OptionGroup var keyID: KeyIDOption
        @Argument(help: "Physical address.") var pa: Number
        public init() {}

        public func request() throws(HWKeysError) -> ExecuteCLFLUSH {
            ExecuteCLFLUSH(processor: try cpu.selection(), address: keyID.address(pa))
        }
    }

    /// `hw wbinvd`: WBINVD on one CPU (its package's cache).
    public struct WBINVD: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "wbinvd",
            abstract: "Execute WBINVD: write back and invalidate the CPU's package cache."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var cpu: CPUOptions
        public init() {}

        public func request() throws(HWKeysError) -> ExecuteWBINVD {
            ExecuteWBINVD(processor: try cpu.selection())
        }
    }

    /// `hw keytable [--package P]`: the state of every KeyID in one package's key table, never key bytes.
    public struct KeyTable: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "keytable",
            abstract: "Show the state of every KeyID of a package's MKTME key table (never key bytes)."
        )
        @OptionGroup public var global: GlobalOptions
        @Option(help: "Package (socket).") var package: Number = Number(0)
        public init() {}

        public func request() throws(HWKeysError) -> ShowKeyTable {
            ShowKeyTable(package: try self.package.int("package"))
        }
    }
}

/// A PCONFIG command on the command line.
struct KeyCommandArgument: ExpressibleByArgument, Sendable {
    let command: MKTMEKeyCommand
    init?(argument: String) {
        guard let command = MKTMEKeyCommand(name: argument) else { return nil }
        self.command = command
    }
    static var allValueStrings: [String] { MKTMEKeyCommand.allCases.map(\.name) }
}
