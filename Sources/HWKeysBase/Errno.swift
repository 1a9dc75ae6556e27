//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysBase
//
//===----------------------------------------------------------------------===//

/// A Linux errno: what a system call of the modelled kernel returns on failure, and the code of most other
/// hwkeys errors (docs/design.md rule 2: kernel results carry errno codes).
///
/// The case name is the errno name and the raw value the Linux x86-64 number
/// (Linux `include/uapi/asm-generic/errno-base.h` and `include/uapi/asm-generic/errno.h`), so name and number cannot disagree. Each number has
/// one spelling: `EOPNOTSUPP` (95), never its alias `ENOTSUP`; `EAGAIN` (11), never `EWOULDBLOCK`; `EDEADLK`
/// (35), never `EDEADLOCK`. ``strerror`` is glibc's message, as `strerror(3)` and `keyctl`'s `%m` print it.
///
/// The cases are the errnos hwkeys reports (and those phase 2 needs), not all of Linux's; add one with its
/// number and message, and `ErrnoTests` checks both against the C library's table
/// (`Tests/HWKeysBaseTests/Fixtures/errno/`).
///
/// `Errno` deliberately has no `CustomStringConvertible` conformance: ``name`` is the case name as
/// `String(describing:)` returns it, and a custom description would replace it.
public enum Errno: Int32, CaseIterable, Sendable {
    case EPERM = 1
    case ENOENT = 2
    case ESRCH = 3
    case EINTR = 4
    case EIO = 5
    case ENXIO = 6
    case E2BIG = 7
    case ENOEXEC = 8
    case EBADF = 9
    case EAGAIN = 11
    case ENOMEM = 12
    case EACCES = 13
    case EFAULT = 14
    case EBUSY = 16
    case EEXIST = 17
    case ENODEV = 19
    case ENOTDIR = 20
    case EISDIR = 21
    case EINVAL = 22
    case ENOSPC = 28
    case EPIPE = 32
    case ERANGE = 34
    case EDEADLK = 35
    case ENAMETOOLONG = 36
    case ENOSYS = 38
    case ENOTEMPTY = 39
    case ELOOP = 40
    case ENODATA = 61
    case EBADMSG = 74
    case EOVERFLOW = 75
    case EOPNOTSUPP = 95
    case EADDRINUSE = 98
    case ECONNRESET = 104
    case ETIMEDOUT = 110
    case ECONNREFUSED = 111
    case EHOSTDOWN = 112
    case EDQUOT = 122
    case ENOKEY = 126
    case EKEYEXPIRED = 127
    case EKEYREVOKED = 128
    case EKEYREJECTED = 129

    /// The symbolic name, e.g. `"ENOKEY"`: the case name itself.
    public var name: String { String(describing: self) }

    /// The errno named `name` (`"ENOKEY"`), or nil for a name hwkeys does not use, or an alias
    /// (`"ENOTSUP"`, `"EWOULDBLOCK"`, `"EDEADLOCK"`).
    public init?(name: String) {
        guard let errno = Self.byName[name] else { return nil }
        self = errno
    }

    private static let byName: [String: Errno] = Dictionary(uniqueKeysWithValues: allCases.map { ($0.name, $0) })

    /// glibc's message for the errno, e.g. `"Required key not available"` (what `strerror(3)` returns on
    /// Linux with glibc).
    public var strerror: String {
        switch self {
        case .EPERM: "Operation not permitted"
        case .ENOENT: "No such file or directory"
        case .ESRCH: "No such process"
        case .EINTR: "Interrupted system call"
        case .EIO: "Input/output error"
        case .ENXIO: "No such device or address"
        case .E2BIG: "Argument list too long"
        case .ENOEXEC: "Exec format error"
        case .EBADF: "Bad file descriptor"
        case .EAGAIN: "Resource temporarily unavailable"
        case .ENOMEM: "Cannot allocate memory"
        case .EACCES: "Permission denied"
        case .EFAULT: "Bad address"
        case .EBUSY: "Device or resource busy"
        case .EEXIST: "File exists"
        case .ENODEV: "No such device"
        case .ENOTDIR: "Not a directory"
        case .EISDIR: "Is a directory"
        case .EINVAL: "Invalid argument"
        case .ENOSPC: "No space left on device"
        case .EPIPE: "Broken pipe"
        case .ERANGE: "Numerical result out of range"
        case .EDEADLK: "Resource deadlock avoided"
        case .ENAMETOOLONG: "File name too long"
        case .ENOSYS: "Function not implemented"
        case .ENOTEMPTY: "Directory not empty"
        case .ELOOP: "Too many levels of symbolic links"
        case .ENODATA: "No data available"
        case .EBADMSG: "Bad message"
        case .EOVERFLOW: "Value too large for defined data type"
        case .EOPNOTSUPP: "Operation not supported"
        case .EADDRINUSE: "Address already in use"
        case .ECONNRESET: "Connection reset by peer"
        case .ETIMEDOUT: "Connection timed out"
        case .ECONNREFUSED: "Connection refused"
        case .EHOSTDOWN: "Host is down"
        case .EDQUOT: "Disk quota exceeded"
        case .ENOKEY: "Required key not available"
        case .EKEYEXPIRED: "Key has expired"
        case .EKEYREVOKED: "Key has been revoked"
        case .EKEYREJECTED: "Key was rejected by service"
        }
    }
}
