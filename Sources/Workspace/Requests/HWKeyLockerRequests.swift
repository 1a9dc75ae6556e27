//===----------------------------------------------------------------------===//
//
// hwkeys: Workspace
//
//===----------------------------------------------------------------------===//

import HWKeysBase
import X86

// The Key Locker part of the debug monitor: CR4, LOADIWKEY, ENCODEKEY128/256, AES*KL and the WIDE forms,
// each executed on one logical processor the way a bare-metal test kernel would: operands are moved into
// XMM registers, the instruction runs, results are read back from the XMM registers. The backup MSRs are
// reached with RDMSR / WRMSR (0xD91, 0xD92, 0x990, 0x991).
//
// XMM registers are processor state and persist in the machine image between requests. LOADIWKEY zeroes
// XMM0–2 after the instruction, as Linux does after LOADIWKEY, so the IWKey inputs are not left behind;
// ENCODEKEY leaves the handle (not a secret) in XMM0–3 where the instruction wrote it, over the key it
// consumed. A request that fails changes nothing, registers included (the workspace discards it).

/// `hw rdcr4`: MOV from CR4 (SDM Vol. 2B "MOV—Move to/from Control Registers"; CR4.KL is bit 19).
public struct ExecuteRDCR4: WorkspaceRequest {
    public static let access = RequestAccess.write

    public var processor: ProcessorSelection

    public init(processor: ProcessorSelection = ProcessorSelection()) { self.processor = processor }

    public func run(in context: RequestContext) throws(HWKeysError) -> CR4Value {
        CR4Value(value: Hex(try processor.execute(in: context) { (cpu) throws(X86Fault) in try cpu.readCR4() }))
    }
}

/// `hw wrcr4 VALUE`: MOV to CR4 (#GP(0) above CPL0, or for CR4.KL without Key Locker).
public struct ExecuteWRCR4: WorkspaceRequest {
    public static let access = RequestAccess.write

    public var processor: ProcessorSelection
    public var value: UInt64

    public init(processor: ProcessorSelection = ProcessorSelection(), value: UInt64) {
        self.processor = processor
        self.value = value
    }

    public func run(in context: RequestContext) throws(HWKeysError) -> CR4Value {
        try processor.execute(in: context) { (cpu) throws(X86Fault) in try cpu.writeCR4(value) }
        return CR4Value(value: Hex(value))
    }
}

/// CR4 as read or written.
public struct CR4Value: CommandResult {
    public var value: Hex

    public var text: String { "CR4 = \(value) (KL=\(value.value & CR4.keyLocker != 0 ? 1 : 0))" }
}

/// `hw loadiwkey`: LOADIWKEY (Key Locker spec §3, SDM Vol. 2A "LOADIWKEY"; CPL0 only) with XMM0 = the integrity
/// key, XMM1 = encryption key bytes 0–15 (SRC2, IWKey bits 127:0), XMM2 = bytes 16–31 (SRC1, bits 255:128) —
/// `loadiwkey %xmm1, %xmm2` as Linux encodes it. XMM0–2 are zeroed afterwards.
public struct ExecuteLOADIWKEY: WorkspaceRequest, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    public static let access = RequestAccess.write

    public var processor: ProcessorSelection
    /// The IWKey encryption key, 32 bytes, bits 127:0 first. A secret: never printed.
    public var encryptionKey: [UInt8]
    /// The IWKey integrity key, 16 bytes. A secret: never printed.
    public var integrityKey: [UInt8]
    /// EAX: NoBackup (bit 0) and KeySource (bits 4:1).
    public var eax: UInt32

    public init(
        processor: ProcessorSelection = ProcessorSelection(),
        encryptionKey: [UInt8],
        integrityKey: [UInt8],
        eax: UInt32 = 0
    ) {
        self.processor = processor
        self.encryptionKey = encryptionKey
        self.integrityKey = integrityKey
        self.eax = eax
    }

    /// EAX from its fields: KeySource (0 software, 1 random; a 4-bit field) and NoBackup.
    public static func eax(keySource: UInt32, noBackup: Bool) -> UInt32 { keySource << 1 | (noBackup ? 1 : 0) }

    /// - Throws: `EINVAL` (usage) for keys of the wrong length or a bad CPU/CPL; the instruction's faults.
    public func run(in context: RequestContext) throws(HWKeysError) -> IWKeyLoad {
        guard encryptionKey.count == 32, integrityKey.count == 16 else {
            throw HWKeysError.usage("LOADIWKEY takes a 32-byte encryption key and a 16-byte integrity key")
        }
        let zf = try processor.execute(in: context) { (cpu) throws(X86Fault) in
            cpu.withXMMRegisters { file in
                file.copyBytes(from: integrityKey)
                UnsafeMutableRawBufferPointer(rebasing: file[16..<48]).copyBytes(from: encryptionKey)
            }
            defer { cpu.withXMMRegisters { file in for index in 0..<48 { file[index] = 0 } } }
            return try cpu.loadiwkey(eax: eax, src1: 2, src2: 1)
        }
        return IWKeyLoad(zf: zf ? 1 : 0)
    }

    public var description: String {
        "ExecuteLOADIWKEY(cpu: \(processor.cpu), cpl: \(processor.cpl), eax: 0x\(String(eax, radix: 16)), "
            + "keys: <redacted>)"
    }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["description": description]) }
}

