//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysStore
//
//===----------------------------------------------------------------------===//

import HWKeysBase

/// A write transaction on a state file, open while the closure given to
/// ``StateStore/withWriteTransaction(_:)`` runs. It holds the file's write lock, reads what it has
/// committed so far, and makes all its commits durable together when the closure returns.
///
/// Use it only inside that closure and on its thread (it is not `Sendable`); using it afterwards is a
/// precondition failure.
public final class StateWriteTransaction: StateReadTransaction {
    /// Applies an update inside the transaction (see ``StateStore/commit(_:)`` for the checks and the
    /// order of changes). It is durable when the transaction ends; if the closure throws, it is undone
    /// with the rest.
    ///
    /// An update that fails changes nothing, and the transaction stays usable: the closure may go on
    /// and commit other updates (or throw to undo everything).
    ///
    /// - Parameter update: The changes to one machine.
    /// - Returns: The machine's new revision.
    /// - Throws: `HWKeysError` `EINVAL`, `EEXIST`, `ENOENT`, `EAGAIN` or a file error, as
    ///   ``StateStore/commit(_:)``.
    @discardableResult
    public func commit(_ update: MachineUpdate) throws(HWKeysError) -> MachineRevision {
        try openStore.commit(update)
    }

    /// Deletes a machine with all its components, page spaces and pages, inside the transaction.
    ///
    /// - Throws: `HWKeysError` `ENOENT` if there is no such machine, or another code if the file cannot
    ///   be written (nothing changes then).
    public func deleteMachine(named name: String) throws(HWKeysError) {
        try openStore.deleteMachine(named: name)
    }
}
