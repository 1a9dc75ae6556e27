//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysStore
//
//===----------------------------------------------------------------------===//

import Foundation
import GRDB
import HWKeysBase

extension StateStore {
    /// Commits an update in one SQLite transaction: all of it, or (on any error, or if the process dies
    /// on the way) none of it. Called inside ``withWriteTransaction(_:)`` on the same thread, it applies
    /// the update in a savepoint of that transaction, which makes it durable when it ends.
    ///
    /// Changes apply in this order: create, replace or modify the machine (modifying raises its
    /// revision); the configuration; dropped page spaces; declared page spaces; components; pages, in
    /// ascending index order per space. A written page whose bytes are all zero is deleted instead.
    ///
    /// - Parameter update: The changes to one machine.
    /// - Returns: The machine's new revision, to pass to the next update of the same machine.
    /// - Throws: `HWKeysError` with code `EINVAL` (a malformed update), `EEXIST` (creating a machine that
    ///   exists), `ENOENT` (modifying a machine that does not exist), `EAGAIN` (the machine is no longer
    ///   at the expected revision), or a file error (`EACCES`, `EBUSY`, `ENOSPC`, `EIO`). Nothing changes
    ///   when it throws.
    @discardableResult
    public func commit(_ update: MachineUpdate) throws(HWKeysError) -> MachineRevision {
        try Self.validate(update)
        let hooks = testHooks
        return try write { db in try Self.apply(update, db, hooks: hooks) }
    }

    // MARK: - Validation outside the transaction

    private static func validate(_ update: MachineUpdate) throws(HWKeysError) {
        try checkName(update.machine, "machine")
        switch update.mode {
        case .create, .replace:
            if update.configuration == nil {
                throw .invalidUpdate("creating machine '\(update.machine)' needs a configuration")
            }
        case .modify:
            break
        }
        for name in update.components.keys { try checkName(name, "component") }
        for name in update.droppedSpaces { try checkName(name, "page space") }
        for (name, pageSize) in update.declaredSpaces {
            try checkName(name, "page space")
            guard (1...Schema.maximumPageSize).contains(pageSize) else {
                throw .invalidUpdate(
                    "page space '\(name)': page size \(pageSize) is not between 1 and \(Schema.maximumPageSize)"
                )
            }
        }
        for (space, changes) in update.pages {
            try checkName(space, "page space")
            if let index = changes.keys.first(where: { $0 < 0 }) {
                throw .invalidUpdate("page space '\(space)': negative page index \(index)")
            }
        }
    }

