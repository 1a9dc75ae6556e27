//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysStore
//
//===----------------------------------------------------------------------===//

import Foundation
import GRDB

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
