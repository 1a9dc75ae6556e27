//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysStore
//
//===----------------------------------------------------------------------===//

import GRDB
import HWKeysBase
import Synchronization

extension StateStore {
    /// Runs `body` in one write transaction: it holds the state file's write lock from the start, so
    /// writers to one file take turns, and whatever it reads stays current until it ends.
    ///
    /// The transaction starts with SQLite's `BEGIN IMMEDIATE`, which takes the file's write lock,
    /// waiting up to the busy timeout for another writer to finish (then `EBUSY`). Readers of the
    /// file keep reading meanwhile. Inside `body`, load machines, read pages and commit any number of
    /// ``MachineUpdate``s, of one machine or several, with the transaction. Everything `body` commits
    /// becomes durable together when it returns, or not at all if it throws (or the process dies).
    ///
    /// While `body` runs, every call on this store from the same thread joins the transaction:
    /// ``page(_:in:of:)`` made by a lazily loading page source reads through it and sees what the
    /// transaction committed so far, and ``commit(_:)`` commits inside it. A nested
    /// `withWriteTransaction` or ``withReadTransaction(_:)`` joins it too.
    ///
    /// ```swift
    /// try store.withWriteTransaction { tx in
    ///     let image = try tx.loadMachine(named: "default")
    ///     var update = MachineUpdate.modify(image.name, expecting: image.revision)
    ///     update.setComponent("kernel", to: kernelState)
    ///     try tx.commit(update)
    /// }
    /// ```
    ///
    /// - Parameter body: The transaction's work. The transaction must not be used after it returns,
    ///   nor from another thread.
    /// - Returns: What `body` returns.
    /// - Throws: What `body` throws (the transaction rolls back), or `HWKeysError` `EBUSY` (another
    ///   process held the write lock past the busy timeout), `EACCES` (a read-only file) or another
    ///   file error. Nothing changes when it throws.
    public func withWriteTransaction<T>(
        _ body: (StateWriteTransaction) throws(HWKeysError) -> T
    ) throws(HWKeysError) -> T {
        try transaction(.write) { _ in
            let transaction = StateWriteTransaction(store: self)
            defer { transaction.end() }
            return try body(transaction)
        }
    }

    /// Runs `body` in one read transaction: everything it reads comes from one consistent snapshot of
    /// the state file, and it writes nothing.
    ///
    /// The transaction takes SQLite's shared lock at its start and keeps it until `body` returns. A
    /// writer of the file may run meanwhile, but cannot commit until the snapshot ends (it waits up
    /// to its busy timeout); a writer that is committing when the transaction starts makes it wait
    /// (up to the busy timeout) rather than fail.
    ///
    /// While `body` runs, reads on this store from the same thread (such as ``page(_:in:of:)`` made by
    /// a lazily loading page source) read the same snapshot. Committing from inside a read
    /// transaction is a programming error (a precondition failure).
    ///
    /// - Parameter body: The transaction's work. The transaction must not be used after it returns,
    ///   nor from another thread.
    /// - Returns: What `body` returns.
    /// - Throws: What `body` throws, or `HWKeysError` `EBUSY` (a writer kept the file locked past the
    ///   busy timeout) or another file error.
    public func withReadTransaction<T>(
        _ body: (StateReadTransaction) throws(HWKeysError) -> T
    ) throws(HWKeysError) -> T {
        try transaction(.read) { _ in
            let transaction = StateReadTransaction(store: self)
            defer { transaction.end() }
            return try body(transaction)
        }
    }

    /// Runs `body` in a transaction of the given kind on the store's connection.
    ///
    /// Called while a transaction is open on the connection (from the thread that runs it), `body`
    /// joins that transaction: a read directly, a write in a savepoint (so a failing commit undoes
    /// only itself). A write inside a read transaction is a precondition failure.
    func transaction<T>(
        _ kind: ConnectionState.TransactionKind,
        _ body: (Database) throws -> T
    ) throws(HWKeysError) -> T {
        let connection = self.connection
        do {
            return try writer.unsafeReentrantWrite { db in
                if let open = connection.openTransaction.withLock({ $0 }) {
                    switch (open, kind) {
                    case (_, .read):
                        return try body(db)
                    case (.write, .write):
                        var result: T?
                        try db.inSavepoint {
                            result = try body(db)
                            return .commit
                        }
                        return result!
                    case (.read, .write):
                        preconditionFailure("a state-file write inside a read transaction")
                    }
                }
                connection.openTransaction.withLock { $0 = kind }
                defer { connection.openTransaction.withLock { $0 = nil } }
                var result: T?
                try db.inTransaction(kind == .write ? .immediate : .deferred) {
                    // A deferred transaction takes SQLite's shared lock at its first read: read now, so
                    // the snapshot is the one at the start (and a busy file is waited for here).
                    if kind == .read { try db.execute(sql: "SELECT 1 FROM sqlite_master LIMIT 1") }
                    result = try body(db)
                    return .commit
                }
                return result!
            }
        } catch {
            throw connection.storeError(error, path: path)
        }
    }
}
