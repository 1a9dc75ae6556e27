//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommands
//
//===----------------------------------------------------------------------===//

import ArgumentParser
import HWKeysBase
import Workspace

/// `hwkeys hw …`: the debug monitor. Runs single instructions on one logical processor, reads and writes
/// raw DRAM (what a bus snooper or a stolen DIMM sees) and arms fault injection. Its purpose is to show
/// hardware state, so it is the one place allowed to reveal what software cannot see.
public struct HWCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "hw",
        abstract: "Debug monitor: raw DRAM, single instructions on one CPU, fault injection.",
        subcommands: HWCommand.subcommandTypes
    )

    public init() {}

    /// Every `hw` subcommand. MKTME and Key Locker commands join this list.
    static let subcommandTypes: [any ParsableCommand.Type] =
        [
            DRAMRead.self,
            PokeDRAM.self,
            CPUID.self,
            RDMSR.self,
            WRMSR.self,
            Inject.self,
            PCONFIG.self, Store.self, Load.self, CLFLUSH.self, WBINVD.self, KeyTable.self,
        ] + keyLockerCommands + diskCommands

    /// `hw dram PA LEN`: raw DRAM bytes; KeyID bits of PA are ignored.
    public struct DRAMRead: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "dram",
            abstract: "Show raw DRAM (the bus / DIMM view: ciphertext unless bypassed); KeyID bits of PA are ignored."
        )
        @OptionGroup public var global: GlobalOptions
        @Argument(help: "Physical address (KeyID bits ignored).") var pa: Number
        @Argument(help: "Length in bytes (K/M suffixes allowed, at most 16 MiB).") var length: Size
        public init() {}

        public func request() throws(HWKeysError) -> ReadDRAM {
            ReadDRAM(
                address: pa.value,
                length: try checkedLength(length.bytes, limit: UInt64(MonitorLimits.maximumRead))
            )
        }
    }

    /// `hw poke-dram PA HEX`: write raw DRAM, bypassing caches and encryption.
    public struct PokeDRAM: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "poke-dram",
            abstract: "Write raw DRAM, bypassing caches and encryption (for attack experiments)."
        )
        @OptionGroup public var global: GlobalOptions
        @Argument(help: "Physical address (KeyID bits ignored).") var pa: Number
        @Argument(help: "Bytes to write, as hex.") var bytes: HexBytes
        public init() {}

        public func request() throws(HWKeysError) -> WriteDRAM {
            guard !bytes.bytes.isEmpty else { throw HWKeysError.usage("nothing to write") }
            return WriteDRAM(address: pa.value, bytes: bytes.bytes)
        }
    }
}

/// A length that must be positive and at most `limit`.
func checkedLength(_ length: UInt64, limit: UInt64) throws(HWKeysError) -> Int {
    guard length > 0 else { throw HWKeysError.usage("length must be positive") }
    guard length <= limit else { throw HWKeysError.usage("length must be at most \(limit) bytes") }
    return Int(length)
}
