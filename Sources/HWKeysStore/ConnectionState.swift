//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysStore
//
//===----------------------------------------------------------------------===//

import Foundation
import GRDB
import HWKeysBase
import Synchronization

/// What every copy of one ``StateStore`` shares about its SQLite connection: how long it waits for
/// another process's lock, and which transaction is open on it.
final class ConnectionState: Sendable {
    /// The kinds of transaction (docs/state-file.md, "Transactions").
    enum TransactionKind: Sendable {
        /// A consistent snapshot; writes nothing.
        case read
        /// Holds the file's write lock (`BEGIN IMMEDIATE`) from its start.
        case write
    }

    /// How long the connection waits for a lock another connection holds before failing with `EBUSY`.
    let busyTimeout: Duration

    /// The transaction open on the connection, if any. Only the thread that runs the connection's
    /// queue sets and reads it (the mutex makes the class `Sendable`, it is never contended).
    let openTransaction = Mutex<TransactionKind?>(nil)

    /// Test hook: called on every wait for another connection's lock, with the attempt number (0 first).
    let onBusyWait = Mutex<(@Sendable (_ attempt: Int) -> Void)?>(nil)

    private struct BusyWait {
        /// When the current lock attempt first found the file locked.
        var start: ContinuousClock.Instant?
        /// How long the last attempt that gave up had waited.
        var gaveUpAfter: Duration?
    }

    private let busyWait = Mutex(BusyWait())

    /// SQLite's own busy-timeout back-off, in milliseconds (`sqliteDefaultBusyCallback` in `sqlite/src/main.c`).
    private static let backoff: [Int] = [1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100]

    init(busyTimeout: Duration) {
        self.busyTimeout = max(busyTimeout, .zero)
    }

    /// The connection's busy handler (https://www.sqlite.org/c3ref/busy_handler.html): SQLite calls it
    /// when a lock it needs is held by another connection. It sleeps with SQLite's back-off and asks
    /// SQLite to try again until `busyTimeout` has passed since the attempt's first call, then gives
    /// up (SQLite then returns `SQLITE_BUSY`).
    ///
    /// It does what `sqlite3_busy_timeout` does, but remembers how long it waited, for the `EBUSY`
    /// message, and lets tests see that a connection is waiting.
    ///
    /// - Parameter attempt: How many times SQLite called the handler before for this lock (0 first).
    /// - Returns: Whether SQLite should try again.
    func handleBusy(attempt: Int) -> Bool {
        let now = ContinuousClock.now
        let waited = busyWait.withLock { wait in
            if attempt == 0 || wait.start == nil {
                wait.start = now
                wait.gaveUpAfter = nil
            }
            return now - (wait.start ?? now)
        }
        guard waited < busyTimeout else {
            busyWait.withLock { $0 = BusyWait(start: nil, gaveUpAfter: waited) }
            return false
        }
        onBusyWait.withLock { $0 }?(attempt)
        let step = Duration.milliseconds(Self.backoff[min(attempt, Self.backoff.count - 1)])
        let (seconds, attoseconds) = min(step, busyTimeout - waited).components
        Thread.sleep(forTimeInterval: Double(seconds) + Double(attoseconds) * 1e-18)
        return true
    }

    /// Maps an error thrown while using the connection to an `HWKeysError`, saying for `SQLITE_BUSY` how
    /// long the connection waited.
    func storeError(_ error: any Error, path: String?) -> HWKeysError {
        if let error = error as? DatabaseError, error.resultCode == .SQLITE_BUSY {
            let waited = busyWait.withLock { wait in
                defer { wait.gaveUpAfter = nil }
                return wait.gaveUpAfter
            }
            return .busy(path, waited: waited)
        }
        return .wrapping(error, path: path)
    }
}
