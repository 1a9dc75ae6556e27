//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommands
//
//===----------------------------------------------------------------------===//

import Foundation
import HWKeysBase
import HWKeysStore
import Kernel
import KernelInterfaces
import Platform

/// One CLI invocation's view of the state file: opens the store on first use, loads the named machine on
/// first use, and commits or discards each command's changes as one transaction (docs/design.md
/// "Persistence"). `hwkeys run` keeps one session for the whole script.
public final class Session {
    /// The state file path.
    public let statePath: String
    /// The machine this session works on.
    public let machineName: String
    /// Streams text (used by `run` to print as it goes).
    let emit: (String) -> Void

    private var store: StateStore?
    /// The running kernel, once restored or booted.
    private var kernelInstance: Kernel?
    /// The saved kernel state not yet restored (restored on first use: hardware-only commands skip it).
    private var pendingKernelState: Data?
    /// The kernel stopped (power off): its component is removed at commit.
    private var kernelStopped = false
    /// The revision of the loaded machine, so a commit fails (EAGAIN) if another process changed it meanwhile.
    private var revision: MachineRevision?
    private var loaded: Machine?
    /// True when `loaded` was created by this session and not yet committed (a full save is needed).
    private var createdPending = false
    private var replacePending = false

    /// The default state file name.
    public static let defaultStatePath = "./hwkeys.sqlite"

    init(options: GlobalOptions, environment: [String: String], emit: @escaping (String) -> Void) {
        statePath =
            options.state ?? environment["HWKEYS_STATE"].flatMap { $0.isEmpty ? nil : $0 } ?? Self.defaultStatePath
        machineName = options.machine ?? "default"
        self.emit = emit
    }

    /// Closes the state file.
    func close() {
        loaded = nil
        store = nil
    }

    /// Runs `command` as one transaction: commit on success, discard everything on failure.
    func perform(_ command: any HWKeysCommand) throws -> CommandOutput {
        do {
            let output = try command.execute(in: self)
            try commit()
            return output
        } catch {
            rollback()
            throw error
        }
    }

    // MARK: Store and machine

    private func openStore(create: Bool) throws -> StateStore {
        if let store { return store }
        try validateMachineName()
        let opened = try StateStore.open(atPath: statePath, createIfMissing: create)
        store = opened
        return opened
    }

