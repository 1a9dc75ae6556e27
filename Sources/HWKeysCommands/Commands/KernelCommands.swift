//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommands
//
//===----------------------------------------------------------------------===//

import ArgumentParser
import HWKeysBase
import Kernel
import KernelInterfaces
import Platform

/// `--pid P` [100]: the process a command acts as.
public struct ProcessOptions: ParsableArguments, Sendable {
    @Option(help: "The process the command acts as (default: the root shell, pid 100).")
    public var pid: Number = Number(100)

    public init() {}

    /// The pid, checked for range.
    public func value() throws -> Int32 {
        guard let pid = Int32(exactly: self.pid.value), pid > 0 else {
            throw HWKeysError.usage("--pid must be a positive pid")
        }
        return pid
    }
}

/// `hwkeys dmesg`: the kernel log.
public struct DmesgCommand: HWKeysCommand {
    public static let configuration = CommandConfiguration(commandName: "dmesg", abstract: "Print the kernel log.")
    @OptionGroup public var global: GlobalOptions
    public init() {}

    public func execute(in session: Session) throws -> CommandOutput {
        let log = try session.kernel().log
        let json = JSON.object([
            (
                "lines",
                .array(
                    log.lines.map {
                        .object([
                            ("time_ns", .uint($0.time)), ("facility", .string($0.facility)), ("text", .string($0.text)),
                        ])
                    }
                )
            ),
            ("dropped", .count(log.dropped)),
        ])
        return CommandOutput(json: json, text: log.lines.map(DmesgLog.format).joined(separator: "\n"))
    }
}

/// `hwkeys sysfs read|write|ls PATH`: the kernel's pseudo-files under /proc and /sys.
public struct SysfsCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sysfs",
        abstract: "Read, write and list the kernel's /proc and /sys files.",
        subcommands: [Read.self, Write.self, List.self]
    )
    public init() {}

    public struct Read: HWKeysCommand {
        public static let configuration = CommandConfiguration(commandName: "read", abstract: "Read a pseudo-file.")
        @OptionGroup public var global: GlobalOptions
        @Argument(help: "Absolute path, e.g. /proc/sys/kernel/keys/gc_delay.") var path: String
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            let value = try session.kernel().sysfsRead(path)
            return CommandOutput(json: .object([("path", .string(path)), ("value", .string(value))]), text: value)
        }
    }

    public struct Write: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "write",
            abstract: "Write a pseudo-file (root only)."
        )
        @OptionGroup public var global: GlobalOptions
        @OptionGroup var process: ProcessOptions
        @Argument(help: "Absolute path.") var path: String
        @Argument(help: "The value to write.") var value: String
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            let kernel = try session.kernel()
            try kernel.sysfsWrite(path, value, as: try process.value())
            let now = (try? kernel.sysfsRead(path)) ?? value
            return CommandOutput(
                json: .object([("path", .string(path)), ("value", .string(now))]),
                text: "\(path) = \(now)"
            )
        }
    }

    public struct List: HWKeysCommand {
        public static let configuration = CommandConfiguration(commandName: "ls", abstract: "List a pseudo-directory.")
        @OptionGroup public var global: GlobalOptions
        @Argument(help: "Absolute directory path.") var path: String
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            let entries = try session.kernel().sysfsList(path)
            return CommandOutput(
                json: .object([("path", .string(path)), ("entries", .array(entries.map { .string($0) }))]),
                text: entries.joined(separator: "\n")
            )
        }
    }
}

/// `hwkeys clock advance SECONDS`: move emulated time forward (key expiry, gc_delay, backup latency).
public struct ClockCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "clock",
        abstract: "Show or advance emulated time.",
        subcommands: [Show.self, Advance.self]
    )
    public init() {}

    public struct Show: HWKeysCommand {
        public static let configuration = CommandConfiguration(commandName: "show", abstract: "Show emulated time.")
        @OptionGroup public var global: GlobalOptions
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            let machine = try session.machine()
            return CommandOutput(fields: [("emulated_ns", .uint(machine.nanoseconds))])
        }
    }

    public struct Advance: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "advance",
            abstract: "Advance emulated time by SECONDS."
        )
        @OptionGroup public var global: GlobalOptions
        @Argument(help: "Seconds (decimals allowed), or a duration such as 500ms.") var seconds: String
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            let nanoseconds: UInt64
            if let value = Double(seconds), value >= 0, value < 1.8e10 {
                nanoseconds = UInt64((value * 1e9).rounded())
            } else if let duration = ValueParser.duration(seconds), seconds.last?.isLetter == true {
                nanoseconds = duration
            } else {
                throw HWKeysError.usage("clock advance takes seconds (e.g. 301 or 1.5) or a duration (e.g. 500ms)")
            }
            let machine = try session.machine()
            machine.advance(nanoseconds: nanoseconds)
            // The kernel's timers fire as time passes (the key gc, and the KeyIDs it releases).
            if session.kernelIsRunning { try session.kernel().runDueWork() }
            return CommandOutput(
                fields: [("advanced_ns", .uint(nanoseconds)), ("emulated_ns", .uint(machine.nanoseconds))]
            )
        }
    }
}

/// `hwkeys cpu online|offline N`: CPU hotplug.
public struct CPUCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "cpu",
        abstract: "CPU hotplug: bring a logical processor online or offline.",
        subcommands: [Online.self, Offline.self, List.self]
    )
    public init() {}

    static func set(_ session: Session, _ cpu: Number, online: Bool) throws -> CommandOutput {
        let kernel = try session.kernel()
        try kernel.setCPU(try cpu.int("CPU"), online: online)
        return CommandOutput(
            json: .object([("cpu", .count(Int(cpu.value))), ("online", .bool(online))]),
            text: "CPU\(cpu.value) is \(online ? "online" : "offline")"
        )
    }

    public struct Online: HWKeysCommand {
        public static let configuration = CommandConfiguration(commandName: "online", abstract: "Bring CPU N online.")
        @OptionGroup public var global: GlobalOptions
        @Argument(help: "CPU number.") var cpu: Number
        public init() {}
        public func execute(in session: Session) throws -> CommandOutput {
            try CPUCommand.set(session, cpu, online: true)
        }
    }

    public struct Offline: HWKeysCommand {
        public static let configuration = CommandConfiguration(commandName: "offline", abstract: "Take CPU N offline.")
        @OptionGroup public var global: GlobalOptions
        @Argument(help: "CPU number.") var cpu: Number
        public init() {}
        public func execute(in session: Session) throws -> CommandOutput {
            try CPUCommand.set(session, cpu, online: false)
        }
    }

    public struct List: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List CPUs and their state."
        )
        @OptionGroup public var global: GlobalOptions
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            let kernel = try session.kernel()
            let rows = kernel.onlineCPUs.enumerated().map { cpu, online in
                (cpu, kernel.platform.package(ofCPU: cpu), online)
            }
            return CommandOutput(
                json: .object([
                    (
                        "cpus",
                        .array(
                            rows.map {
                                .object([("cpu", .count($0.0)), ("package", .count($0.1)), ("online", .bool($0.2))])
                            }
                        )
                    )
                ]),
                text: rows.map { "cpu\($0.0)\tpackage \($0.1)\t\($0.2 ? "online" : "offline")" }.joined(separator: "\n")
            )
        }
    }
}