/// LOADIWKEY's ZF (1: KeySource 1 found no randomness; IWKey unchanged).
public struct IWKeyLoad: CommandResult {
    public var zf: Int

    public var text: String { "zf=\(zf)" }
}

/// `hw encodekey128|encodekey256`: ENCODEKEY128 (key in XMM0; handle in XMM0–2) or ENCODEKEY256 (key in
/// XMM0 bytes 0–15 and XMM1 bytes 16–31; handle in XMM0–3), any CPL (Key Locker spec §3, SDM Vol. 2A).
public struct ExecuteENCODEKEY: WorkspaceRequest, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    public static let access = RequestAccess.write

    public var processor: ProcessorSelection
    /// The AES key: 16 bytes (ENCODEKEY128) or 32 (ENCODEKEY256). A secret: never printed.
    public var key: [UInt8]
    /// SRC: the handle's restrictions (bit 0 CPL0-only, bit 1 no-encrypt, bit 2 no-decrypt).
    public var source: UInt32

    public init(processor: ProcessorSelection = ProcessorSelection(), key: [UInt8], source: UInt32 = 0) {
        self.processor = processor
        self.key = key
        self.source = source
    }

    /// - Throws: `EINVAL` (usage) for a key that is neither 16 nor 32 bytes or a bad CPU/CPL; the
    ///   instruction's faults.
    public func run(in context: RequestContext) throws(HWKeysError) -> EncodedKey {
        guard key.count == 16 || key.count == 32 else {
            throw HWKeysError.usage("ENCODEKEY takes a 16-byte (AES-128) or 32-byte (AES-256) key")
        }
        let aes256 = key.count == 32
        let handleSize = aes256 ? KeyLockerEncoding.handle256Size : KeyLockerEncoding.handle128Size
        let (eax, handle) = try processor.execute(in: context) { (cpu) throws(X86Fault) in
            cpu.withXMMRegisters { $0.copyBytes(from: key) }
            let eax = aes256 ? try cpu.encodekey256(src: source) : try cpu.encodekey128(src: source)
            return (eax, cpu.withXMMRegisters { Array($0[0..<handleSize]) })
        }
        return EncodedKey(eax: Hex(eax), handle: HexBytes(handle))
    }

    public var description: String {
        "ExecuteENCODEKEY(cpu: \(processor.cpu), cpl: \(processor.cpl), src: 0x\(String(source, radix: 16)), "
            + "key: <redacted \(key.count) bytes>)"
    }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["description": description]) }
}

/// ENCODEKEY's outputs: EAX and the handle (a wrapped key, not a secret).
public struct EncodedKey: CommandResult {
    public var eax: Hex
    public var handle: HexBytes

    public var text: String { "eax=\(eax) handle=\(handle)" }
}

