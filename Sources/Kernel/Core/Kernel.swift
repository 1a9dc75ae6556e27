//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

import Foundation
import HWCrypto
import HWKeysBase
import KernelInterfaces
import X86

/// The modelled operating system: the part of Linux that the MKTME and Key Locker threads designed and
/// argued about, runnable (docs/design.md "Kernel").
///
/// It drives hardware only through `X86Processor` and `KernelPlatform` (rule 1), keeps every secret in
/// emulated DRAM (rule 3), and takes randomness and time from the platform (rule 4). Its bookkeeping —
/// processes, keys, VMAs, KeyID maps, all addresses and counters, never key bytes — is saved as the
/// machine image's `kernel` component between commands.
///
/// Not thread-safe; one command at a time.
public final class Kernel {
    /// The hardware the kernel runs on.
    public let platform: any KernelPlatform

    /// The boot parameters.
    public let commandLine: KernelCommandLine
    /// Emulated time at boot.
    public let bootTime: UInt64
    /// Where the KeyID sits in physical addresses, as the kernel detected it at boot (detect_tme).
    public let keyIDLayout: KeyIDLayout
    /// Whether TME was found locked and enabled at boot.
    public let tmeActive: Bool
    /// Whether the CPU has TME at all (CPUID.(7,0):ECX[13], Linux `X86_FEATURE_TME`) on the boot CPU. Without
    /// it there is no `mktme` subsystem. Read from the hardware at every boot and restore.
    public let tmePresent: Bool
    /// The swap device hibernation writes its image to: `resume=` (``KernelCommandLine/resumeDevice``), or
    /// `swap` for a kernel saved before `resume=` existed (it found that disk by name). nil: no hibernation.
    public let resumeDevice: String?
    /// Whether the kernel runs in a virtual machine: CPUID.1:ECX[31] (hypervisor present) on the boot CPU,
    /// as Linux sets `X86_FEATURE_HYPERVISOR`. Read from the hardware at every boot and restore.
    public let runsUnderHypervisor: Bool

    /// The kernel log.
    public internal(set) var log = DmesgLog()
    /// Which CPUs are online (the kernel's view; offline CPUs are parked).
    public internal(set) var onlineCPUs: [Bool]
    /// Physical frames.
    public internal(set) var pages: PageAllocator
    /// Kernel memory.
    var heap = KernelHeap()
    /// Processes.
    public internal(set) var processes = ProcessTable()
    /// Pseudo-files; rebuilt by every boot or restore from the subsystems, never saved.
    var sysfs = SysfsTree()
    /// Subsystems told about fork and exit, in registration order.
    var processObservers: [any ProcessLifecycleObserver] = []
    /// The key retention service (docs/contract.md §5).
    public private(set) lazy var keys = KeyRetentionService(kernel: self)
    /// The memory manager: address spaces, page tables, encrypt_mprotect (docs/contract.md §6).
    public private(set) lazy var memoryManager = MemoryManager(kernel: self)
    /// The Key Locker manager (docs/contract.md §7); its ``KeyLockerService`` face is ``keyLocker``, set only when
    /// the CPUs have Key Locker.
    public private(set) lazy var keyLockerManager = KeyLockerManager(kernel: self)
    /// Crypt volumes (docs/contract.md §7 "Key Locker users").
    public private(set) lazy var crypt = CryptVolumes(kernel: self)

    // Seams between subsystems (Kernel+Subsystems.swift), registered by startSubsystems.
    /// The `mktme` key type's side of encrypt_mprotect; nil without MKTME.
    public internal(set) var memoryEncryption: (any MemoryEncryptionKeys)?
    /// The memory manager's side of KeyID rotation.
    public internal(set) var keyIDMappings: (any KeyIDMappings)?
    /// The Key Locker manager; nil without Key Locker hardware.
    public internal(set) var keyLocker: (any KeyLockerService)?
    /// Subsystems holding Key Locker handles.
    var keyLockerUsers: [any KeyLockerUser] = []
    /// The hibernation image writer on ``resumeDevice``; nil without a swap device (hibernation is then
    /// EOPNOTSUPP).
    public internal(set) var hibernation: (any HibernationImage)?
    /// The `mktme` subsystem (docs/contract.md §6): KeyID table, key type, hotplug and power rules.
    public internal(set) var mktme: MKTMEManager?

    /// The direct map.
    public var physical: PhysicalMemory { PhysicalMemory(kernel: self) }

