//===----------------------------------------------------------------------===//
//
// hwkeys: Platform
//
//===----------------------------------------------------------------------===//

import HWKeysBase
import X86

/// A power action as the `power` command names it.
public enum PowerAction: String, CaseIterable, Sendable {
    /// S5: power off (from running, suspended or hibernated).
    case off
    /// Cold boot from S5 (or from S4: the platform powers on; a kernel then resumes its image).
    case on
    /// Warm reset while running.
    case reset
    /// S3 entry.
    case suspend
    /// Wake from S3 or S4.
    case resume
    /// S4 entry (the kernel has written its image).
    case hibernate
}

/// The hardware effect of a power transition on each part (docs/contract.md §4).
public enum PowerTransition: Sendable, Hashable {
    /// S3 entry: caches written back then lost; IWKey lost on every CPU; TME and MKTME keys kept only if
    /// firmware set "save key for standby".
    case suspendToRAM
    /// S4 entry: caches lost; IWKey lost; TME/MKTME keys lost; IWKeyBackup kept.
    case hibernate
    /// S5: everything volatile lost; IWKeyBackup invalid.
    case powerOff
    /// Warm reset: IWKey and key tables lost, caches lost, IWKeyBackup and DRAM kept.
    case warmReset
    /// Firmware runs on the way back to S0: cold boot (new TME key) or resume from S3 (restores the
    /// saved TME key when "save key for standby" is set).
    case firmwareInit(fromStandby: Bool)
}

extension Machine {
    /// Applies the hardware side of a power action (docs/contract.md §4). The kernel's part (saving state,
    /// writing a hibernation image, refusing unsafe transitions) happens in Kernel before and after.
    public func power(_ action: PowerAction) throws(HWKeysError) {
        switch (action, powerState) {
        case (.off, .running), (.off, .suspended), (.off, .hibernated):
            apply(.powerOff)
            powerState = .off
        case (.on, .off), (.on, .hibernated), (.resume, .hibernated):
            apply(.firmwareInit(fromStandby: false))
            powerState = .running
        case (.reset, .running):
            apply(.warmReset)
            apply(.firmwareInit(fromStandby: false))
            powerState = .running
        case (.suspend, .running):
            apply(.suspendToRAM)
            powerState = .suspended
        case (.resume, .suspended):
            apply(.firmwareInit(fromStandby: true))
            powerState = .running
        case (.hibernate, .running):
            apply(.hibernate)
            powerState = .hibernated
        case (.off, .off):
            throw HWKeysError(.EINVAL, "the machine is already off")
        case (.on, _), (.resume, .running), (.resume, .off):
            throw HWKeysError(.EINVAL, "cannot \(action.rawValue): the machine is \(powerState.rawValue)")
        case (.reset, _), (.suspend, _), (.hibernate, _):
            throw HWKeysError(.EHOSTDOWN, "cannot \(action.rawValue): the machine is \(powerState.rawValue)")
        }
    }

    /// Fails unless the machine is running (instructions need a powered processor).
    public func requireRunning() throws(HWKeysError) {
        guard powerState == .running else {
            throw HWKeysError(.EHOSTDOWN, "the machine is \(powerState.rawValue); power it on or resume it first")
        }
    }

    private func apply(_ transition: PowerTransition) {
        // Order matters: caches are written back (S3) with the keys still in the tables.
        memory.powerTransition(transition, machine: self)
        tme.powerTransition(transition, machine: self)
        iwKeyBackup.powerTransition(transition, machine: self)
        for processor in processors { processor.powerTransition(transition) }
    }
}