/// `hw aesenc128kl|aesdec128kl|aesenc256kl|aesdec256kl`: one block in XMM0 with the handle as the m384/m512
/// memory operand; the block is read back from XMM0 (unchanged when ZF = 1: the handle was rejected).
public struct ExecuteAESKL: WorkspaceRequest {
    public static let access = RequestAccess.write

    public var processor: ProcessorSelection
    public var operation: AESKLOperation
    /// 48 bytes (AES-128 forms) or 64 (AES-256 forms).
    public var handle: [UInt8]
    /// 16 bytes.
    public var block: [UInt8]

    public init(
        processor: ProcessorSelection = ProcessorSelection(),
        operation: AESKLOperation,
        handle: [UInt8],
        block: [UInt8]
    ) {
        self.processor = processor
        self.operation = operation
        self.handle = handle
        self.block = block
    }

    public func run(in context: RequestContext) throws(HWKeysError) -> AESKLBlock {
        guard handle.count == operation.handleSize, block.count == 16 else {
            throw HWKeysError.usage(
                "\(operation.rawValue.uppercased()) takes a \(operation.handleSize)-byte handle and a 16-byte block"
            )
        }
        let (zf, result) = try processor.executeKeyLocker(in: context, data: block) { (cpu) throws(X86Fault) in
            try handle.withUnsafeBytes { operand in
                Swift.Result { () throws(X86Fault) in try cpu.aeskl(operation, xmm: 0, handle: operand) }
            }.get()
        }
        return AESKLBlock(zf: zf ? 1 : 0, block: HexBytes(result))
    }
}

/// An AES*KL result: ZF and XMM0.
public struct AESKLBlock: CommandResult {
    public var zf: Int
    public var block: HexBytes

    public var text: String { "zf=\(zf) block=\(block)" }
}

/// `hw aesencwide128kl|…`: the WIDE form on eight blocks in XMM0–7 (#UD without WIDE_KL).
public struct ExecuteAESWIDEKL: WorkspaceRequest {
    public static let access = RequestAccess.write

    public var processor: ProcessorSelection
    public var operation: AESKLOperation
    /// 48 bytes (AES-128 forms) or 64 (AES-256 forms).
    public var handle: [UInt8]
    /// Eight 16-byte blocks (128 bytes).
    public var blocks: [UInt8]

    public init(
        processor: ProcessorSelection = ProcessorSelection(),
        operation: AESKLOperation,
        handle: [UInt8],
        blocks: [UInt8]
    ) {
        self.processor = processor
        self.operation = operation
        self.handle = handle
        self.blocks = blocks
    }

    public func run(in context: RequestContext) throws(HWKeysError) -> AESKLBlocks {
        guard handle.count == operation.handleSize, blocks.count == 128 else {
            throw HWKeysError.usage(
                "\(operation.wideMnemonic.uppercased()) takes a \(operation.handleSize)-byte handle and 128 bytes of blocks"
            )
        }
        let (zf, result) = try processor.executeKeyLocker(in: context, data: blocks) { (cpu) throws(X86Fault) in
            try handle.withUnsafeBytes { operand in
                Swift.Result { () throws(X86Fault) in try cpu.aeswidekl(operation, handle: operand) }
            }.get()
        }
        return AESKLBlocks(zf: zf ? 1 : 0, blocks: HexBytes(result))
    }
}

/// An AES*WIDEKL result: ZF and XMM0–7.
public struct AESKLBlocks: CommandResult {
    public var zf: Int
    public var blocks: HexBytes

    public var text: String { "zf=\(zf) blocks=\(blocks)" }
}

extension ProcessorSelection {
    /// Loads `data` into XMM0…, runs `instruction`, and reads the same registers back: (ZF, registers).
    func executeKeyLocker(
        in context: RequestContext,
        data: [UInt8],
        _ instruction: (any X86Processor) throws(X86Fault) -> Bool
    ) throws(HWKeysError) -> (Bool, [UInt8]) {
        try execute(in: context) { (cpu) throws(X86Fault) in
            cpu.withXMMRegisters { $0.copyBytes(from: data) }
            let zf = try instruction(cpu)
            return (zf, cpu.withXMMRegisters { Array($0[0..<data.count]) })
        }
    }
}
