//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommands
//
//===----------------------------------------------------------------------===//

import HWKeysBase
import HWKeysStore
import Kernel
import Platform
import X86

/// A failed command, as the CLI reports it (design.md): an errno name, a PCONFIG status name or a fault
/// mnemonic (`#UD`, `#GP(0)`, `#NM`) as `code`, a message, and the exit status (1 for an operation
/// error, 2 for a usage error).
public struct CommandError: Error, Sendable, CustomStringConvertible {
    public let code: String
    public let message: String
    public let exitCode: Int32

    public init(code: String, message: String, exitCode: Int32 = 1) {
        self.code = code
        self.message = message
        self.exitCode = exitCode
    }

    /// A usage error (bad arguments): exit status 2.
    public static func usage(_ message: String, code: String = "EINVAL") -> CommandError {
        CommandError(code: code, message: message, exitCode: 2)
    }

    /// An operation error: exit status 1.
    public static func failed(_ code: String, _ message: String) -> CommandError {
        CommandError(code: code, message: message)
    }

    public var description: String { "\(code): \(message)" }

    /// The JSON printed on stderr in JSON mode.
    public var json: JSON { .object([("error", .string(code)), ("message", .string(message))]) }

    /// Maps any error a command can meet onto the CLI's error shape.
    public init(_ error: any Error) {
        switch error {
        case let error as CommandError: self = error
        case let fault as X86Fault: self.init(code: fault.mnemonic, message: fault.reason)
        case let error as HWKeysError:
            self.init(code: error.code.name, message: error.message, exitCode: error.isUsage ? 2 : 1)
        default: self.init(code: "EIO", message: "\(error)")
        }
    }
}
