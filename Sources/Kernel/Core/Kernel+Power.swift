//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

import HWKeysBase
import KernelInterfaces
import X86

/// A subsystem with a say in suspend and resume (MKTME refuses unsafe S3, Key Locker restores IWKey).
public protocol PowerParticipant: AnyObject {
    /// Called before the platform sleeps; throw (e.g. EBUSY) to refuse before anything changes.
    func prepareForSleep(_ state: SleepState) throws(HWKeysError)
    /// Called after the platform woke with the kernel's memory intact.
    func resumed(from state: SleepState) throws(HWKeysError)
}

extension Kernel {
    /// The kernel's part of entering a sleep state: S3 is refused (EBUSY) when the TME key would not
    /// survive it (``tmeStandbyLoss()``); participants may refuse; for S4 the hibernation image is written;
    /// then every online CPU writes back its caches (ACPI requires OSPM to flush before S3) and the log
    /// records it.
    public func prepareForSleep(_ state: SleepState) throws(HWKeysError) {
        if state == .suspendToRAM, let loss = tmeStandbyLoss() {
            printk("PM", "suspend refused: \(loss)")
            throw HWKeysError(.EBUSY, loss)
        }
        if state == .hibernate, hibernation == nil {
            guard let name = resumeDevice else {
                throw HWKeysError(.EOPNOTSUPP, "hibernation needs a swap device for the image (resume=)")
            }
            // Linux's swsusp_write() → get_swap_writer() logs this when the resume device is missing.
            printk("PM", "Cannot find swap device, try swapon -a")
            throw HWKeysError(.EOPNOTSUPP, "hibernation needs a swap device: resume=\(name) names no disk")
        }
        for participant in powerParticipants { try participant.prepareForSleep(state) }
        if state == .hibernate { try hibernation?.write() }
        for (index, online) in onlineCPUs.enumerated() where online {
            // WBINVD at CPL0 cannot fault.
            try? processors[index].wbinvd()
        }
        printk("PM", "suspend entry (\(state == .suspendToRAM ? "deep" : "disk"))")
    }

    /// The kernel's part of waking up: participants restore what the hardware lost. From S4 the
    /// hibernation image restores kernel memory first and memory under other KeyIDs last
    /// (``HibernationImage``).
    public func resumed(from state: SleepState) throws(HWKeysError) {
        printk("PM", "resume from \(state.rawValue)")
        if state == .hibernate { try hibernation?.restoreKernelMemory() }
        for participant in powerParticipants { try participant.resumed(from: state) }
        if state == .hibernate { try hibernation?.restoreEncryptedMemory() }
    }
}
