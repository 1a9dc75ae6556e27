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

    /// The access this request needs given its arguments: ``access``, unless a reader knows that these
    /// arguments may make it change the machine (a `keyctl` inspection naming `@u` or `@us`, keyrings
    /// Linux creates on first use — a serial drawn with RDRAND — runs as a writer). Never `.read` for a
    /// writer.
    var requiredAccess: RequestAccess { get }

    /// Runs the request. Throws ``HWKeysError``; a writer's changes are then discarded.
    func run(in context: RequestContext) throws(HWKeysError) -> Result
}

extension WorkspaceRequest {
    public static var createsStore: Bool { false }
    public static var runsInGuest: Bool { true }
    public var requiredAccess: RequestAccess { Self.access }
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

    /// Bytes the CLI writes to stdout exactly as they are, instead of ``text`` and a newline, in text
    /// mode; nil (the default) prints ``text``. For output that is not lines of text: a payload piped
    /// out raw (`keyctl pipe`), or one empty line (`keyctl print` and `rlist` of nothing, as keyctl(1)).
    var rawOutput: [UInt8]? { get }
}

extension CommandResult {
    public var rawOutput: [UInt8]? { nil }
}
