//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommands
//
//===----------------------------------------------------------------------===//

import ArgumentParser
import HWKeysBase
import Workspace

/// Options every command accepts (docs/design.md): the state file, the machine, the guest and the output
/// format. They may be given before or after the subcommand (`hwkeys --format json machine show`).
public struct GlobalOptions: ParsableArguments, Sendable {
    @Option(name: .long, help: "State file (default ./hwkeys.sqlite, or $HWKEYS_STATE).")
    public var state: String?

    @Option(name: .long, help: "Machine name (default 'default').")
    public var machine: String?

    @Option(name: .long, help: "Run the command inside guest VM NAME of the machine.")
    public var vm: String?

    @Option(name: .long, help: "Output format: text or json.")
    public var format: OutputFormat = .text

    public init() {}
}

/// `--format text|json`.
public enum OutputFormat: String, CaseIterable, Sendable {
    case text
    case json
}

/// A leaf command that is a workspace request: the CLI only turns argv into the typed request
/// (docs/workspace.md); the workspace runs it and the CLI prints its result.
public protocol HWKeysCommand: ParsableCommand {
    /// The request this command builds.
    associatedtype Request: WorkspaceRequest

    /// The global options of this invocation.
    var global: GlobalOptions { get }

    /// The typed request these arguments describe. Throws a usage ``HWKeysError`` for arguments the parser
    /// accepted but that make no sense together.
    func request() throws(HWKeysError) -> Request
}

/// A leaf command that is not a single request (`run`, `benchmark`, `serve`): it drives the workspace (or
/// none) itself.
public protocol CLICommand: ParsableCommand {
    /// The global options of this invocation.
    var global: GlobalOptions { get }

    /// Runs the command. Text meant to appear as it is produced goes through `cli.emit`.
    func execute(in cli: CLIEnvironment) throws(HWKeysError) -> any CommandResult
}
