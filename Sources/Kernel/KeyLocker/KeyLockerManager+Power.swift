//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase
import KernelInterfaces
import X86

/// Resume and hotplug (docs/contract.md §4, §7; Intel v9 `restore_keylocker()` and `setup_keylocker()`,
/// docs/research/keylocker-research.md §2.4): S3 and S4 clear CR4 and IWKey on every CPU; a CPU coming online starts
/// without IWKey. The mode decides how it comes back; any failure soft-disables Key Locker.
extension KeyLockerManager: PowerParticipant, CPUHotplugParticipant {
    public func prepareForSleep(_ state: SleepState) throws(HWKeysError) {}

    /// Restores IWKey on every online CPU after S3/S4 (the kernel's memory is intact, from S4 restored
    /// from the image). Never throws: a failed restore soft-disables instead (the resume itself goes on).
    public func resumed(from state: SleepState) throws(HWKeysError) {
        guard let mode, softDisabledReason == nil else { return }
        let started = kernel.now
        let cpus = onlineCPUIndices
        do {
            try reload(mode, onCPUs: cpus, event: "resume from \(state.rawValue)")
        } catch {
            softDisable(error.message)
            return
        }
        kernel.printk(
            "keylocker",
            "IWKey restored on \(cpus.count) CPU(s) after \(state.rawValue) (\(restoreMethod(mode))): "
                + "\(kernel.now &- started) ns"
        )
    }

    public func cpuGoingOffline(_ cpu: Int) throws(HWKeysError) {}

    /// A CPU coming online gets IWKey per the mode; `native_kernel_key_norestore` refuses (EBUSY) because
    /// nothing can give the CPU the key the others have. A failed restore soft-disables and lets the CPU
    /// come online (as Linux v9 does).
    public func cpuComingOnline(_ cpu: Int) throws(HWKeysError) {
        guard let mode, softDisabledReason == nil else { return }
        if mode.restore == .none {
            throw HWKeysError(
                .EBUSY,
                "CPU\(cpu) cannot get the \(mode.rawValue) IWKey (it was never kept); refusing to online it"
            )
        }
        let started = kernel.now
        do {
            try reload(mode, onCPUs: [cpu], event: "CPU\(cpu) online")
        } catch {
            softDisable(error.message)
            return
        }
        kernel.printk(
            "keylocker",
            "IWKey loaded on CPU\(cpu) coming online (\(restoreMethod(mode))): \(kernel.now &- started) ns"
        )
    }

    private func restoreMethod(_ mode: KeyLockerMode) -> String {
        switch mode.restore {
        case .remembered: "LOADIWKEY from the remembered key"
        case .platformBackup: "platform backup restore"
        case .none: "none"
        }
    }

    /// Sets CR4.KL and brings IWKey back on `cpus`.
    private func reload(_ mode: KeyLockerMode, onCPUs cpus: [Int], event: String) throws(HWKeysError) {
        let processors = cpus.map { kernel.processors[$0] }
        switch mode.restore {
        case .none:
            throw HWKeysError(.ENODEV, "\(event): the \(mode.rawValue) IWKey is lost (it was never kept)")
        case .remembered:
            guard let allocation = rememberedKey else {
                throw HWKeysError(.ENODEV, "\(event): no remembered IWKey in kernel memory")
            }
            let key = kernel.readKernelMemory(allocation)
            defer { key.wipe() }
            for cpu in processors {
                try setCR4KL(true, on: cpu)
                try loadSoftwareKey(key, eax: 0, on: cpu)
            }
        case .platformBackup:
            // Like v9 on the boot CPU: check the backup's status before copying.
            let status = try hardware { () throws(X86Fault) in try kernel.cpu.rdmsr(MSR.iwKeyBackupStatus) }
            guard status & BackupStatus.valid != 0 else {
                throw HWKeysError(
                    .ENODEV,
                    status & BackupStatus.storageError != 0
                        ? "\(event): IWKey backup storage read error (IA32_IWKEYBACKUP_STATUS = 0x\(String(status, radix: 16)))"
                        : "\(event): no valid IWKey backup (IA32_IWKEYBACKUP_STATUS = 0x\(String(status, radix: 16)))"
                )
            }
            for cpu in processors {
                try setCR4KL(true, on: cpu)
                try restoreFromBackup(on: cpu)
            }
        }
    }
}
