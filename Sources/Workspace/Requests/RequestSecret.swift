//===----------------------------------------------------------------------===//
//
// hwkeys: Workspace
//
//===----------------------------------------------------------------------===//

import HWCrypto

/// Key material a request carries to the kernel (`crypt create|open --key`, `proc kl-encode --key`): held in
/// zeroizing storage (``HWCrypto/SecretBytes``, wiped when the last copy of the request goes), never encoded,
/// never printed (`<redacted N bytes>`).
public struct RequestSecret: @unchecked Sendable, CustomStringConvertible {
    // @unchecked Sendable: the bytes are written once, when the request is built, and only read afterwards
    // (by the one thread that runs the request); nothing mutates the buffer while the request exists.
    /// The secret.
    public let bytes: SecretBytes

    /// A request secret holding `secret` (not copied: the caller hands it over).
    public init(_ secret: SecretBytes) { bytes = secret }

    /// A copy of `bytes`.
    public init(copying bytes: [UInt8]) { self.bytes = SecretBytes(bytes) }

    /// The secret's length.
    public var count: Int { bytes.count }

    public var description: String { bytes.description }
}
