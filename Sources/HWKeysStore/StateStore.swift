//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysStore
//
//===----------------------------------------------------------------------===//

import Foundation
import GRDB
import HWKeysBase

/// The hwkeys state file: any number of named machines, each a paused image made of a configuration,
/// named state components and sparse pages in named page spaces.
///
/// The store knows nothing about what it holds: components and pages are opaque bytes named by the
/// caller. It keeps a few invariants: machine names are unique; every page of a space has the space's
/// page size; an update commits entirely or not at all (one SQLite transaction, also across a killed
/// process); all-zero pages are never stored.
///
/// Open one store per file per process (GRDB's rule: connect to a database file only once). Access
/// through one store is serial. Writers of one file take turns: ``withWriteTransaction(_:)`` and
/// ``commit(_:)`` take the file's write lock at their start and wait up to the busy timeout for
/// another process's writer. Readers (``withReadTransaction(_:)`` and the single reads) write nothing
/// and wait for a committing writer rather than fail.
///
/// See `docs/state-file.md` for the schema, the transaction model and the file mode.
public struct StateStore: Sendable {
    /// Hooks for tests only, called from inside the commit transaction.
    struct TestHooks: Sendable {
        /// Called after each page written or deleted, with the number handled so far in this commit.
        var afterPageChange: (@Sendable (_ pagesChanged: Int) throws -> Void)?
    }

    let writer: any DatabaseWriter

    /// The connection's busy timeout and open transaction, shared by every copy of the store.
    let connection: ConnectionState

    /// The state file's path, or `nil` for an in-memory store.
    public let path: String?

    /// Whether ``open(atPath:createIfMissing:busyTimeout:)`` created the file.
    public let wasCreated: Bool

    /// Whether the file's mode lets its group or others access it. The store never changes the mode of a
    /// file it did not create; the command line may warn, since the file holds emulated-hardware secrets.
    public let isAccessibleToOthers: Bool

    var testHooks = TestHooks()

    init(
        writer: any DatabaseWriter,
        connection: ConnectionState,
        path: String?,
        wasCreated: Bool,
        isAccessibleToOthers: Bool
    ) {
        self.writer = writer
        self.connection = connection
        self.path = path
        self.wasCreated = wasCreated
        self.isAccessibleToOthers = isAccessibleToOthers
    }

    /// Creates an empty store in memory, for tests of the layers above.
    ///
    /// - Throws: `HWKeysError` if SQLite cannot set up the schema.
    public static func inMemory() throws(HWKeysError) -> StateStore {
        let connection = ConnectionState(busyTimeout: .zero)
        do {
            let queue = try DatabaseQueue(configuration: configuration(connection))
            try Schema.migrator.migrate(queue)
            return StateStore(
                writer: queue,
                connection: connection,
                path: nil,
                wasCreated: true,
                isAccessibleToOthers: false
            )
        } catch {
            throw HWKeysError.wrapping(error, path: nil)
        }
    }

    // MARK: - Reading

    /// The stored machines, sorted by name.
    ///
    /// - Throws: `HWKeysError` (`EIO`, `EBUSY`, …) if the file cannot be read.
    public func machines() throws(HWKeysError) -> [MachineInfo] {
        try read { db in
            try MachineRecord.order(MachineRecord.Columns.name).fetchAll(db).map {
                MachineInfo(name: $0.name, createdAt: $0.createdAt, configuration: $0.configuration)
            }
        }
    }

    /// Whether a machine of that name is stored.
    ///
    /// - Throws: `HWKeysError` if the file cannot be read.
    public func machineExists(named name: String) throws(HWKeysError) -> Bool {
        try read { db in try MachineRecord.filter(MachineRecord.Columns.name == name).fetchCount(db) > 0 }
    }

    /// Loads a machine's configuration, state components and page-space list. Pages stay on disk
    /// until asked for with ``page(_:in:of:)``.
    ///
    /// - Parameter name: The machine's name.
    /// - Throws: `HWKeysError` `ENOENT` if there is no such machine, or another code if the file cannot
    ///   be read.
    public func loadMachine(named name: String) throws(HWKeysError) -> MachineImage {
        try read { db in
            guard let machine = try MachineRecord.filter(MachineRecord.Columns.name == name).fetchOne(db),
                let id = machine.id
            else {
                throw HWKeysError.machineNotFound(name)
            }
            // Decoding throws (never traps) on a value of the wrong type in a damaged file.
            var components: [String: Data] = [:]
            for row in try Row.fetchAll(
                db,
                sql: "SELECT name, bytes FROM component WHERE machineId = ?",
                arguments: [id]
            ) {
                components[try row.decode(atIndex: 0)] = try row.decode(atIndex: 1)
            }
            var spaces: [String: Int] = [:]
            for row in try Row.fetchAll(
                db,
                sql: "SELECT name, pageSize FROM pageSpace WHERE machineId = ?",
                arguments: [id]
            ) {
                spaces[try row.decode(atIndex: 0)] = try row.decode(atIndex: 1)
            }
            return MachineImage(
                name: machine.name,
                createdAt: machine.createdAt,
                configuration: machine.configuration,
                revision: MachineRevision(machineID: id, generation: machine.generation),
                components: components,
                pageSpaces: spaces
            )
        }
    }