    private func validateMachineName() throws {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "._-"))
        guard !machineName.isEmpty, machineName.count <= 64, machineName.unicodeScalars.allSatisfy(allowed.contains)
        else {
            throw HWKeysError.usage("machine names are 1–64 characters of letters, digits, '.', '_' and '-'")
        }
    }

    /// The named machine, loaded from the state file on first use.
    public func machine() throws -> Machine {
        if let loaded { return loaded }
        guard FileManager.default.fileExists(atPath: statePath) else {
            throw HWKeysError(
                .ENOENT,
                "no state file at \(statePath); create a machine with `hwkeys machine create`"
            )
        }
        let store = try openStore(create: false)
        guard try store.machineExists(named: machineName) else {
            throw HWKeysError(
                .ENOENT,
                "no machine named '\(machineName)' in \(statePath); create it with `hwkeys machine create`"
            )
        }
        let record = try store.loadMachine(named: machineName)
        let configuration: MachineConfiguration
        do {
            configuration = try JSONDecoder().decode(MachineConfiguration.self, from: record.configuration)
        } catch {
            throw HWKeysError(.EIO, "machine '\(machineName)' has an unreadable configuration: \(error)")
        }
        let image = PlatformImage(
            volatile: Array(record.components[ComponentName.platformVolatile] ?? Data()),
            nonVolatile: Array(record.components[ComponentName.platformNonVolatile] ?? Data())
        )
        let source = StorePageSource(store: store, machine: machineName)
        let machine = try Machine.restore(
            configuration: configuration,
            image: image,
            pageSource: source,
            diskSource: source
        )
        loaded = machine
        revision = record.revision
        pendingKernelState = record.components[ComponentName.kernel]
        return machine
    }

    /// The kernel running on the named machine.
    public func kernel() throws -> Kernel {
        if let kernelInstance { return kernelInstance }
        let machine = try machine()
        try machine.requireRunning()
        guard let state = pendingKernelState else {
            throw HWKeysError(
                .ENOSYS,
                "machine '\(machineName)' runs no kernel (created with --no-kernel); only `hw` and `power` commands apply"
            )
        }
        let kernel: Kernel
        do {
            kernel = try Kernel.restore(platform: machine, state: state)
        } catch {
            throw HWKeysError(.EIO, "cannot restore the kernel of machine '\(machineName)': \(error)")
        }
        kernelInstance = kernel
        pendingKernelState = nil
        // Entering the kernel: work that came due while no command ran (the key gc timer) runs first.
        kernel.runDueWork()
        return kernel
    }

    /// Whether a kernel runs on the loaded machine now (booted, not suspended or off).
    public var kernelIsRunning: Bool {
        guard let loaded, loaded.powerState == .running else { return false }
        return kernelInstance != nil || pendingKernelState != nil
    }

    /// Boots a fresh kernel on the loaded, running machine if its configuration asks for one.
    private func bootKernelIfConfigured(_ machine: Machine) throws {
        kernelInstance = nil
        pendingKernelState = nil
        guard machine.configuration.bootKernel else { return }
        kernelInstance = try Kernel.boot(
            platform: machine,
            commandLine: machine.configuration.effectiveKernelCommandLine
        )
        kernelStopped = false
    }

    /// Builds a new machine (refusing to overwrite one unless `replace`), powered on.
    public func createMachine(_ configuration: MachineConfiguration, replace: Bool) throws -> Machine {
        let store = try openStore(create: true)
        if !replace, try store.machineExists(named: machineName) {
            throw HWKeysError(
                .EEXIST,
                "machine '\(machineName)' already exists in \(statePath); use --force to replace it"
            )
        }
        let machine = try Machine.create(configuration: configuration)
        loaded = machine
        createdPending = true
        replacePending = replace
        try bootKernelIfConfigured(machine)
        return machine
    }

    /// Every machine in the state file.
    public func listMachines() throws -> [(name: String, summary: String)] {
        guard FileManager.default.fileExists(atPath: statePath) else { return [] }
        return try openStore(create: false).machines().map { entry in
            let summary: String
            if let config = try? JSONDecoder().decode(MachineConfiguration.self, from: entry.configuration) {
                summary =
                    "\(config.packages)×\(config.cpusPerPackage) CPUs, \(config.memoryBytes >> 20) MiB, seed \(config.seed.map(String.init) ?? "none")"
            } else {
                summary = "unreadable configuration"
            }
            return (entry.name, summary)
        }
    }

    /// Deletes the named machine.
    public func deleteMachine() throws {
        guard FileManager.default.fileExists(atPath: statePath) else {
            throw HWKeysError(.ENOENT, "no state file at \(statePath)")
        }
        let store = try openStore(create: false)
        guard try store.machineExists(named: machineName) else {
            throw HWKeysError(.ENOENT, "no machine named '\(machineName)' in \(statePath)")
        }
        try store.deleteMachine(named: machineName)
        loaded = nil
        kernelInstance = nil
        pendingKernelState = nil
    }

    /// A power action: the kernel's part (when a kernel runs) around the hardware's.
    public func powerTransition(_ action: PowerAction) throws {
        let machine = try machine()
        let running = machine.powerState == .running && (pendingKernelState != nil || kernelInstance != nil)
        let kernel = running ? try self.kernel() : kernelInstance
        switch action {
        case .off:
            try machine.power(.off)
            stopKernel()
        case .on:
            try machine.power(.on)
            try resumeOrBootKernel(machine)
        case .reset:
            try machine.power(.reset)
            try bootKernelIfConfigured(machine)
        case .suspend:
            try kernel?.prepareForSleep(.suspendToRAM)
            try machine.power(.suspend)
        case .hibernate:
            try kernel?.prepareForSleep(.hibernate)
            try machine.power(.hibernate)
            // The kernel's memory and state are in the hibernation image now; RAM is gone with the power.
            if kernel != nil { stopKernel() }
        case .resume:
            let from = machine.powerState
            try machine.power(.resume)
            // The suspended kernel's state was saved by an earlier command: restore it now that the
            // machine runs again (``kernel()`` needs a running machine).
            var suspended = kernel
            if suspended == nil, from == .suspended, pendingKernelState != nil { suspended = try self.kernel() }
            if from == .suspended, let kernel = suspended {
                try kernel.resumed(from: .suspendToRAM)
            } else {
                try resumeOrBootKernel(machine)
            }
        }
    }

    /// After power-on or wake from S4: resumes the kernel from a valid hibernation image on the swap disk
    /// (Linux's `software_resume()`), or boots a fresh one. The choice is the image's, not the action's:
    /// `power on` after `power hibernate` resumes too, as Linux does at the next boot (docs/hibernation.md).
    /// A resume that fails is abandoned the way Linux recovers: the image is discarded, the platform is
    /// reset (its half-restored hardware state dropped) and a fresh kernel boots and logs why.
    private func resumeOrBootKernel(_ machine: Machine) throws {
        kernelInstance = nil
        pendingKernelState = nil
        guard machine.configuration.bootKernel else { return }
        // The booting kernel looks for the image on its `resume=` device.
        let commandLine = machine.configuration.effectiveKernelCommandLine
        do {
            if let resumed = try Kernel.resumeFromHibernation(platform: machine, commandLine: commandLine) {
                kernelInstance = resumed
                kernelStopped = false
                return
            }
        } catch {
            Kernel.discardHibernationImage(on: machine, commandLine: commandLine)
            try machine.power(.reset)
            try bootKernelIfConfigured(machine)
            kernelInstance?.printk("PM", "Failed to load the hibernation image, recovering with a fresh boot: \(error)")
            return
        }
        try bootKernelIfConfigured(machine)
    }

    /// Forgets the kernel (power lost); its saved state is removed at commit.
    private func stopKernel() {
        kernelInstance = nil
        pendingKernelState = nil
        kernelStopped = true
    }

    // MARK: Transactions

    /// Saves the loaded machine's changed state and DRAM pages in one transaction.
    func commit() throws {
        guard let machine = loaded, let store else { return }
        if let error = machine.dram.pageSourceError {
            throw HWKeysError(.EIO, "reading stored DRAM failed; nothing saved: \(error)")
        }
        if let error = machine.diskPageSourceError {
            throw HWKeysError(.EIO, "reading a stored disk block failed; nothing saved: \(error)")
        }
        let image = machine.makeImage()
        var update: MachineUpdate
        if createdPending {
            let configuration = try JSONEncoder().encode(machine.configuration)
            update =
                replacePending
                ? .replace(machineName, configuration: configuration)
                : .create(machineName, configuration: configuration)
            update.declarePageSpace(PageSpace.dram, pageSize: DRAM.pageSize)
        } else {
            update = .modify(machineName, expecting: revision)
        }
        if let kernelInstance {
            update.setComponent(ComponentName.kernel, to: try kernelInstance.encodeState())
        } else if kernelStopped {
            update.removeComponent(ComponentName.kernel)
        }
        update.setComponent(ComponentName.platformVolatile, to: Data(image.volatile))
        update.setComponent(ComponentName.platformNonVolatile, to: Data(image.nonVolatile))
        for frame in machine.dram.dirtyFrames {
            machine.dram.withPage(frame) { page in
                update.writePage(Int(frame), in: PageSpace.dram, bytes: Data(page))
            }
        }
        for disk in machine.emulatedDisks {
            let dirty = disk.dirtyBlocks
            guard createdPending || !dirty.isEmpty else { continue }
            // Declaring an existing space with the same block size changes nothing.
            update.declarePageSpace(PageSpace.disk(disk.name), pageSize: EmulatedDisk.blockSize)
            for index in dirty {
                disk.withBlock(index) { block in
                    update.writePage(index, in: PageSpace.disk(disk.name), bytes: Data(block))
                }
            }
        }
        revision = try store.commit(update)
        machine.dram.clearDirty()
        for disk in machine.emulatedDisks { disk.clearDirty() }
        createdPending = false
        replacePending = false
        kernelStopped = false
    }

    /// Forgets uncommitted changes: the next use reloads the machine from the state file.
    func rollback() {
        loaded = nil
        revision = nil
        kernelInstance = nil
        pendingKernelState = nil
        kernelStopped = false
        createdPending = false
        replacePending = false
    }
}

