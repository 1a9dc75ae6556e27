//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysBase
//
//===----------------------------------------------------------------------===//

/// The one error type of hwkeys: what every layer above the emulated hardware throws, and what the command
/// line reports (`hwkeys: CODE: message`, or `{"error": CODE, "message": …}` in JSON mode).
///
/// - ``code`` says what went wrong, for programs and tests: an errno (`ENOKEY`), a PCONFIG status
///   (`INVALID_KEYID`) or an architectural fault (`#GP(0)`).
/// - ``message`` is one human sentence: never key material, page bytes or other secrets.
/// - ``isUsage`` marks a usage error (bad arguments or configuration): the command line exits with status 2
///   for it, 1 for any other failure.
///
/// Equality and hashing look at ``code`` only, so tests can write
/// `#expect(throws: HWKeysError(.ENOKEY, ""))`. Instructions throw `X86Fault` (docs/design.md rule 2: faults are
/// thrown); it becomes an `HWKeysError` with a ``ErrorCode/fault(vector:errorCode:)`` code where it leaves
/// the hardware layer (`HWKeysError(_:)` in X86). PCONFIG and AES*KL status stay returned values.
public struct HWKeysError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong.
    public let code: ErrorCode
    /// A human explanation.
    public let message: String
    /// Whether this is a usage error (command-line exit status 2) rather than a failed operation (1).
    public let isUsage: Bool

    /// An error with any code.
    public init(_ code: ErrorCode, _ message: String, isUsage: Bool = false) {
        self.code = code
        self.message = message
        self.isUsage = isUsage
    }

    /// An errno error: `HWKeysError(.ENOKEY, "key expired")`.
    public init(_ errno: Errno, _ message: String, isUsage: Bool = false) {
        self.init(.errno(errno), message, isUsage: isUsage)
    }

    /// The errno of an errno error; nil for a PCONFIG status or a fault.
    public var errno: Errno? {
        if case .errno(let errno) = code { errno } else { nil }
    }

    /// `CODE: message`, as the command line prints it after `hwkeys: `.
    public var description: String { "\(code.name): \(message)" }

    /// Equality of the code only (not the message or ``isUsage``).
    public static func == (lhs: HWKeysError, rhs: HWKeysError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}

extension HWKeysError {
    /// A usage error (bad arguments or configuration): `EINVAL`, command-line exit status 2.
    public static func usage(_ message: String) -> HWKeysError { HWKeysError(.EINVAL, message, isUsage: true) }
    /// `EINVAL`: an invalid argument.
    public static func einval(_ message: String) -> HWKeysError { HWKeysError(.EINVAL, message) }
    /// `EACCES`: permission denied.
    public static func eacces(_ message: String) -> HWKeysError { HWKeysError(.EACCES, message) }
    /// `EPERM`: operation not permitted.
    public static func eperm(_ message: String) -> HWKeysError { HWKeysError(.EPERM, message) }
    /// `ENOMEM`: out of (emulated) memory.
    public static func enomem(_ message: String) -> HWKeysError { HWKeysError(.ENOMEM, message) }
}
