//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

/// A Linux errno value: what a system call of the modelled kernel returns on failure (design.md rule 2:
/// kernel results carry errno codes). Names and numbers follow Linux x86-64 (`include/uapi/asm-generic/errno*.h`).
public struct Errno: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The symbolic name, e.g. `ENOKEY`.
    public let name: String
    /// The number, e.g. 126.
    public let number: Int32

    public init(_ name: String, _ number: Int32) {
        self.name = name
        self.number = number
    }

    public var description: String { name }

    public static let EPERM = Errno("EPERM", 1)
    public static let ENOENT = Errno("ENOENT", 2)
    public static let ESRCH = Errno("ESRCH", 3)
    public static let EIO = Errno("EIO", 5)
    public static let ENXIO = Errno("ENXIO", 6)
    public static let E2BIG = Errno("E2BIG", 7)
    public static let EAGAIN = Errno("EAGAIN", 11)
    public static let ENOMEM = Errno("ENOMEM", 12)
    public static let EACCES = Errno("EACCES", 13)
    public static let EFAULT = Errno("EFAULT", 14)
    public static let EBUSY = Errno("EBUSY", 16)
    public static let EEXIST = Errno("EEXIST", 17)
    public static let ENODEV = Errno("ENODEV", 19)
    public static let ENOTDIR = Errno("ENOTDIR", 20)
    public static let EISDIR = Errno("EISDIR", 21)
    public static let EINVAL = Errno("EINVAL", 22)
    public static let ENOSPC = Errno("ENOSPC", 28)
    public static let ERANGE = Errno("ERANGE", 34)
    public static let EDEADLK = Errno("EDEADLK", 35)
    public static let ENAMETOOLONG = Errno("ENAMETOOLONG", 36)
    public static let ENOSYS = Errno("ENOSYS", 38)
    public static let ENOTEMPTY = Errno("ENOTEMPTY", 39)
    public static let ELOOP = Errno("ELOOP", 40)
    public static let ENODATA = Errno("ENODATA", 61)
    public static let EOPNOTSUPP = Errno("EOPNOTSUPP", 95)
    public static let EHOSTDOWN = Errno("EHOSTDOWN", 112)
    public static let EDQUOT = Errno("EDQUOT", 122)
    public static let ENOKEY = Errno("ENOKEY", 126)
    public static let EKEYEXPIRED = Errno("EKEYEXPIRED", 127)
    public static let EKEYREVOKED = Errno("EKEYREVOKED", 128)
    public static let EKEYREJECTED = Errno("EKEYREJECTED", 129)
}

/// A failed kernel operation: an errno and a human explanation.
public struct KernelError: Error, Hashable, Sendable, CustomStringConvertible {
    public let errno: Errno
    public let message: String

    public init(_ errno: Errno, _ message: String) {
        self.errno = errno
        self.message = message
    }

    public var description: String { "\(errno.name): \(message)" }

    /// Equality of the errno only, so tests can write `#expect(throws: KernelError(.ENOKEY, ""))`.
    public static func == (lhs: KernelError, rhs: KernelError) -> Bool { lhs.errno == rhs.errno }
    public func hash(into hasher: inout Hasher) { hasher.combine(errno) }
}

extension KernelError {
    public static func einval(_ message: String) -> KernelError { KernelError(.EINVAL, message) }
    public static func eacces(_ message: String) -> KernelError { KernelError(.EACCES, message) }
    public static func eperm(_ message: String) -> KernelError { KernelError(.EPERM, message) }
    public static func enomem(_ message: String) -> KernelError { KernelError(.ENOMEM, message) }
}
