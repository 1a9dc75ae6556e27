//===----------------------------------------------------------------------===//
//
// hwkeys: X86, the SDM vocabulary
//
//===----------------------------------------------------------------------===//

import HWKeysBase

/// An architectural exception raised by an instruction (docs/design.md rule 2: faults are thrown).
///
/// The SDM names these by vector mnemonic: `#UD` (invalid opcode, vector 6), `#NM` (device not available,
/// vector 7) and `#GP(error code)` (general protection, vector 13). Equality compares the vector and error
/// code only; ``reason`` explains which guard fired, for people reading logs.
public struct X86Fault: Error, Hashable, Sendable, CustomStringConvertible {
    /// The exception vector.
    public enum Vector: UInt8, Sendable {
        /// `#UD`, invalid opcode (SDM Vol. 3A §6.15, interrupt 6).
        case invalidOpcode = 6
        /// `#NM`, device not available (SDM Vol. 3A §6.15, interrupt 7).
        case deviceNotAvailable = 7
        /// `#GP`, general protection (SDM Vol. 3A §6.15, interrupt 13).
        case generalProtection = 13
    }

    public let vector: Vector
    /// The error code pushed with `#GP` (always 0 for the faults hwkeys models).
    public let errorCode: UInt32
    /// Which guard raised the fault, e.g. "CR4.KL = 0".
    public let reason: String

    public init(_ vector: Vector, errorCode: UInt32 = 0, reason: String) {
        self.vector = vector
        self.errorCode = errorCode
        self.reason = reason
    }

    /// `#UD` with a reason.
    public static func ud(_ reason: String) -> X86Fault { X86Fault(.invalidOpcode, reason: reason) }
    /// `#GP(0)` with a reason.
    public static func gp0(_ reason: String) -> X86Fault { X86Fault(.generalProtection, reason: reason) }
    /// `#NM` with a reason.
    public static func nm(_ reason: String) -> X86Fault { X86Fault(.deviceNotAvailable, reason: reason) }

    /// The fault as an error code: vector and error code.
    public var code: ErrorCode { .fault(vector: vector.rawValue, errorCode: errorCode) }

    /// The SDM spelling: `#UD`, `#NM` or `#GP(0)` (``ErrorCode/name``). Used as the CLI error code.
    public var mnemonic: String { code.name }

    public var description: String { "\(mnemonic): \(reason)" }

    public static func == (lhs: X86Fault, rhs: X86Fault) -> Bool {
        lhs.vector == rhs.vector && lhs.errorCode == rhs.errorCode
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(vector)
        hasher.combine(errorCode)
    }
}