    /// The processors, by Linux CPU number (fixed for the life of a kernel; cached because
    /// `KernelPlatform.cpus` builds its array on every call and the direct map uses it per access).
    public let processors: [any X86Processor]

    /// The CPU kernel code runs on: the lowest-numbered online CPU.
    public var cpu: any X86Processor {
        processors[onlineCPUs.firstIndex(of: true) ?? 0]
    }

    /// The lead CPU of `package`: its lowest-numbered online CPU, if any.
    public func leadCPU(ofPackage package: Int) -> (any X86Processor)? {
        for (index, online) in onlineCPUs.enumerated() where online && platform.package(ofCPU: index) == package {
            return processors[index]
        }
        return nil
    }

    /// Emulated time now.
    public var now: UInt64 { platform.nanoseconds }
    /// Nanoseconds since boot.
    public var uptime: UInt64 { platform.nanoseconds &- bootTime }

    /// Runs the deferred work that emulated time has made due — the key garbage collector (`gc_delay`,
    /// docs/contract.md §5), and with it the KeyIDs its destroyed keys release. Linux runs it from a workqueue
    /// timer; hwkeys runs it whenever the kernel is entered and when time is advanced.
    public func runDueWork() {
        _ = keys.collectGarbage()
    }

    /// Appends a line to the kernel log under `facility` (e.g. `mktme`).
    public func printk(_ facility: String, _ text: String) {
        log.append(time: uptime, facility: facility, text)
    }

    /// Appends a line to the kernel log.
    public func printk(_ text: String) {
        log.append(time: uptime, facility: "", text)
    }

    private init(
        platform: any KernelPlatform,
        commandLine: KernelCommandLine,
        bootTime: UInt64,
        layout: KeyIDLayout,
        tmeActive: Bool,
        resumeDevice: String?
    ) {
        self.platform = platform
        self.commandLine = commandLine
        self.bootTime = bootTime
        self.keyIDLayout = layout
        self.tmeActive = tmeActive
        self.resumeDevice = resumeDevice
        self.processors = platform.cpus
        let features = processors.first?.cpuid(leaf: CPUIDLeaf.versionInformation, subleaf: 0)
        self.runsUnderHypervisor = (features?.ecx ?? 0) & CPUIDBit.hypervisorECX != 0
        let extended = processors.first?.cpuid(leaf: CPUIDLeaf.structuredExtendedFeatures, subleaf: 0)
        self.tmePresent = (extended?.ecx ?? 0) & CPUIDBit.tmeECX != 0
        self.onlineCPUs = Array(repeating: true, count: processors.count)
        self.pages = PageAllocator(memoryBytes: platform.memoryMap.last?.upperBound ?? 0)
    }

    // MARK: Boot

