//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommands
//
//===----------------------------------------------------------------------===//

import ArgumentParser
import HWKeysBase
import Kernel
import Platform
import Workspace

/// TRANSITIONAL: the phase-1 command interface, bridged onto the workspace while commands move to typed
/// requests (docs/workspace.md). A ``LegacyCommand`` runs as a write request (``LegacyRequest``); its
/// `Session` is a view of the request's context. Removed when the last command is converted.
public final class Session {
    let context: RequestContext
    /// Streams text.
    let emit: (String) -> Void

    init(context: RequestContext, emit: @escaping (String) -> Void) {
        self.context = context
        self.emit = emit
    }

    /// The state file path.
    public var statePath: String { context.storeLocation }
    /// The machine this session works on.
    public var machineName: String { context.machineName }

    public func machine() throws(HWKeysError) -> Machine { try context.machine() }
    public func kernel() throws(HWKeysError) -> Kernel { try context.kernel() }
    public var kernelIsRunning: Bool { context.kernelIsRunning }
}

/// TRANSITIONAL: a leaf command not yet converted to a typed request.
public protocol LegacyCommand: ParsableCommand {
    /// The global options of this invocation.
    var global: GlobalOptions { get }
    /// Runs the command against the request's context; the workspace commits or discards its changes.
    func execute(in session: Session) throws -> CommandOutput
}

/// TRANSITIONAL: runs a ``LegacyCommand`` as a write request.
struct LegacyRequest: WorkspaceRequest, @unchecked Sendable {
    // @unchecked Sendable: the command value is parsed arguments only, used on the requesting thread.
    static let access = RequestAccess.write

    let command: any LegacyCommand
    let emit: (String) -> Void

    func run(in context: RequestContext) throws(HWKeysError) -> LegacyResult {
        do {
            return LegacyResult(output: try command.execute(in: Session(context: context, emit: emit)))
        } catch {
            throw HWKeysError(mapping: error)
        }
    }
}

/// TRANSITIONAL: a legacy command's output as a result.
struct LegacyResult: CommandResult, @unchecked Sendable {
    // @unchecked Sendable: JSON and String are values.
    let output: CommandOutput

    var text: String { output.text }

    func encode(to encoder: any Encoder) throws { try output.json.encode(to: encoder) }
}

extension JSON: Encodable {
    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .object(let members):
            var container = encoder.container(keyedBy: JSONKey.self)
            for (key, value) in members { try container.encode(value, forKey: JSONKey(key)) }
        case .array(let values):
            var container = encoder.unkeyedContainer()
            for value in values { try container.encode(value) }
        case .string(let text):
            var container = encoder.singleValueContainer()
            try container.encode(text)
        case .int(let value):
            var container = encoder.singleValueContainer()
            try container.encode(value)
        case .uint(let value):
            var container = encoder.singleValueContainer()
            try container.encode(value)
        case .double(let value):
            var container = encoder.singleValueContainer()
            if value.isFinite {
                try container.encode((value * 1000).rounded() / 1000)
            } else {
                try container.encodeNil()
            }
        case .bool(let value):
            var container = encoder.singleValueContainer()
            try container.encode(value)
        case .null:
            var container = encoder.singleValueContainer()
            try container.encodeNil()
        }
    }

    private struct JSONKey: CodingKey {
        let stringValue: String
        init(_ string: String) { stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
    }
}
