//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysStore
//
//===----------------------------------------------------------------------===//

import Foundation
import HWKeysBase

/// A read transaction on a state file, open while the closure given to
/// ``StateStore/withReadTransaction(_:)`` runs: every read sees one consistent snapshot.
///
/// Use it only inside that closure and on its thread (it is not `Sendable`); using it afterwards is a
/// precondition failure. ``StateWriteTransaction`` adds commits.
public class StateReadTransaction {
    /// The store whose connection runs the transaction; its calls join the transaction.
    let store: StateStore
    private var isOpen = true

    init(store: StateStore) {
        self.store = store
    }

    /// Marks the transaction as over: its closure returned.
    func end() {
        isOpen = false
    }

    /// The store, checked to be inside the transaction's closure.
    var openStore: StateStore {
        precondition(isOpen, "a state-file transaction was used after its closure returned")
        return store
    }

    /// The stored machines, sorted by name.
    ///
    /// - Throws: `HWKeysError` if the file cannot be read.
    public func machines() throws(HWKeysError) -> [MachineInfo] {
        try openStore.machines()
    }

    /// Whether a machine of that name is stored.
    ///
    /// - Throws: `HWKeysError` if the file cannot be read.
    public func machineExists(named name: String) throws(HWKeysError) -> Bool {
        try openStore.machineExists(named: name)
    }

    /// A machine's current revision, or `nil` if there is no such machine: one indexed lookup, so a
    /// long-lived process can check at the start of each transaction whether the machine it keeps
    /// loaded is still current (another process committed if the revisions differ).
    ///
    /// - Throws: `HWKeysError` if the file cannot be read.
    public func revision(ofMachine name: String) throws(HWKeysError) -> MachineRevision? {
        try openStore.revision(ofMachine: name)
    }

    /// Loads a machine's configuration, state components and page-space list (see
    /// ``StateStore/loadMachine(named:)``).
    ///
    /// - Throws: `HWKeysError` `ENOENT` if there is no such machine, or another code if the file cannot
    ///   be read.
    public func loadMachine(named name: String) throws(HWKeysError) -> MachineImage {
        try openStore.loadMachine(named: name)
    }

    /// Reads one stored page (see ``StateStore/page(_:in:of:)``).
    ///
    /// - Returns: The page's bytes, or `nil` if it was never stored (it reads as zeros) or the space
    ///   does not exist.
    /// - Throws: `HWKeysError` `ENOENT` if there is no such machine, or another code if the file cannot
    ///   be read.
    public func page(_ index: Int, in space: String, of machine: String) throws(HWKeysError) -> Data? {
        try openStore.page(index, in: space, of: machine)
    }

    /// The indices of the pages stored in a space, ascending (see
    /// ``StateStore/storedPageIndices(in:of:)``).
    ///
    /// - Throws: `HWKeysError` `ENOENT` if there is no such machine, or another code if the file cannot
    ///   be read.
    public func storedPageIndices(in space: String, of machine: String) throws(HWKeysError) -> [Int] {
        try openStore.storedPageIndices(in: space, of: machine)
    }
}