/// Names of the state components and page spaces (docs/state-file.md).
enum ComponentName {
    static let platformVolatile = "platform.volatile"
    static let platformNonVolatile = "platform.nonvolatile"
    static let kernel = "kernel"
}

enum PageSpace {
    static let dram = "dram"
    /// A disk's blocks (non-volatile: power events never drop them).
    static func disk(_ name: String) -> String { "disk:\(name)" }
}

/// Serves DRAM pages and disk blocks from the state file on first touch.
final class StorePageSource: DRAMPageSource, BlockDevicePageSource {
    let store: StateStore
    let machine: String

    init(store: StateStore, machine: String) {
        self.store = store
        self.machine = machine
    }

    func loadPage(_ frame: UInt64, into page: UnsafeMutableRawBufferPointer) throws -> Bool {
        guard let data = try store.page(Int(frame), in: PageSpace.dram, of: machine) else { return false }
        guard data.count == page.count else {
            throw HWKeysError(.EIO, "stored DRAM page \(frame) has \(data.count) bytes")
        }
        data.withUnsafeBytes { page.copyMemory(from: $0) }
        return true
    }

    func loadBlock(disk: String, index: Int, into block: UnsafeMutableRawBufferPointer) throws -> Bool {
        guard let data = try store.page(index, in: PageSpace.disk(disk), of: machine) else { return false }
        guard data.count == block.count else {
            throw HWKeysError(.EIO, "stored block \(index) of disk \(disk) has \(data.count) bytes")
        }
        data.withUnsafeBytes { block.copyMemory(from: $0) }
        return true
    }
}
