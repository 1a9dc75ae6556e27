//===----------------------------------------------------------------------===//
//
// hwkeys: Workspace
//
//===----------------------------------------------------------------------===//

import Foundation
import HWKeysBase
import Kernel
import Platform

/// A machine as a workspace holds it between its load and its commit.
final class LoadedMachine {
    let name: String
    let machine: Machine
    /// The stored revision this state descends from; nil for a machine created and not yet committed.
    var revision: StoredRevision?
    /// The running kernel, once restored or booted.
    var kernel: Kernel?
    /// The saved kernel state not yet restored (hardware-only requests never restore it).
    var pendingKernelState: Data?
    /// The kernel stopped (power lost): its component is removed at commit.
    var kernelStopped = false
    /// Created (or replaced) by the current request and not yet committed: the commit writes it whole.
    var createdPending = false
    var replacePending = false

    init(name: String, machine: Machine) {
        self.name = name
        self.machine = machine
    }

    /// Whether a kernel runs on the machine now (booted, not suspended or off).
    var kernelIsRunning: Bool {
        machine.powerState == .running && (kernel != nil || pendingKernelState != nil)
    }
}

/// What a request sees while it runs: the machine it targets (and any other machine of the same store it
/// opens, all committed together), the kernel on it, power sequencing, and the store's messages.
public final class RequestContext {
    unowned let workspace: Workspace
    /// The machine the request targets.
    public let machineName: String
    /// The guest the request targets (`--vm NAME`), if any.
    public let vm: String?
    /// Read or write.
    public let access: RequestAccess
    /// Machines this request loaded or created, in first-touch order (the commit order).
    private var touched: [String] = []
    /// Machines this request deleted.
    private var deleted: Set<String> = []
    /// dmesg line counts at first kernel access, per machine (for events).
    private var logMarks: [String: (lines: Int, dropped: Int)] = [:]
    /// Events to publish when the request succeeds.
    private(set) var events: [WorkspaceEvent] = []

    init(workspace: Workspace, machineName: String, vm: String?, access: RequestAccess) {
        self.workspace = workspace
        self.machineName = machineName
        self.vm = vm
        self.access = access
    }

    /// Where the store lives (for messages).
    public var storeLocation: String { workspace.store.location }

    // MARK: Machines

    /// The target machine, loaded on first use.
    public func machine() throws(HWKeysError) -> Machine {
        try entry(machineName).machine
    }

    /// Another machine of the same store, loaded on first use; a writer commits it in the same transaction
    /// as the target.
    public func machine(named name: String) throws(HWKeysError) -> Machine {
        try Workspace.validateMachineName(name)
        return try entry(name).machine
    }

    func entry(_ name: String) throws(HWKeysError) -> LoadedMachine {
        if let loaded = workspace.loaded[name], !deleted.contains(name) {
            touch(name)
            return loaded
        }
        guard workspace.store.exists, let transaction = workspace.activeTransaction else {
            throw HWKeysError(
                .ENOENT,
                "no state file at \(storeLocation); create a machine with `hwkeys machine create`"
            )
        }
        guard try transaction.machineExists(name) else {
            throw HWKeysError(
                .ENOENT,
                "no machine named '\(name)' in \(storeLocation); create it with `hwkeys machine create`"
            )
        }
        let stored = try transaction.loadMachine(name)
        let configuration: MachineConfiguration
        do {
            configuration = try JSONDecoder().decode(MachineConfiguration.self, from: stored.configuration)
        } catch {
            throw HWKeysError(.EIO, "machine '\(name)' has an unreadable configuration: \(error)")
        }
        var image = PlatformImage(
            volatile: Array(stored.components[ComponentName.platformVolatile] ?? Data()),
            nonVolatile: Array(stored.components[ComponentName.platformNonVolatile] ?? Data())
        )
        // The image holds emulated-hardware secrets; the restored machine keeps them in zeroizing storage.
        defer { image.wipe() }
        let source = WorkspacePageSource(workspace: workspace, machine: name)
        let machine = try Machine.restore(
            configuration: configuration,
            image: image,
            pageSource: source,
            diskSource: source
        )
        let loaded = LoadedMachine(name: name, machine: machine)
        loaded.revision = stored.revision
        loaded.pendingKernelState = stored.components[ComponentName.kernel]
        workspace.loaded[name] = loaded
        touch(name)
        return loaded
    }

    private func touch(_ name: String) {
        if !touched.contains(name) { touched.append(name) }
    }

    /// The kernel running on the target machine (or, with `--vm`, on the guest).
    public func kernel() throws(HWKeysError) -> Kernel {
        try hostKernel(of: machineName)
    }

