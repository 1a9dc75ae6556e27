//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

import HWKeysBase
import KernelInterfaces
import X86

/// What TME means for the kernel's own memory across S3 (docs/contract.md §4, §12 "No silent loss").
extension Kernel {
    /// Why entering S3 now would lose memory that TME encrypts with the KeyID-0 key, or nil when nothing
    /// would be lost.
    ///
    /// Without "save key for standby" (`IA32_TME_ACTIVATE[3]`, MKTME spec 336907 §4.2.2) firmware draws a new
    /// TME key when it activates TME again at resume, and DRAM that self-refreshed through S3 then decrypts
    /// to garbage: every page table, key payload and process page stored under KeyID 0. Nothing is lost
    /// only where KeyID-0 data is stored as plaintext (``TMEExclude/excludes(_:mask:base:maxPhysAddr:)``):
    /// - TME absent (CPUID.(7,0):ECX[13] = 0), or `IA32_TME_ACTIVATE` not locked and enabled;
    /// - TME bypass (`IA32_TME_ACTIVATE[31]`);
    /// - every range of the memory map inside the exclusion range (`IA32_TME_EXCLUDE_MASK`/`_BASE`).
    ///
    /// KeyIDs ≥ 1 are the `mktme` subsystem's concern (``MKTMEManager/prepareForSleep(_:)``): random keys
    /// cannot be reprogrammed, user keys only from the `mktme_savekeys` store. KeyIDs that behave as KeyID 0
    /// (cleared, unprogrammed) are covered here.
    func tmeStandbyLoss() -> String? {
        let cpu = self.cpu
        guard cpu.cpuid(leaf: CPUIDLeaf.structuredExtendedFeatures, subleaf: 0).ecx & CPUIDBit.tmeECX != 0,
            let activate = try? cpu.rdmsr(MSR.tmeActivate),
            activate & (TMEActivate.lock | TMEActivate.enable) == TMEActivate.lock | TMEActivate.enable,
            activate & TMEActivate.saveKeyForStandby == 0,
            activate & TMEActivate.bypass == 0
        else { return nil }
        if let mask = try? cpu.rdmsr(MSR.tmeExcludeMask), let base = try? cpu.rdmsr(MSR.tmeExcludeBase) {
            let maxPhysAddr = keyIDLayout.maxPhysAddr
            // The mask is contiguous from the top, so a range is inside when its first and last byte are.
            let inside = platform.memoryMap.allSatisfy { range in
                range.isEmpty
                    || TMEExclude.excludes(range.lowerBound, mask: mask, base: base, maxPhysAddr: maxPhysAddr)
                        && TMEExclude.excludes(range.upperBound - 1, mask: mask, base: base, maxPhysAddr: maxPhysAddr)
            }
            if inside { return nil }
        }
        return "TME encrypts memory and firmware does not save key for standby (IA32_TME_ACTIVATE[3] = 0): "
            + "S3 would lose every page"
    }
}
