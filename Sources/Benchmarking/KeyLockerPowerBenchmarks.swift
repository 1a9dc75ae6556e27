//===----------------------------------------------------------------------===//
//
// hwkeys: Benchmarking
//
//===----------------------------------------------------------------------===//

import HWKeysBase
import Kernel
import KernelInterfaces
import Platform

/// Emulated cost of bringing IWKey back per Key Locker mode (docs/contract.md §7): after S3 resume on every CPU, and
/// on one CPU coming online. LOADIWKEY from the remembered key (`native_kernel_key_remember`) against the
/// platform backup restore (`IA32_COPY_PLATFORM_TO_LOCAL`, the backup, random and boot modes). These are
/// the modelled costs of `hwkeys costs` summed over what the kernel executes, in emulated cycles; they
/// depend only on the cost table, never on the host.
public enum KeyLockerPowerBenchmarks {
    /// One mode's costs.
    public struct Result: Sendable, Hashable {
        /// The mode (`boot` for `keylocker.policy=boot`).
        public var mode: KeyLockerMode
        /// Emulated cycles the kernel spent restoring IWKey on every online CPU after S3.
        public var resumeCycles: UInt64
        /// Emulated cycles spent giving IWKey to one CPU coming online.
        public var onlineCycles: UInt64
        /// How many CPUs the resume restored.
        public var cpus: Int
    }

    /// The benchmark row name of `mode` (short enough for the text table).
    public static func rowName(_ mode: KeyLockerMode) -> String {
        switch mode {
        case .nativeKernelKeyRemember: "klpower-remember"
        case .nativeKernelKeyBackup: "klpower-backup"
        case .nativeRandomKey: "klpower-random"
        case .nativeKernelKeyNorestore: "klpower-norestore"
        case .paravirtAny, .paravirtRandom: "klpower-paravirt"
        case .boot: "klpower-boot"
        }
    }

    /// The modes whose IWKey survives S3 and hotplug.
    public static let modes: [KeyLockerMode] = [
        .nativeKernelKeyRemember, .nativeKernelKeyBackup, .nativeRandomKey, .boot,
    ]

    /// Measures `mode` on a seeded machine with `cpus` CPUs in one package.
    public static func measure(_ mode: KeyLockerMode, cpus: Int = 4) throws(HWKeysError) -> Result {
        var configuration = MachineConfiguration()
        configuration.seed = 1
        configuration.cpusPerPackage = cpus
        configuration.bootKernel = false
        configuration.kernelCommandLine = mode == .boot ? "keylocker.policy=boot" : "keylocker.policy=admin"
        let machine = try Machine.create(configuration: configuration)
        let kernel = try Kernel.boot(platform: machine, commandLine: configuration.effectiveKernelCommandLine)
        if mode != .boot {
            try kernel.sysfsWrite("/sys/kernel/keylocker/mode", mode.rawValue, as: 1)
        }
        try kernel.prepareForSleep(.suspendToRAM)
        try machine.power(.suspend)
        try machine.power(.resume)
        // Only the Key Locker manager's part of the resume is measured.
        let beforeResume = machine.counters.total
        try kernel.keyLockerManager.resumed(from: .suspendToRAM)
        let resumeCycles = machine.counters.total &- beforeResume
        // Only the Key Locker manager's part of onlining is measured (other subsystems may take part too).
        try kernel.setCPU(cpus - 1, online: false)
        let beforeOnline = machine.counters.total
        try kernel.keyLockerManager.cpuComingOnline(cpus - 1)
        let onlineCycles = machine.counters.total &- beforeOnline
        try kernel.setCPU(cpus - 1, online: true)
        guard kernel.keyLockerManager.status == .valid else {
            throw HWKeysError(.EIO, "Key Locker \(mode.rawValue) did not survive the benchmark")
        }
        return Result(mode: mode, resumeCycles: resumeCycles, onlineCycles: onlineCycles, cpus: cpus)
    }
}