    /// The host kernel of machine `name`, restored on first use.
    public func hostKernel(of name: String) throws(HWKeysError) -> Kernel {
        let loaded = try entry(name)
        if let kernel = loaded.kernel {
            markLog(name, kernel)
            return kernel
        }
        try loaded.machine.requireRunning()
        guard let state = loaded.pendingKernelState else {
            throw HWKeysError(
                .ENOSYS,
                "machine '\(name)' runs no kernel (created with --no-kernel); only `hw` and `power` commands apply"
            )
        }
        let kernel: Kernel
        do {
            kernel = try Kernel.restore(platform: loaded.machine, state: state)
        } catch {
            throw HWKeysError(.EIO, "cannot restore the kernel of machine '\(name)': \(error)")
        }
        loaded.kernel = kernel
        loaded.pendingKernelState = nil
        markLog(name, kernel)
        // Entering the kernel: work that came due while no request ran (the key gc timer) runs first.
        kernel.runDueWork()
        return kernel
    }

    private func markLog(_ name: String, _ kernel: Kernel) {
        if logMarks[name] == nil { logMarks[name] = (kernel.log.lines.count, kernel.log.dropped) }
    }

    /// Whether a kernel runs on the target machine now.
    public var kernelIsRunning: Bool {
        guard let loaded = workspace.loaded[machineName] else { return false }
        return loaded.kernelIsRunning
    }

    /// Builds a new machine named `name` (refusing to overwrite one unless `replace`), powered on, with
    /// its kernel booted if configured.
    public func createMachine(
        _ configuration: MachineConfiguration,
        named name: String? = nil,
        replace: Bool
    ) throws(HWKeysError) -> Machine {
        let name = name ?? machineName
        try Workspace.validateMachineName(name)
        guard let transaction = workspace.activeTransaction, access == .write else {
            throw HWKeysError(.EINVAL, "creating a machine needs a write request")
        }
        if !replace, try transaction.machineExists(name) {
            throw HWKeysError(
                .EEXIST,
                "machine '\(name)' already exists in \(storeLocation); use --force to replace it"
            )
        }
        let machine = try Machine.create(configuration: configuration)
        let loaded = LoadedMachine(name: name, machine: machine)
        loaded.createdPending = true
        loaded.replacePending = replace
        workspace.loaded[name] = loaded
        deleted.remove(name)
        touch(name)
        try bootKernelIfConfigured(loaded)
        return machine
    }

    /// Every machine in the store, sorted by name; empty when there is no store yet.
    public func listMachines() throws(HWKeysError) -> [StoredMachineSummary] {
        guard workspace.store.exists, let transaction = workspace.activeTransaction else { return [] }
        return try transaction.machines()
    }

    /// Deletes the target machine with all its data.
    public func deleteMachine() throws(HWKeysError) {
        guard workspace.store.exists, let transaction = workspace.activeTransaction else {
            throw HWKeysError(.ENOENT, "no state file at \(storeLocation)")
        }
        guard try transaction.machineExists(machineName) else {
            throw HWKeysError(.ENOENT, "no machine named '\(machineName)' in \(storeLocation)")
        }
        try transaction.deleteMachine(machineName)
        workspace.loaded[machineName] = nil
        deleted.insert(machineName)
        touched.removeAll { $0 == machineName }
    }

    // MARK: Kernel lifecycle (used by power sequencing)

    /// Boots a fresh kernel on the loaded, running machine if its configuration asks for one.
    func bootKernelIfConfigured(_ loaded: LoadedMachine) throws(HWKeysError) {
        loaded.kernel = nil
        loaded.pendingKernelState = nil
        guard loaded.machine.configuration.bootKernel else { return }
        loaded.kernel = try Kernel.boot(
            platform: loaded.machine,
            commandLine: loaded.machine.configuration.effectiveKernelCommandLine
        )
        loaded.kernelStopped = false
        if let kernel = loaded.kernel { logMarks[loaded.name] = (0, kernel.log.dropped) }
    }

    /// Forgets the kernel (power lost); its saved state is removed at commit.
    func stopKernel(_ loaded: LoadedMachine) {
        loaded.kernel = nil
        loaded.pendingKernelState = nil
        loaded.kernelStopped = true
        logMarks[loaded.name] = nil
    }

    // MARK: Commit

    /// Saves every touched machine's changed state and DRAM pages in the running transaction.
    func commit(_ transaction: any StoreTransaction) throws(HWKeysError) {
        for name in touched {
            guard let loaded = workspace.loaded[name] else { continue }
            try commit(loaded, transaction)
        }
    }

