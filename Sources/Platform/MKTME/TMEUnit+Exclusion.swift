//===----------------------------------------------------------------------===//
//
// hwkeys: Platform
//
//===----------------------------------------------------------------------===//

import X86

extension TMEUnit {
    /// WRMSR `IA32_TME_EXCLUDE_MASK` (983H) or `IA32_TME_EXCLUDE_BASE` (984H): MKTME spec 336907 §4.2.3–4.2.4,
    /// SDM Vol. 4 Table 2-2.
    ///
    /// #GP(0) when `IA32_TME_ACTIVATE` is locked, when a bit outside the register's fields is set (MASK:
    /// bit 11 enable and bits MAXPHYADDR-1:12; BASE: bits MAXPHYADDR-1:12), or when the mask is not a
    /// contiguous run of ones from bit MAXPHYADDR-1 downward.
    ///
    /// The range applies to KeyID 0 only (and to KeyIDs that behave as KeyID 0: cleared or unprogrammed):
    /// such traffic at a DRAM address with `(address & mask) == (base & mask)` is stored as plaintext. Other
    /// KeyIDs are encrypted regardless.
    func writeExclusion(_ msr: UInt32, _ value: UInt64) throws(X86Fault) {
        let name = msr == MSR.tmeExcludeMask ? "IA32_TME_EXCLUDE_MASK" : "IA32_TME_EXCLUDE_BASE"
        guard !isLocked else { throw .gp0("\(name) cannot be written once IA32_TME_ACTIVATE is locked") }
        let field = TMEExclude.addressField(maxPhysAddr: maxPhysAddr)
        let allowed = msr == MSR.tmeExcludeMask ? field | TMEExclude.enable : field
        guard value & ~allowed == 0 else {
            throw .gp0("\(name) reserved bits set (0x\(String(value & ~allowed, radix: 16)))")
        }
        if msr == MSR.tmeExcludeMask {
            guard TMEExclude.isContiguous(mask: value, maxPhysAddr: maxPhysAddr) else {
                throw .gp0("IA32_TME_EXCLUDE_MASK is not contiguous from bit \(maxPhysAddr - 1) downward")
            }
        }
        commitExclusion(msr, value)
    }
}
