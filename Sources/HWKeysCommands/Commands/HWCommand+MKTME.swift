//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommands
//
//===----------------------------------------------------------------------===//

import ArgumentParser
import HWCrypto
import HWKeysBase
import Platform
import X86

/// `--keyid N`: the KeyID of a CPU access, when the physical address does not carry it in its KeyID bits.
struct KeyIDOption: ParsableArguments, Sendable {
    @Option(name: .customLong("keyid"), help: "KeyID to access through (default: the KeyID bits of PA).")
    var keyID: Number?

    init() {}

    /// `pa` with the KeyID from `--keyid` (PA's own KeyID bits must then be zero), checked against MAXPHYADDR,
    /// the activated KeyID bits, and DRAM (`count` bytes).
    func address(_ pa: Number, count: Int, machine: Machine) throws -> PhysicalAddress {
        let layout = machine.keyIDLayout
        guard pa.value >> UInt64(layout.maxPhysAddr) == 0 else {
            throw HWKeysError.usage(
                "PA 0x\(String(pa.value, radix: 16)) is above MAXPHYADDR (\(layout.maxPhysAddr) bits)"
            )
        }
        var address = PhysicalAddress(pa.value)
        if let keyID {
            guard keyID.value < UInt64(layout.keyIDCount) else {
                throw HWKeysError.usage(
                    "KeyID \(keyID.value) does not fit in the \(layout.keyIDBits) activated KeyID bits"
                )
            }
            let carried = layout.keyID(of: address)
            guard carried == 0 || carried == UInt16(keyID.value) else {
                throw HWKeysError.usage("PA already carries KeyID \(carried); give the KeyID once")
            }
            address = layout.address(address, withKeyID: UInt16(keyID.value))
        }
        let dram = layout.stripKeyID(address).rawValue
        guard machine.dram.contains(dram, count: count) else {
            throw HWKeysError(
                .EFAULT,
                "range 0x\(String(dram, radix: 16))+\(count) is outside DRAM (\(machine.dram.size) bytes)"
            )
        }
        return address
    }
}

extension HWCommand {
    /// `hw pconfig`: PCONFIG leaf 0 (MKTME_KEY_PROGRAM) on one CPU, with the structure given by value (it is
    /// never written to emulated DRAM).
    public struct PCONFIG: LegacyCommand {
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

        public func execute(in session: Session) throws -> CommandOutput {
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

            let structure = SecretBytes(count: MKTMEKeyProgramLayout.size)
            structure.withUnsafeMutableBytes { out in
                field1.withUnsafeBytes { k in
                    field2.withUnsafeBytes { t in
                        MKTMEKeyProgramLayout.encode(
                            keyID: keyID,
                            keyIDControl: control,
                            keyField1: k,
                            keyField2: t,
                            into: out
                        )
                    }
                }
            }
            let result = try cpu.execute(on: try session.machine()) { processor in
                try structure.withUnsafeBytes { bytes in try processor.pconfig(leaf: leaf, structureBytes: bytes) }
            }
            let zf = result.zf ? 1 : 0
            return CommandOutput(
                json: .object([("rax", .uint(result.rax)), ("zf", .count(zf)), ("status", .string(result.status.name))]
                ),
                text: "PCONFIG: \(result.status.name) (RAX=\(result.rax), ZF=\(zf))"
            )
        }
    }

    /// `hw store PA HEX [--keyid N]`: a CPU store through the package cache.
    public struct Store: LegacyCommand {
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

        public func execute(in session: Session) throws -> CommandOutput {
            guard !bytes.bytes.isEmpty else { throw HWKeysError.usage("nothing to store") }
            let machine = try session.machine()
            try machine.requireRunning()
            let address = try keyID.address(pa, count: bytes.bytes.count, machine: machine)
            try cpu.execute(on: machine) { processor in
                bytes.bytes.withUnsafeBytes { processor.store(address, from: $0) }
            }
            let id = machine.keyIDLayout.keyID(of: address)
            return CommandOutput(
                json: .object([
                    ("pa", .hex(address.rawValue)), ("keyid", .count(Int(id))), ("written", .count(bytes.bytes.count)),
                ]),
                text: "stored \(bytes.bytes.count) bytes at \(address) (KeyID \(id))"
            )
        }
    }

    /// `hw load PA LEN [--keyid N]`: a CPU load through the package cache.
    public struct Load: LegacyCommand {
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

