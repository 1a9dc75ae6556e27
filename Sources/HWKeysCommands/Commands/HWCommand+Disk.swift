//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommands
//
//===----------------------------------------------------------------------===//

import ArgumentParser
import HWKeysBase
import Workspace

extension HWCommand {
    /// The disk views of the debug monitor: what a stolen disk shows.
    static let diskCommands: [any ParsableCommand.Type] = [Disks.self, DiskRead.self, PokeDisk.self]

    /// `hw disks`: every disk with its size.
    public struct Disks: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "disks",
            abstract: "List the machine's non-volatile disks (swap, crypt backing devices)."
        )
        @OptionGroup public var global: GlobalOptions
        public init() {}

        public func request() -> ListDisks { ListDisks() }
    }

    /// `hw disk NAME OFFSET LEN`: raw disk bytes.
    public struct DiskRead: HWKeysCommand {
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

        public func request() throws(HWKeysError) -> ReadDisk {
            ReadDisk(
                name: name,
                offset: offset.value,
                length: try checkedLength(length.bytes, limit: UInt64(MonitorLimits.maximumRead))
            )
        }
    }

    /// `hw poke-disk NAME OFFSET HEX`: write raw disk bytes (tampering with a stolen disk).
    public struct PokeDisk: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "poke-disk",
            abstract: "Write raw disk bytes, bypassing the kernel (for attack experiments)."
        )
        @OptionGroup public var global: GlobalOptions
        @Argument(help: "Disk name.") var name: String
        @Argument(help: "Byte offset on the disk.") var offset: Number
        @Argument(help: "Bytes to write, as hex.") var bytes: HexBytes
        public init() {}

        public func request() throws(HWKeysError) -> WriteDisk {
            guard !bytes.bytes.isEmpty else { throw HWKeysError.usage("nothing to write") }
            return WriteDisk(name: name, offset: offset.value, bytes: bytes.bytes)
        }
    }
}
