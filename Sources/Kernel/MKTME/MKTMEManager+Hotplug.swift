//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

import HWKeysBase
import KernelInterfaces
import X86

/// CPU hotplug (docs/contract.md §6; RFC v2 12/13 `mktme_cpu_teardown`/`mktme_cpu_online`).
///
/// Key tables belong to the packages' memory controllers and survive a package's CPUs going offline
/// (hwkeys parks offline CPUs; Platform never empties a table on offline). Offlining the last CPU of a
/// package is refused while any KeyID is live, so a package comes back online with no live KeyID that
/// was programmed on it: every live KeyID was taken while it had no lead CPU and skipped there. Onlining
/// programs those — which is what "reprogram every live KeyID" amounts to on this hardware
/// (docs/choices.md).
extension MKTMEManager: CPUHotplugParticipant {
    /// EBUSY when `cpu` is its package's last online CPU and any KeyID is live (the package could not be
    /// programmed any more); otherwise the next online CPU of the package becomes its lead.
    public func cpuGoingOffline(_ cpu: Int) throws(HWKeysError) {
        let package = kernel.platform.package(ofCPU: cpu)
        let others = kernel.onlineCPUs.indices.contains {
            $0 != cpu && kernel.onlineCPUs[$0] && kernel.platform.package(ofCPU: $0) == package
        }
        guard others || liveKeyIDs.isEmpty else {
            throw HWKeysError(
                .EBUSY,
                "CPU\(cpu) is the last online CPU of package \(package) and \(liveKeyIDs.count) KeyID(s) are programmed"
            )
        }
    }

    /// When `cpu` is the first CPU of its package to come online, programs every live KeyID on that
    /// package through it: random keys afresh, user keys from the `mktme_savekeys` store.
    ///
    /// - Throws: ENOKEY (checked before anything is programmed) when a live user key was not saved, or when
    ///   PCONFIG fails; the CPU then stays offline.
    public func cpuComingOnline(_ cpu: Int) throws(HWKeysError) {
        let package = kernel.platform.package(ofCPU: cpu)
        guard kernel.leadCPU(ofPackage: package) == nil else { return }
        let live = liveKeyIDs
        guard !live.isEmpty else { return }
        if let lost = unrecoverableKeyIDs.first {
            throw HWKeysError(
                .ENOKEY,
                "package \(package) cannot be brought online: KeyID \(lost) holds a user key that was not saved (mktme_savekeys)"
            )
        }
        for keyID in live {
            try reprogram(keyID, packages: [package], cpu: kernel.processors[cpu])
        }
        kernel.printk("mktme", "package \(package) online: \(live.count) KeyID(s) programmed through CPU\(cpu)")
    }
}

/// Suspend and resume (docs/contract.md §4 table and its choice, §6).
extension MKTMEManager: PowerParticipant {
    /// Whether firmware keeps the key tables across S3 (`IA32_TME_ACTIVATE[3]`, save key for standby).
    var standbyKeepsKeys: Bool {
        guard let activate = try? kernel.cpu.rdmsr(MSR.tmeActivate) else { return false }
        return activate & TMEActivate.saveKeyForStandby != 0
    }

    /// S3 without "save key for standby": EBUSY while a random key is live (its memory could not be
    /// decrypted after resume) or a user key is live without a saved copy. S4: EBUSY while a user key is
    /// live without a saved copy (the image of its memory could not be read back); random keys are simply
    /// programmed afresh before the image restores their memory through their aliases.
    public func prepareForSleep(_ state: SleepState) throws(HWKeysError) {
        switch state {
        case .suspendToRAM:
            guard !standbyKeepsKeys else { return }
            let random = liveKeyIDs.filter { entries[Int($0)].command == .setKeyRandom }
            if let keyID = random.first {
                throw HWKeysError(
                    .EBUSY,
                    "KeyID \(keyID) holds a CPU-generated key and firmware does not save keys for standby"
                )
            }
            if let keyID = unrecoverableKeyIDs.first {
                throw HWKeysError(.EBUSY, "KeyID \(keyID) holds a user key that was not saved (mktme_savekeys)")
            }
        case .hibernate:
            if let keyID = unrecoverableKeyIDs.first {
                throw HWKeysError(.EBUSY, "KeyID \(keyID) holds a user key that was not saved (mktme_savekeys)")
            }
        }
    }

    /// Reprograms every live KeyID on every package unless firmware kept the tables (S3 with save key for
    /// standby). From S4 the hibernation image has already restored kernel memory, the key store included.
    public func resumed(from state: SleepState) throws(HWKeysError) {
        if state == .suspendToRAM, standbyKeepsKeys { return }
        let live = liveKeyIDs
        for keyID in live { try reprogram(keyID) }
        if !live.isEmpty { kernel.printk("mktme", "\(live.count) KeyID(s) programmed again after \(state.rawValue)") }
    }
}
