//===----------------------------------------------------------------------===//
//
// hwkeys: Workspace
//
//===----------------------------------------------------------------------===//

import HWKeysBase
import Platform
import X86

/// Which logical processor executes a debug-monitor instruction, and at which privilege level: the monitor
/// behaves like a bare-metal test kernel that can drop to user mode (`--cpu N`, `--cpl 0|3`).
public struct ProcessorSelection: Sendable, Hashable {
    /// The Linux CPU number.
    public var cpu: Int
    /// 0 (kernel) or 3 (user).
    public var cpl: Int

    public init(cpu: Int = 0, cpl: Int = 0) {
        self.cpu = cpu
        self.cpl = cpl
    }

    /// The selected processor (through ``RequestContext/processor(_:)``, so a guest's vCPU under `--vm`).
    ///
    /// - Throws: `EINVAL` (usage) for a CPL other than 0 or 3 or a CPU the machine lacks; `EHOSTDOWN` unless
    ///   the machine is running.
    func processor(in context: RequestContext) throws(HWKeysError) -> any X86Processor {
        guard cpl == 0 || cpl == 3 else { throw HWKeysError.usage("--cpl must be 0 or 3") }
        return try context.processor(cpu)
    }

    /// Runs `body` on the selected processor at the selected CPL, restoring CPL0 afterwards. A fault the
    /// instruction raises leaves as its `HWKeysError` (code `#UD`, `#GP(0)`, …; design rule 2).
    func execute<R>(
        in context: RequestContext,
        _ body: (any X86Processor) throws(X86Fault) -> R
    ) throws(HWKeysError) -> R {
        let processor = try processor(in: context)
        return try atCPL(on: processor) { () throws(X86Fault) in try body(processor) }
    }

    /// Runs `body` with `processor` at the selected CPL, restoring CPL0 afterwards.
    func atCPL<R>(on processor: any X86Processor, _ body: () throws(X86Fault) -> R) throws(HWKeysError) -> R {
        processor.cpl = cpl
        defer { processor.cpl = 0 }
        do {
            return try body()
        } catch {
            throw HWKeysError(error)
        }
    }
}

/// `hw cpuid LEAF [SUBLEAF]`: CPUID (SDM Vol. 2A "CPUID—CPU Identification").
public struct ExecuteCPUID: WorkspaceRequest {
    public static let access = RequestAccess.write

    public var processor: ProcessorSelection
    /// EAX.
    public var leaf: UInt32
    /// ECX.
    public var subleaf: UInt32

    public init(processor: ProcessorSelection = ProcessorSelection(), leaf: UInt32, subleaf: UInt32 = 0) {
        self.processor = processor
        self.leaf = leaf
        self.subleaf = subleaf
    }

    public func run(in context: RequestContext) throws(HWKeysError) -> CPUIDRegisters {
        let result = try processor.execute(in: context) { $0.cpuid(leaf: leaf, subleaf: subleaf) }
        return CPUIDRegisters(eax: Hex(result.eax), ebx: Hex(result.ebx), ecx: Hex(result.ecx), edx: Hex(result.edx))
    }
}

/// The registers CPUID returned.
public struct CPUIDRegisters: CommandResult {
    public var eax: Hex
    public var ebx: Hex
    public var ecx: Hex
    public var edx: Hex

    public var text: String { "eax=\(eax) ebx=\(ebx) ecx=\(ecx) edx=\(edx)" }
}

/// `hw rdmsr MSR`: RDMSR (SDM Vol. 2B "RDMSR—Read From Model Specific Register"; #GP(0) above CPL0 or for an
/// unmodelled MSR).
public struct ExecuteRDMSR: WorkspaceRequest {
    public static let access = RequestAccess.write

    public var processor: ProcessorSelection
    /// ECX.
    public var msr: UInt32

    public init(processor: ProcessorSelection = ProcessorSelection(), msr: UInt32) {
        self.processor = processor
        self.msr = msr
    }

    public func run(in context: RequestContext) throws(HWKeysError) -> MSRValue {
        let value = try processor.execute(in: context) { (processor) throws(X86Fault) in try processor.rdmsr(msr) }
        return MSRValue(msr: Hex(msr), value: Hex(value), wrote: false)
    }
}

/// `hw wrmsr MSR VALUE`: WRMSR (SDM Vol. 2B "WRMSR—Write to Model Specific Register"; #GP(0) above CPL0, for
/// reserved bits or a locked MSR).
public struct ExecuteWRMSR: WorkspaceRequest {
    public static let access = RequestAccess.write

    public var processor: ProcessorSelection
    /// ECX.
    public var msr: UInt32
    /// EDX:EAX.
    public var value: UInt64

    public init(processor: ProcessorSelection = ProcessorSelection(), msr: UInt32, value: UInt64) {
        self.processor = processor
        self.msr = msr
        self.value = value
    }

    public func run(in context: RequestContext) throws(HWKeysError) -> MSRValue {
        try processor.execute(in: context) { (processor) throws(X86Fault) in try processor.wrmsr(msr, value) }
        return MSRValue(msr: Hex(msr), value: Hex(value), wrote: true)
    }
}

/// An MSR and the value read from it or written to it.
public struct MSRValue: CommandResult {
    public var msr: Hex
    public var value: Hex
    /// Text form: `wrote …` after WRMSR, `MSR … = …` after RDMSR.
    var wrote: Bool

    enum CodingKeys: String, CodingKey { case msr, value }

    public var text: String {
        if wrote { return "wrote \(value) to MSR \(msr)" }
        let name = UInt32(exactly: msr.value).flatMap(MSR.name(of:)).map { " (\($0))" } ?? ""
        return "MSR \(msr)\(name) = \(value)"
    }
}
