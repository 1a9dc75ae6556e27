//===----------------------------------------------------------------------===//
//
// hwkeys: Workspace
//
//===----------------------------------------------------------------------===//

import HWKeysBase

/// A failure as JSON shows it (stderr of the CLI in JSON mode, the HTTP API's error bodies):
/// `{"error": CODE, "message": …}`, where CODE is an errno name, a PCONFIG status name or a fault.
public struct ErrorReport: Codable, Sendable, Hashable {
    public var error: String
    public var message: String

    public init(_ error: HWKeysError) {
        self.error = error.code.name
        self.message = error.message
    }
}
