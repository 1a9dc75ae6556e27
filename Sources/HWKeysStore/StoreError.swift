//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysStore
//
//===----------------------------------------------------------------------===//

import GRDB
import HWKeysBase

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Factories

/// The state store's errors: ``HWKeysBase/HWKeysError``s built only by the factories below.
///
/// Callers look at the error's `code` (an errno, such as `ENOENT`) and `message` (one human sentence). The
/// store builds errors only through these factories, and a message never contains statement arguments, so
/// page bytes and component blobs (which hold emulated-hardware secrets) cannot leak into logs.
///
/// | Code | Meaning |
/// |------|---------|
/// | `ENOENT` | No such machine, or no state file and creation was not requested. |
/// | `EEXIST` | Creating a machine that already exists. |
/// | `EINVAL` | A malformed update (bad name, wrong page size, undeclared page space). |
/// | `EAGAIN` | The machine changed since it was loaded (another process committed first). |
/// | `EISDIR` | The state path is a directory. |
/// | `ENOEXEC` | Not an hwkeys state file: empty, not a regular file, or another application's database. |
/// | `EOPNOTSUPP` | The file was written by a newer hwkeys (unknown format version or migrations). |
/// | `EIO` | The file is not an SQLite database, is damaged (its schema too), or an I/O error occurred. |
/// | `EACCES` | Permission denied, or the file is read-only. |
/// | `EBUSY` | Another process kept the file locked longer than the busy timeout. |
/// | `ENOSPC` | The disk is full. |
/// | `ENOMEM` | Out of memory. |
extension HWKeysError {
    static func machineNotFound(_ name: String) -> HWKeysError {
        HWKeysError(.ENOENT, "no machine named '\(name)'")
    }

    static func machineExists(_ name: String) -> HWKeysError {
        HWKeysError(.EEXIST, "machine '\(name)' already exists")
    }

    static func staleRevision(_ name: String) -> HWKeysError {
        HWKeysError(
            .EAGAIN,
            "machine '\(name)' was changed by another hwkeys process since it was loaded; run the command again"
        )
    }

    static func invalidUpdate(_ reason: String) -> HWKeysError {
        HWKeysError(.EINVAL, reason)
    }

    static func stateFileMissing(_ path: String) -> HWKeysError {
        HWKeysError(.ENOENT, "no state file at '\(path)'")
    }

    static func isDirectory(_ path: String) -> HWKeysError {
        HWKeysError(.EISDIR, "state file '\(path)' is a directory")
    }

    static func notRegularFile(_ path: String) -> HWKeysError {
        HWKeysError(.ENOEXEC, "state file '\(path)' is not a regular file")
    }

    static func emptyFile(_ path: String) -> HWKeysError {
        HWKeysError(
            .ENOEXEC,
            "'\(path)' is an empty file, not an hwkeys state file (hwkeys never leaves one behind); "
                + "remove it or choose another path"
        )
    }

    static func notADatabase(_ path: String) -> HWKeysError {
        HWKeysError(.EIO, "'\(path)' is not an SQLite database or is damaged")
    }

    static func foreignDatabase(_ path: String, applicationID: UInt32) -> HWKeysError {
        let owner =
            applicationID == 0
            ? "it has no application id"
            : "its application id is 0x\(String(applicationID, radix: 16, uppercase: true))"
        return HWKeysError(
            .ENOEXEC,
            "'\(path)' is an SQLite database of another application, not an hwkeys state file (\(owner))"
        )
    }

    static func inconsistentSchema(_ path: String, detail: String) -> HWKeysError {
        HWKeysError(
            .EIO,
            "state file '\(path)' has the hwkeys application id but not the schema hwkeys made (\(detail)); "
                + "it was damaged or changed by another program, and hwkeys leaves it untouched"
        )
    }

    /// A lock another connection held past the busy timeout.
    ///
    /// - Parameter waited: How long the connection waited, or `nil` if SQLite did not let it wait
    ///   (it returns `SQLITE_BUSY` at once where waiting could deadlock).
    static func busy(_ path: String?, waited: Duration?) -> HWKeysError {
        let file = path.map { "state file '\($0)'" } ?? "the state store"
        let gaveUp = waited.map { "gave up after waiting \(describe($0)) for it" } ?? "could not wait for it"
        return HWKeysError(.EBUSY, "another hwkeys process holds \(file); \(gaveUp)")
    }

    /// A duration for a message: milliseconds below one second, else seconds with one decimal.
    private static func describe(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let milliseconds = Double(seconds) * 1000 + Double(attoseconds) / 1e15
        if milliseconds < 1000 { return "\(Int(milliseconds.rounded())) ms" }
        return "\((milliseconds / 100).rounded() / 10) s"
    }

    static func newerFormat(_ path: String, detail: String) -> HWKeysError {
        HWKeysError(
            .EOPNOTSUPP,
            "state file '\(path)' was written by a newer hwkeys (\(detail)); upgrade hwkeys to use it"
        )
    }

    /// An error from a system call, named after its errno.
    static func system(_ errnoValue: Int32, _ what: String, _ path: String) -> HWKeysError {
        let reason = String(cString: strerror(errnoValue))
        let code: Errno
        switch errnoValue {
        case ENOENT, ENOTDIR: code = .ENOENT
        case EACCES, EPERM, EROFS: code = .EACCES
        case EISDIR: code = .EISDIR
        case ENOSPC, EDQUOT: code = .ENOSPC
        case ENOMEM: code = .ENOMEM
        case EEXIST: code = .EEXIST
        default: code = .EIO
        }
        return HWKeysError(code, "\(what) '\(path)': \(reason)")
    }

    /// Maps any error thrown inside the store to an `HWKeysError`.
    ///
    /// GRDB errors are described by their SQLite code and SQLite's own message only: never by
    /// `DatabaseError.description`, which may quote SQL and, if enabled, statement arguments.
    static func wrapping(_ error: any Error, path: String?) -> HWKeysError {
        if let error = error as? HWKeysError { return error }
        let file = path.map { "state file '\($0)'" } ?? "state store"
        guard let error = error as? DatabaseError else {
            return HWKeysError(.EIO, "\(file): unexpected \(type(of: error))")
        }
        let sqlite = error.message ?? "SQLite error \(error.extendedResultCode.rawValue)"
        switch error.resultCode {
        case .SQLITE_CORRUPT, .SQLITE_NOTADB:
            return HWKeysError(.EIO, "\(file) is damaged: \(sqlite)")
        case .SQLITE_FULL:
            return HWKeysError(.ENOSPC, "\(file): \(sqlite)")
        case .SQLITE_READONLY:
            return HWKeysError(.EACCES, "\(file) is read-only: \(sqlite)")
        case .SQLITE_PERM, .SQLITE_AUTH:
            return HWKeysError(.EACCES, "\(file): \(sqlite)")
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            return HWKeysError(.EBUSY, "\(file) is locked by another process: \(sqlite)")
        case .SQLITE_NOMEM:
            return HWKeysError(.ENOMEM, "\(file): \(sqlite)")
        case .SQLITE_CONSTRAINT:
            return HWKeysError(.EINVAL, "update rejected by \(file): \(sqlite)")
        default:
            return HWKeysError(.EIO, "\(file): \(sqlite)")
        }
    }
}
