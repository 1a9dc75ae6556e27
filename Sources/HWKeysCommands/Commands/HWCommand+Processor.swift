//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommands
//
//===----------------------------------------------------------------------===//

import ArgumentParser
import HWKeysBase
import Workspace

/// `--cpu N` [0] and `--cpl 0|3` [0]: which logical processor runs a monitor instruction, and at which
/// privilege level (the monitor behaves like a bare-metal test kernel that can drop to user mode).
public struct CPUOptions: ParsableArguments, Sendable {
    @Option(help: "Logical processor that executes the instruction.")
    public var cpu: Number = Number(0)

    @Option(help: "Privilege level to execute at: 0 or 3.")
    public var cpl: Number = Number(0)

    public init() {}

    /// The processor selection these options give.
    public func selection() throws(HWKeysError) -> ProcessorSelection {
        guard cpl.value == 0 || cpl.value == 3 else { throw HWKeysError.usage("--cpl must be 0 or 3") }
        return ProcessorSelection(cpu: try cpu.int("--cpu"), cpl: Int(cpl.value))
    }
}

extension HWCommand {
    /// `hw cpuid LEAF [SUBLEAF]`.
    public struct CPUID: HWKeysCommand {
        public static let configuration = CommandConfiguration(commandName: "cpuid", abstract: "Execute CPUID.")
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var cpu: CPUOptions
        @Argument(help: "EAX (leaf).") var leaf: Number
        @Argument(help: "ECX (sub-leaf).") var subleaf: Number = Number(0)
        public init() {}

        public func request() throws(HWKeysError) -> ExecuteCPUID {
            ExecuteCPUID(
                processor: try cpu.selection(),
                leaf: try leaf.uint32("LEAF"),
                subleaf: try subleaf.uint32("SUBLEAF")
            )
        }
    }

    /// `hw rdmsr MSR`.
    public struct RDMSR: HWKeysCommand {
        public static let configuration = CommandConfiguration(commandName: "rdmsr", abstract: "Execute RDMSR.")
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var cpu: CPUOptions
        @Argument(help: "MSR address (ECX).") var msr: Number
        public init() {}

        public func request() throws(HWKeysError) -> ExecuteRDMSR {
            ExecuteRDMSR(processor: try cpu.selection(), msr: try msr.uint32("MSR"))
        }
    }

    /// `hw wrmsr MSR VALUE`.
    public struct WRMSR: HWKeysCommand {
        public static let configuration = CommandConfiguration(commandName: "wrmsr", abstract: "Execute WRMSR.")
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var cpu: CPUOptions
        @Argument(help: "MSR address (ECX).") var msr: Number
        @Argument(help: "Value (EDX:EAX).") var value: Number
        public init() {}

        public func request() throws(HWKeysError) -> ExecuteWRMSR {
            ExecuteWRMSR(processor: try cpu.selection(), msr: try msr.uint32("MSR"), value: value.value)
        }
    }

    /// `hw inject KIND [N] [--package P]`: arm a hardware failure.
    public struct Inject: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "inject",
            abstract:
                "Arm failures: pconfig-busy N, pconfig-entropy N [--package P], rdseed-fail N, iwkey-backup-error [clear]."
        )
        @OptionGroup public var global: GlobalOptions
        @Argument(help: "pconfig-busy, pconfig-entropy, rdseed-fail or iwkey-backup-error.") var kind: String
        @Argument(help: "How many (or 'clear' for iwkey-backup-error).") var count: String?
        @Option(help: "Package for PCONFIG failures.") var package: Number = Number(0)
        public init() {}

        public func request() throws(HWKeysError) -> InjectHardwareFault {
            func number() throws(HWKeysError) -> Int {
                guard let text = count, let value = ValueParser.number(text), value <= UInt64(Int32.max) else {
                    throw HWKeysError.usage("\(kind) needs a count N (0…\(Int32.max))")
                }
                return Int(value)
            }
            let package = try self.package.int("package")
            switch kind {
            case "pconfig-busy": return InjectHardwareFault(.pconfigBusy(package: package, count: try number()))
            case "pconfig-entropy": return InjectHardwareFault(.pconfigEntropy(package: package, count: try number()))
            case "rdseed-fail": return InjectHardwareFault(.rdseedFailures(count: try number()))
            case "iwkey-backup-error":
                if let count, count != "clear" {
                    throw HWKeysError.usage("iwkey-backup-error takes no count (or 'clear')")
                }
                return InjectHardwareFault(.iwkeyBackupError(armed: count != "clear"))
            default:
                throw HWKeysError.usage(
                    "unknown injection '\(kind)' (pconfig-busy, pconfig-entropy, rdseed-fail, iwkey-backup-error)"
                )
            }
        }
    }
}
