//===----------------------------------------------------------------------===//
//
// hwkeys: Platform
//
//===----------------------------------------------------------------------===//

import X86

extension TMEUnit {
    /// WRMSR `IA32_TME_ACTIVATE` (982H): MKTME spec 336907 §4.2.2, Tables 4-2 and 4-3; docs/contract.md §2.
    ///
    /// Guards, in order (every failure is #GP(0) and changes nothing):
    /// 1. the register is locked: **any write after lock faults** (docs/contract.md choice: the MKTME spec's
    ///    Table 4-3 says #GP(0), the SDM says the write is ignored);
    /// 2. a reserved bit is set (bits 30:8, 47:36, 49, 51, 63:52: hwkeys models neither integrity
    ///    algorithms nor TDX KeyID partitioning); bit 0 (lock) is read-only and ignored in the value;
    /// 3. the TME policy (bits 7:4) names an algorithm `IA32_TME_CAPABILITY` does not enumerate;
    /// 4. MK_TME_KEYID_BITS > MK_TME_MAX_KEYID_BITS;
    /// 5. MK_TME_KEYID_BITS > 0 without TME enable;
    /// 6. key select = 1 (restore) with TME enable but no key saved for standby, or a saved key of another
    ///    algorithm than the policy (hwkeys choice; docs/mktme.md).
    ///
    /// A successful write sets the lock. With TME enable, key select = 0 makes every package's memory
    /// controller generate a fresh TME key from the machine's entropy and empties the MKTME key tables;
    /// key select = 1 puts the keys saved at S3 entry back into service. Without enable, TME stays off
    /// (locked off until the next power cycle).
    func writeActivate(_ value: UInt64, machine: Machine) throws(X86Fault) {
        guard !isLocked else {
            throw .gp0("IA32_TME_ACTIVATE is locked (MKTME spec Table 4-3: WRMSR after lock is #GP(0))")
        }
        let written = value & ~TMEActivate.lock
        guard written & ~TMEActivate.writableMask == 0 else {
            let bits = written & ~TMEActivate.writableMask
            throw .gp0("IA32_TME_ACTIVATE reserved bits set (0x\(String(bits, radix: 16)))")
        }
        let policyValue = TMEActivate.policy(written)
        guard let policy = TMEAlgorithm(rawValue: Int(policyValue)),
            capability & TMECapability.algorithmBit(policy) != 0
        else {
            throw .gp0("IA32_TME_ACTIVATE policy \(policyValue) is not enumerated in IA32_TME_CAPABILITY")
        }
        let keyIDBits = TMEActivate.keyIDBits(written)
        guard keyIDBits <= maxKeyIDBits else {
            throw .gp0("MK_TME_KEYID_BITS \(keyIDBits) exceeds MK_TME_MAX_KEYID_BITS \(maxKeyIDBits)")
        }
        let enable = written & TMEActivate.enable != 0
        guard keyIDBits == 0 || enable else { throw .gp0("MK_TME_KEYID_BITS > 0 without TME enable") }
        let restore = enable && written & TMEActivate.keySelect != 0
        if restore {
            guard let saved = machine.memory.standbyKeyAlgorithm else {
                throw .gp0("key select = 1 (restore) but no TME key was saved for standby")
            }
            guard saved == policy else {
                throw .gp0("key select = 1 restores an \(saved.name) TME key but the policy is \(policy.name)")
            }
        }

        commitActivate(written)
        if restore {
            machine.memory.restoreStandbyKeys()
        } else if enable {
            machine.memory.generateTMEKeys(policy: policy, entropy: machine.entropy)
        }
    }
}
