//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommands
//
//===----------------------------------------------------------------------===//

import ArgumentParser
import HWCrypto
import HWKeysBase
import Kernel
import Workspace
import X86

extension Protection: ExpressibleByArgument {}

/// `proc mmap|munmap|mprotect|encrypt-mprotect|write|read|smaps|translate`: a process's memory (docs/contract.md §6),
/// acting for process P as that process's own system calls and loads and stores would.
extension ProcCommand {
    static let memorySubcommandTypes: [any ParsableCommand.Type] = [
        Mmap.self, Munmap.self, Mprotect.self, EncryptMprotect.self, Write.self, Read.self, Smaps.self,
        Translate.self,
    ]

    /// A virtual address argument.
    static func address(_ number: Number) -> UInt64 { number.value }

    /// A key serial: a decimal or `0x` number in the positive 32-bit range, or 0 (no encryption).
    static func serial(_ text: String) throws(HWKeysError) -> Int32 {
        guard let value = ValueParser.number(text), let serial = Int32(exactly: value) else {
            throw HWKeysError.usage("SERIAL is a key serial (0 … 2147483647)")
        }
        return serial
    }

    /// `proc mmap P LEN [--prot none|r|rw|rwx] [--shared]` → `{"addr": "0x…"}`.
    public struct Mmap: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "mmap",
            abstract: "Map LEN bytes of anonymous memory into process P (pages are allocated on first write)."
        )
        @OptionGroup public var global: GlobalOptions
        @Argument(help: "The process.") var pid: Number
        @Argument(help: "Length: bytes, 0x hex, or with K/M/G (rounded up to pages).") var length: Size
        @Option(help: "Protection: none, r, rw or rwx.") var prot: Protection = .rw
        @Flag(help: "MAP_SHARED instead of MAP_PRIVATE.") var shared = false
        public init() {}

        public func request() throws(HWKeysError) -> MapMemory {
            MapMemory(pid: try ProcCommand.pid(pid), length: length.bytes, protection: prot, shared: shared)
        }
    }

    /// `proc munmap P ADDR LEN`.
    public struct Munmap: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "munmap",
            abstract: "Unmap [ADDR, ADDR+LEN) of process P (pages are flushed and freed)."
        )
        @OptionGroup public var global: GlobalOptions
        @Argument(help: "The process.") var pid: Number
        @Argument(help: "Page-aligned address.") var addr: Number
        @Argument(help: "Length (rounded up to pages).") var length: Size
        public init() {}

        public func request() throws(HWKeysError) -> UnmapMemory {
            UnmapMemory(pid: try ProcCommand.pid(pid), address: addr.value, length: length.bytes)
        }
    }

    /// `proc mprotect P ADDR LEN PROT`.
    public struct Mprotect: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "mprotect",
            abstract: "Change the protection of [ADDR, ADDR+LEN) of process P (the KeyID is kept)."
        )
        @OptionGroup public var global: GlobalOptions
        @Argument(help: "The process.") var pid: Number
        @Argument(help: "Page-aligned address.") var addr: Number
        @Argument(help: "Length (rounded up to pages).") var length: Size
        @Argument(help: "Protection: none, r, rw or rwx.") var prot: Protection
        public init() {}

        public func request() throws(HWKeysError) -> ProtectMemory {
            ProtectMemory(pid: try ProcCommand.pid(pid), address: addr.value, length: length.bytes, protection: prot)
        }
    }

    /// `proc encrypt-mprotect P ADDR LEN PROT SERIAL`.
    public struct EncryptMprotect: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "encrypt-mprotect",
            abstract: "encrypt_mprotect(): put [ADDR, ADDR+LEN) of process P under the KeyID of key SERIAL.",
            discussion: """
                ADDR and LEN must be page-aligned and the range anonymous, private memory without holes. The \
                range's contents are discarded (it reads back as zeros). SERIAL 0 asks for no encryption (revised \
                design).
                """
        )
        @OptionGroup public var global: GlobalOptions
        @Argument(help: "The process.") var pid: Number
        @Argument(help: "Page-aligned address.") var addr: Number
        @Argument(help: "Page-aligned length.") var length: Size
        @Argument(help: "Protection: none, r, rw or rwx.") var prot: Protection
        @Argument(help: "Serial of an mktme key (0: no encryption), or %mktme:DESC found from the process's keyrings.")
        var serial: String
        public init() {}

        /// A serial, or a `%type:desc` name (an empty type is `keyring`) the kernel looks up as keyctl(1) does
        /// for the process: its process keyring, then its session keyring, so scripts need not know random
        /// serials.
        static func key(_ text: String) throws(HWKeysError) -> ProtectMemory.Key {
            guard text.hasPrefix("%") else { return .serial(try ProcCommand.serial(text)) }
            let body = text.dropFirst()
            guard let colon = body.firstIndex(of: ":"), body.index(after: colon) < body.endIndex else {
                throw HWKeysError.usage("SERIAL is a number or %type:description")
            }
            let type = colon == body.startIndex ? "keyring" : String(body[..<colon])
            return .named(type: type, description: String(body[body.index(after: colon)...]))
        }

        public func request() throws(HWKeysError) -> ProtectMemory {
            let pid = try ProcCommand.pid(self.pid)
            return ProtectMemory(
                pid: pid,
                address: addr.value,
                length: length.bytes,
                protection: prot,
                key: try Self.key(serial)
            )
        }
    }

    /// `proc write P ADDR HEX` or `proc write P ADDR --text S`.
    public struct Write: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "write",
            abstract: "Store bytes at ADDR in process P's memory (as the process would)."
        )
        @OptionGroup public var global: GlobalOptions
        @Argument(help: "The process.") var pid: Number
        @Argument(help: "Virtual address.") var addr: Number
        @Argument(help: "Bytes as hex.") var hex: HexBytes?
        @Option(help: "Store this text's UTF-8 bytes instead of HEX.") var text: String?
        public init() {}

        public func validate() throws {
            guard (hex == nil) != (text == nil) else { throw ValidationError("give either HEX or --text, not both") }
        }

        public func request() throws(HWKeysError) -> WriteProcessMemory {
            WriteProcessMemory(
                pid: try ProcCommand.pid(pid),
                address: addr.value,
                bytes: hex?.bytes ?? Array((text ?? "").utf8)
            )
        }
    }

    /// `proc read P ADDR LEN` → `{"bytes": "…"}`.
    public struct Read: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "read",
            abstract: "Load LEN bytes at ADDR from process P's memory (as the process would)."
        )
        @OptionGroup public var global: GlobalOptions
        @Argument(help: "The process.") var pid: Number
        @Argument(help: "Virtual address.") var addr: Number
        @Argument(help: "Length in bytes (K/M suffixes allowed, at most 1M).") var length: Size
        public init() {}

        public func request() throws(HWKeysError) -> ReadProcessMemory {
            guard length.bytes <= UInt64(ReadProcessMemory.maximumLength) else {
                throw HWKeysError.usage("proc read shows at most 1M bytes")
            }
            return ReadProcessMemory(pid: try ProcCommand.pid(pid), address: addr.value, length: Int(length.bytes))
        }
    }

    /// `proc smaps P`: `/proc/P/smaps`, with a `KeyID:` line per VMA.
    public struct Smaps: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "smaps",
            abstract: "Show process P's mappings like /proc/P/smaps, with the KeyID of each."
        )
        @OptionGroup public var global: GlobalOptions
        @Argument(help: "The process.") var pid: Number
        public init() {}

        public func request() throws(HWKeysError) -> ShowProcessMappings {
            ShowProcessMappings(pid: try ProcCommand.pid(pid))
        }
    }

    /// `proc translate P ADDR` → `{"pa": "0x…", "keyid": N}`.
    public struct Translate: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "translate",
            abstract: "Walk process P's page tables for ADDR: the DRAM address and KeyID behind it."
        )
        @OptionGroup public var global: GlobalOptions
        @Argument(help: "The process.") var pid: Number
        @Argument(help: "Virtual address.") var addr: Number
        public init() {}

        public func request() throws(HWKeysError) -> TranslateAddress {
            TranslateAddress(pid: try ProcCommand.pid(pid), address: addr.value)
        }
    }
}
