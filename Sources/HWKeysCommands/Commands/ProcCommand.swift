//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommands
//
//===----------------------------------------------------------------------===//

import ArgumentParser
import HWKeysBase
import Kernel

/// `hwkeys proc …`: processes of the modelled kernel and their memory.
public struct ProcCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "proc",
        abstract: "Processes: spawn, fork, exit, list; their memory and Key Locker use.",
        subcommands: ProcCommand.subcommandTypes
    )
    public init() {}

    /// Every `proc` subcommand; memory and Key Locker commands join this list.
    static let subcommandTypes: [any ParsableCommand.Type] =
        [Spawn.self, Fork.self, Exit.self, List.self] + memorySubcommandTypes + keyLockerSubcommandTypes

    static func pid(_ number: Number) throws -> Int32 {
        guard let pid = Int32(exactly: number.value), pid > 0 else {
            throw HWKeysError.usage("a pid is a positive number")
        }
        return pid
    }

    /// `proc spawn [--uid N] [--parent P]`: start a new program (fresh address space).
    public struct Spawn: LegacyCommand {
        public static let configuration = CommandConfiguration(commandName: "spawn", abstract: "Start a new process.")
        @OptionGroup public var global: GlobalOptions
        @Option(help: "User id (a different uid needs a root parent).") var uid: Number?
        @Option(help: "Parent process.") var parent: Number = Number(100)
        @Option(help: "Process name.") var name: String?
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            let kernel = try session.kernel()
            var uid: UInt32?
            if let value = self.uid {
                guard let narrow = UInt32(exactly: value.value), narrow != UInt32.max else {
                    throw HWKeysError.usage("--uid out of range")
                }
                uid = narrow
            }
            let pid = try kernel.createProcess(
                parent: try ProcCommand.pid(parent),
                uid: uid,
                name: name ?? "proc",
                exec: true
            )
            return CommandOutput(json: .object([("pid", .count(Int(pid)))]), text: "\(pid)")
        }
    }

    /// `proc fork P`: duplicate a process.
    public struct Fork: LegacyCommand {
        public static let configuration = CommandConfiguration(commandName: "fork", abstract: "Fork process P.")
        @OptionGroup public var global: GlobalOptions
        @Argument(help: "The process to fork.") var pid: Number
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            let child = try session.kernel().createProcess(parent: try ProcCommand.pid(pid), exec: false)
            return CommandOutput(json: .object([("pid", .count(Int(child)))]), text: "\(child)")
        }
    }

    /// `proc exit P`.
    public struct Exit: LegacyCommand {
        public static let configuration = CommandConfiguration(commandName: "exit", abstract: "End process P.")
        @OptionGroup public var global: GlobalOptions
        @Argument(help: "The process to end.") var pid: Number
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            let pid = try ProcCommand.pid(self.pid)
            try session.kernel().exitProcess(pid)
            return CommandOutput(json: .object([("exited", .count(Int(pid)))]), text: "process \(pid) exited")
        }
    }

    /// `proc list`.
    public struct List: LegacyCommand {
        public static let configuration = CommandConfiguration(commandName: "list", abstract: "List processes.")
        @OptionGroup public var global: GlobalOptions
        public init() {}

        public func execute(in session: Session) throws -> CommandOutput {
            let processes = try session.kernel().processes.processes.sorted.map(\.value)
            return CommandOutput(
                json: .object([
                    (
                        "processes",
                        .array(
                            processes.map {
                                .object([
                                    ("pid", .count(Int($0.pid))), ("parent", .count(Int($0.parent))),
                                    ("uid", .count(Int($0.credentials.uid))), ("name", .string($0.name)),
                                ])
                            }
                        )
                    )
                ]),
                text: (["PID\tPPID\tUID\tNAME"]
                    + processes.map { "\($0.pid)\t\($0.parent)\t\($0.credentials.uid)\t\($0.name)" })
                    .joined(separator: "\n")
            )
        }
    }
}
