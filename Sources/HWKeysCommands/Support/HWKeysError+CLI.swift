//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommands
//
//===----------------------------------------------------------------------===//

import HWKeysBase
import X86

/// A failed command as the CLI reports it (docs/design.md): `hwkeys: CODE: message` on stderr, or
/// `{"error": CODE, "message": …}` in JSON mode, and exit status 2 for a usage error, 1 otherwise.
extension HWKeysError {
    /// Maps any error a command can meet onto the CLI's error: an `HWKeysError` as it is, an architectural
    /// fault by its mnemonic and reason, anything else as `EIO` with its description.
    public init(mapping error: any Error) {
        switch error {
        case let error as HWKeysError: self = error
        case let fault as X86Fault: self.init(fault)
        default: self.init(.EIO, "\(error)")
        }
    }

    /// The process exit status: 2 for a usage error (bad arguments), 1 for a failed operation.
    public var exitCode: Int32 { isUsage ? 2 : 1 }
}
