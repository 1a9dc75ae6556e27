//===----------------------------------------------------------------------===//
//
// hwkeys: Workspace
//
//===----------------------------------------------------------------------===//

import Foundation
import HWKeysBase

/// Whether a request only inspects stored state or changes it (docs/workspace.md "Readers and writers").
///
/// A reader runs in a read transaction (one consistent snapshot) and commits nothing; it never fails
/// because a writer is busy, it waits for the writer's commit. A writer takes the state file's write lock
/// when its transaction begins, so writers serialize instead of failing.
public enum RequestAccess: Sendable, Hashable {
    /// Inspects state; commits nothing.
    case read
    /// Changes state; commits on success, discards everything on failure.
    case write
}

/// One committed state of one stored machine. Changes on every commit; a replaced machine gets a revision
/// its predecessor never had.
public struct StoredRevision: Sendable, Hashable {
    /// The store's identity of the machine record (never reused).
    public let machineID: Int64
    /// The record's commit counter.
    public let generation: Int64

    public init(machineID: Int64, generation: Int64) {
        self.machineID = machineID
        self.generation = generation
    }
}

/// A stored machine's configuration and state components, as loaded for a request. Pages stay in the
/// store until asked for with ``StoreTransaction/page(_:in:of:)``.
public struct StoredMachine: Sendable {
    public let name: String
    /// The configuration (JSON of `MachineConfiguration`).
    public let configuration: Data
    /// State components by name (`platform.volatile`, `platform.nonvolatile`, `kernel`, …).
    public let components: [String: Data]
    /// The revision loaded.
    public let revision: StoredRevision

    public init(name: String, configuration: Data, components: [String: Data], revision: StoredRevision) {
        self.name = name
        self.configuration = configuration
        self.components = components
        self.revision = revision
    }
}

/// A machine's entry in the store's list.
public struct StoredMachineSummary: Sendable {
    public let name: String
    /// The configuration (JSON of `MachineConfiguration`).
    public let configuration: Data

    public init(name: String, configuration: Data) {
        self.name = name
        self.configuration = configuration
    }
}

/// The changes one commit makes to one machine. Later calls about the same component, page or space win.
public struct MachineChanges: Sendable {
    /// How the machine record itself changes.
    public enum Mode: Sendable, Hashable {
        /// A new machine (`EEXIST` if one of that name exists).
        case create
        /// Deletes any machine of that name with all its data, then creates it.
        case replace
        /// Changes an existing machine; fails (`EAGAIN`) if it is no longer at `expecting`.
        case modify(expecting: StoredRevision?)
    }

    public let machine: String
    public let mode: Mode
    /// A new configuration (required for create and replace).
    public var configuration: Data?
    /// Components to write (`some`) or delete (`nil`).
    public private(set) var components: [String: Data?] = [:]
    /// Page spaces to declare, with their page size.
    public private(set) var declaredSpaces: [String: Int] = [:]
    /// Pages to write, per space. An all-zero page is deleted instead of stored.
    public private(set) var pages: [String: [Int: Data]] = [:]

    public init(machine: String, mode: Mode, configuration: Data? = nil) {
        self.machine = machine
        self.mode = mode
        self.configuration = configuration
    }

    public mutating func setComponent(_ name: String, to bytes: Data) { components[name] = .some(bytes) }
    public mutating func removeComponent(_ name: String) { components[name] = .some(nil) }
    public mutating func declarePageSpace(_ name: String, pageSize: Int) { declaredSpaces[name] = pageSize }
    public mutating func writePage(_ index: Int, in space: String, bytes: Data) { pages[space, default: [:]][index] = bytes }
}

/// Where a workspace keeps its machines: the SQLite state file (`StateFileStore` in HWKeysCommands) or
/// memory (``MemoryWorkspaceStore``, for tests and the threat lab). The workspace itself never touches
/// files or SQL.
public protocol WorkspaceStore: AnyObject, Sendable {
    /// Where the store lives, for messages (the state file's path).
    var location: String { get }
    /// Whether the store exists yet (a state file is created by the first `machine create`).
    var exists: Bool { get }
    /// Runs `body` in one transaction.
    ///
    /// A `.write` transaction takes the store's write lock before `body` runs (waiting a bounded time for
    /// another writer, then `EBUSY`) and commits the changes `body` made when it returns; a throw rolls
    /// everything back. A `.read` transaction sees one consistent snapshot and changes nothing.
    ///
    /// - Parameters:
    ///   - access: Read or write.
    ///   - createIfMissing: Create the store first if it does not exist (writers only).
    func transaction<T>(
        _ access: RequestAccess,
        createIfMissing: Bool,
        _ body: (any StoreTransaction) throws(HWKeysError) -> T
    ) throws(HWKeysError) -> T
}

/// The store as one transaction sees it. Valid only inside ``WorkspaceStore/transaction(_:createIfMissing:_:)``.
public protocol StoreTransaction: AnyObject {
    /// Every stored machine, sorted by name.
    func machines() throws(HWKeysError) -> [StoredMachineSummary]
    /// Whether a machine of that name is stored.
    func machineExists(_ name: String) throws(HWKeysError) -> Bool
    /// Loads a machine's configuration and components (`ENOENT` if absent).
    func loadMachine(_ name: String) throws(HWKeysError) -> StoredMachine
    /// The machine's current revision, or nil if there is no such machine.
    func revision(of name: String) throws(HWKeysError) -> StoredRevision?
    /// One stored page (nil: never stored, reads as zeros).
    func page(_ index: Int, in space: String, of machine: String) throws(HWKeysError) -> Data?
    /// Applies one machine's changes (write transactions only); returns its new revision.
    func commit(_ changes: MachineChanges) throws(HWKeysError) -> StoredRevision
    /// Deletes a machine with all its data (`ENOENT` if absent).
    func deleteMachine(_ name: String) throws(HWKeysError)
}
