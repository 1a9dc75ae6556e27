//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase
import X86

/// The kernel's Key Locker manager (docs/contract.md §7): decides when and how IWKey is loaded on each CPU, brings
/// it back after S3/S4 and on CPU hotplug, and soft-disables Key Locker when that fails.
///
/// Two policies (`keylocker.policy=`): **admin** (Lutomirski's proposal, docs/research/keylocker-research.md §3.3) leaves
/// CR4.KL clear at boot until root writes a mode to `/sys/kernel/keylocker/mode`; **boot** (Intel's v9
/// series, §2.2) loads a kernel-random key on every CPU at boot, backs it up and wipes it.
///
/// Secrets: a software IWKey exists on the host side only in a transient `SecretBytes`; in
/// `native_kernel_key_remember` mode it is kept in kernel memory (emulated DRAM, the kernel heap) and
/// freed with `kfree_sensitive` when the mode changes. The saved state holds only where that memory is.
public final class KeyLockerManager {
    unowned let kernel: Kernel

    /// The current mode; nil while Key Locker is not initialized (`mode` reads `disabled`).
    public private(set) var mode: KeyLockerMode?
    /// Set when a restore failed (soft-disable, docs/contract.md §7); stays until reboot.
    public private(set) var softDisabledReason: String?
    /// Where the remembered IWKey (encryption key 32 bytes ‖ integrity key 16 bytes) lives in kernel
    /// memory; only in `native_kernel_key_remember` mode.
    public private(set) var rememberedKey: KernelAllocation?

    /// LOADIWKEY KeySource 1 attempts before giving up (like Linux's RDRAND/PCONFIG retry loops).
    static let randomRetries = 10
    /// How long (emulated) the kernel polls `IA32_IWKEYBACKUP_STATUS` for a backup to become valid.
    static let backupTimeoutNanoseconds: UInt64 = 100_000_000

    init(kernel: Kernel) {
        self.kernel = kernel
    }

    /// `/sys/kernel/keylocker/status`.
    public var status: KeyLockerStatus {
        if softDisabledReason != nil { return .invalid }
        return mode == nil ? .disabled : .valid
    }

    // MARK: Hardware enumeration (CPUID.(7,0):ECX[23], CPUID.19H; docs/contract.md §3)

    /// What CPUID.19H reports about the Key Locker features the kernel may use.
    struct Capabilities {
        var present: Bool
        var cpl0Restriction: Bool
        var backup: Bool
        var noBackup: Bool
        var random: Bool
    }

    var capabilities: Capabilities {
        let cpu = kernel.cpu
        let present = cpu.cpuid(leaf: CPUIDLeaf.structuredExtendedFeatures, subleaf: 0).ecx & CPUIDBit.keyLockerECX != 0
        guard present else {
            return Capabilities(present: false, cpl0Restriction: false, backup: false, noBackup: false, random: false)
        }
        let leaf = cpu.cpuid(leaf: CPUIDLeaf.keyLockerLeaf, subleaf: 0)
        return Capabilities(
            present: true,
            cpl0Restriction: leaf.eax & CPUIDBit.klCPL0OnlyEAX != 0,
            backup: leaf.ebx & CPUIDBit.klBackupEBX != 0,
            noBackup: leaf.ecx & CPUIDBit.klNoBackupECX != 0,
            random: leaf.ecx & CPUIDBit.klRandomECX != 0
        )
    }

    /// Why `mode` cannot be used on this hardware, or nil if it can.
    func unsupportedReason(_ mode: KeyLockerMode) -> String? {
        let caps = capabilities
        switch mode {
        case .nativeRandomKey:
            if !caps.random { return "no random IWKey support (CPUID.19H:ECX[1] = 0)" }
            if !caps.backup {
                return "a random IWKey reaches the other CPUs only through the backup (CPUID.19H:EBX[4] = 0)"
            }
        case .nativeKernelKeyBackup, .boot:
            if !caps.backup { return "no IWKey backup (CPUID.19H:EBX[4] = 0)" }
        case .nativeKernelKeyNorestore:
            if !caps.noBackup { return "no NoBackup IWKeys (CPUID.19H:ECX[0] = 0)" }
        case .nativeKernelKeyRemember:
            break
        case .paravirtAny, .paravirtRandom:
            return kernel.runsUnderHypervisor
                ? "no paravirtual Key Locker interface exists yet" : "paravirt modes need a hypervisor (bare metal)"
        }
        return nil
    }

    /// `/sys/kernel/keylocker/modes_supported`: what the mode file can read.
    public var modesSupported: [KeyLockerMode] {
        switch kernel.commandLine.keyLockerPolicy {
        case .admin: KeyLockerMode.adminModes.filter { unsupportedReason($0) == nil }
        case .boot: unsupportedReason(.boot) == nil ? [.boot] : []
        }
    }

