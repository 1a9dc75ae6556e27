//===----------------------------------------------------------------------===//
//
// hwkeys: X86Tests
//
//===----------------------------------------------------------------------===//

import Testing
import X86

/// The AES Key Locker instructions that take a handle (SDM Vol. 2A AESENC128KL … AESDECWIDE256KL;
/// docs/research/keylocker-research.md §1.3 opcode table, §1.7; docs/contract.md §3).
@Suite struct AESKLOperationTests {
    /// Mnemonics, direction, key size and handle operand (m384 = 48 bytes for the 128 forms, m512 = 64 for the
    /// 256 forms) per the docs/research/keylocker-research.md §1.3 table.
    @Test(
        arguments: [
            (AESKLOperation.encrypt128, "aesenc128kl", "aesencwide128kl", true, false, 48),
            (.decrypt128, "aesdec128kl", "aesdecwide128kl", false, false, 48),
            (.encrypt256, "aesenc256kl", "aesencwide256kl", true, true, 64),
            (.decrypt256, "aesdec256kl", "aesdecwide256kl", false, true, 64),
        ] as [(AESKLOperation, String, String, Bool, Bool, Int)]
    )
    func operationsMatchTheOpcodeTable(
        operation: AESKLOperation,
        mnemonic: String,
        wide: String,
        encrypts: Bool,
        aes256: Bool,
        handleSize: Int
    ) {
        #expect(operation.rawValue == mnemonic)
        #expect(AESKLOperation(rawValue: mnemonic) == operation)
        #expect(operation.wideMnemonic == wide)
        #expect(operation.encrypts == encrypts)
        #expect(operation.isAES256 == aes256)
        #expect(operation.handleSize == handleSize)
    }

    @Test func thereAreFourOperations() {
        #expect(AESKLOperation.allCases.count == 4)
        #expect(AESKLOperation(rawValue: "aesencwide128kl") == nil)
        #expect(AESKLOperation(rawValue: "AESENC128KL") == nil)
    }
}

/// The default `aeswidekl(_:handle:groups:)` every `X86Processor` gets: architecturally the loop Linux's
/// `aeskl` driver runs (docs/research/keylocker-research.md §2.5; the protocol's doc comment) — load XMM0–7, one WIDE
/// instruction, store XMM0–7 if ZF = 0, stop at the first ZF = 1.
@Suite struct X86ProcessorWideLoopTests {
    /// Builds `count` 128-byte groups whose bytes are all distinct per group.
    static func groups(_ count: Int) -> [UInt8] {
        (0..<count * 128).map { UInt8(truncatingIfNeeded: $0 &* 3 &+ $0 / 128) }
    }

    /// What the fake's WIDE instruction does to a group: XOR every byte with 0x5A.
    static func transformed(_ bytes: some Sequence<UInt8>) -> [UInt8] { bytes.map { $0 ^ 0x5A } }

    @Test func eachGroupGoesThroughOneWideInstructionInOrder() throws {
        let cpu = WideOnlyProcessor()
        let input = Self.groups(3)
        var data = input
        let handle = [UInt8](repeating: 0, count: 48)
        let zf = try handle.withUnsafeBytes { handle in
            try data.withUnsafeMutableBytes { try cpu.aeswidekl(.encrypt128, handle: handle, groups: $0) }
        }
        #expect(!zf)
        #expect(data == Self.transformed(input))
        #expect(cpu.executed == [.encrypt128, .encrypt128, .encrypt128])
        // XMM0–7 hold the last group's output; XMM8–15 are untouched.
        #expect(cpu.xmm(0..<128) == Self.transformed(input[256..<384]))
        #expect(cpu.xmm(128..<256) == [UInt8](repeating: 0xEE, count: 128))
    }

    @Test func emptyGroupsExecuteNothingAndClearZF() throws {
        let cpu = WideOnlyProcessor()
        var data: [UInt8] = []
        let zf = try data.withUnsafeMutableBytes {
            try cpu.aeswidekl(.decrypt256, handle: UnsafeRawBufferPointer(start: nil, count: 0), groups: $0)
        }
        #expect(!zf)
        #expect(cpu.executed.isEmpty)
    }

    /// A rejected handle (ZF = 1 on the first instruction) leaves every group unchanged, and XMM0–7 hold the
    /// first group as loaded.
    @Test func rejectedHandleLeavesGroupsUnchanged() throws {
        let cpu = WideOnlyProcessor()
        cpu.failingExecution = 1
        let input = Self.groups(4)
        var data = input
        let zf = try data.withUnsafeMutableBytes {
            try cpu.aeswidekl(.decrypt128, handle: UnsafeRawBufferPointer(start: nil, count: 0), groups: $0)
        }
        #expect(zf)
        #expect(data == input)
        #expect(cpu.executed == [.decrypt128])
        #expect(cpu.xmm(0..<128) == Array(input[0..<128]))
    }

