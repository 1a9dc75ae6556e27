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

/// `proc kl-encode|kl-encrypt|kl-decrypt`: a process using Key Locker at CPL3 (docs/contract.md §3, §7). Once the
/// kernel has set CR4.KL nothing stops user space from using these instructions; with CR4.KL clear they
/// fault (#UD), and the command fails with that fault's code.
extension ProcCommand {
    /// The Key Locker subcommands (joined to ``ProcCommand/subcommandTypes``).
    static let keyLockerSubcommandTypes: [any ParsableCommand.Type] = [KLEncode.self, KLEncrypt.self, KLDecrypt.self]

    static func cpuNumber(_ cpu: Number?) throws(HWKeysError) -> Int? {
        guard let cpu else { return nil }
        guard let value = Int(exactly: cpu.value), value < 4096 else { throw HWKeysError.usage("--cpu out of range") }
        return value
    }

    /// `proc kl-encode P --key HEX [--restrict LIST] [--cpu N]` → `{"eax": "0x…", "handle": "…"}`.
    public struct KLEncode: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "kl-encode",
            abstract: "Process P runs ENCODEKEY128 (16-byte key) or ENCODEKEY256 (32-byte key) at CPL3."
        )
        @OptionGroup public var global: GlobalOptions
        @Argument(help: "The process.") var pid: Number
        @Option(help: "The AES key, 16 or 32 bytes hex.") var key: HexBytes
        @Option(help: "Handle restrictions: comma list of cpl0, no-encrypt, no-decrypt (or none).") var restrict:
            String?
        @Option(help: "The CPU the process runs on [the kernel's current CPU].") var cpu: Number?
        public init() {}

        public func request() throws(HWKeysError) -> UserEncodeKey {
            let pid = try ProcCommand.pid(self.pid)
            guard key.bytes.count == 16 || key.bytes.count == 32 else {
                throw HWKeysError.usage("--key must be 16 or 32 bytes (32 or 64 hex digits), got \(key.bytes.count)")
            }
            let restrictions = try restrict.map(parseRestrictions) ?? []
            return UserEncodeKey(
                pid: pid,
                key: RequestSecret(copying: key.bytes),
                restrictions: restrictions,
                cpu: try ProcCommand.cpuNumber(cpu)
            )
        }
    }

    /// `proc kl-encrypt P --handle HEX|--key HEX [--restrict LIST] --block HEX [--cpu N]` → `{"zf": 0|1, "block": "…"}`.
    public struct KLEncrypt: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "kl-encrypt",
            abstract: "Process P runs AESENC128KL/AESENC256KL (by handle size) on one block at CPL3."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var operands: KLBlockOperands
        public init() {}

        public func request() throws(HWKeysError) -> UserAESKL { try operands.request(encrypt: true) }
    }

    /// `proc kl-decrypt P --handle HEX|--key HEX [--restrict LIST] --block HEX [--cpu N]` → `{"zf": 0|1, "block": "…"}`.
    public struct KLDecrypt: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "kl-decrypt",
            abstract: "Process P runs AESDEC128KL/AESDEC256KL (by handle size) on one block at CPL3."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var operands: KLBlockOperands
        public init() {}

        public func request() throws(HWKeysError) -> UserAESKL { try operands.request(encrypt: false) }
    }
}

/// The operands of `proc kl-encrypt` and `proc kl-decrypt`: a handle, or a key the process first wraps with
/// ENCODEKEY (as a program that keeps only the handle would), and one block.
struct KLBlockOperands: ParsableArguments {
    @Argument(help: "The process.") var pid: Number
    @Option(help: "The handle, 48 (AES-128) or 64 (AES-256) bytes hex.") var handle: HexBytes?
    @Option(help: "Instead of --handle: a 16- or 32-byte key the process wraps first (ENCODEKEY).") var key: HexBytes?
    @Option(help: "With --key: handle restrictions (cpl0, no-encrypt, no-decrypt).") var restrict: String?
    @Option(help: "The 16-byte block, hex.") var block: HexBytes
    @Option(help: "The CPU the process runs on [the kernel's current CPU].") var cpu: Number?

    func request(encrypt: Bool) throws(HWKeysError) -> UserAESKL {
        let pid = try ProcCommand.pid(self.pid)
        guard (handle == nil) != (key == nil) else {
            throw HWKeysError.usage("give exactly one of --handle and --key")
        }
        guard restrict == nil || key != nil else { throw HWKeysError.usage("--restrict goes with --key") }
        if let handle, handle.bytes.count != 48 && handle.bytes.count != 64 {
            throw HWKeysError.usage(
                "--handle must be 48 or 64 bytes (96 or 128 hex digits), got \(handle.bytes.count)"
            )
        }
        if let key, key.bytes.count != 16 && key.bytes.count != 32 {
            throw HWKeysError.usage("--key must be 16 or 32 bytes (32 or 64 hex digits), got \(key.bytes.count)")
        }
        let restrictions = try restrict.map(parseRestrictions) ?? []
        let block = try self.block.exactly(16, "--block")
        let cpu = try ProcCommand.cpuNumber(self.cpu)
        let operand: UserAESKL.Operand =
            if let key { .key(RequestSecret(copying: key.bytes), restrictions) } else { .handle(handle?.bytes ?? []) }
        return UserAESKL(pid: pid, encrypt: encrypt, operand: operand, block: block, cpu: cpu)
    }
}