    /// Boots the kernel on freshly powered-on hardware: parses the command line, detects TME (like Linux
    /// `detect_tme_early`), sets up memory, brings every CPU online, initializes the subsystems and starts
    /// init (pid 1) and the root shell (pid 100).
    public static func boot(platform: any KernelPlatform, commandLine text: String) throws(HWKeysError) -> Kernel {
        let commandLine = try KernelCommandLine(text)
        guard let boot = platform.cpus.first else { throw HWKeysError(.ENODEV, "the platform has no processors") }
        // CPUID.80000008H:EAX[7:0]; Linux assumes 36 bits when the leaf reports less (or is missing).
        let maxPhysAddr = max(Int(boot.cpuid(leaf: CPUIDLeaf.addressSizes, subleaf: 0).eax & 0xFF), 36)
        guard let addressOnly = KeyIDLayout(validatingMaxPhysAddr: maxPhysAddr, keyIDBits: 0) else {
            throw HWKeysError(.EINVAL, "CPUID.80000008H reports MAXPHYADDR \(maxPhysAddr); at most 52 is possible")
        }
        var layout = addressOnly
        var tmeActive = false
        if boot.cpuid(leaf: CPUIDLeaf.structuredExtendedFeatures, subleaf: 0).ecx & CPUIDBit.tmeECX != 0,
            let activate = try? boot.rdmsr(MSR.tmeActivate)
        {
            // TME is usable only if firmware locked and enabled it (Linux: LOCKED && ENABLED).
            tmeActive = activate & 0b11 == 0b11
            if tmeActive {
                // k is four bits, so with MAXPHYADDR ≥ 36 it always leaves frame bits; checked all the same,
                // since software controls a virtual CPU's IA32_TME_ACTIVATE.
                guard
                    let withKeyIDs = KeyIDLayout(
                        validatingMaxPhysAddr: maxPhysAddr,
                        keyIDBits: TMEActivate.keyIDBits(activate)
                    )
                else { throw HWKeysError(.EINVAL, "IA32_TME_ACTIVATE KeyID bits do not fit MAXPHYADDR \(maxPhysAddr)") }
                layout = withKeyIDs
            }
        }
        let keyIDBits = layout.keyIDBits
        let kernel = Kernel(
            platform: platform,
            commandLine: commandLine,
            bootTime: platform.nanoseconds,
            layout: layout,
            tmeActive: tmeActive,
            resumeDevice: commandLine.resumeDevice
        )
        kernel.printk("Linux version 6.x-hwkeys (modelled kernel)")
        kernel.printk("Command line: \(commandLine.raw)")
        for word in commandLine.unknown { kernel.printk("Unknown kernel command line parameter \"\(word)\", ignored") }
        kernel.printk(
            "x86/tme",
            !kernel.tmePresent
                ? "not supported by the CPU (CPUID.(7,0):ECX[13] = 0)"
                : tmeActive
                    ? "enabled by BIOS; \(keyIDBits) KeyID bits (\((1 << keyIDBits) - 1) KeyIDs)"
                    : "not enabled by BIOS"
        )
        kernel.printk(
            "Memory: \(kernel.pages.totalFrames * 4)K available, \(platform.cpus.count) CPUs, \(platform.packageCount) package(s)"
        )
        kernel.registerCoreSysfs()
        try kernel.startSubsystems(booting: true)
        kernel.processes.insert(Process(pid: ProcessTable.initPID, parent: 0, credentials: .root, name: "init"))
        kernel.processes.insert(
            Process(pid: ProcessTable.shellPID, parent: ProcessTable.initPID, credentials: .root, name: "sh")
        )
        for observer in kernel.processObservers {
            try observer.processCreated(ProcessTable.initPID, parent: 0, exec: true)
            try observer.processCreated(ProcessTable.shellPID, parent: ProcessTable.initPID, exec: true)
        }
        kernel.printk("Run /sbin/init as init process; root shell is pid \(ProcessTable.shellPID)")
        return kernel
    }

    /// Subsystem start-up, shared by boot and restore. Subsystems register their sysfs files and process
    /// observers here; on boot they also initialize state and hardware.
    func startSubsystems(booting: Bool) throws(HWKeysError) {
        keys.start(booting: booting)
        if tmePresent {
            let mktme = MKTMEManager(kernel: self)
            self.mktme = mktme
            mktme.start(booting: booting)
        } else if booting {
            // The RFC registers its key type only when there are KeyIDs; without TME there never are.
            printk("mktme", "TME not supported by the CPU; the mktme key type is not registered")
        }
        memoryManager.start(booting: booting)
        keyLockerManager.start(booting: booting)
        crypt.start(booting: booting)
        if let name = resumeDevice {
            if let swap = platform.disk(named: name) {
                hibernation = SwapHibernation(kernel: self, disk: swap)
            } else if booting {
                printk("PM", "Cannot find swap device \(name) (resume=); hibernation unavailable")
            }
        }
    }

    // MARK: Persistence

    /// The saved form of the kernel (everything but secrets, which live in DRAM).
    struct Image: Codable {
        /// 2: the swap device comes from `resume=` (``resumeDevice``); version 1 kernels used the disk
        /// named `swap`.
        static let currentVersion = 2
        var version: Int
        var commandLine: String
        var bootTime: UInt64
        var maxPhysAddr: Int
        var keyIDBits: Int
        var tmeActive: Bool
        /// The swap device (version 2 on; absent means none).
        var resumeDevice: String?
        var log: DmesgLog
        var onlineCPUs: [Bool]
        var pages: PageAllocator
        var heap: KernelHeap
        var processes: ProcessTable
        /// The key retention service (absent in images saved before it existed).
        var keys: KeyRetentionService.SavedState?
        /// The MKTME KeyID table (absent in images saved before it existed).
        var mktme: MKTMESavedState?
        /// Address spaces (absent in images saved before the memory manager existed).
        var memory: MemoryManager.SavedState?
        /// The Key Locker manager (absent in images saved before it existed).
        var keyLocker: KeyLockerManager.SavedState?
        /// Crypt volumes (absent in images saved before they existed).
        var crypt: CryptVolumes.SavedState?
    }

