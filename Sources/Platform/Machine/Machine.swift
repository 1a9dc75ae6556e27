//===----------------------------------------------------------------------===//
//
// hwkeys: Platform
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase
import X86

/// The emulated machine: packages of logical processors, sparse DRAM, the memory system (caches and
/// per-package memory controllers with MKTME key tables), the platform Key Locker backup, power states,
/// fault injection, emulated time and the cost counters (docs/design.md "Platform").
///
/// Software reaches it only through ``LogicalProcessor`` (the `X86Processor` interface) and the few
/// platform services a kernel gets from firmware. The debug monitor (HWKeysCommands `hw …`) additionally
/// reads and writes raw DRAM and arms fault injection.
///
/// Not thread-safe: a machine is driven by one command at a time.
public final class Machine {
    /// How the machine was built.
    public let configuration: MachineConfiguration
    /// All randomness: hardware random keys, RDRAND, the TME key (docs/design.md rule 4).
    public let entropy: any EntropySource
    /// The DIMMs.
    public let dram: DRAM
    /// The logical processors, numbered package-major: CPU n is on package n / cpusPerPackage.
    public private(set) var processors: [LogicalProcessor] = []
    /// Failures armed by the debug monitor.
    public var faults: FaultInjection
    /// The power state.
    public internal(set) var powerState: PowerState = .off

    /// Emulated time in nanoseconds since the machine was created. Advanced by modelled costs and by
    /// `clock advance`; never by host time.
    ///
    /// Unchecked exclusivity (also `counters`): `charge` runs once per modelled instruction and dynamic
    /// checks tripled its cost. Every access is instantaneous and one thread drives a machine.
    @exclusivity(unchecked) public internal(set) var nanoseconds: UInt64 = 0
    /// Emulated cycles spent, per cost item.
    @exclusivity(unchecked) public internal(set) var counters = CycleCounters()

    /// The memory system: package caches and memory controllers (TME/MKTME engines).
    let memory: MemorySystem
    /// Platform-wide TME configuration (IA32_TME_* MSRs as firmware programmed them).
    let tme: TMEUnit
    /// The platform-scoped IWKey backup storage (Key Locker).
    let iwKeyBackup: IWKeyBackupStorage
    /// The non-volatile disks (swap, crypt backing devices).
    var blockDevices = BlockDeviceSet()
    /// Where stored disk blocks come from (the state file), for disks restored or attached later.
    let diskSource: (any BlockDevicePageSource)?

    /// The KeyID layout in physical addresses: k from the activated `IA32_TME_ACTIVATE` (0 until TME is
    /// activated with MK_TME_KEYID_BITS > 0).
    public var keyIDLayout: KeyIDLayout { tme.keyIDLayout }

    /// A machine in the off state with fresh parts; ``create(configuration:pageSource:)`` powers it on and
    /// ``restore(configuration:image:pageSource:)`` overwrites its state from an image.
    init(
        restoring configuration: MachineConfiguration,
        entropy: any EntropySource,
        pageSource: (any DRAMPageSource)?,
        diskSource: (any BlockDevicePageSource)? = nil
    ) {
        self.configuration = configuration
        self.diskSource = diskSource
        self.entropy = entropy
        self.dram = DRAM(size: configuration.memoryBytes, pageSource: pageSource)
        self.faults = FaultInjection(packages: configuration.packages)
        self.memory = MemorySystem(configuration: configuration)
        self.tme = TMEUnit(configuration: configuration)
        self.iwKeyBackup = IWKeyBackupStorage(configuration: configuration)
        self.processors = (0..<configuration.logicalProcessorCount).map {
            LogicalProcessor(machine: self, cpuNumber: $0, packageID: $0 / configuration.cpusPerPackage)
        }
    }

    /// Builds a new machine with its swap disk (``MachineConfiguration/effectiveSwapBytes``, none when 0)
    /// and powers it on (cold boot: firmware activates TME).
    public static func create(
        configuration: MachineConfiguration,
        pageSource: (any DRAMPageSource)? = nil
    ) throws(HWKeysError) -> Machine {
        try configuration.validate()
        let entropy: any EntropySource =
            if let seed = configuration.seed { SeededEntropySource(seed: seed) } else { SystemEntropySource() }
        let machine = Machine(restoring: configuration, entropy: entropy, pageSource: pageSource)
        if configuration.effectiveSwapBytes > 0 {
            machine.blockDevices.insert(
                EmulatedDisk(name: Machine.swapDiskName, size: configuration.effectiveSwapBytes, pageSource: nil)
            )
        }
        do {
            try machine.power(.on)
        } catch {
            // A freshly built machine is off, so powering it on is always a valid transition.
            preconditionFailure("cold boot of a new machine failed: \(error)")
        }
        return machine
    }

    /// The processor with Linux CPU number `cpu`.
    public func processor(_ cpu: Int) -> LogicalProcessor? {
        processors.indices.contains(cpu) ? processors[cpu] : nil
    }

    /// The processors of package `package`.
    public func processors(ofPackage package: Int) -> ArraySlice<LogicalProcessor> {
        let per = configuration.cpusPerPackage
        return processors[package * per..<(package + 1) * per]
    }

    // MARK: Time and cost

    /// Charges `count` operations of `item` to the cost counters and advances emulated time.
    public func charge(_ item: CostItem, count: UInt64 = 1) {
        let cycles = item.cycles &* count
        counters.add(item, count: count, cycles: cycles)
        advance(nanoseconds: cycles &* 1000 / UInt64(configuration.cpuFrequencyMHz))
    }

    /// Charges `count` separate executions of `item`, with exactly the counters and emulated time that
    /// `count` calls of ``charge(_:count:)`` with a count of 1 leave (each rounds its nanoseconds down).
    public func chargeEach(_ item: CostItem, times count: UInt64) {
        counters.add(item, count: count, cycles: item.cycles &* count)
        advance(nanoseconds: (item.cycles &* 1000 / UInt64(configuration.cpuFrequencyMHz)) &* count)
    }

    /// Advances emulated time (e.g. `clock advance`).
    public func advance(nanoseconds delta: UInt64) {
        let before = nanoseconds
        nanoseconds &+= delta
        iwKeyBackup.timeAdvanced(from: before, to: nanoseconds)
    }
}

/// The machine's power state (ACPI global/sleep states, docs/contract.md §4).
public enum PowerState: String, Sendable, Codable, CaseIterable {
    /// G0/S0: running.
    case running
    /// S3: suspended to RAM.
    case suspended
    /// S4: hibernated.
    case hibernated
    /// S5/G2: soft off.
    case off
}
