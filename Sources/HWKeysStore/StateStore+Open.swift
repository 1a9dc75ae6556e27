//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysStore
//
//===----------------------------------------------------------------------===//

import Foundation
import GRDB
import HWKeysBase

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension StateStore {
    /// Opens the state file at `path`, creating it if it is absent.
    ///
    /// A new file appears complete or not at all: the store builds it under a temporary name with mode
    /// `0600` (group and others get nothing, whatever the umask), applies the schema, then links it to
    /// `path`. An existing file's mode is left alone (see ``isAccessibleToOthers``).
    ///
    /// Before SQLite sees an existing file, its header is checked: the SQLite magic, the hwkeys
    /// application id (`0x48574B53`, "HWKS") and the format version. Then, reading only, its schema:
    /// the migrations it records must be ones hwkeys applied in order, and its tables, indexes and
    /// triggers exactly what those migrations make. A file that fails a check is refused and never
    /// modified. A file of an older format is migrated.
    ///
    /// - Parameters:
    ///   - path: The state file, typically `./hwkeys.sqlite`.
    ///   - createIfMissing: Whether to create the file if it does not exist.
    ///   - busyTimeout: How long to wait for another process that holds the file's lock.
    /// - Returns: The open store.
    /// - Throws: `HWKeysError` with code `ENOENT` (no file and `createIfMissing` is false, or a missing
    ///   directory), `EISDIR` (a directory), `EACCES` (permission denied), `ENOEXEC` (an empty file, not
    ///   a regular file, or another application's SQLite database), `EIO` (not an SQLite database,
    ///   damaged, or a schema that no hwkeys made), `EOPNOTSUPP` (written by a newer hwkeys), or `EBUSY`
    ///   (locked past the timeout).
    public static func open(
        atPath path: String,
        createIfMissing: Bool = true,
        busyTimeout: Duration = .seconds(10)
    ) throws(HWKeysError) -> StateStore {
        var created = false
        var info = stat()
        if stat(path, &info) != 0 {
            let error = errno
            guard error == ENOENT else { throw .system(error, "cannot access state file", path) }
            guard createIfMissing else { throw .stateFileMissing(path) }
            created = try createFile(atPath: path, busyTimeout: busyTimeout)
            guard stat(path, &info) == 0 else { throw .system(errno, "cannot access state file", path) }
        }
        try checkHeader(ofFileAt: path, info: info)

        let connection = ConnectionState(busyTimeout: busyTimeout)
        let queue: DatabaseQueue
        do {
            queue = try DatabaseQueue(path: path, configuration: configuration(connection))
        } catch {
            throw connection.storeError(error, path: path)
        }
        if try needsMigration(queue, connection, path: path) {
            do {
                try Schema.migrator.migrate(queue)
            } catch {
                // Another process may have migrated the file first (GRDB decides what to run before it
                // takes the write lock); then the file is current and this failure is moot.
                guard try needsMigration(queue, connection, path: path) == false else {
                    throw connection.storeError(error, path: path)
                }
            }
        }
        return StateStore(
            writer: queue,
            connection: connection,
            path: path,
            wasCreated: created,
            isAccessibleToOthers: info.st_mode & 0o077 != 0
        )
    }

    /// The connection settings every store uses.
    static func configuration(_ connection: ConnectionState) -> Configuration {
        var config = Configuration()
        config.busyMode = .callback { attempt in connection.handleBusy(attempt: attempt) }
        config.label = "hwkeys.state"
        config.prepareDatabase { db in
            // Overwrite deleted cells with zeros when it costs no extra I/O, so replaced pages and
            // deleted machines do not linger in b-tree pages (they may remain on free-list pages).
            try db.execute(sql: "PRAGMA secure_delete = FAST")
        }
        return config
    }

    // MARK: - Creating

    /// Creates a complete state file at `path`.
    ///
    /// - Returns: `true` if this call created it, `false` if another process created it first.
    private static func createFile(atPath path: String, busyTimeout: Duration) throws(HWKeysError) -> Bool {
        var template = Array("\(path).new-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw .system(errno, "cannot create state file", path) }
        let temporary = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        defer { unlink(temporary) }
        let modeSet = fchmod(fd, 0o600) == 0 ? 0 : errno
        close(fd)
        guard modeSet == 0 else { throw .system(modeSet, "cannot set the mode of state file", path) }

        let connection = ConnectionState(busyTimeout: busyTimeout)
        do {
            let queue = try DatabaseQueue(path: temporary, configuration: configuration(connection))
            try queue.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA page_size = \(Schema.sqlitePageSize)")
                try db.execute(sql: "PRAGMA journal_mode = DELETE")
            }
            try Schema.migrator.migrate(queue)
            try queue.close()
        } catch {
            throw connection.storeError(error, path: path)
        }

        // link(2) never replaces an existing file: if another process created the file meanwhile, use theirs.
        if link(temporary, path) != 0 {
            let error = errno
            switch error {
            case EEXIST:
                return false
            case EPERM, ENOTSUP, EOPNOTSUPP, EXDEV, EMLINK:
                // A file system without hard links: fall back to rename, which is atomic but would replace
                // a file created in the same instant.
                guard rename(temporary, path) == 0 else { throw .system(errno, "cannot create state file", path) }
            default:
                throw .system(error, "cannot create state file", path)
            }
        }
        syncDirectory(containing: path)
        return true
    }

    /// Makes the new directory entry durable.
    private static func syncDirectory(containing path: String) {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let fd = systemOpen(directory, O_RDONLY | O_DIRECTORY)
        if fd >= 0 {
            _ = fsync(fd)
            close(fd)
        }
    }

    // MARK: - Checking

    /// Refuses anything but an hwkeys state file of a format this build reads, without modifying it.
    private static func checkHeader(ofFileAt path: String, info: stat) throws(HWKeysError) {
        switch info.st_mode & mode_t(S_IFMT) {
        case mode_t(S_IFREG): break
        case mode_t(S_IFDIR): throw .isDirectory(path)
        default: throw .notRegularFile(path)
        }
        if info.st_size == 0 { throw .emptyFile(path) }

        // The first 100 bytes of an SQLite file are its header (https://www.sqlite.org/fileformat.html).
        let fd = systemOpen(path, O_RDONLY)
        guard fd >= 0 else { throw .system(errno, "cannot open state file", path) }
        defer { close(fd) }
        var header = [UInt8](repeating: 0, count: 100)
        let count = header.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 100, 0) }
        guard count >= 0 else { throw .system(errno, "cannot read state file", path) }
        guard count == 100, header[0..<16].elementsEqual("SQLite format 3\0".utf8) else {
            throw .notADatabase(path)
        }
        func bigEndian(at offset: Int) -> UInt32 {
            header[offset..<offset + 4].reduce(0) { $0 << 8 | UInt32($1) }
        }
        let applicationID = bigEndian(at: 68)
        guard applicationID == Schema.applicationID else {
            throw .foreignDatabase(path, applicationID: applicationID)
        }
        let version = bigEndian(at: 60)
        guard version <= Schema.formatVersion else {
            throw .newerFormat(
                path,
                detail: "format version \(version); this hwkeys reads up to \(Schema.formatVersion)"
            )
        }
    }

    /// Checks the schema through SQLite (reading only) and tells whether migrations remain to apply.
    ///
    /// Only a file that really is an older hwkeys format is migrated: its recorded migrations must be
    /// the first few hwkeys registered (hwkeys applies them in order, each in one transaction), and its
    /// format version and schema exactly what those migrations make. Anything else with the hwkeys
    /// application id was damaged or altered outside hwkeys, and is refused (`EIO`) before anything
    /// writes to it: migrating it would fail part-way, or work on tables whose constraints or triggers
    /// are not the ones the store relies on.
    private static func needsMigration(
        _ queue: DatabaseQueue,
        _ connection: ConnectionState,
        path: String
    ) throws(HWKeysError) -> Bool {
        do {
            return try queue.read { db in
                let applicationID = UInt32(bitPattern: try Int32.fetchOne(db, sql: "PRAGMA application_id") ?? 0)
                guard applicationID == Schema.applicationID else {
                    throw HWKeysError.foreignDatabase(path, applicationID: applicationID)
                }
                let version = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
                guard version <= Schema.formatVersion else {
                    throw HWKeysError.newerFormat(
                        path,
                        detail: "format version \(version); this hwkeys reads up to \(Schema.formatVersion)"
                    )
                }
                if try Schema.migrator.hasBeenSuperseded(db) {
                    let unknown = try Schema.migrator.appliedIdentifiers(db)
                        .subtracting(Schema.migrator.migrations).sorted()
                    throw HWKeysError.newerFormat(path, detail: "unknown migrations \(unknown.joined(separator: ", "))")
                }
                let known = Schema.migrator.migrations
                let applied = try Schema.migrator.appliedMigrations(db)
                guard let last = applied.last else {
                    throw HWKeysError.inconsistentSchema(path, detail: "it records no migrations")
                }
                guard applied.elementsEqual(known.prefix(applied.count)) else {
                    throw HWKeysError.inconsistentSchema(
                        path,
                        detail: "it records migrations \(applied.joined(separator: ", ")), not the first of "
                            + known.joined(separator: ", ")
                    )
                }
                let expected = try Schema.Shape.after(last)
                guard version == expected.formatVersion else {
                    throw HWKeysError.inconsistentSchema(
                        path,
                        detail: "format version \(version), but migration \(last) makes \(expected.formatVersion)"
                    )
                }
                let shape = try Schema.Shape.entries(db)
                guard shape == expected.entries else {
                    let changed = shape.symmetricDifference(expected.entries).map { "\($0.type) \($0.name)" }
                    throw HWKeysError.inconsistentSchema(
                        path,
                        detail: "its schema is not the one migration \(last) makes (differs in "
                            + Set(changed).sorted().joined(separator: ", ") + ")"
                    )
                }
                return applied.count < known.count
            }
        } catch {
            throw connection.storeError(error, path: path)
        }
    }

    private static func systemOpen(_ path: String, _ flags: Int32) -> Int32 {
        #if canImport(Glibc)
        Glibc.open(path, flags | O_CLOEXEC)
        #else
        Darwin.open(path, flags | O_CLOEXEC)
        #endif
    }
}
