//===----------------------------------------------------------------------===//
//
// hwkeys: Workspace
//
//===----------------------------------------------------------------------===//

import Foundation
import HWKeysBase
import Platform
import X86

/// `machine create`: build a machine from a configuration and power it on (firmware activates TME; the
/// kernel boots unless the configuration says not to).
public struct CreateMachine: WorkspaceRequest {
    public static let access = RequestAccess.write
    public static let createsStore = true
    public static let runsInGuest = false

    public var configuration: MachineConfiguration
    /// Replace an existing machine of the same name.
    public var replace: Bool

    public init(configuration: MachineConfiguration, replace: Bool = false) {
        self.configuration = configuration
        self.replace = replace
    }

    public func run(in context: RequestContext) throws(HWKeysError) -> MachineDescription {
        let machine = try context.createMachine(configuration, replace: replace)
        var description = MachineDescription(machine, name: context.machineName)
        description.createdIn = context.storeLocation
        return description
    }
}

/// `machine show`: configuration, power state, counters.
public struct ShowMachine: WorkspaceRequest {
    public static let access = RequestAccess.read
    public static let runsInGuest = false

    public init() {}

    public func run(in context: RequestContext) throws(HWKeysError) -> MachineDescription {
        MachineDescription(try context.machine(), name: context.machineName)
    }
}

/// `machine list`: every machine of the store.
public struct ListMachines: WorkspaceRequest {
    public static let access = RequestAccess.read
    public static let runsInGuest = false

    public init() {}

    public func run(in context: RequestContext) throws(HWKeysError) -> MachineList {
        let entries = try context.listMachines().map { entry in
            let summary: String
            if let config = try? JSONDecoder().decode(MachineConfiguration.self, from: entry.configuration) {
                summary =
                    "\(config.packages)×\(config.cpusPerPackage) CPUs, \(config.memoryBytes >> 20) MiB, "
                    + "seed \(config.seed.map(String.init) ?? "none")"
            } else {
                summary = "unreadable configuration"
            }
            return MachineList.Entry(name: entry.name, summary: summary)
        }
        return MachineList(machines: entries, location: context.storeLocation)
    }
}

/// `machine delete`: remove a machine and all its data.
public struct DeleteMachine: WorkspaceRequest {
    public static let access = RequestAccess.write
    public static let runsInGuest = false

    public init() {}

    public func run(in context: RequestContext) throws(HWKeysError) -> MachineDeleted {
        try context.deleteMachine()
        return MachineDeleted(deleted: context.machineName)
    }
}

// MARK: Results

/// A machine's configuration, state and cost counters (`machine create|show`).
public struct MachineDescription: CommandResult {
    public var name: String
    public var packages: Int
    public var cpusPerPackage: Int
    public var memoryBytes: UInt64
    @EncodesNil public var seed: UInt64?
    public var powerState: String
    public var emulatedNanoseconds: UInt64
    public var totalCycles: UInt64
    /// Count and cycles per cost item charged so far.
    public var cycles: [String: CostCount]
    public var configuration: ConfigurationDescription
    public var disks: [Disk]
    /// For `machine create`: the store the machine was created in (text only).
    public var createdIn: String?

    public struct CostCount: Codable, Sendable, Hashable {
        public var count: UInt64
        public var cycles: UInt64
    }

    public struct Disk: Codable, Sendable, Hashable {
        public var name: String
        public var size: UInt64
    }

    enum CodingKeys: String, CodingKey {
        case name, packages, seed, cycles, configuration, disks
        // `createdIn` is text only.
        case cpusPerPackage = "cpus_per_package"
        case memoryBytes = "memory_bytes"
        case powerState = "power_state"
        case emulatedNanoseconds = "emulated_ns"
        case totalCycles = "total_cycles"
    }

    public init(_ machine: Machine, name: String) {
        let config = machine.configuration
        let counters = machine.counters
        self.name = name
        packages = config.packages
        cpusPerPackage = config.cpusPerPackage
        memoryBytes = config.memoryBytes
        seed = config.seed
        powerState = machine.powerState.rawValue
        emulatedNanoseconds = machine.nanoseconds
        totalCycles = counters.total
        var cycles: [String: CostCount] = [:]
        for item in CostItem.allCases {
            guard let count = counters.counts[item] else { continue }
            cycles[item.rawValue] = CostCount(count: count, cycles: counters.cycles[item] ?? 0)
        }
        self.cycles = cycles
        configuration = ConfigurationDescription(config)
        disks = machine.emulatedDisks.map { Disk(name: $0.name, size: $0.size) }
    }