    // MARK: Start-up

    /// Registers sysfs, power and hotplug; on boot under `keylocker.policy=boot` loads the key.
    func start(booting: Bool) {
        guard capabilities.present else {
            if booting { kernel.printk("keylocker", "not supported by the CPU") }
            return
        }
        kernel.keyLocker = self
        kernel.powerParticipants.append(self)
        kernel.hotplugParticipants.append(self)
        registerSysfs()
        guard booting else { return }
        switch kernel.commandLine.keyLockerPolicy {
        case .admin:
            kernel.printk("keylocker", "policy admin: not initialized; write a mode to /sys/kernel/keylocker/mode")
        case .boot:
            bootInitialize()
        }
    }

    /// Intel v9 `init_keylocker()`: bare metal only, needs the CPL0-only restriction and the backup.
    private func bootInitialize() {
        let caps = capabilities
        if kernel.runsUnderHypervisor {
            kernel.printk("keylocker", "disabled: running under a hypervisor")
            return
        }
        guard caps.cpl0Restriction else {
            kernel.printk("keylocker", "disabled: no CPL0-only handle restriction (CPUID.19H:EAX[0] = 0)")
            return
        }
        if let reason = unsupportedReason(.boot) {
            kernel.printk("keylocker", "disabled: \(reason); suspend and CPU hotplug need it")
            return
        }
        do {
            try initialize(.boot)
            kernel.printk("keylocker", "policy boot: kernel-random IWKey loaded on every CPU, backed up, wiped")
        } catch {
            for cpu in onlineCPUIndices { try? setCR4KL(false, on: kernel.processors[cpu]) }
            kernel.printk("keylocker", "disabled: \(error.message)")
        }
    }

    // MARK: The kernel users' view (KeyLockerService)

    /// True while some Key Locker user holds handles (mode changes are EBUSY then).
    var usersHoldHandles: Bool { kernel.keyLockerUsers.contains { $0.holdsKeyLockerHandles } }

    // MARK: Mode changes (sysfs)

    /// Writes `/sys/kernel/keylocker/mode`: `disabled` or an admin mode. Checks everything before any
    /// hardware changes: EINVAL unknown mode, EPERM under `keylocker.policy=boot`, ENODEV after a
    /// soft-disable, EOPNOTSUPP when the hardware lacks what the mode needs, EBUSY while users hold handles,
    /// EIO when the backup storage reports an error. Writing the current mode again re-keys
    /// (docs/choices.md).
    public func setMode(_ text: String) throws(HWKeysError) {
        let word = text.trimmingCharacters()
        let target: KeyLockerMode?
        if word == "disabled" {
            target = nil
        } else if let mode = KeyLockerMode(rawValue: word), KeyLockerMode.adminModes.contains(mode) {
            target = mode
        } else {
            throw .einval(
                "unknown Key Locker mode '\(word)'; one of: disabled "
                    + KeyLockerMode.adminModes.map(\.rawValue).joined(separator: " ")
            )
        }
        guard kernel.commandLine.keyLockerPolicy == .admin else {
            throw .eperm("keylocker.policy=boot fixes the Key Locker key at boot")
        }
        if let reason = softDisabledReason {
            throw HWKeysError(.ENODEV, "Key Locker is soft-disabled until reboot (\(reason))")
        }
        if let target, let reason = unsupportedReason(target) {
            throw HWKeysError(.EOPNOTSUPP, "\(target.rawValue): \(reason)")
        }
        if mode != nil, usersHoldHandles {
            throw HWKeysError(.EBUSY, "Key Locker users hold handles under the current IWKey")
        }
        if let target, target.restore == .platformBackup {
            let status = try hardware { () throws(X86Fault) in try kernel.cpu.rdmsr(MSR.iwKeyBackupStatus) }
            if status & BackupStatus.storageError != 0 {
                throw HWKeysError(.EIO, "IWKey backup storage reports a read/write error")
            }
        }
        // Validated: tear the old mode down, then bring the new one up.
        let previous = mode
        forgetRememberedKey()
        mode = nil
        guard let target else {
            for cpu in onlineCPUIndices { try? setCR4KL(false, on: kernel.processors[cpu]) }
            kernel.printk("keylocker", "disabled by the administrator (was \(previous?.rawValue ?? "disabled"))")
            return
        }
        do {
            try initialize(target)
        } catch {
            for cpu in onlineCPUIndices { try? setCR4KL(false, on: kernel.processors[cpu]) }
            forgetRememberedKey()
            mode = nil
            kernel.printk("keylocker", "\(target.rawValue) failed: \(error.message); Key Locker disabled")
            throw error
        }
        kernel.printk(
            "keylocker",
            previous == target
                ? "\(target.rawValue): re-keyed on \(onlineCPUIndices.count) CPU(s)"
                : "mode \(target.rawValue) initialized on \(onlineCPUIndices.count) CPU(s)"
        )
    }

