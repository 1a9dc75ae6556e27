//===----------------------------------------------------------------------===//
//
// hwkeys: Workspace
//
//===----------------------------------------------------------------------===//

import HWKeysBase
import Kernel
import KernelInterfaces
import Platform

extension RequestContext {
    /// A power action on the target machine: the kernel's part (when a kernel runs) around the
    /// hardware's (docs/contract.md §4).
    ///
    /// - Returns: The power state before the action.
    /// - Throws: `EHOSTDOWN`/`EINVAL` for a transition the hardware refuses, the kernel's refusal (e.g.
    ///   `EBUSY` while keys in use would be lost).
    @discardableResult
    public func powerTransition(_ action: PowerAction) throws(HWKeysError) -> PowerState {
        let loaded = try entry(machineName)
        let machine = loaded.machine
        let before = machine.powerState
        let kernel = loaded.kernelIsRunning ? try self.kernel() : loaded.kernel
        switch action {
        case .off:
            try machine.power(.off)
            stopKernel(loaded)
        case .on:
            try machine.power(.on)
            try resumeOrBootKernel(loaded)
        case .reset:
            try machine.power(.reset)
            try bootKernelIfConfigured(loaded)
        case .suspend:
            try kernel?.prepareForSleep(.suspendToRAM)
            try machine.power(.suspend)
        case .hibernate:
            try kernel?.prepareForSleep(.hibernate)
            try machine.power(.hibernate)
            // The kernel's memory and state are in the hibernation image now; RAM is gone with the power.
            if kernel != nil { stopKernel(loaded) }
        case .resume:
            try machine.power(.resume)
            // The suspended kernel's state was saved by an earlier request: restore it now that the
            // machine runs again (``kernel()`` needs a running machine).
            var suspended = kernel
            if suspended == nil, before == .suspended, loaded.pendingKernelState != nil {
                suspended = try self.kernel()
            }
            if before == .suspended, let kernel = suspended {
                try kernel.resumed(from: .suspendToRAM)
            } else {
                try resumeOrBootKernel(loaded)
            }
        }
        return before
    }

    /// After power-on or wake from S4: resumes the kernel from a valid hibernation image on the swap disk
    /// (Linux's `software_resume()`), or boots a fresh one. The choice is the image's, not the action's:
    /// `power on` after `power hibernate` resumes too, as Linux does at the next boot
    /// (docs/hibernation.md). A resume that fails is abandoned the way Linux recovers: the image is
    /// discarded, the platform is reset (its half-restored hardware state dropped) and a fresh kernel boots
    /// and logs why.
    private func resumeOrBootKernel(_ loaded: LoadedMachine) throws(HWKeysError) {
        loaded.kernel = nil
        loaded.pendingKernelState = nil
        let machine = loaded.machine
        guard machine.configuration.bootKernel else { return }
        // The booting kernel looks for the image on its `resume=` device.
        let commandLine = machine.configuration.effectiveKernelCommandLine
        do {
            if let resumed = try Kernel.resumeFromHibernation(platform: machine, commandLine: commandLine) {
                loaded.kernel = resumed
                loaded.kernelStopped = false
                return
            }
        } catch {
            Kernel.discardHibernationImage(on: machine, commandLine: commandLine)
            try machine.power(.reset)
            try bootKernelIfConfigured(loaded)
            loaded.kernel?.printk("PM", "Failed to load the hibernation image, recovering with a fresh boot: \(error)")
            return
        }
        try bootKernelIfConfigured(loaded)
    }
}