    public var text: String {
        let diskNames = disks.map { "\($0.name) (\($0.size >> 20) MiB)" }
        var lines: [String] = []
        if let createdIn { lines.append("created machine '\(name)' in \(createdIn)") }
        lines += [
            "machine \(name): \(packages) package(s) × \(cpusPerPackage) CPU(s), "
                + "\(memoryBytes >> 20) MiB DRAM, \(powerState)",
            "seed: \(seed.map(String.init) ?? "none (host CSPRNG)")",
            "TME: \(configuration.tmePresent ? configuration.tme ? "on" : "off" : "absent"), KeyID bits \(configuration.keyIDBits), "
                + "MAXPHYADDR \(configuration.maxPhysAddr), max keys \(configuration.maxKeys), "
                + "cache \(configuration.cacheLines) lines/package",
            "Key Locker: \(configuration.keyLocker ? "present" : "absent")",
            "disks: \(diskNames.isEmpty ? "none" : diskNames.joined(separator: ", "))",
            "emulated time: \(emulatedNanoseconds) ns, modelled cycles: \(totalCycles)",
        ]
        for item in CostItem.allCases {
            if let entry = cycles[item.rawValue] {
                lines.append("  \(item.rawValue): \(entry.count) × = \(entry.cycles) cycles")
            }
        }
        return lines.joined(separator: "\n")
    }
}

/// Every configuration field, as `machine show` reports it.
public struct ConfigurationDescription: Codable, Sendable, Hashable {
    public var tmePresent: Bool
    public var maxPhysAddr: Int
    public var keyIDBits: Int
    public var maxKeys: Int
    public var tme: Bool
    public var tmePolicy: String
    public var mkAlgorithms: [String]
    public var tmeBypass: Bool
    @EncodesNil public var tmeExclude: Exclusion?
    public var saveKeyForStandby: Bool
    public var cacheLines: Int
    public var pconfig: Bool
    public var keyLocker: Bool
    public var wideKL: Bool
    public var klBackup: Bool
    public var klRandom: Bool
    public var klNoBackup: Bool
    public var klRestrictions: [String]
    public var klBackupLatencyNanoseconds: UInt64
    public var swapBytes: UInt64
    public var cpuFrequencyMHz: Int
    public var kernel: Bool
    public var commandLine: String

    public struct Exclusion: Codable, Sendable, Hashable {
        public var base: Hex
        public var mask: Hex
    }

    enum CodingKeys: String, CodingKey {
        case tmePresent = "tme_present"
        case maxPhysAddr = "maxphyaddr"
        case keyIDBits = "keyid_bits"
        case maxKeys = "max_keys"
        case tme
        case tmePolicy = "tme_policy"
        case mkAlgorithms = "mk_algorithms"
        case tmeBypass = "tme_bypass"
        case tmeExclude = "tme_exclude"
        case saveKeyForStandby = "save_key_for_standby"
        case cacheLines = "cache_lines"
        case pconfig
        case keyLocker = "keylocker"
        case wideKL = "wide_kl"
        case klBackup = "kl_backup"
        case klRandom = "kl_random"
        case klNoBackup = "kl_nobackup"
        case klRestrictions = "kl_restrictions"
        case klBackupLatencyNanoseconds = "kl_backup_latency_ns"
        case swapBytes = "swap_bytes"
        case cpuFrequencyMHz = "cpu_frequency_mhz"
        case kernel
        case commandLine = "cmdline"
    }

    public init(_ config: MachineConfiguration) {
        tmePresent = config.tmePresent
        maxPhysAddr = config.maxPhysAddr
        keyIDBits = config.keyIDLayout.keyIDBits
        maxKeys = config.maxKeys
        tme = config.tmeEnabled
        tmePolicy = config.tmePolicy.name
        mkAlgorithms = config.mkAlgorithms.map(\.name)
        tmeBypass = config.tmeBypass
        tmeExclude = config.tmeExclude.map { Exclusion(base: Hex($0.base), mask: Hex($0.mask)) }
        saveKeyForStandby = config.saveKeyForStandby
        cacheLines = config.cacheLines
        pconfig = config.pconfig
        keyLocker = config.keyLocker
        wideKL = config.wideKL
        klBackup = config.klBackup
        klRandom = config.klRandom
        klNoBackup = config.klNoBackup
        klRestrictions = KeyLockerRestrictions.names.filter { config.klRestrictions.contains($0.1) }.map(\.0)
        klBackupLatencyNanoseconds = config.klBackupLatencyNanoseconds
        swapBytes = config.effectiveSwapBytes
        cpuFrequencyMHz = config.cpuFrequencyMHz
        kernel = config.bootKernel
        commandLine = config.kernelCommandLine
    }

}

/// `machine list`.
public struct MachineList: CommandResult {
    public struct Entry: Codable, Sendable, Hashable {
        public var name: String
        public var summary: String
    }

    public var machines: [Entry]
    /// The store (text only).
    public var location: String

    enum CodingKeys: String, CodingKey { case machines }

    public var text: String {
        machines.isEmpty
            ? "no machines in \(location)" : machines.map { "\($0.name)\t\($0.summary)" }.joined(separator: "\n")
    }
}

/// `machine delete`.
public struct MachineDeleted: CommandResult {
    public var deleted: String
    public var text: String { "deleted machine '\(deleted)'" }
}
