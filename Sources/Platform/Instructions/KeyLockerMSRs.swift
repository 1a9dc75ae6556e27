//===----------------------------------------------------------------------===//
//
// hwkeys: Platform
//
//===----------------------------------------------------------------------===//

import X86

extension LogicalProcessor {
    /// RDMSR of a Key Locker MSR (Key Locker spec 343965 Table 4-1, §4.4, §4.5; SDM Vol. 4; docs/contract.md §3).
    /// `rdmsr` has already checked CPL0.
    ///
    /// - `IA32_COPY_STATUS` (990H): bit 0 = this processor's last copy to or from IWKeyBackup succeeded.
    /// - `IA32_IWKEYBACKUP_STATUS` (991H): bit 0 backup valid, bit 2 storage read/write error, bit 3
    ///   backup consumed.
    ///
    /// - Throws: #GP(0) when Key Locker or its backup MSRs (CPUID.19H:EBX[4]) are absent, and for the
    ///   write-only `IA32_COPY_LOCAL_TO_PLATFORM` (D91H) and `IA32_COPY_PLATFORM_TO_LOCAL` (D92H).
    func readKeyLockerMSR(_ msr: UInt32) throws(X86Fault) -> UInt64 {
        try requireKeyLockerMSRs(msr)
        switch msr {
        case MSR.copyStatus:
            return keyLocker.copyStatus ? 1 : 0
        case MSR.iwKeyBackupStatus:
            return machine.iwKeyBackup.status(storageError: machine.faults.iwkeyBackupError)
        default:
            throw .gp0("RDMSR of write-only \(MSR.name(of: msr) ?? "MSR")")
        }
    }

    /// WRMSR of a Key Locker MSR (Key Locker spec 343965 Table 4-1; SDM Vol. 4; docs/contract.md §3). `wrmsr` has
    /// already checked CPL0.
    ///
    /// - `IA32_COPY_LOCAL_TO_PLATFORM` (D91H), bit 0 = 1: copy this processor's IWKey to IWKeyBackup.
    ///   Fails (`IA32_COPY_STATUS` = 0, backup unchanged) for a NoBackup IWKey or while a storage error is
    ///   injected; otherwise `IA32_COPY_STATUS` = 1 and the backup becomes valid (991H = 9H) after the
    ///   configured latency.
    /// - `IA32_COPY_PLATFORM_TO_LOCAL` (D92H), bit 0 = 1: copy IWKeyBackup to this processor's IWKey.
    ///   Without a valid, readable backup IWKey is unchanged and `IA32_COPY_STATUS` = 0 (no fault, as ACRN
    ///   PR #7034 reads the spec).
    /// - Writing 0 does nothing.
    ///
    /// - Throws: #GP(0) when Key Locker or its backup MSRs are absent, for bits 63:1, and for the read-only
    ///   `IA32_COPY_STATUS` and `IA32_IWKEYBACKUP_STATUS`.
    func writeKeyLockerMSR(_ msr: UInt32, _ value: UInt64) throws(X86Fault) {
        try requireKeyLockerMSRs(msr)
        switch msr {
        case MSR.copyLocalToPlatform, MSR.copyPlatformToLocal:
            guard value >> 1 == 0 else { throw .gp0("WRMSR \(MSR.name(of: msr)!): reserved bits 63:1 set") }
            guard value == 1 else { return }
            if msr == MSR.copyLocalToPlatform { backupIWKey() } else { restoreIWKey() }
        default:
            throw .gp0("WRMSR to read-only \(MSR.name(of: msr) ?? "MSR")")
        }
    }

    /// The four MSRs exist only with Key Locker and CPUID.19H:EBX[4] (docs/research/keylocker-research.md §1.1, ACRN's
    /// hidden-KL tests: every access #GP).
    private func requireKeyLockerMSRs(_ msr: UInt32) throws(X86Fault) {
        let config = machine.configuration
        guard config.keyLocker else { throw .gp0("\(MSR.name(of: msr) ?? "MSR") without Key Locker") }
        guard config.klBackup else {
            throw .gp0("\(MSR.name(of: msr) ?? "MSR") without CPUID.19H:EBX[4] (no IWKey backup MSRs)")
        }
    }

    private func backupIWKey() {
        machine.charge(.iwkeyBackup)
        guard !keyLocker.noBackup, !machine.faults.iwkeyBackupError else {
            keyLocker.copyStatus = false
            return
        }
        machine.iwKeyBackup.store(from: keyLocker, now: machine.nanoseconds)
        keyLocker.copyStatus = true
    }

    private func restoreIWKey() {
        machine.charge(.iwkeyRestore)
        guard machine.iwKeyBackup.readable(storageError: machine.faults.iwkeyBackupError) else {
            keyLocker.copyStatus = false
            return
        }
        machine.iwKeyBackup.restore(into: keyLocker)
        keyLocker.copyStatus = true
    }
}