    /// Loads IWKey on every online CPU for `target` and sets ``mode``; each CPU must show AESKLE once CR4.KL
    /// is set (``enableKeyLocker(on:)``).
    private func initialize(_ target: KeyLockerMode) throws(HWKeysError) {
        let cpus = onlineCPUIndices.map { kernel.processors[$0] }
        switch target {
        case .nativeRandomKey:
            let first = kernel.cpu
            try enableKeyLocker(on: first)
            try loadRandomKey(on: first)
            try backUp(from: first)
            for cpu in cpus where cpu !== first {
                try enableKeyLocker(on: cpu)
                try restoreFromBackup(on: cpu)
            }
        case .nativeKernelKeyRemember, .nativeKernelKeyBackup, .nativeKernelKeyNorestore, .boot:
            let key = try generateKey()
            defer { key.wipe() }
            let eax: UInt32 = target == .nativeKernelKeyNorestore ? KeyLockerEncoding.loadNoBackup : 0
            for cpu in cpus {
                try enableKeyLocker(on: cpu)
                try loadSoftwareKey(key, eax: eax, on: cpu)
            }
            if target == .nativeKernelKeyRemember {
                rememberedKey = try kernel.storeInKernelMemory(key)
            }
            if target.restore == .platformBackup { try backUp(from: kernel.cpu) }
        case .paravirtAny, .paravirtRandom:
            throw HWKeysError(.EOPNOTSUPP, "\(target.rawValue): no paravirtual Key Locker interface")
        }
        mode = target
    }

    /// `kfree_sensitive` of the remembered key.
    private func forgetRememberedKey() {
        if let allocation = rememberedKey { kernel.freeKernelMemory(allocation) }
        rememberedKey = nil
    }

    // MARK: Soft-disable

    /// A restore failed (docs/contract.md §7; Intel v9 `valid_wrapping_key = false`): from now on `status` reads
    /// `invalid` and ``requireValid()`` throws ENODEV; nothing else changes until reboot.
    func softDisable(_ reason: String) {
        guard softDisabledReason == nil else { return }
        softDisabledReason = reason
        kernel.printk("keylocker", "\(reason); Key Locker soft-disabled until reboot (handles are dead)")
    }

    var onlineCPUIndices: [Int] { kernel.onlineCPUs.indices.filter { kernel.onlineCPUs[$0] } }

    // MARK: Sysfs

    private func registerSysfs() {
        kernel.sysfs.register(
            "/sys/kernel/keylocker/mode",
            SysfsAttribute(
                read: { kernel in kernel.keyLockerManager.mode?.rawValue ?? "disabled" },
                write: { (kernel: Kernel, text: String) throws(HWKeysError) in
                    try kernel.keyLockerManager.setMode(text)
                }
            )
        )
        kernel.sysfs.register(
            "/sys/kernel/keylocker/status",
            SysfsAttribute(read: { kernel in kernel.keyLockerManager.status.rawValue })
        )
        kernel.sysfs.register(
            "/sys/kernel/keylocker/modes_supported",
            SysfsAttribute(read: { kernel in
                kernel.keyLockerManager.modesSupported.map(\.rawValue).joined(separator: " ")
            })
        )
    }

    // MARK: Persistence

    /// The saved form: the mode, the soft-disable reason and where the remembered key is (never its bytes).
    struct SavedState: Codable {
        var mode: KeyLockerMode?
        var softDisabledReason: String?
        var rememberedKey: KernelAllocation?
    }

    func savedState() -> SavedState {
        SavedState(mode: mode, softDisabledReason: softDisabledReason, rememberedKey: rememberedKey)
    }

    func restore(_ saved: SavedState) throws(HWKeysError) {
        guard saved.rememberedKey == nil || saved.mode == .nativeKernelKeyRemember,
            saved.rememberedKey.map({ $0.length == 48 }) ?? true
        else { throw .einval("Key Locker state: a remembered key outside remember mode") }
        mode = saved.mode
        softDisabledReason = saved.softDisabledReason
        rememberedKey = saved.rememberedKey
    }
}

extension KeyLockerManager: KeyLockerService {
    public func requireValid() throws(HWKeysError) {
        switch status {
        case .valid: return
        case .disabled: throw HWKeysError(.ENODEV, "Key Locker is not initialized")
        case .invalid:
            throw HWKeysError(.ENODEV, "Key Locker is soft-disabled: \(softDisabledReason ?? "restore failed")")
        }
    }
}
