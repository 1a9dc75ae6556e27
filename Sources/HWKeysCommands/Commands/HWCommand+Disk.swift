//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommands
//
//===----------------------------------------------------------------------===//

import ArgumentParser
import HWKeysBase
import Platform

extension HWCommand {
    /// The disk views of the debug monitor: what a stolen disk shows.
    static let diskCommands: [any ParsableCommand.Type] = [Disks.self, DiskRead.self, PokeDisk.self]

    /// The named disk, or ENODEV.
    static func disk(_ name: String, in machine: Machine) throws -> EmulatedDisk {
        guard let disk = machine.emulatedDisk(named: name) else {
            let names = machine.emulatedDisks.map(\.name)
            throw HWKeysError(
                .ENODEV,
                "no disk named '\(name)' (disks: \(names.isEmpty ? "none" : names.joined(separator: ", ")))"
            )
        }
        return disk
    }

    /// `hw disks`: every disk with its size.
    public struct Disks: LegacyCommand {
        public static let configuration = CommandConfiguration(
            commandName: "disks",
            abstract: "List the machine's non-volatile disks (swap, crypt backing devices)."
        )
        @OptionGroup public var global: GlobalOptions
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            let disks = try session.machine().emulatedDisks
            return CommandOutput(
                json: .object([
                    (
                        "disks",
                        .array(disks.map { .object([("name", .string($0.name)), ("size", .uint($0.size))]) })
                    )
                ]),
                text: disks.isEmpty ? "no disks" : disks.map { "\($0.name)\t\($0.size) bytes" }.joined(separator: "\n")
            )
        }
    }

    /// `hw disk NAME OFFSET LEN`: raw disk bytes.
    public struct DiskRead: LegacyCommand {
        public static let configuration = CommandConfiguration(
            commandName: "disk",
            abstract:
                "Show raw disk bytes (the stolen-disk view: ciphertext of crypt volumes, plaintext hibernation images)."
        )
        @OptionGroup public var global: GlobalOptions
        @Argument(help: "Disk name (see `hw disks`).") var name: String
        @Argument(help: "Byte offset on the disk.") var offset: Number
        @Argument(help: "Length in bytes (K/M suffixes allowed, at most 16 MiB).") var length: Size
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            let count = try checkedLength(length.bytes, limit: 16 << 20)
            let disk = try HWCommand.disk(name, in: try session.machine())
            guard disk.contains(offset.value, count: count) else {
                throw HWKeysError(
                    .EFAULT,
                    "range \(offset.value)+\(count) is outside disk '\(name)' (\(disk.size) bytes)"
                )
            }
            var bytes = [UInt8](repeating: 0, count: count)
            bytes.withUnsafeMutableBytes { disk.read(offset.value, into: $0) }
            return CommandOutput(
                json: .object([("disk", .string(name)), ("offset", .uint(offset.value)), ("bytes", .bytes(bytes))]),
                text: hexDump(bytes, startingAt: offset.value)
            )
        }
    }

    /// `hw poke-disk NAME OFFSET HEX`: write raw disk bytes (tampering with a stolen disk).
    public struct PokeDisk: LegacyCommand {
        public static let configuration = CommandConfiguration(
            commandName: "poke-disk",
            abstract: "Write raw disk bytes, bypassing the kernel (for attack experiments)."
        )
        @OptionGroup public var global: GlobalOptions
        @Argument(help: "Disk name.") var name: String
        @Argument(help: "Byte offset on the disk.") var offset: Number
        @Argument(help: "Bytes to write, as hex.") var bytes: HexBytes
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            guard !bytes.bytes.isEmpty else { throw HWKeysError.usage("nothing to write") }
            let disk = try HWCommand.disk(name, in: try session.machine())
            guard disk.contains(offset.value, count: bytes.bytes.count) else {
                throw HWKeysError(
                    .EFAULT,
                    "range \(offset.value)+\(bytes.bytes.count) is outside disk '\(name)' (\(disk.size) bytes)"
                )
            }
            bytes.bytes.withUnsafeBytes { disk.write(offset.value, from: $0) }
            return CommandOutput(
                json: .object([
                    ("disk", .string(name)), ("offset", .uint(offset.value)), ("written", .count(bytes.bytes.count)),
                ]),
                text: "wrote \(bytes.bytes.count) raw bytes to disk '\(name)' at offset \(offset.value)"
            )
        }
    }
}
