//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommands
//
//===----------------------------------------------------------------------===//

import Foundation
import HWKeysBase
import Workspace

/// What one CLI invocation works with: the state file's workspace (opened on first use), where streamed
/// text goes, and the process environment.
public final class CLIEnvironment {
    /// The state file path.
    public let statePath: String
    /// The machine named on the command line (or `default`).
    public let machineName: String
    /// The process environment.
    public let environment: [String: String]
    /// Streams text (used by `run` to print as it goes).
    public let emit: (String) -> Void
    /// Warnings for stderr (printed once, after the command).
    public private(set) var warnings: [String] = []

    private var openedWorkspace: Workspace?
    private let keepsMachinesLoaded: Bool

    /// The default state file name.
    public static let defaultStatePath = "./hwkeys.sqlite"

    init(
        options: GlobalOptions,
        environment: [String: String],
        keepsMachinesLoaded: Bool = false,
        emit: @escaping (String) -> Void
    ) {
        statePath =
            options.state ?? environment["HWKEYS_STATE"].flatMap { $0.isEmpty ? nil : $0 } ?? Self.defaultStatePath
        machineName = options.machine ?? Workspace.defaultMachineName
        self.environment = environment
        self.keepsMachinesLoaded = keepsMachinesLoaded
        self.emit = emit
    }

    /// The workspace over the state file.
    public func workspace(keepingMachinesLoaded keep: Bool? = nil) -> Workspace {
        if let openedWorkspace { return openedWorkspace }
        let store = StateFileStore(path: statePath) { [weak self] warning in self?.warn(warning) }
        let workspace = Workspace(store: store, keepsMachinesLoaded: keep ?? keepsMachinesLoaded)
        openedWorkspace = workspace
        return workspace
    }

    /// Queues a warning for stderr (each text once).
    public func warn(_ text: String) {
        if !warnings.contains(text) { warnings.append(text) }
    }
}