    private static func checkName(_ name: String, _ kind: String) throws(HWKeysError) {
        guard (1...Schema.maximumNameLength).contains(name.utf8.count) else {
            throw .invalidUpdate(
                "\(kind) name \(String(reflecting: name)) must be 1 to \(Schema.maximumNameLength) bytes long"
            )
        }
        guard !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw .invalidUpdate("\(kind) name \(String(reflecting: name)) contains control characters")
        }
    }

    // MARK: - Application inside the transaction

    private static func apply(_ update: MachineUpdate, _ db: Database, hooks: TestHooks) throws -> MachineRevision {
        let existing = try MachineRecord.filter(MachineRecord.Columns.name == update.machine).fetchOne(db)
        var machine: MachineRecord
        switch update.mode {
        case .create, .replace:
            if let existing {
                guard update.mode == .replace else { throw HWKeysError.machineExists(update.machine) }
                try existing.delete(db)  // cascades to components, page spaces and pages
            }
            machine = MachineRecord(
                id: nil,
                name: update.machine,
                createdAt: update.createdAt,
                generation: 1,
                configuration: update.configuration!
            )
            try machine.insert(db)
        case .modify(let expected):
            guard var current = existing, let id = current.id else {
                throw HWKeysError.machineNotFound(update.machine)
            }
            if let expected, expected != MachineRevision(machineID: id, generation: current.generation) {
                throw HWKeysError.staleRevision(update.machine)
            }
            current.generation = MachineRevision.generation(after: current.generation)
            if let configuration = update.configuration { current.configuration = configuration }
            try current.update(db)
            machine = current
        }
        let machineID = machine.id!

        for name in update.droppedSpaces.sorted() {
            try db.cachedStatement(sql: "DELETE FROM pageSpace WHERE machineId = ? AND name = ?")
                .execute(arguments: [machineID, name])
        }
        for (name, pageSize) in update.declaredSpaces.sorted(by: { $0.key < $1.key }) {
            if let space = try pageSpace(name, machineID, db) {
                guard space.pageSize == pageSize else {
                    throw HWKeysError.invalidUpdate(
                        "page space '\(name)' has \(space.pageSize)-byte pages, not \(pageSize); drop it first"
                    )
                }
            } else {
                var space = PageSpaceRecord(id: nil, machineId: machineID, name: name, pageSize: pageSize)
                try space.insert(db)
            }
        }

        for (name, change) in update.components.sorted(by: { $0.key < $1.key }) {
            switch change {
            case .write(let bytes):
                try db.cachedStatement(
                    sql: """
                        INSERT INTO component (machineId, name, bytes) VALUES (?, ?, ?)
                        ON CONFLICT (machineId, name) DO UPDATE SET bytes = excluded.bytes
                        """
                ).execute(arguments: [machineID, name, bytes])
            case .delete:
                try db.cachedStatement(sql: "DELETE FROM component WHERE machineId = ? AND name = ?")
                    .execute(arguments: [machineID, name])
            }
        }

        let upsert = try db.cachedStatement(
            sql: """
                INSERT INTO page (spaceId, pageSize, pageIndex, bytes) VALUES (?, ?, ?, ?)
                ON CONFLICT (spaceId, pageSize, pageIndex) DO UPDATE SET bytes = excluded.bytes
                """
        )
        let delete = try db.cachedStatement(
            sql: "DELETE FROM page WHERE spaceId = ? AND pageSize = ? AND pageIndex = ?"
        )
        var pagesChanged = 0
        for (name, changes) in update.pages.sorted(by: { $0.key < $1.key }) {
            guard let space = try pageSpace(name, machineID, db), let spaceID = space.id else {
                throw HWKeysError.invalidUpdate(
                    "machine '\(update.machine)' has no page space '\(name)'; declare it before writing pages"
                )
            }
            for (index, change) in changes.sorted(by: { $0.key < $1.key }) {
                switch change {
                case .write(let bytes) where bytes.count != space.pageSize:
                    throw HWKeysError.invalidUpdate(
                        "page \(index) of space '\(name)' has \(bytes.count) bytes, "
                            + "but the space's pages have \(space.pageSize)"
                    )
                case .write(let bytes) where !isAllZero(bytes):
                    upsert.setUncheckedArguments([spaceID, space.pageSize, index, bytes])
                    try upsert.execute()
                case .write, .delete:
                    delete.setUncheckedArguments([spaceID, space.pageSize, index])
                    try delete.execute()
                }
                pagesChanged += 1
                try hooks.afterPageChange?(pagesChanged)
            }
        }
        return MachineRevision(machineID: machineID, generation: machine.generation)
    }

    private static func pageSpace(_ name: String, _ machineID: Int64, _ db: Database) throws -> PageSpaceRecord? {
        try PageSpaceRecord.fetchOne(
            db.cachedStatement(sql: "SELECT * FROM pageSpace WHERE machineId = ? AND name = ?"),
            arguments: [machineID, name]
        )
    }

    static func isAllZero(_ bytes: Data) -> Bool {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset + 8 <= raw.count {
                if raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self) != 0 { return false }
                offset += 8
            }
            while offset < raw.count {
                if raw[offset] != 0 { return false }
                offset += 1
            }
            return true
        }
    }
}
