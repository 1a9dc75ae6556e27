//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommands
//
//===----------------------------------------------------------------------===//

import ArgumentParser
import HWKeysBase
import Platform
import Workspace
import X86

/// `hwkeys machine …`: create, inspect, list and delete machines.
public struct MachineCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "machine",
        abstract: "Create, show, list and delete emulated machines.",
        subcommands: [Create.self, Show.self, List.self, Delete.self]
    )

    public init() {}

    /// `machine create`: build a machine from options and power it on.
    public struct Create: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Create a machine and power it on (firmware activates TME; the kernel boots unless --no-kernel)."
        )

        @OptionGroup public var global: GlobalOptions

        @Option(help: "Packages (sockets).") var packages: Number = Number(1)
        @Option(name: .customLong("cpus-per-package"), help: "Logical processors per package.") var cpusPerPackage:
            Number = Number(2)
        @Option(help: "DRAM size (K/M/G suffixes).") var memory: Size?
        @Option(help: "Entropy seed for byte-identical reruns (default: the host CSPRNG).") var seed: Number?
        @Flag(help: "Replace an existing machine of the same name.") var force = false
        @Option(name: .customLong("cpu-mhz"), help: "Nominal frequency that converts modelled cycles to emulated time.")
        var cpuMHz: Number?

        @Option(help: "MAXPHYADDR.") var maxphyaddr: Number?
        @Option(name: .customLong("keyid-bits"), help: "MKTME KeyID bits k firmware activates.") var keyIDBits: Number?
        @Option(name: .customLong("max-keys"), help: "MK_TME_MAX_KEYS reported by IA32_TME_CAPABILITY.") var maxKeys:
            Number?
        @Option(help: "Firmware enables TME at power-on: on|off.") var tme: OnOff?
        @Option(name: .customLong("tme-policy"), help: "KeyID-0 algorithm: aes-xts-128|aes-xts-256.") var tmePolicy:
            TMEAlgorithm?
        @Option(name: .customLong("mk-algorithms"), help: "Comma-separated algorithms enabled for KeyIDs ≥ 1.")
        var mkAlgorithms: String?
        @Flag(name: .customLong("tme-bypass"), help: "TME encryption bypass for KeyID 0.") var tmeBypass = false
        @Option(name: .customLong("tme-exclude"), help: "TME exclusion range BASE:MASK (KeyID 0 only).") var tmeExclude:
            String?
        @Option(name: .customLong("save-key-for-standby"), help: "Keep TME/MKTME keys across S3: on|off.")
        var saveKeyForStandby: OnOff?
        @Option(name: .customLong("cache-lines"), help: "Lines per package cache (0 = no cache model).") var cacheLines:
            Number?
        @Flag(name: .customLong("no-pconfig"), help: "Build a CPU without PCONFIG.") var noPCONFIG = false
        @Flag(
            name: .customLong("no-tme"),
            help: "Build a CPU without TME (CPUID.(7,0):ECX[13] = 0: no TME MSRs, no MKTME, no PCONFIG)."
        )
        var noTME = false

        @Flag(name: .customLong("no-keylocker"), help: "Build a CPU without Key Locker.") var noKeyLocker = false
        @Flag(name: .customLong("no-wide-kl"), help: "No AESENCWIDE*/AESDECWIDE* (CPUID.19H:EBX[2] = 0).")
        var noWideKL = false
        @Flag(name: .customLong("no-kl-backup"), help: "No IWKey backup MSRs (CPUID.19H:EBX[4] = 0).") var noKLBackup =
            false
        @Flag(name: .customLong("no-kl-random"), help: "No KeySource 1 (CPUID.19H:ECX[1] = 0).") var noKLRandom = false
        @Flag(name: .customLong("no-kl-nobackup"), help: "No NoBackup IWKeys (CPUID.19H:ECX[0] = 0).")
        var noKLNoBackup = false
        @Option(
            name: .customLong("kl-restrictions"),
            help: "Supported handle restrictions: comma list of cpl0,no-encrypt,no-decrypt, or none."
        )
        var klRestrictions: String?
        @Option(name: .customLong("kl-backup-latency"), help: "Time until an IWKey backup becomes valid (e.g. 10ms).")
        var klBackupLatency: DurationArgument?

        @Option(help: "Swap disk size for hibernation images (K/M/G suffixes; 0 = none; default: the DRAM size).")
        var swap: Size?

        @Flag(name: .customLong("no-kernel"), help: "Power on the hardware only; do not boot the modelled kernel.")
        var noKernel = false
        @Option(help: "Kernel command line, e.g. \"mktme.api=rfc-v2 mktme_savekeys\".") var cmdline: String?

        public init() {}

        /// The configuration these options describe.
        func makeConfiguration() throws(HWKeysError) -> MachineConfiguration {
            var config = MachineConfiguration()
            config.packages = try packages.int("packages")
            config.cpusPerPackage = try cpusPerPackage.int("cpus-per-package")
            if let memory { config.memoryBytes = memory.bytes }
            config.seed = seed?.value
            if let cpuMHz { config.cpuFrequencyMHz = try cpuMHz.int("cpu-mhz") }
            if let maxphyaddr { config.maxPhysAddr = try maxphyaddr.int("maxphyaddr") }
            if noTME {
                // No TME at all: nothing to enable, no KeyID bits, no PCONFIG (an explicit --tme on or
                // --keyid-bits is then refused by validation).
                config.tmePresent = false
                config.tmeEnabled = false
            }
            if let tme { config.tmeEnabled = tme.isOn }
            if let keyIDBits {
                config.keyIDBits = try keyIDBits.int("keyid-bits")
            } else if !config.tmeEnabled {
                config.keyIDBits = 0
            }
            if let maxKeys { config.maxKeys = try maxKeys.int("max-keys") }
            if let tmePolicy { config.tmePolicy = tmePolicy }
            if let mkAlgorithms {
                var algorithms: [TMEAlgorithm] = []
                for name in mkAlgorithms.split(separator: ",") where !name.isEmpty && name != "none" {
                    guard let algorithm = TMEAlgorithm(name: String(name)) else {
                        throw HWKeysError.usage("unknown algorithm '\(name)' (aes-xts-128, aes-xts-256)")
                    }
                    algorithms.append(algorithm)
                }
                config.mkAlgorithms = algorithms
            }
            config.tmeBypass = tmeBypass
            if let tmeExclude {
                let parts = tmeExclude.split(separator: ":")
                guard parts.count == 2, let base = ValueParser.number(String(parts[0])),
                    let mask = ValueParser.number(String(parts[1]))
                else { throw HWKeysError.usage("--tme-exclude takes BASE:MASK, e.g. 0x100000:0x3ffffff00000") }
                config.tmeExclude = TMEExclusion(base: base, mask: mask)
            }
            if let saveKeyForStandby { config.saveKeyForStandby = saveKeyForStandby.isOn }
            if let cacheLines { config.cacheLines = try cacheLines.int("cache-lines") }
            config.pconfig = !noPCONFIG && !noTME
            config.keyLocker = !noKeyLocker
            config.wideKL = !noWideKL
            config.klBackup = !noKLBackup
            config.klRandom = !noKLRandom
            config.klNoBackup = !noKLNoBackup
            if let klRestrictions { config.klRestrictions = try parseRestrictions(klRestrictions) }
            if let klBackupLatency { config.klBackupLatencyNanoseconds = klBackupLatency.nanoseconds }
            if let swap { config.swapBytes = swap.bytes }
            config.bootKernel = !noKernel
            if let cmdline { config.kernelCommandLine = cmdline }
            return config
        }

        public func request() throws(HWKeysError) -> CreateMachine {
            CreateMachine(configuration: try makeConfiguration(), replace: force)
        }
    }

    /// `machine show`: configuration, power state, counters.
    public struct Show: HWKeysCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Show a machine's configuration, state and cost counters."
        )
        @OptionGroup public var global: GlobalOptions
        public init() {}

        public func request() -> ShowMachine { ShowMachine() }
    }

    /// `machine list`: every machine in the state file.
    public struct List: HWKeysCommand {
        public static let configuration = CommandConfiguration(abstract: "List the machines in the state file.")
        @OptionGroup public var global: GlobalOptions
        public init() {}

        public func request() -> ListMachines { ListMachines() }
    }

    /// `machine delete`: remove a machine and all its data.
    public struct Delete: HWKeysCommand {
        public static let configuration = CommandConfiguration(abstract: "Delete a machine and all its data.")
        @OptionGroup public var global: GlobalOptions
        public init() {}

        public func request() -> DeleteMachine { DeleteMachine() }
    }
}

/// Parses a comma-separated Key Locker restriction list (`cpl0,no-encrypt,no-decrypt` or `none`).
func parseRestrictions(_ text: String) throws(HWKeysError) -> KeyLockerRestrictions {
    var result: KeyLockerRestrictions = []
    for word in text.split(separator: ",") where word != "none" {
        guard let match = KeyLockerRestrictions.names.first(where: { $0.0 == word }) else {
            throw HWKeysError.usage("unknown restriction '\(word)' (cpl0, no-encrypt, no-decrypt)")
        }
        result.insert(match.1)
    }
    return result
}
