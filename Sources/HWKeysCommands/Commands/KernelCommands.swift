//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommands
//
//===----------------------------------------------------------------------===//

import ArgumentParser
import HWKeysBase
import Workspace

/// `--pid P` [100]: the process a command acts as.
public struct ProcessOptions: ParsableArguments, Sendable {
    @Option(help: "The process the command acts as (default: the root shell, pid 100).")
    public var pid: Number = Number(100)

    public init() {}

    /// The pid, checked for range.
    public func value() throws(HWKeysError) -> Int32 {
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

    public func request() -> ReadKernelLog { ReadKernelLog() }
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

        public func request() -> ReadPseudoFile { ReadPseudoFile(path: path) }
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

        public func request() throws(HWKeysError) -> WritePseudoFile {
            WritePseudoFile(path: path, value: value, pid: try process.value())
        }
    }

    public struct List: HWKeysCommand {
        public static let configuration = CommandConfiguration(commandName: "ls", abstract: "List a pseudo-directory.")
        @OptionGroup public var global: GlobalOptions
        @Argument(help: "Absolute directory path.") var path: String
        public init() {}

        public func request() -> ListPseudoDirectory { ListPseudoDirectory(path: path) }
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

        public func request() -> ShowClock { ShowClock() }
    }

    public struct Advance: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "advance",
            abstract: "Advance emulated time by SECONDS."
        )
        @OptionGroup public var global: GlobalOptions
        @Argument(help: "Seconds (decimals allowed), or a duration such as 500ms.") var seconds: String
        public init() {}

        public func request() throws(HWKeysError) -> AdvanceClock {
            let nanoseconds: UInt64
            if let value = Double(seconds), value >= 0, value < 1.8e10 {
                nanoseconds = UInt64((value * 1e9).rounded())
            } else if let duration = ValueParser.duration(seconds), seconds.last?.isLetter == true {
                nanoseconds = duration
            } else {
                throw HWKeysError.usage("clock advance takes seconds (e.g. 301 or 1.5) or a duration (e.g. 500ms)")
            }
            return AdvanceClock(nanoseconds: nanoseconds)
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

    public struct Online: HWKeysCommand {
        public static let configuration = CommandConfiguration(commandName: "online", abstract: "Bring CPU N online.")
        @OptionGroup public var global: GlobalOptions
        @Argument(help: "CPU number.") var cpu: Number
        public init() {}
        public func request() throws(HWKeysError) -> SetCPUOnline {
            SetCPUOnline(cpu: try cpu.int("CPU"), online: true)
        }
    }

    public struct Offline: HWKeysCommand {
        public static let configuration = CommandConfiguration(commandName: "offline", abstract: "Take CPU N offline.")
        @OptionGroup public var global: GlobalOptions
        @Argument(help: "CPU number.") var cpu: Number
        public init() {}
        public func request() throws(HWKeysError) -> SetCPUOnline {
            SetCPUOnline(cpu: try cpu.int("CPU"), online: false)
        }
    }

    public struct List: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List CPUs and their state."
        )
        @OptionGroup public var global: GlobalOptions
        public init() {}

        public func request() -> ListCPUs { ListCPUs() }
    }
}
