//===----------------------------------------------------------------------===//
//
// hwkeys: X86, the SDM vocabulary
//
//===----------------------------------------------------------------------===//

/// One of the AES Key Locker instructions that take a handle (SDM Vol. 2A AESENC128KL … AESDECWIDE256KL).
public enum AESKLOperation: String, CaseIterable, Sendable {
    case encrypt128 = "aesenc128kl"
    case decrypt128 = "aesdec128kl"
    case encrypt256 = "aesenc256kl"
    case decrypt256 = "aesdec256kl"

    /// True for the encrypt forms.
    public var encrypts: Bool { self == .encrypt128 || self == .encrypt256 }
    /// True for the AES-256 forms (64-byte handles).
    public var isAES256: Bool { self == .encrypt256 || self == .decrypt256 }
    /// The handle size the instruction reads: 48 (m384) or 64 (m512) bytes.
    public var handleSize: Int { isAES256 ? KeyLockerEncoding.handle256Size : KeyLockerEncoding.handle128Size }
    /// The mnemonic of the WIDE form (`aesencwide128kl`, …).
    public var wideMnemonic: String {
        switch self {
        case .encrypt128: "aesencwide128kl"
        case .decrypt128: "aesdecwide128kl"
        case .encrypt256: "aesencwide256kl"
        case .decrypt256: "aesdecwide256kl"
        }
    }
}

/// A logical processor as the software running on it sees it: the instructions, registers and memory
/// interface that the modelled kernel may use (docs/design.md rule 1).
///
/// The bare-metal implementation is `Platform.LogicalProcessor`; a later hypervisor provides virtual
/// processors with the same interface, so nothing here may assume bare metal. Faults are thrown
/// (``X86Fault``); architected status (ZF, RAX, copy-status MSRs) is returned.
public protocol X86Processor: AnyObject {
    /// The logical processor number (Linux's CPU number).
    var cpuNumber: Int { get }

    /// The current privilege level: 0 for the kernel, 3 for user space. Software that "runs" user code
    /// on this processor lowers it and restores it afterwards.
    var cpl: Int { get set }

    // MARK: Identification and control

    /// CPUID with EAX = `leaf`, ECX = `subleaf`.
    func cpuid(leaf: UInt32, subleaf: UInt32) -> CPUIDResult

    /// RDMSR. #GP(0) above CPL0, for an unmodelled or write-only MSR.
    func rdmsr(_ msr: UInt32) throws(X86Fault) -> UInt64

    /// WRMSR. #GP(0) above CPL0, for an unmodelled or read-only MSR, reserved bits, or a locked MSR.
    func wrmsr(_ msr: UInt32, _ value: UInt64) throws(X86Fault)

    /// MOV from CR4. #GP(0) above CPL0.
    func readCR4() throws(X86Fault) -> UInt64

    /// MOV to CR4. #GP(0) above CPL0 or for a reserved or unsupported bit (e.g. CR4.KL without Key Locker).
    func writeCR4(_ value: UInt64) throws(X86Fault)

    // MARK: Memory (physical addresses, KeyID bits included, through this package's cache)

    /// Loads `buffer.count` bytes starting at `address`. Never faults: reading through the wrong KeyID
    /// returns garbage, as on hardware.
    func load(_ address: PhysicalAddress, into buffer: UnsafeMutableRawBufferPointer)

    /// Stores `buffer` starting at `address`.
    func store(_ address: PhysicalAddress, from buffer: UnsafeRawBufferPointer)

    /// CLFLUSH: writes the line holding `address` (this exact alias) back if dirty and invalidates it in
    /// every cache.
    func clflush(_ address: PhysicalAddress)

    /// CLFLUSHOPT over every line of `[address, address + length)` (this alias), the way Linux's
    /// `clflush_cache_range()` loops: each dirty line is written back, every copy invalidated. The same as
    /// one ``clflush(_:)`` per line, but the write-backs reach the memory encryption engine in bulk.
    func clflush(_ address: PhysicalAddress, length: Int)

    /// WBINVD: writes back and invalidates every line of this processor's package cache. #GP(0) above CPL0.
    func wbinvd() throws(X86Fault)

    // MARK: Randomness

    /// RDRAND: a random 64-bit value, or nil when the instruction reports failure (CF = 0).
    func rdrand() -> UInt64?

    // MARK: PCONFIG (SDM Vol. 2B)

