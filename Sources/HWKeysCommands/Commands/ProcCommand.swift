//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommands
//
//===----------------------------------------------------------------------===//

import ArgumentParser
import HWKeysBase
import Kernel
import Workspace

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

    static func pid(_ number: Number) throws(HWKeysError) -> Int32 {
        guard let pid = Int32(exactly: number.value), pid > 0 else {
            throw HWKeysError.usage("a pid is a positive number")
        }
        return pid
    }

    /// `proc spawn [--uid N] [--parent P]`: start a new program (fresh address space).
    public struct Spawn: HWKeysCommand {
        public static let configuration = CommandConfiguration(commandName: "spawn", abstract: "Start a new process.")
        @OptionGroup public var global: GlobalOptions
        @Option(help: "User id (a different uid needs a root parent).") var uid: Number?
        @Option(help: "Parent process.") var parent: Number = Number(100)
        @Option(help: "Process name.") var name: String?
        public init() {}

        public func request() throws(HWKeysError) -> SpawnProcess {
            var uid: UInt32?
            if let value = self.uid {
                guard let narrow = UInt32(exactly: value.value), narrow != UInt32.max else {
                    throw HWKeysError.usage("--uid out of range")
                }
                uid = narrow
            }
            return SpawnProcess(parent: try ProcCommand.pid(parent), uid: uid, name: name ?? "proc")
        }
    }

    /// `proc fork P`: duplicate a process.
    public struct Fork: HWKeysCommand {
        public static let configuration = CommandConfiguration(commandName: "fork", abstract: "Fork process P.")
        @OptionGroup public var global: GlobalOptions
        @Argument(help: "The process to fork.") var pid: Number
        public init() {}

        public func request() throws(HWKeysError) -> ForkProcess { ForkProcess(pid: try ProcCommand.pid(pid)) }
    }

    /// `proc exit P`.
    public struct Exit: HWKeysCommand {
        public static let configuration = CommandConfiguration(commandName: "exit", abstract: "End process P.")
        @OptionGroup public var global: GlobalOptions
        @Argument(help: "The process to end.") var pid: Number
        public init() {}

        public func request() throws(HWKeysError) -> ExitProcess { ExitProcess(pid: try ProcCommand.pid(pid)) }
    }

    /// `proc list`.
    public struct List: HWKeysCommand {
        public static let configuration = CommandConfiguration(commandName: "list", abstract: "List processes.")
        @OptionGroup public var global: GlobalOptions
        public init() {}

        public func request() -> ListProcesses { ListProcesses() }
    }
}
