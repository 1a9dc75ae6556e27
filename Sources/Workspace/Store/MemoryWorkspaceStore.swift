//===----------------------------------------------------------------------===//
//
// hwkeys: Workspace
//
//===----------------------------------------------------------------------===//

import Foundation
import HWKeysBase

/// A store that keeps machines in memory: for tests and for the threat lab's fresh machines. Same
/// transaction rules as the state file: writers serialize and commit all or nothing; readers see a
/// snapshot.
public final class MemoryWorkspaceStore: WorkspaceStore, @unchecked Sendable {
    // @unchecked Sendable: `machines` and `nextID` are touched only under `stateLock`; `writeLock`
    // serializes write transactions.
    struct Record {
        var id: Int64
        var generation: Int64
        var configuration: Data
        var components: [String: Data]
        var spaces: [String: Int]
        var pages: [String: [Int: Data]]
    }

    private let stateLock = NSLock()
    private let writeLock = NSLock()
    private var machines: [String: Record] = [:]
    private var nextID: Int64 = 1

    public let location: String

    public init(location: String = "memory") {
        self.location = location
    }

    public var exists: Bool { true }

    public func transaction<T>(
        _ access: RequestAccess,
        createIfMissing: Bool,
        _ body: (any StoreTransaction) throws(HWKeysError) -> T
    ) throws(HWKeysError) -> T {
        if access == .write { writeLock.lock() }
        defer { if access == .write { writeLock.unlock() } }
        let snapshot = stateLock.withLock { (machines, nextID) }
        let transaction = Transaction(machines: snapshot.0, nextID: snapshot.1, writable: access == .write)
        let result = try body(transaction)
        transaction.isOpen = false
        if access == .write {
            stateLock.withLock {
                machines = transaction.records
                nextID = transaction.nextID
            }
        }
        return result
    }

    final class Transaction: StoreTransaction {
        var records: [String: Record]
        var nextID: Int64
        let writable: Bool
        var isOpen = true

        init(machines: [String: Record], nextID: Int64, writable: Bool) {
            self.records = machines
            self.nextID = nextID
            self.writable = writable
        }

        func machines() throws(HWKeysError) -> [StoredMachineSummary] {
            records.keys.sorted().map { StoredMachineSummary(name: $0, configuration: records[$0]!.configuration) }
        }

        func machineExists(_ name: String) throws(HWKeysError) -> Bool { records[name] != nil }

        func loadMachine(_ name: String) throws(HWKeysError) -> StoredMachine {
            guard let record = records[name] else { throw HWKeysError(.ENOENT, "no machine named '\(name)'") }
            return StoredMachine(
                name: name,
                configuration: record.configuration,
                components: record.components,
                revision: StoredRevision(machineID: record.id, generation: record.generation)
            )
        }

        func revision(of name: String) throws(HWKeysError) -> StoredRevision? {
            records[name].map { StoredRevision(machineID: $0.id, generation: $0.generation) }
        }

        func page(_ index: Int, in space: String, of machine: String) throws(HWKeysError) -> Data? {
            guard let record = records[machine] else { throw HWKeysError(.ENOENT, "no machine named '\(machine)'") }
            return record.pages[space]?[index]
        }

        func commit(_ changes: MachineChanges) throws(HWKeysError) -> StoredRevision {
            guard writable, isOpen else { throw HWKeysError(.EINVAL, "commit outside a write transaction") }
            var record: Record
            switch changes.mode {
            case .create, .replace:
                if records[changes.machine] != nil, changes.mode == .create {
                    throw HWKeysError(.EEXIST, "machine '\(changes.machine)' already exists")
                }
                guard let configuration = changes.configuration else {
                    throw HWKeysError(.EINVAL, "creating machine '\(changes.machine)' needs a configuration")
                }
                record = Record(
                    id: nextID,
                    generation: 1,
                    configuration: configuration,
                    components: [:],
                    spaces: [:],
                    pages: [:]
                )
                nextID += 1
            case .modify(let expected):
                guard let existing = records[changes.machine] else {
                    throw HWKeysError(.ENOENT, "no machine named '\(changes.machine)'")
                }
                if let expected, expected != StoredRevision(machineID: existing.id, generation: existing.generation) {
                    throw HWKeysError(.EAGAIN, "machine '\(changes.machine)' changed since it was loaded")
                }
                record = existing
                record.generation = record.generation == .max ? 1 : record.generation + 1
                if let configuration = changes.configuration { record.configuration = configuration }
            }
            for (name, size) in changes.declaredSpaces {
                if let existing = record.spaces[name], existing != size {
                    throw HWKeysError(.EINVAL, "page space '\(name)' has \(existing)-byte pages, not \(size)")
                }
                record.spaces[name] = size
            }
            for (name, bytes) in changes.components {
                record.components[name] = bytes
            }
            for (space, pages) in changes.pages {
                guard let size = record.spaces[space] else {
                    throw HWKeysError(.EINVAL, "machine '\(changes.machine)' has no page space '\(space)'")
                }
                for (index, bytes) in pages {
                    guard index >= 0, bytes.count == size else {
                        throw HWKeysError(.EINVAL, "page \(index) of space '\(space)' has \(bytes.count) bytes")
                    }
                    record.pages[space, default: [:]][index] = bytes.allSatisfy { $0 == 0 } ? nil : bytes
                }
            }
            records[changes.machine] = record
            return StoredRevision(machineID: record.id, generation: record.generation)
        }

        func deleteMachine(_ name: String) throws(HWKeysError) {
            guard writable, isOpen else { throw HWKeysError(.EINVAL, "delete outside a write transaction") }
            guard records.removeValue(forKey: name) != nil else {
                throw HWKeysError(.ENOENT, "no machine named '\(name)'")
            }
        }
    }
}
