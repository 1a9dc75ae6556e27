//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommands
//
//===----------------------------------------------------------------------===//

import Foundation
import HWKeysBase
import HWKeysStore
import Workspace

/// The SQLite state file as a ``WorkspaceStore`` (docs/state-file.md, docs/workspace.md): opened on first
/// use (once per process, GRDB's rule), created only by a request that may create it.
public final class StateFileStore: WorkspaceStore, @unchecked Sendable {
    // @unchecked Sendable: `opened` is set once under `lock`; StateStore is itself Sendable, and a
    // transaction never leaves the thread that runs it.

    public let location: String
    private let busyTimeout: Duration
    private let warn: (String) -> Void
    private let lock = NSLock()
    private var opened: StateStore?

    /// - Parameters:
    ///   - path: The state file.
    ///   - busyTimeout: How long a writer waits for another writer before `EBUSY`.
    ///   - warn: Receives warnings about the file (e.g. a mode that lets others read its secrets).
    public init(path: String, busyTimeout: Duration = .seconds(10), warn: @escaping (String) -> Void = { _ in }) {
        self.location = path
        self.busyTimeout = busyTimeout
        self.warn = warn
    }

    public var exists: Bool {
        lock.withLock { opened != nil } || FileManager.default.fileExists(atPath: location)
    }

    private func store(create: Bool) throws(HWKeysError) -> StateStore {
        lock.lock()
        defer { lock.unlock() }
        if let opened { return opened }
        let store = try StateStore.open(atPath: location, createIfMissing: create, busyTimeout: busyTimeout)
        if store.isAccessibleToOthers {
            warn(
                "state file \(location) is accessible to its group or others, and it holds emulated-hardware "
                    + "secrets; run `chmod 600 \(location)`"
            )
        }
        opened = store
        return store
    }

    public func transaction<T>(
        _ access: RequestAccess,
        createIfMissing: Bool,
        _ body: (any StoreTransaction) throws(HWKeysError) -> T
    ) throws(HWKeysError) -> T {
        let store = try store(create: createIfMissing && access == .write)
        switch access {
        case .write:
            return try store.withWriteTransaction { (transaction) throws(HWKeysError) -> T in
                let adapter = Transaction(read: transaction, write: transaction)
                defer { adapter.isOpen = false }
                return try body(adapter)
            }
        case .read:
            return try store.withReadTransaction { (transaction) throws(HWKeysError) -> T in
                let adapter = Transaction(read: transaction, write: nil)
                defer { adapter.isOpen = false }
                return try body(adapter)
            }
        }
    }

    /// One state-file transaction as the workspace sees it.
    final class Transaction: StoreTransaction {
        let read: StateReadTransaction
        let write: StateWriteTransaction?
        var isOpen = true

        init(read: StateReadTransaction, write: StateWriteTransaction?) {
            self.read = read
            self.write = write
        }

        private func writable(_ what: String) throws(HWKeysError) -> StateWriteTransaction {
            guard isOpen, let write else { throw HWKeysError(.EINVAL, "\(what) outside a write transaction") }
            return write
        }

        func machines() throws(HWKeysError) -> [StoredMachineSummary] {
            try read.machines().map { StoredMachineSummary(name: $0.name, configuration: $0.configuration) }
        }

        func machineExists(_ name: String) throws(HWKeysError) -> Bool {
            try read.machineExists(named: name)
        }

        func loadMachine(_ name: String) throws(HWKeysError) -> StoredMachine {
            let image = try read.loadMachine(named: name)
            return StoredMachine(
                name: image.name,
                configuration: image.configuration,
                components: image.components,
                revision: StoredRevision(image.revision)
            )
        }

        func revision(of name: String) throws(HWKeysError) -> StoredRevision? {
            try read.revision(ofMachine: name).map(StoredRevision.init)
        }

        func page(_ index: Int, in space: String, of machine: String) throws(HWKeysError) -> Data? {
            try read.page(index, in: space, of: machine)
        }

        func commit(_ changes: MachineChanges) throws(HWKeysError) -> StoredRevision {
            let write = try writable("commit")
            var update: MachineUpdate
            switch changes.mode {
            case .create:
                update = .create(changes.machine, configuration: changes.configuration ?? Data())
            case .replace:
                update = .replace(changes.machine, configuration: changes.configuration ?? Data())
            case .modify(let expected):
                update = .modify(changes.machine, expecting: expected.map(MachineRevision.init))
                update.configuration = changes.configuration
            }
            for (space, pageSize) in changes.declaredSpaces { update.declarePageSpace(space, pageSize: pageSize) }
            for (name, bytes) in changes.components {
                if let bytes { update.setComponent(name, to: bytes) } else { update.removeComponent(name) }
            }
            for (space, pages) in changes.pages {
                for (index, bytes) in pages { update.writePage(index, in: space, bytes: bytes) }
            }
            return StoredRevision(try write.commit(update))
        }

        func deleteMachine(_ name: String) throws(HWKeysError) {
            try writable("delete").deleteMachine(named: name)
        }
    }
}

extension StoredRevision {
    init(_ revision: MachineRevision) {
        self.init(machineID: revision.machineID, generation: revision.generation)
    }
}

extension MachineRevision {
    init(_ revision: StoredRevision) {
        self.init(machineID: revision.machineID, generation: revision.generation)
    }
}