        public func execute(in session: Session) throws -> CommandOutput {
            let count = try checkedLength(length.bytes, limit: 16 << 20)
            let machine = try session.machine()
            try machine.requireRunning()
            let address = try keyID.address(pa, count: count, machine: machine)
            var bytes = [UInt8](repeating: 0, count: count)
            try cpu.execute(on: machine) { processor in
                bytes.withUnsafeMutableBytes { processor.load(address, into: $0) }
            }
            let id = machine.keyIDLayout.keyID(of: address)
            return CommandOutput(
                json: .object([("pa", .hex(address.rawValue)), ("keyid", .count(Int(id))), ("bytes", .bytes(bytes))]),
                text: hexDump(bytes, startingAt: address.rawValue)
            )
        }
    }

    /// `hw clflush PA [--keyid N]`: CLFLUSH of one alias.
    public struct CLFLUSH: LegacyCommand {
        public static let configuration = CommandConfiguration(
            commandName: "clflush",
            abstract: "Execute CLFLUSH: write back this alias's line if dirty and invalidate it in every cache."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var cpu: CPUOptions
        @OptionGroup var keyID: KeyIDOption
        @Argument(help: "Physical address.") var pa: Number
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            let machine = try session.machine()
            try machine.requireRunning()
            let address = try keyID.address(pa, count: 1, machine: machine)
            let dirty = machine.cachedCopies(of: address).contains { $0.dirty }
            try cpu.execute(on: machine) { $0.clflush(address) }
            let id = machine.keyIDLayout.keyID(of: address)
            return CommandOutput(
                json: .object([
                    ("pa", .hex(address.rawValue)), ("keyid", .count(Int(id))), ("written_back", .bool(dirty)),
                ]),
                text: "flushed the line of \(address) (KeyID \(id))\(dirty ? ", written back" : "")"
            )
        }
    }

    /// `hw wbinvd`: WBINVD on one CPU (its package's cache).
    public struct WBINVD: LegacyCommand {
        public static let configuration = CommandConfiguration(
            commandName: "wbinvd",
            abstract: "Execute WBINVD: write back and invalidate the CPU's package cache."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var cpu: CPUOptions
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            let machine = try session.machine()
            let processor = try cpu.processor(of: machine)
            let dirty = machine.dirtyLineCount(package: processor.packageID)
            try cpu.execute(on: machine) { try $0.wbinvd() }
            return CommandOutput(
                json: .object([("package", .count(processor.packageID)), ("lines_written_back", .count(dirty))]),
                text: "WBINVD on package \(processor.packageID): \(dirty) line(s) written back"
            )
        }
    }

    /// `hw keytable [--package P]`: the state of every KeyID in one package's key table, never key bytes.
    public struct KeyTable: LegacyCommand {
        public static let configuration = CommandConfiguration(
            commandName: "keytable",
            abstract: "Show the state of every KeyID of a package's MKTME key table (never key bytes)."
        )
        @OptionGroup public var global: GlobalOptions
        @Option(help: "Package (socket).") var package: Number = Number(0)
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            let machine = try session.machine()
            let package = try self.package.int("package")
            guard package < machine.configuration.packages else {
                throw HWKeysError.usage(
                    "no package \(package): the machine has packages 0…\(machine.configuration.packages - 1)"
                )
            }
            let tme = machine.tmeStatus
            let tmeState =
                tme.standbyKeysSaved
                ? "saved" : !tme.locked ? "unlocked" : !tme.active ? "disabled" : tme.bypass ? "bypass" : "active"
            let entries = machine.keyTableStatus(package: package)
            let json = JSON.object([
                ("package", .count(package)),
                (
                    "tme",
                    .object([
                        ("state", .string(tmeState)),
                        ("alg", tme.policy.map { .string($0.name) } ?? .null),
                        ("keyid_bits", .count(tme.keyIDBits)),
                        ("standby_keys_saved", .bool(tme.standbyKeysSaved)),
                    ])
                ),
                (
                    "keyids",
                    .array(
                        entries.map {
                            .object([
                                ("keyid", .count($0.keyID)),
                                ("state", .string($0.state.rawValue)),
                                ("alg", $0.algorithm.map { .string($0.name) } ?? .null),
                            ])
                        }
                    )
                ),
            ])
            var lines = [
                "package \(package): TME \(tmeState)\(tme.policy.map { " (\($0.name))" } ?? ""), KeyID bits \(tme.keyIDBits)"
            ]
            let programmed = entries.filter { $0.state != .unprogrammed }
            for entry in programmed {
                lines.append("  KeyID \(entry.keyID): \(entry.state.rawValue) \(entry.algorithm?.name ?? "")")
            }
            lines.append("  \(entries.count - programmed.count) of \(entries.count) KeyIDs unprogrammed")
            return CommandOutput(json: json, text: lines.joined(separator: "\n"))
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