    /// The loop stops at the first instruction that sets ZF: groups before it hold their output, that group
    /// and the ones after keep their input.
    @Test func loopStopsAtTheFirstInstructionThatSetsZF() throws {
        let cpu = WideOnlyProcessor()
        cpu.failingExecution = 2
        let input = Self.groups(4)
        var data = input
        let zf = try data.withUnsafeMutableBytes {
            try cpu.aeswidekl(.encrypt256, handle: UnsafeRawBufferPointer(start: nil, count: 0), groups: $0)
        }
        #expect(zf)
        #expect(cpu.executed == [.encrypt256, .encrypt256])
        #expect(Array(data[0..<128]) == Self.transformed(input[0..<128]))
        #expect(Array(data[128...]) == Array(input[128...]))
        #expect(cpu.xmm(0..<128) == Array(input[128..<256]))
    }

    /// A fault from the WIDE instruction propagates unchanged and stops the loop.
    @Test func faultsPropagate() {
        let cpu = WideOnlyProcessor()
        cpu.fault = .ud("CR4.KL = 0")
        var data = Self.groups(2)
        #expect(throws: X86Fault.ud("")) {
            try data.withUnsafeMutableBytes {
                try cpu.aeswidekl(.encrypt128, handle: UnsafeRawBufferPointer(start: nil, count: 0), groups: $0)
            }
        }
        #expect(cpu.executed.count == 1)
    }

    /// Groups that are not whole 128-byte multiples are host misuse (documented precondition).
    @Test func partialGroupIsAPreconditionFailure() async {
        await #expect(processExitsWith: .failure) {
            let cpu = WideOnlyProcessor()
            var data = [UInt8](repeating: 0, count: 200)
            _ = try? data.withUnsafeMutableBytes {
                try cpu.aeswidekl(.encrypt128, handle: UnsafeRawBufferPointer(start: nil, count: 0), groups: $0)
            }
        }
    }
}

/// An `X86Processor` that implements only the XMM file and the single WIDE instruction (XOR 0x5A on XMM0–7,
/// or ZF = 1 on a chosen execution); everything else is #UD. The bulk `aeswidekl(_:handle:groups:)` comes from
/// the protocol extension under test.
private final class WideOnlyProcessor: X86Processor {
    let cpuNumber = 0
    var cpl = 0
    /// The operations executed, in order.
    var executed: [AESKLOperation] = []
    /// The 1-based execution that reports ZF = 1, if any.
    var failingExecution: Int?
    /// A fault every WIDE instruction raises, if set.
    var fault: X86Fault?
    private let registers = UnsafeMutableRawBufferPointer.allocate(byteCount: 256, alignment: 16)

    init() { registers.initializeMemory(as: UInt8.self, repeating: 0xEE) }
    deinit { registers.deallocate() }

    func xmm(_ range: Range<Int>) -> [UInt8] { Array(registers[range]) }

    func aeswidekl(_ operation: AESKLOperation, handle: UnsafeRawBufferPointer) throws(X86Fault) -> Bool {
        executed.append(operation)
        if let fault { throw fault }
        if executed.count == failingExecution { return true }
        for index in 0..<128 { registers[index] ^= 0x5A }
        return false
    }

    func withXMMRegisters<R, E: Error>(_ body: (UnsafeMutableRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(registers)
    }

    func cpuid(leaf: UInt32, subleaf: UInt32) -> CPUIDResult { .zero }
    func rdmsr(_ msr: UInt32) throws(X86Fault) -> UInt64 { throw .gp0("unmodelled") }
    func wrmsr(_ msr: UInt32, _ value: UInt64) throws(X86Fault) { throw .gp0("unmodelled") }
    func readCR4() throws(X86Fault) -> UInt64 { 0 }
    func writeCR4(_ value: UInt64) throws(X86Fault) { throw .gp0("unmodelled") }
    func load(_ address: PhysicalAddress, into buffer: UnsafeMutableRawBufferPointer) {}
    func store(_ address: PhysicalAddress, from buffer: UnsafeRawBufferPointer) {}
    func clflush(_ address: PhysicalAddress) {}
    func clflush(_ address: PhysicalAddress, length: Int) {}
    func wbinvd() throws(X86Fault) {}
    func rdrand() -> UInt64? { nil }
    func pconfig(leaf: UInt32, structure: PhysicalAddress) throws(X86Fault) -> PCONFIGResult { throw .ud("no PCONFIG") }
    func loadiwkey(eax: UInt32, src1: Int, src2: Int) throws(X86Fault) -> Bool { throw .ud("no KL") }
    func encodekey128(src: UInt32) throws(X86Fault) -> UInt32 { throw .ud("no KL") }
    func encodekey256(src: UInt32) throws(X86Fault) -> UInt32 { throw .ud("no KL") }
    func aeskl(_ operation: AESKLOperation, xmm: Int, handle: UnsafeRawBufferPointer) throws(X86Fault) -> Bool {
        throw .ud("no KL")
    }
}
