//===----------------------------------------------------------------------===//
//
// hwkeys: Workspace
//
//===----------------------------------------------------------------------===//

import Foundation
import HWKeysBase
import Kernel
import Platform

/// The runtime every front end shares (docs/workspace.md): the machines of one store, loaded on demand with
/// their kernels; typed requests run in store transactions; power sequencing and hibernation recovery.
///
/// Requests run one at a time per workspace (the CLI runs one, `hwkeys run` a script's lines in order, the
/// server many from several connections). A workspace that keeps machines loaded (`keepsMachinesLoaded`)
/// reuses them across requests and checks, when each transaction begins, that no other process committed
/// to them meanwhile (it reloads them if one did).
public final class Workspace: @unchecked Sendable {
    // @unchecked Sendable: every mutable field is touched only while `requestLock` is held (one request at
    // a time), and `events` is itself thread-safe.

    /// Where the machines live.
    public let store: any WorkspaceStore
    /// Whether machines stay loaded between requests (scripts and the server) or load per request.
    public let keepsMachinesLoaded: Bool

    private let requestLock = NSLock()
    /// Machines loaded and committed (or freshly created in the current request).
    var loaded: [String: LoadedMachine] = [:]
    /// The transaction of the request running now; pages load through it.
    var activeTransaction: (any StoreTransaction)?

    /// Observers of what happens (the server's event stream).
    public let events = WorkspaceEvents()

    /// - Parameters:
    ///   - store: Where machines live.
    ///   - keepsMachinesLoaded: Keep machines loaded across requests.
    public init(store: any WorkspaceStore, keepsMachinesLoaded: Bool = false) {
        self.store = store
        self.keepsMachinesLoaded = keepsMachinesLoaded
    }

    /// The default machine name.
    public static let defaultMachineName = "default"

    /// Runs `request` against machine `machine` (or its guest `vm`) in one store transaction: a writer
    /// commits everything it changed, in every machine it touched, or nothing.
    ///
    /// - Throws: ``HWKeysError``: the request's own errors, `EINVAL` (usage) for a bad machine name or a
    ///   host-only request under `--vm`, `ENOENT` without a store, `EBUSY` when the store's write lock
    ///   stayed taken past its timeout.
    public func run<R: WorkspaceRequest>(
        _ request: R,
        machine: String = Workspace.defaultMachineName,
        vm: String? = nil
    ) throws(HWKeysError) -> R.Result {
        try Self.validateMachineName(machine)
        if vm != nil, !R.runsInGuest {
            throw .usage("this command acts on the host; it cannot run inside a guest (--vm)")
        }
        requestLock.lock()
        defer { requestLock.unlock() }

        let access = R.access == .write ? .write : request.requiredAccess
        let context = RequestContext(workspace: self, machineName: machine, vm: vm, access: access)
        let result: R.Result
        do {
            if !store.exists, !(access == .write && R.createsStore) {
                // No store yet: requests that need a machine report ENOENT, `machine list` an empty list.
                result = try request.run(in: context)
            } else {
                result = try store.transaction(access, createIfMissing: R.createsStore) {
                    (transaction) throws(HWKeysError) -> R.Result in
                    activeTransaction = transaction
                    defer { activeTransaction = nil }
                    try dropMachinesChangedElsewhere(transaction)
                    let result = try request.run(in: context)
                    if access == .write { try context.commit(transaction) }
                    return result
                }
            }
        } catch {
            context.discard()
            throw error
        }
        context.finish()
        events.publish(context.events)
        return result
    }

    /// Machine names are 1–64 letters, digits, `.`, `_` and `-`.
    static func validateMachineName(_ name: String) throws(HWKeysError) {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "._-"))
        guard !name.isEmpty, name.count <= 64, name.unicodeScalars.allSatisfy({ allowed.contains($0) }),
            name.unicodeScalars.allSatisfy(\.isASCII)
        else {
            throw .usage("machine names are 1–64 characters of letters, digits, '.', '_' and '-'")
        }
    }

    /// Forgets loaded machines whose stored revision moved on (another process committed) or vanished.
    private func dropMachinesChangedElsewhere(_ transaction: any StoreTransaction) throws(HWKeysError) {
        guard keepsMachinesLoaded else {
            loaded.removeAll()
            return
        }
        for (name, entry) in loaded {
            let stored = try transaction.revision(of: name)
            if stored == nil || stored != entry.revision { loaded[name] = nil }
        }
    }

    /// Forgets every loaded machine (the next request reloads from the store).
    public func unloadAll() {
        requestLock.lock()
        defer { requestLock.unlock() }
        loaded.removeAll()
    }
}

/// What a request did, for observers (the server's `events` stream).
public struct WorkspaceEvent: Sendable, Codable {
    /// `command` (a request ran) or `dmesg` (the kernel logged a line).
    public let kind: String
    /// The machine.
    public let machine: String
    /// The request's type, or the dmesg line.
    public let text: String

    public init(kind: String, machine: String, text: String) {
        self.kind = kind
        self.machine = machine
        self.text = text
    }
}

/// Thread-safe fan-out of ``WorkspaceEvent``s.
public final class WorkspaceEvents: @unchecked Sendable {
    // @unchecked Sendable: `observers` is touched only under `lock`.
    private let lock = NSLock()
    private var observers: [UInt64: @Sendable (WorkspaceEvent) -> Void] = [:]
    private var nextToken: UInt64 = 0

    /// Adds an observer; returns a token for ``remove(_:)``.
    public func observe(_ observer: @escaping @Sendable (WorkspaceEvent) -> Void) -> UInt64 {
        lock.withLock {
            nextToken += 1
            observers[nextToken] = observer
            return nextToken
        }
    }

    /// Removes an observer.
    public func remove(_ token: UInt64) {
        lock.withLock { observers[token] = nil }
    }

    func publish(_ events: [WorkspaceEvent]) {
        guard !events.isEmpty else { return }
        let current = lock.withLock { Array(observers.values) }
        for event in events { for observer in current { observer(event) } }
    }
}
