//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommands
//
//===----------------------------------------------------------------------===//

import ArgumentParser
import HWKeysBase
import Workspace
import X86

/// The Key Locker part of the debug monitor: CR4, LOADIWKEY, ENCODEKEY128/256, AES*KL and the WIDE forms,
/// each executed on one logical processor (`--cpu`, `--cpl`) the way a bare-metal test kernel would: operands
/// are moved from the command line into XMM registers, the instruction runs, results are read back from the
/// XMM registers. The backup MSRs are reached with `hw rdmsr` / `hw wrmsr` (0xD91, 0xD92, 0x990, 0x991).
///
/// XMM registers are processor state and persist in the machine image between commands. `hw loadiwkey`
/// zeroes XMM0–2 after the instruction, as Linux does after LOADIWKEY, so the IWKey inputs are not left
/// behind; `hw encodekey*` leaves the handle (not a secret) in XMM0–3 where the instruction wrote it, over
/// the key it consumed. A command that fails changes nothing, registers included.
extension HWCommand {
    /// Every Key Locker monitor command, in the order `hw --help` lists them.
    static let keyLockerCommands: [any ParsableCommand.Type] = [
        RDCR4.self, WRCR4.self, LOADIWKEY.self, ENCODEKEY<Key128>.self, ENCODEKEY<Key256>.self,
        AESKL<Encrypt128>.self, AESKL<Decrypt128>.self, AESKL<Encrypt256>.self, AESKL<Decrypt256>.self,
        AESWIDEKL<Encrypt128>.self, AESWIDEKL<Decrypt128>.self, AESWIDEKL<Encrypt256>.self,
        AESWIDEKL<Decrypt256>.self,
    ]

    // MARK: CR4

    /// `hw rdcr4` → `{"value": "0x…"}`.
    public struct RDCR4: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "rdcr4",
            abstract: "Execute MOV from CR4 (CR4.KL is bit 19)."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var cpu: CPUOptions
        public init() {}

