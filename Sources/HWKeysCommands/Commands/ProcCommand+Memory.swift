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
    static func serial(_ text: String) throws -> Int32 {
        guard let value = ValueParser.number(text), let serial = Int32(exactly: value) else {
            throw HWKeysError.usage("SERIAL is a key serial (0 … 2147483647)")
        }
        return serial
    }

    /// `proc mmap P LEN [--prot none|r|rw|rwx] [--shared]` → `{"addr": "0x…"}`.
    public struct Mmap: LegacyCommand {
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

        public func execute(in session: Session) throws -> CommandOutput {
            let address = try session.kernel().mmap(
                pid: try ProcCommand.pid(pid),
                length: length.bytes,
                protection: prot,
                shared: shared
            )
            return CommandOutput(json: .object([("addr", .hex(address))]), text: "0x" + String(address, radix: 16))
        }
    }

    /// `proc munmap P ADDR LEN`.
    public struct Munmap: LegacyCommand {
        public static let configuration = CommandConfiguration(
            commandName: "munmap",
            abstract: "Unmap [ADDR, ADDR+LEN) of process P (pages are flushed and freed)."
        )
        @OptionGroup public var global: GlobalOptions
        @Argument(help: "The process.") var pid: Number
        @Argument(help: "Page-aligned address.") var addr: Number
        @Argument(help: "Length (rounded up to pages).") var length: Size
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            try session.kernel().munmap(pid: try ProcCommand.pid(pid), address: addr.value, length: length.bytes)
            return CommandOutput(fields: [("addr", .hex(addr.value)), ("length", .uint(length.bytes))])
        }
    }

    /// `proc mprotect P ADDR LEN PROT`.
    public struct Mprotect: LegacyCommand {
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

        public func execute(in session: Session) throws -> CommandOutput {
            try session.kernel().mprotect(
                pid: try ProcCommand.pid(pid),
                address: addr.value,
                length: length.bytes,
                protection: prot
            )
            return CommandOutput(fields: [
                ("addr", .hex(addr.value)), ("length", .uint(length.bytes)), ("prot", .string(prot.rawValue)),
            ])
        }
    }

    /// `proc encrypt-mprotect P ADDR LEN PROT SERIAL`.
    public struct EncryptMprotect: LegacyCommand {
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

        /// A serial, or a `%type:desc` name looked up as keyctl(1) does for process `pid` (its thread,
        /// process, then session keyring), so scripts need not know random serials.
        static func resolve(_ text: String, pid: Int32, in session: Session) throws -> Int32 {
            guard text.hasPrefix("%") else { return try ProcCommand.serial(text) }
            guard let key = KeyID(argument: text) else {
                throw HWKeysError.usage("SERIAL is a number or %type:description")
            }
            return try key.spec.resolve(in: session.kernel(), pid: pid)
        }

        public func execute(in session: Session) throws -> CommandOutput {
            let kernel = try session.kernel()
            let pid = try ProcCommand.pid(self.pid)
            try kernel.encryptMprotect(
                pid: pid,
                address: addr.value,
                length: length.bytes,
                protection: prot,
                serial: try Self.resolve(serial, pid: pid, in: session)
            )
            var fields: [(String, JSON)] = [
                ("addr", .hex(addr.value)), ("length", .uint(length.bytes)), ("prot", .string(prot.rawValue)),
            ]
            if let vma = kernel.memoryManager.spaces[pid]?.vmas.first(where: {
                $0.start <= addr.value && addr.value < $0.end
            }) {
                fields.append(("keyid", .count(Int(vma.keyID))))
            }
            return CommandOutput(fields: fields)
        }
    }

    /// `proc write P ADDR HEX` or `proc write P ADDR --text S`.
    public struct Write: LegacyCommand {
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

        public func execute(in session: Session) throws -> CommandOutput {
            let bytes = hex?.bytes ?? Array((text ?? "").utf8)
            let data = SecretBytes(bytes)
            try session.kernel().writeMemory(pid: try ProcCommand.pid(pid), address: addr.value, data)
            return CommandOutput(fields: [("addr", .hex(addr.value)), ("written", .count(bytes.count))])
        }
    }

    /// `proc read P ADDR LEN` → `{"bytes": "…"}`.
    public struct Read: LegacyCommand {
        public static let configuration = CommandConfiguration(
            commandName: "read",
            abstract: "Load LEN bytes at ADDR from process P's memory (as the process would)."
        )
        @OptionGroup public var global: GlobalOptions
        @Argument(help: "The process.") var pid: Number
        @Argument(help: "Virtual address.") var addr: Number
        @Argument(help: "Length in bytes (K/M suffixes allowed, at most 1M).") var length: Size
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            guard length.bytes <= 1 << 20 else { throw HWKeysError.usage("proc read shows at most 1M bytes") }
            let data = try session.kernel().readMemory(
                pid: try ProcCommand.pid(pid),
                address: addr.value,
                count: Int(length.bytes)
            )
            let bytes = data.revealedBytes()
            return CommandOutput(
                json: .object([("bytes", .bytes(bytes))]),
                text: hexDump(bytes, startingAt: addr.value)
            )
        }
    }

    /// `proc smaps P`: `/proc/P/smaps`, with a `KeyID:` line per VMA.
    public struct Smaps: LegacyCommand {
        public static let configuration = CommandConfiguration(
            commandName: "smaps",
            abstract: "Show process P's mappings like /proc/P/smaps, with the KeyID of each."
        )
        @OptionGroup public var global: GlobalOptions
        @Argument(help: "The process.") var pid: Number
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            let reports = try session.kernel().memoryManager.report(pid: try ProcCommand.pid(pid))
            let json = JSON.object([
                (
                    "vmas",
                    .array(
                        reports.map { report in
                            let vma = report.vma
                            return .object([
                                ("start", .hex(vma.start)), ("end", .hex(vma.end)),
                                ("prot", .string(vma.protection.rawValue)),
                                ("shared", .bool(vma.shared)), ("anonymous", .bool(vma.anonymous)),
                                ("keyid", .count(Int(vma.keyID))), ("size", .uint(vma.length)),
                                ("rss", .uint(UInt64(report.residentPages) * 4096)),
                            ])
                        }
                    )
                )
            ])
            return CommandOutput(json: json, text: MemoryManager.smaps(reports))
        }
    }

    /// `proc translate P ADDR` → `{"pa": "0x…", "keyid": N}`.
    public struct Translate: LegacyCommand {
        public static let configuration = CommandConfiguration(
            commandName: "translate",
            abstract: "Walk process P's page tables for ADDR: the DRAM address and KeyID behind it."
        )
        @OptionGroup public var global: GlobalOptions
        @Argument(help: "The process.") var pid: Number
        @Argument(help: "Virtual address.") var addr: Number
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            let kernel = try session.kernel()
            let translation = try kernel.translate(pid: try ProcCommand.pid(pid), address: addr.value)
            let alias = kernel.physical.alias(translation.physicalAddress, keyID: translation.keyID)
            return CommandOutput(fields: [
                ("pa", .hex(translation.physicalAddress)), ("keyid", .count(Int(translation.keyID))),
                ("alias", .hex(alias.rawValue)), ("pte", .hex(translation.entry)),
            ])
        }
    }
}
