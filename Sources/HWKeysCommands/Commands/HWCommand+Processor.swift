//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommands
//
//===----------------------------------------------------------------------===//

import ArgumentParser
import HWKeysBase
import Platform
import X86

/// `--cpu N` [0] and `--cpl 0|3` [0]: which logical processor runs a monitor instruction, and at which
/// privilege level (the monitor behaves like a bare-metal test kernel that can drop to user mode).
public struct CPUOptions: ParsableArguments, Sendable {
    @Option(help: "Logical processor that executes the instruction.")
    public var cpu: Number = Number(0)

    @Option(help: "Privilege level to execute at: 0 or 3.")
    public var cpl: Number = Number(0)

    public init() {}

    /// The selected processor of a running machine.
    public func processor(of machine: Machine) throws -> LogicalProcessor {
        try machine.requireRunning()
        guard cpu.value < UInt64(machine.processors.count), let processor = machine.processor(Int(cpu.value)) else {
            throw HWKeysError.usage("no CPU \(cpu.value): the machine has CPUs 0…\(machine.processors.count - 1)")
        }
        return processor
    }

    /// Runs `body` on the selected processor at the selected CPL, restoring CPL0 afterwards.
    public func execute<R>(on machine: Machine, _ body: (LogicalProcessor) throws -> R) throws -> R {
        guard cpl.value == 0 || cpl.value == 3 else { throw HWKeysError.usage("--cpl must be 0 or 3") }
        let processor = try processor(of: machine)
        processor.cpl = Int(cpl.value)
        defer { processor.cpl = 0 }
        return try body(processor)
    }
}

extension HWCommand {
    /// `hw cpuid LEAF [SUBLEAF]`.
    public struct CPUID: LegacyCommand {
        public static let configuration = CommandConfiguration(commandName: "cpuid", abstract: "Execute CPUID.")
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var cpu: CPUOptions
        @Argument(help: "EAX (leaf).") var leaf: Number
        @Argument(help: "ECX (sub-leaf).") var subleaf: Number = Number(0)
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            let leaf = try self.leaf.uint32("LEAF")
            let subleaf = try self.subleaf.uint32("SUBLEAF")
            let result = try cpu.execute(on: try session.machine()) { $0.cpuid(leaf: leaf, subleaf: subleaf) }
            let fields: [(String, JSON)] = [
                ("eax", .hex(UInt64(result.eax))), ("ebx", .hex(UInt64(result.ebx))),
                ("ecx", .hex(UInt64(result.ecx))), ("edx", .hex(UInt64(result.edx))),
            ]
            return CommandOutput(
                json: .object(fields),
                text: fields.map { "\($0.0)=\(CommandOutput.plain($0.1))" }.joined(separator: " ")
            )
        }
    }

    /// `hw rdmsr MSR`.
    public struct RDMSR: LegacyCommand {
        public static let configuration = CommandConfiguration(commandName: "rdmsr", abstract: "Execute RDMSR.")
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var cpu: CPUOptions
        @Argument(help: "MSR address (ECX).") var msr: Number
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            let address = try msr.uint32("MSR")
            let value = try cpu.execute(on: try session.machine()) { try $0.rdmsr(address) }
            let name = MSR.name(of: address).map { " (\($0))" } ?? ""
            return CommandOutput(
                json: .object([("msr", .hex(UInt64(address))), ("value", .hex(value))]),
                text: "MSR 0x\(String(address, radix: 16))\(name) = 0x\(String(value, radix: 16))"
            )
        }
    }

    /// `hw wrmsr MSR VALUE`.
    public struct WRMSR: LegacyCommand {
        public static let configuration = CommandConfiguration(commandName: "wrmsr", abstract: "Execute WRMSR.")
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var cpu: CPUOptions
        @Argument(help: "MSR address (ECX).") var msr: Number
        @Argument(help: "Value (EDX:EAX).") var value: Number
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            let address = try msr.uint32("MSR")
            try cpu.execute(on: try session.machine()) { try $0.wrmsr(address, value.value) }
            return CommandOutput(
                json: .object([("msr", .hex(UInt64(address))), ("value", .hex(value.value))]),
                text: "wrote 0x\(String(value.value, radix: 16)) to MSR 0x\(String(address, radix: 16))"
            )
        }
    }

    /// `hw inject KIND [N] [--package P]`: arm a hardware failure.
    public struct Inject: LegacyCommand {
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

        public func execute(in session: Session) throws -> CommandOutput {
            let machine = try session.machine()
            func number() throws -> Int {
                guard let text = count, let value = ValueParser.number(text), value <= UInt64(Int32.max) else {
                    throw HWKeysError.usage("\(kind) needs a count N (0…\(Int32.max))")
                }
                return Int(value)
            }
            let package = try self.package.int("package")
            switch kind {
            case "pconfig-busy", "pconfig-entropy":
                guard package < machine.configuration.packages else {
                    throw HWKeysError.usage(
                        "no package \(package): the machine has packages 0…\(machine.configuration.packages - 1)"
                    )
                }
                let n = try number()
                if kind == "pconfig-busy" {
                    machine.faults.pconfigBusy[package] = n
                } else {
                    machine.faults.pconfigEntropy[package] = n
                }
                return CommandOutput(
                    json: .object([("kind", .string(kind)), ("package", .count(package)), ("count", .count(n))]),
                    text:
                        "the next \(n) PCONFIG(s) on package \(package) will fail with \(kind == "pconfig-busy" ? "DEVICE_BUSY" : "ENTROPY_ERROR")"
                )
            case "rdseed-fail":
                let n = try number()
                machine.faults.rdseedFailures = n
                return CommandOutput(
                    json: .object([("kind", .string(kind)), ("count", .count(n))]),
                    text: "the next \(n) on-chip random-number request(s) will fail"
                )
            case "iwkey-backup-error":
                let armed = count != "clear"
                if let count, count != "clear" {
                    throw HWKeysError.usage("iwkey-backup-error takes no count (or 'clear')")
                }
                machine.faults.iwkeyBackupError = armed
                return CommandOutput(
                    json: .object([("kind", .string(kind)), ("armed", .bool(armed))]),
                    text: armed
                        ? "IWKey backup storage now reports a read/write error" : "IWKey backup storage error cleared"
                )
            default:
                throw HWKeysError.usage(
                    "unknown injection '\(kind)' (pconfig-busy, pconfig-entropy, rdseed-fail, iwkey-backup-error)"
                )
            }
        }
    }
}
