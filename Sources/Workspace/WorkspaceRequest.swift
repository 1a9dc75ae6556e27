//===----------------------------------------------------------------------===//
//
// hwkeys: Workspace
//
//===----------------------------------------------------------------------===//

import HWKeysBase

/// A command as a typed value: what the CLI builds from argv and the server from a request body
/// (docs/workspace.md). It runs against one machine (or a guest of it) inside one store transaction.
public protocol WorkspaceRequest: Sendable {
    /// What the request returns.
    associatedtype Result: CommandResult

    /// Readers commit nothing; writers serialize and commit (docs/workspace.md "Readers and writers").
    static var access: RequestAccess { get }

    /// Whether the request may create the store when it does not exist yet (`machine create`).
    static var createsStore: Bool { get }

    /// Whether the request may run inside a guest (`--vm NAME`). Host-only requests (raw DRAM, key
    /// tables, power, machines, VMs) answer EINVAL there (contract §8).
    static var runsInGuest: Bool { get }

    /// Runs the request. Throws ``HWKeysError``; a writer's changes are then discarded.
    func run(in context: RequestContext) throws(HWKeysError) -> Result
}

extension WorkspaceRequest {
    public static var createsStore: Bool { false }
    public static var runsInGuest: Bool { true }
}

/// A request's result: Codable for `--format json` and the HTTP API, plus the human rendering the CLI
/// prints by default.
///
/// JSON conventions (docs/design.md "Persistence and the command line"): snake_case field names (explicit
/// `CodingKeys`), byte strings as lower-case hex (``HexBytes``), addresses and register values as
/// `"0x…"` strings (``Hex``), counts as numbers.
public protocol CommandResult: Encodable, Sendable {
    /// The text the CLI prints (may be empty).
    var text: String { get }
}