    /// PCONFIG with EAX = `leaf` and RBX = the physical address of `MKTME_KEY_PROGRAM_STRUCT`.
    /// #UD above CPL0 or without PCONFIG; #GP(0) for other leaves, an unaligned structure, or TME not
    /// active. Failures of the programming itself are returned in RAX/ZF.
    func pconfig(leaf: UInt32, structure: PhysicalAddress) throws(X86Fault) -> PCONFIGResult

    // MARK: XMM registers and Key Locker (Key Locker spec; SDM Vol. 2)

    /// Calls `body` with XMM0–XMM15 as 16 consecutive 16-byte registers (XMMn at offset 16n), the way
    /// software moves operands in and out of Key Locker instructions.
    func withXMMRegisters<R, E: Error>(_ body: (UnsafeMutableRawBufferPointer) throws(E) -> R) throws(E) -> R

    /// LOADIWKEY xmm1 (SRC1 = `src1`), xmm2 (SRC2 = `src2`) with the implicit EAX and XMM0. Returns ZF.
    func loadiwkey(eax: UInt32, src1: Int, src2: Int) throws(X86Fault) -> Bool

    /// ENCODEKEY128: wraps XMM0 with restrictions `src`; writes the handle to XMM0–2 and returns EAX.
    func encodekey128(src: UInt32) throws(X86Fault) -> UInt32

    /// ENCODEKEY256: wraps XMM1:XMM0 with restrictions `src`; writes the handle to XMM0–3 and returns EAX.
    func encodekey256(src: UInt32) throws(X86Fault) -> UInt32

    /// AESENC128KL / AESDEC128KL / AESENC256KL / AESDEC256KL on XMM`xmm` with the handle loaded from memory
    /// (`handle`: the 48 or 64 bytes of the m384/m512 operand). Returns ZF (true = failure, data unchanged).
    func aeskl(_ operation: AESKLOperation, xmm: Int, handle: UnsafeRawBufferPointer) throws(X86Fault) -> Bool

    /// The WIDE form of `operation` on XMM0–7. Returns ZF (true = failure, data unchanged).
    func aeswidekl(_ operation: AESKLOperation, handle: UnsafeRawBufferPointer) throws(X86Fault) -> Bool

    /// The inner loop of a Key Locker bulk cipher such as Linux's `aeskl` driver, run in one call: for each
    /// 128-byte group of `groups` in order, `MOVDQU XMM0–7 ← group`, the WIDE form of `operation` with
    /// `handle`, and (if it cleared ZF) `MOVDQU group ← XMM0–7`; the loop stops at the first instruction that
    /// sets ZF. Architecturally exactly that instruction sequence — same results, registers, cycle counters
    /// and emulated time; an implementation may execute it in bulk.
    ///
    /// - Returns: ZF of the last instruction executed (true = a handle was rejected: `groups` unchanged,
    ///   XMM0–7 hold the first group). An empty `groups` executes nothing and returns false.
    /// - Precondition: `groups.count` is a multiple of 128.
    func aeswidekl(
        _ operation: AESKLOperation,
        handle: UnsafeRawBufferPointer,
        groups: UnsafeMutableRawBufferPointer
    ) throws(X86Fault) -> Bool

    /// Not an instruction: drops every AES key schedule an emulator keeps from earlier AES*KL unwraps
    /// (silicon keeps nothing: every AES*KL unwraps its handle anew, SDM Vol. 2A AESENC128KL "Operation").
    /// Architecturally invisible — results, flags and cycles are the same before and after — so a kernel
    /// calls it when it retires handles (a crypt volume closing) to keep their unwrapped keys from
    /// outliving them in host memory.
    func discardUnwrappedKeys()
}

extension X86Processor {
    /// A processor that keeps no unwrapped keys has nothing to drop.
    public func discardUnwrappedKeys() {}

    /// The instruction-by-instruction form of ``aeswidekl(_:handle:groups:)``.
    public func aeswidekl(
        _ operation: AESKLOperation,
        handle: UnsafeRawBufferPointer,
        groups: UnsafeMutableRawBufferPointer
    ) throws(X86Fault) -> Bool {
        precondition(groups.count % 128 == 0, "WIDE Key Locker instructions work on 128-byte groups")
        var offset = 0
        while offset < groups.count {
            let group = UnsafeMutableRawBufferPointer(rebasing: groups[offset..<offset + 128])
            withXMMRegisters { xmm in xmm.copyMemory(from: UnsafeRawBufferPointer(group)) }
            guard try !aeswidekl(operation, handle: handle) else { return true }
            withXMMRegisters { xmm in group.copyMemory(from: UnsafeRawBufferPointer(rebasing: xmm[0..<128])) }
            offset += 128
        }
        return false
    }
}