        public func request() throws(HWKeysError) -> ExecuteRDCR4 {
            ExecuteRDCR4(processor: try cpu.selection())
        }
    }

    /// `hw wrcr4 VALUE` → `{"value": "0x…"}`.
    public struct WRCR4: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "wrcr4",
            abstract: "Execute MOV to CR4 (0x80000 sets CR4.KL; #GP(0) without Key Locker)."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var cpu: CPUOptions
        @Argument(help: "The new CR4 value.") var value: Number
        public init() {}

        public func request() throws(HWKeysError) -> ExecuteWRCR4 {
            ExecuteWRCR4(processor: try cpu.selection(), value: value.value)
        }
    }

    // MARK: LOADIWKEY

    /// `hw loadiwkey --enc HEX --int HEX [--key-source 0|1] [--no-backup] [--eax RAW]` → `{"zf": 0|1}`.
    ///
    /// XMM0 = the integrity key, XMM1 = encryption key bytes 0–15 (SRC2, IWKey bits 127:0), XMM2 = bytes
    /// 16–31 (SRC1, bits 255:128), then `loadiwkey %xmm1, %xmm2` as Linux encodes it; XMM0–2 are zeroed after.
    public struct LOADIWKEY: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "loadiwkey",
            abstract: "Execute LOADIWKEY (CPL0): load this CPU's IWKey from --enc (32 bytes, low half first) and --int."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var cpu: CPUOptions
        @Option(help: "IWKey encryption key, 32 bytes hex, bits 127:0 first.") var enc: HexBytes
        @Option(name: .customLong("int"), help: "IWKey integrity key, 16 bytes hex.") var integrity: HexBytes
        @Option(name: .customLong("key-source"), help: "KeySource (EAX[4:1]): 0 software, 1 random.")
        var keySource: Number?
        @Flag(name: .customLong("no-backup"), help: "Set NoBackup (EAX[0]).") var noBackup = false
        @Option(help: "Raw EAX instead of --key-source/--no-backup (to exercise reserved bits).") var eax: Number?
        public init() {}

        public func request() throws(HWKeysError) -> ExecuteLOADIWKEY {
            let encryption = try enc.exactly(32, "--enc")
            let integrityKey = try integrity.exactly(16, "--int")
            let eaxValue: UInt32
            if let eax {
                guard keySource == nil, !noBackup else {
                    throw HWKeysError.usage(
                        "--eax gives EAX whole; do not combine it with --key-source or --no-backup"
                    )
                }
                eaxValue = try eax.uint32("--eax")
            } else {
                let source = keySource?.value ?? 0
                guard source <= 15 else { throw HWKeysError.usage("--key-source is a 4-bit field (0…15)") }
                eaxValue = ExecuteLOADIWKEY.eax(keySource: UInt32(source), noBackup: noBackup)
            }
            return ExecuteLOADIWKEY(
                processor: try cpu.selection(),
                encryptionKey: encryption,
                integrityKey: integrityKey,
                eax: eaxValue
            )
        }
    }

    // MARK: ENCODEKEY128 / ENCODEKEY256

    /// `hw encodekey128|encodekey256 --key HEX [--restrict LIST] [--src RAW]` → `{"eax": "0x…", "handle": "…"}`.
    ///
    /// The key goes to XMM0 (AES-128) or XMM0 (bytes 0–15) and XMM1 (bytes 16–31); the handle is read back
    /// from XMM0–2 or XMM0–3.
    public struct ENCODEKEY<Size: KeyLockerKeySize>: HWKeysCommand {
        public static var configuration: CommandConfiguration {
            CommandConfiguration(
                commandName: Size.aes256 ? "encodekey256" : "encodekey128",
                abstract:
                    "Execute \(Size.aes256 ? "ENCODEKEY256" : "ENCODEKEY128") (any CPL): wrap --key into a "
                    + "\(Size.aes256 ? 64 : 48)-byte handle under this CPU's IWKey."
            )
        }
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var cpu: CPUOptions
        @Option(help: "The AES key, \(Size.aes256 ? 32 : 16) bytes hex.") var key: HexBytes
        @Option(help: "Handle restrictions: comma list of cpl0, no-encrypt, no-decrypt (or none).") var restrict:
            String?
        @Option(help: "Raw SRC instead of --restrict (to exercise reserved bits).") var src: Number?
        public init() {}

        public func request() throws(HWKeysError) -> ExecuteENCODEKEY {
            let keyBytes = try key.exactly(Size.aes256 ? 32 : 16, "--key")
            let source: UInt32
            if let src {
                guard restrict == nil else {
                    throw HWKeysError.usage("--src gives SRC whole; do not combine it with --restrict")
                }
                source = try src.uint32("--src")
            } else {
                source = try restrict.map(parseRestrictions)?.rawValue ?? 0
            }
            return ExecuteENCODEKEY(processor: try cpu.selection(), key: keyBytes, source: source)
        }
    }

    // MARK: AES*KL

    /// `hw aesenc128kl|aesdec128kl|aesenc256kl|aesdec256kl --handle HEX --block HEX` → `{"zf": 0|1, "block": "…"}`.
    ///
    /// The block goes to XMM0, the handle is the m384/m512 memory operand; the block is read back from XMM0
    /// (unchanged when ZF = 1).
    public struct AESKL<Kind: AESKLKind>: HWKeysCommand {
        public static var configuration: CommandConfiguration {
            CommandConfiguration(
                commandName: Kind.operation.rawValue,
                abstract:
                    "Execute \(Kind.operation.rawValue.uppercased()) on one block with a "
                    + "\(Kind.operation.handleSize)-byte handle (ZF = 1: bad handle, block unchanged)."
            )
        }
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var cpu: CPUOptions
        @Option(help: "The handle, \(Kind.operation.handleSize) bytes hex.") var handle: HexBytes
        @Option(help: "The 16-byte block, hex.") var block: HexBytes
        public init() {}

        public func request() throws(HWKeysError) -> ExecuteAESKL {
            ExecuteAESKL(
                processor: try cpu.selection(),
                operation: Kind.operation,
                handle: try handle.exactly(Kind.operation.handleSize, "--handle"),
                block: try block.exactly(16, "--block")
            )
        }
    }

    /// `hw aesencwide128kl|… --handle HEX --blocks HEX(128 bytes)` → `{"zf": 0|1, "blocks": "…"}` (XMM0–7).
    public struct AESWIDEKL<Kind: AESKLKind>: HWKeysCommand {
        public static var configuration: CommandConfiguration {
            CommandConfiguration(
                commandName: Kind.operation.wideMnemonic,
                abstract:
                    "Execute \(Kind.operation.wideMnemonic.uppercased()) on eight blocks (XMM0–7) with a "
                    + "\(Kind.operation.handleSize)-byte handle (#UD without WIDE_KL)."
            )
        }
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var cpu: CPUOptions
        @Option(help: "The handle, \(Kind.operation.handleSize) bytes hex.") var handle: HexBytes
        @Option(help: "Eight 16-byte blocks (128 bytes), hex.") var blocks: HexBytes
        public init() {}

        public func request() throws(HWKeysError) -> ExecuteAESWIDEKL {
            ExecuteAESWIDEKL(
                processor: try cpu.selection(),
                operation: Kind.operation,
                handle: try handle.exactly(Kind.operation.handleSize, "--handle"),
                blocks: try blocks.exactly(128, "--blocks")
            )
        }
    }
}

/// Which ENCODEKEY a command runs.
public protocol KeyLockerKeySize: Sendable {
    static var aes256: Bool { get }
}

/// ENCODEKEY128.
public enum Key128: KeyLockerKeySize {
    public static let aes256 = false
}

/// ENCODEKEY256.
public enum Key256: KeyLockerKeySize {
    public static let aes256 = true
}

/// Which AES*KL operation a command runs.
public protocol AESKLKind: Sendable {
    static var operation: AESKLOperation { get }
}

public enum Encrypt128: AESKLKind { public static let operation = AESKLOperation.encrypt128 }
public enum Decrypt128: AESKLKind { public static let operation = AESKLOperation.decrypt128 }
public enum Encrypt256: AESKLKind { public static let operation = AESKLOperation.encrypt256 }
public enum Decrypt256: AESKLKind { public static let operation = AESKLOperation.decrypt256 }