    /// Encodes the kernel's state deterministically.
    public func encodeState() throws -> Data {
        let image = Image(
            version: Image.currentVersion,
            commandLine: commandLine.raw,
            bootTime: bootTime,
            maxPhysAddr: keyIDLayout.maxPhysAddr,
            keyIDBits: keyIDLayout.keyIDBits,
            tmeActive: tmeActive,
            resumeDevice: resumeDevice,
            log: log,
            onlineCPUs: onlineCPUs,
            pages: pages,
            heap: heap,
            processes: processes,
            keys: keys.savedState(),
            mktme: mktme?.savedState,
            memory: memoryManager.savedState(),
            keyLocker: keyLockerManager.savedState(),
            crypt: crypt.savedState()
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(image)
    }

    /// Rebuilds a running kernel from ``encodeState()`` output on the hardware it was saved from.
    ///
    /// - Throws: EIO for state that does not decode or whose bookkeeping is impossible (docs/robustness.md),
    ///   EINVAL for state that does not match the hardware or is too new.
    public static func restore(platform: any KernelPlatform, state: Data) throws(HWKeysError) -> Kernel {
        let image: Image
        do {
            image = try JSONDecoder().decode(Image.self, from: state)
        } catch {
            throw HWKeysError(.EIO, "kernel state does not decode: \(error)")
        }
        guard image.version <= Image.currentVersion else {
            throw HWKeysError(.EINVAL, "kernel state version \(image.version) is newer than this hwkeys")
        }
        guard image.onlineCPUs.count == platform.cpus.count, (0...15).contains(image.keyIDBits),
            (36...52).contains(image.maxPhysAddr)
        else {
            throw HWKeysError(.EINVAL, "kernel state does not match the hardware")
        }
        guard let layout = KeyIDLayout(validatingMaxPhysAddr: image.maxPhysAddr, keyIDBits: image.keyIDBits) else {
            throw HWKeysError(.EINVAL, "kernel state has an impossible KeyID layout")
        }
        // A saved kernel may come from a hibernation image on swap, which anyone with the disk can write:
        // bookkeeping that later code relies on is checked here, so that it fails to restore (EIO) instead of
        // trapping later (docs/robustness.md).
        let memoryBytes = platform.memoryMap.last?.upperBound ?? 0
        let problems: [String?] = [
            image.log.problem,
            image.onlineCPUs.contains(true) ? nil : "no CPU online",
            image.pages.problem(memoryBytes: memoryBytes, keyIDCount: layout.keyIDCount),
            image.heap.problem(pages: image.pages),
            image.processes.problem,
            image.keys.flatMap(Self.keysProblem),
            image.memory.flatMap {
                MemoryManager.problem(
                    $0,
                    pages: image.pages,
                    keyIDCount: layout.keyIDCount,
                    pids: Set(image.processes.processes.keys)
                )
            },
        ]
        if let problem = problems.compactMap({ $0 }).first {
            throw HWKeysError(.EIO, "kernel state is inconsistent: \(problem)")
        }
        let kernel = Kernel(
            platform: platform,
            commandLine: try KernelCommandLine(image.commandLine),
            bootTime: image.bootTime,
            layout: layout,
            tmeActive: image.tmeActive,
            resumeDevice: image.version >= 2 ? image.resumeDevice : SwapHibernation.legacyDeviceName
        )
        kernel.log = image.log
        kernel.onlineCPUs = image.onlineCPUs
        kernel.pages = image.pages
        kernel.heap = image.heap
        kernel.processes = image.processes
        if let saved = image.keys { try kernel.keys.restore(saved) }
        if let saved = image.memory { kernel.memoryManager.restore(saved) }
        if let saved = image.keyLocker { try kernel.keyLockerManager.restore(saved) }
        if let saved = image.crypt { try kernel.crypt.restore(saved) }
        kernel.registerCoreSysfs()
        try kernel.startSubsystems(booting: false)
        if let saved = image.mktme { try kernel.mktme?.restore(saved) }
        return kernel
    }

    /// The numbers of a saved key service that its code does arithmetic on, checked as the sysctls and key
    /// types bound them (limits 0/1…Int32.max, `/proc/sys/kernel/keys/*`; payload lengths 0…1 MiB, the
    /// largest `add_key` payload plus keyring link bytes) so that quota sums and the collector's delay cannot
    /// overflow or go negative. (Keyring links and references are checked by the key service's own restore.)
    static func keysProblem(_ saved: KeyRetentionService.SavedState) -> String? {
        let limits = saved.limits
        let limit = Int64(Int32.max)
        guard (0...limit).contains(limits.gcDelay),
            [limits.maxKeys, limits.maxBytes, limits.rootMaxKeys, limits.rootMaxBytes].allSatisfy({
                (1...limit).contains($0)
            })
        else { return "key limits out of range" }
        for key in saved.keys
        where !(0...(1 << 20)).contains(key.payload.dataLength) || key.description.utf8.count > 4096 {
            return "key \(key.serial) payload length \(key.payload.dataLength)"
        }
        return nil
    }

    // MARK: Core sysfs

    private func registerCoreSysfs() {
        for cpu in 0..<processors.count {
            sysfs.register(
                "/sys/devices/system/cpu/cpu\(cpu)/online",
                SysfsAttribute(
                    read: { kernel in kernel.onlineCPUs[cpu] ? "1" : "0" },
                    write: { (kernel: Kernel, text: String) throws(HWKeysError) in
                        switch text.trimmingCharacters() {
                        case "0": try kernel.setCPU(cpu, online: false)
                        case "1": try kernel.setCPU(cpu, online: true)
                        default: throw .einval("write 0 or 1")
                        }
                    }
                )
            )
        }
        sysfs.register(
            "/sys/devices/system/cpu/online",
            SysfsAttribute(read: { kernel in Self.cpuList(kernel.onlineCPUs) })
        )
        sysfs.register("/proc/cmdline", SysfsAttribute(read: { kernel in kernel.commandLine.raw }))
        sysfs.register(
            "/proc/uptime",
            SysfsAttribute(read: { kernel in
                let centis = kernel.uptime / 10_000_000
                return "\(centis / 100).\(String(format: "%02d", Int(centis % 100)))"
            })
        )
        sysfs.register(
            "/proc/meminfo",
            SysfsAttribute(read: { kernel in
                "MemTotal: \(kernel.pages.totalFrames * 4) kB\nMemFree: \(kernel.pages.freeFrames * 4) kB\n"
                    + "KernelHeap: \(kernel.heap.bytesInUse / 1024) kB"
            })
        )
    }

    /// `0-3,5` style CPU list.
    static func cpuList(_ online: [Bool]) -> String {
        var ranges: [String] = []
        var start: Int?
        for index in 0...online.count {
            let isOn = index < online.count && online[index]
            if isOn, start == nil { start = index }
            if !isOn, let first = start {
                ranges.append(first == index - 1 ? "\(first)" : "\(first)-\(index - 1)")
                start = nil
            }
        }
        return ranges.joined(separator: ",")
    }

    // MARK: CPU hotplug

    /// Subsystems that take part in CPU hotplug (the MKTME lead-CPU rule, Key Locker restore).
    var hotplugParticipants: [any CPUHotplugParticipant] = []
    /// Subsystems that take part in suspend and resume.
    var powerParticipants: [any PowerParticipant] = []

    /// Brings `cpu` online or offline (`cpu online|offline N`, sysfs `online`). Participants may refuse
    /// (EBUSY) before anything changes. The last online CPU cannot go offline.
    public func setCPU(_ cpu: Int, online: Bool) throws(HWKeysError) {
        guard onlineCPUs.indices.contains(cpu) else { throw HWKeysError(.ENODEV, "no CPU \(cpu)") }
        guard onlineCPUs[cpu] != online else { return }
        if online {
            for participant in hotplugParticipants { try participant.cpuComingOnline(cpu) }
            onlineCPUs[cpu] = true
            printk("smpboot", "CPU\(cpu) is now online")
        } else {
            guard onlineCPUs.filter({ $0 }).count > 1 else {
                throw HWKeysError(.EBUSY, "CPU\(cpu) is the last online CPU")
            }
            for participant in hotplugParticipants { try participant.cpuGoingOffline(cpu) }
            onlineCPUs[cpu] = false
            printk("smpboot", "CPU\(cpu) is now offline")
        }
    }
}

/// A subsystem with a say in CPU hotplug.
public protocol CPUHotplugParticipant: AnyObject {
    /// Called before `cpu` goes offline; throw (EBUSY) to refuse.
    func cpuGoingOffline(_ cpu: Int) throws(HWKeysError)
    /// Called before `cpu` comes online (its hardware state is fresh); throw to refuse.
    func cpuComingOnline(_ cpu: Int) throws(HWKeysError)
}
