//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysStore
//
//===----------------------------------------------------------------------===//

import Foundation
import GRDB
import Synchronization

/// The state file's identity and schema (docs/state-file.md).
enum Schema {
    /// `PRAGMA application_id`: "HWKS". Every hwkeys state file carries it from the moment it
    /// appears under its name; a file without it is refused as foreign.
    static let applicationID: UInt32 = 0x4857_4B53

    /// `PRAGMA user_version`: the format this build writes. Every migration that changes what an
    /// older build could read raises it; a file with a larger value is refused as newer.
    static let formatVersion: Int = 1

    /// SQLite page size for new files. 64 KiB pages hold fifteen 4 KiB emulated pages per b-tree leaf,
    /// with no overflow pages (at 4 KiB or 16 KiB every emulated page spills into an overflow page).
    static let sqlitePageSize = 65_536

    /// Longest machine, component or page-space name, in UTF-8 bytes.
    static let maximumNameLength = 255

    /// Largest page size a page space may declare.
    static let maximumPageSize = 1 << 20

    /// The named migrations, in order. Never edit a shipped migration: add a new one.
    ///
    /// `eraseDatabaseOnSchemaChange` stays off even in debug builds: the file holds users' machines.
    static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE machine (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        name TEXT NOT NULL UNIQUE CHECK (length(CAST(name AS BLOB)) BETWEEN 1 AND 255),
                        createdAt TEXT NOT NULL,
                        generation INTEGER NOT NULL CHECK (generation >= 1),
                        configuration BLOB NOT NULL
                    ) STRICT;

                    CREATE TABLE component (
                        machineId INTEGER NOT NULL REFERENCES machine(id) ON DELETE CASCADE,
                        name TEXT NOT NULL CHECK (length(CAST(name AS BLOB)) BETWEEN 1 AND 255),
                        bytes BLOB NOT NULL,
                        PRIMARY KEY (machineId, name)
                    ) STRICT, WITHOUT ROWID;

                    CREATE TABLE pageSpace (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        machineId INTEGER NOT NULL REFERENCES machine(id) ON DELETE CASCADE,
                        name TEXT NOT NULL CHECK (length(CAST(name AS BLOB)) BETWEEN 1 AND 255),
                        pageSize INTEGER NOT NULL CHECK (pageSize BETWEEN 1 AND 1048576),
                        UNIQUE (machineId, name),
                        UNIQUE (id, pageSize)
                    ) STRICT;

                    CREATE TABLE page (
                        spaceId INTEGER NOT NULL,
                        pageSize INTEGER NOT NULL,
                        pageIndex INTEGER NOT NULL CHECK (pageIndex >= 0),
                        bytes BLOB NOT NULL CHECK (length(bytes) = pageSize),
                        PRIMARY KEY (spaceId, pageSize, pageIndex),
                        FOREIGN KEY (spaceId, pageSize) REFERENCES pageSpace(id, pageSize) ON DELETE CASCADE
                    ) STRICT, WITHOUT ROWID;

                    PRAGMA application_id = \(Int32(bitPattern: applicationID));
                    PRAGMA user_version = 1;
                    """
            )
        }
        return migrator
    }()
}

// MARK: - Shape

extension Schema {
    /// The schema a state file has after some of the migrations: its tables, indexes, triggers and
    /// views as `sqlite_master` records them, and its format version. A file whose shape differs from
    /// the one its recorded migrations make was changed outside hwkeys.
    struct Shape: Sendable {
        /// One row of `sqlite_master`.
        struct Entry: Hashable, Sendable {
            let type: String
            let name: String
            let table: String
            /// The `CREATE` statement, as SQLite keeps it.
            let sql: String?
        }

        let entries: Set<Entry>
        let formatVersion: Int

        /// The entries of a database, without SQLite's own (`sqlite_sequence`, automatic indexes) and
        /// without the table `grdb_migrations` itself: GRDB defines it, and its rows are checked apart.
        static func entries(_ db: Database) throws -> Set<Entry> {
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT type, name, tbl_name, sql FROM sqlite_master
                    WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
                        AND NOT (type = 'table' AND name = 'grdb_migrations')
                    """
            )
            return Set(
                try rows.map { row in
                    Entry(
                        type: try row.decode(atIndex: 0),
                        name: try row.decode(atIndex: 1),
                        table: try row.decode(atIndex: 2),
                        sql: try row.decode(atIndex: 3)
                    )
                }
            )
        }

        /// The shape the migrations up to `identifier` give an empty database (made once in memory).
        static func after(_ identifier: String) throws -> Shape {
            if let shape = cache.withLock({ $0[identifier] }) { return shape }
            let queue = try DatabaseQueue()
            try migrator.migrate(queue, upTo: identifier)
            let shape = try queue.read { db in
                Shape(entries: try entries(db), formatVersion: try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0)
            }
            cache.withLock { $0[identifier] = shape }
            return shape
        }

        private static let cache = Mutex<[String: Shape]>([:])
    }
}

// MARK: - Records

/// A row of `machine`.
struct MachineRecord: Codable, FetchableRecord, MutablePersistableRecord {
    static let databaseTableName = "machine"

    var id: Int64?
    var name: String
    var createdAt: Date
    var generation: Int64
    var configuration: Data

    mutating func didInsert(_ inserted: InsertionSuccess) {
        id = inserted.rowID
    }

    enum Columns {
        static let name = Column(CodingKeys.name)
    }
}

/// A row of `pageSpace`.
struct PageSpaceRecord: Codable, FetchableRecord, MutablePersistableRecord {
    static let databaseTableName = "pageSpace"

    var id: Int64?
    var machineId: Int64
    var name: String
    var pageSize: Int

    mutating func didInsert(_ inserted: InsertionSuccess) {
        id = inserted.rowID
    }
}