    /// Reads one stored page.
    ///
    /// - Parameters:
    ///   - index: The page's index in its space (a DRAM page's physical address divided by 4096).
    ///   - space: The page space, such as `dram`.
    ///   - machine: The machine's name.
    /// - Returns: The page's bytes (exactly the space's page size), or `nil` if the page was never
    ///   stored (it reads as zeros) or the space does not exist.
    /// - Throws: `HWKeysError` `ENOENT` if there is no such machine, or another code if the file cannot
    ///   be read.
    public func page(_ index: Int, in space: String, of machine: String) throws(HWKeysError) -> Data? {
        // One statement in SQLite's autocommit mode is its own read transaction: cheaper than a
        // BEGIN/COMMIT around it, and as consistent. Inside a transaction it reads through that one.
        try singleRead { db in
            let statement = try db.cachedStatement(
                sql: """
                    SELECT machine.id, page.bytes FROM machine
                    LEFT JOIN pageSpace ON pageSpace.machineId = machine.id AND pageSpace.name = ?
                    LEFT JOIN page ON page.spaceId = pageSpace.id AND page.pageSize = pageSpace.pageSize
                        AND page.pageIndex = ?
                    WHERE machine.name = ?
                    """
            )
            guard let row = try Row.fetchOne(statement, arguments: [space, index, machine]) else {
                throw HWKeysError.machineNotFound(machine)
            }
            return try row.decode(atIndex: 1)
        }
    }

    /// A machine's current revision, or `nil` if there is no such machine. One indexed lookup: a
    /// long-lived process compares it with the revision it loaded to notice another process's commit.
    ///
    /// - Throws: `HWKeysError` if the file cannot be read.
    public func revision(ofMachine name: String) throws(HWKeysError) -> MachineRevision? {
        try singleRead { db in
            let statement = try db.cachedStatement(sql: "SELECT id, generation FROM machine WHERE name = ?")
            guard let row = try Row.fetchOne(statement, arguments: [name]) else { return nil }
            return MachineRevision(machineID: try row.decode(atIndex: 0), generation: try row.decode(atIndex: 1))
        }
    }

    /// The indices of the pages stored in a space, ascending. Pages not listed read as zeros.
    ///
    /// - Parameters:
    ///   - space: The page space, such as `dram`.
    ///   - machine: The machine's name.
    /// - Returns: The stored indices; empty if the space does not exist.
    /// - Throws: `HWKeysError` `ENOENT` if there is no such machine, or another code if the file cannot
    ///   be read.
    public func storedPageIndices(in space: String, of machine: String) throws(HWKeysError) -> [Int] {
        try read { db in
            try Self.requireMachine(machine, db)
            return try Int.fetchAll(
                db,
                sql: """
                    SELECT page.pageIndex FROM machine
                    JOIN pageSpace ON pageSpace.machineId = machine.id
                    JOIN page ON page.spaceId = pageSpace.id AND page.pageSize = pageSpace.pageSize
                    WHERE machine.name = ? AND pageSpace.name = ?
                    ORDER BY page.pageIndex
                    """,
                arguments: [machine, space]
            )
        }
    }

    // MARK: - Writing

    /// Deletes a machine with all its components, page spaces and pages.
    ///
    /// - Parameter name: The machine's name.
    /// - Throws: `HWKeysError` `ENOENT` if there is no such machine, or another code if the file cannot
    ///   be written (nothing changes then).
    public func deleteMachine(named name: String) throws(HWKeysError) {
        try write { db in
            guard try MachineRecord.filter(MachineRecord.Columns.name == name).deleteAll(db) > 0 else {
                throw HWKeysError.machineNotFound(name)
            }
        }
    }

    // MARK: - Support

    static func requireMachine(_ name: String, _ db: Database) throws {
        let statement = try db.cachedStatement(sql: "SELECT 1 FROM machine WHERE name = ?")
        guard try Bool.fetchOne(statement, arguments: [name]) != nil else {
            throw HWKeysError.machineNotFound(name)
        }
    }

    /// Runs `body`, which must read with one statement, in SQLite's autocommit mode, or inside the
    /// transaction open on this thread.
    func singleRead<T>(_ body: (Database) throws -> T) throws(HWKeysError) -> T {
        do {
            return try writer.unsafeReentrantRead(body)
        } catch {
            throw connection.storeError(error, path: path)
        }
    }

    /// Runs `body` in a read transaction, or inside the transaction open on this thread.
    func read<T>(_ body: (Database) throws -> T) throws(HWKeysError) -> T {
        try transaction(.read, body)
    }

    /// Runs `body` in one `BEGIN IMMEDIATE` transaction: it takes the write lock up front (waiting up to
    /// the busy timeout), and rolls back everything if `body` throws. Inside the write transaction open
    /// on this thread, it runs in a savepoint of that transaction.
    func write<T>(_ body: (Database) throws -> T) throws(HWKeysError) -> T {
        try transaction(.write, body)
    }
}
