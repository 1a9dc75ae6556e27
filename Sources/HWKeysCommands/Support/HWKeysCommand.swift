//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommands
//
//===----------------------------------------------------------------------===//

import ArgumentParser
import HWKeysBase

/// Options every command accepts (docs/design.md): the state file, the machine name and the output format.
/// They may be given before or after the subcommand (`hwkeys --format json machine show`).
public struct GlobalOptions: ParsableArguments, Sendable {
    @Option(name: .long, help: "State file (default ./hwkeys.sqlite, or $HWKEYS_STATE).")
    public var state: String?

    @Option(name: .long, help: "Machine name (default 'default').")
    public var machine: String?

    @Option(name: .long, help: "Output format: text or json.")
    public var format: OutputFormat = .text

    public init() {}
}

/// A leaf command: parsed by ArgumentParser, executed against a ``Session`` so that `hwkeys run FILE` can
/// run many commands against one loaded machine in one process, each in its own transaction.
public protocol HWKeysCommand: ParsableCommand {
    /// The global options of this invocation.
    var global: GlobalOptions { get }

    /// Runs the command. Throws `HWKeysError` (or any error `HWKeysError.init(mapping:)` maps) on failure;
    /// the session then discards every change the command made.
    func execute(in session: Session) throws -> CommandOutput
}