    private func commit(_ loaded: LoadedMachine, _ transaction: any StoreTransaction) throws(HWKeysError) {
        let machine = loaded.machine
        if let error = machine.dram.pageSourceError {
            throw HWKeysError(.EIO, "reading stored DRAM failed; nothing saved: \(error)")
        }
        if let error = machine.diskPageSourceError {
            throw HWKeysError(.EIO, "reading a stored disk block failed; nothing saved: \(error)")
        }
        var image = machine.makeImage()
        // The components below are copies; the encoder's buffers (IWKeys, key tables, XMM) are wiped here.
        defer { image.wipe() }
        var changes: MachineChanges
        if loaded.createdPending {
            let configuration: Data
            do {
                configuration = try JSONEncoder().encode(machine.configuration)
            } catch {
                throw HWKeysError(.EIO, "cannot encode the configuration of machine '\(loaded.name)'")
            }
            changes = MachineChanges(
                machine: loaded.name,
                mode: loaded.replacePending ? .replace : .create,
                configuration: configuration
            )
            changes.declarePageSpace(PageSpace.dram, pageSize: DRAM.pageSize)
        } else {
            changes = MachineChanges(machine: loaded.name, mode: .modify(expecting: loaded.revision))
        }
        if let kernel = loaded.kernel {
            do {
                changes.setComponent(ComponentName.kernel, to: try kernel.encodeState())
            } catch {
                throw HWKeysError(.EIO, "cannot encode the kernel state of machine '\(loaded.name)': \(error)")
            }
        } else if loaded.kernelStopped {
            changes.removeComponent(ComponentName.kernel)
        }
        changes.setComponent(ComponentName.platformVolatile, to: Data(image.volatile))
        changes.setComponent(ComponentName.platformNonVolatile, to: Data(image.nonVolatile))
        for frame in machine.dram.dirtyFrames {
            machine.dram.withPage(frame) { page in
                changes.writePage(Int(frame), in: PageSpace.dram, bytes: Data(page))
            }
        }
        for disk in machine.emulatedDisks {
            let dirty = disk.dirtyBlocks
            guard loaded.createdPending || !dirty.isEmpty else { continue }
            // Declaring an existing space with the same block size changes nothing.
            changes.declarePageSpace(PageSpace.disk(disk.name), pageSize: EmulatedDisk.blockSize)
            for index in dirty {
                disk.withBlock(index) { block in
                    changes.writePage(index, in: PageSpace.disk(disk.name), bytes: Data(block))
                }
            }
        }
        loaded.revision = try transaction.commit(changes)
    }

    /// After a successful request: committed machines are clean; loaded machines stay only if the
    /// workspace keeps them.
    func finish() {
        for name in touched {
            guard let loaded = workspace.loaded[name] else { continue }
            if access == .write {
                loaded.machine.dram.clearDirty()
                for disk in loaded.machine.emulatedDisks { disk.clearDirty() }
                loaded.createdPending = false
                loaded.replacePending = false
                loaded.kernelStopped = false
            }
            if let kernel = loaded.kernel, let mark = logMarks[name] {
                let added = kernel.log.lines.count - mark.lines + (kernel.log.dropped - mark.dropped)
                for line in kernel.log.lines.suffix(max(0, min(added, kernel.log.lines.count))) {
                    events.append(WorkspaceEvent(kind: "dmesg", machine: name, text: DmesgLog.format(line)))
                }
            }
        }
        if access == .write || !touched.isEmpty {
            events.insert(WorkspaceEvent(kind: "command", machine: machineName, text: vm ?? ""), at: 0)
        }
        if !workspace.keepsMachinesLoaded {
            for name in touched { workspace.loaded[name] = nil }
        }
    }

    /// After a failed request: every machine it touched is forgotten (the next use reloads it from the
    /// store), so nothing it changed in memory survives.
    func discard() {
        for name in touched { workspace.loaded[name] = nil }
        for name in deleted { workspace.loaded[name] = nil }
    }
}

/// Names of the state components and page spaces (docs/state-file.md).
public enum ComponentName {
    public static let platformVolatile = "platform.volatile"
    public static let platformNonVolatile = "platform.nonvolatile"
    public static let kernel = "kernel"
}

/// Page spaces of a machine in the store.
public enum PageSpace {
    public static let dram = "dram"
    /// A disk's blocks (non-volatile: power events never drop them).
    public static func disk(_ name: String) -> String { "disk:\(name)" }
}

/// Serves DRAM pages and disk blocks from the store on first touch, through the transaction of the
/// request that touches them.
final class WorkspacePageSource: DRAMPageSource, BlockDevicePageSource {
    unowned let workspace: Workspace
    let machine: String

    init(workspace: Workspace, machine: String) {
        self.workspace = workspace
        self.machine = machine
    }

    private func read(_ index: Int, _ space: String, into buffer: UnsafeMutableRawBufferPointer) throws -> Bool {
        guard let transaction = workspace.activeTransaction else {
            throw HWKeysError(.EIO, "machine '\(machine)': stored page read outside a request")
        }
        guard let data = try transaction.page(index, in: space, of: machine) else { return false }
        guard data.count == buffer.count else {
            throw HWKeysError(.EIO, "stored page \(index) of \(space) has \(data.count) bytes")
        }
        data.withUnsafeBytes { buffer.copyMemory(from: $0) }
        return true
    }

    func loadPage(_ frame: UInt64, into page: UnsafeMutableRawBufferPointer) throws -> Bool {
        try read(Int(frame), PageSpace.dram, into: page)
    }

    func loadBlock(disk: String, index: Int, into block: UnsafeMutableRawBufferPointer) throws -> Bool {
        try read(index, PageSpace.disk(disk), into: block)
    }
}
