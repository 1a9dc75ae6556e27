//===----------------------------------------------------------------------===//
//
// hwkeys: Platform
//
//===----------------------------------------------------------------------===//

import X86

extension LogicalProcessor {
    /// RDMSR (SDM Vol. 2B): #GP(0) above CPL0 or for an MSR that does not exist on this machine.
    public func rdmsr(_ msr: UInt32) throws(X86Fault) -> UInt64 {
        try requireCPL0("RDMSR")
        machine.charge(.msrAccess)
        switch msr {
        case MSR.tmeCapability, MSR.tmeActivate, MSR.tmeExcludeMask, MSR.tmeExcludeBase:
            return try machine.tme.rdmsr(msr, machine: machine)
        case MSR.copyLocalToPlatform, MSR.copyPlatformToLocal, MSR.copyStatus, MSR.iwKeyBackupStatus:
            return try readKeyLockerMSR(msr)
        default:
            throw .gp0("RDMSR of unmodelled MSR 0x\(String(msr, radix: 16))")
        }
    }

    /// WRMSR (SDM Vol. 2B): #GP(0) above CPL0 or for an MSR that does not exist on this machine.
    public func wrmsr(_ msr: UInt32, _ value: UInt64) throws(X86Fault) {
        try requireCPL0("WRMSR")
        machine.charge(.msrAccess)
        switch msr {
        case MSR.tmeCapability, MSR.tmeActivate, MSR.tmeExcludeMask, MSR.tmeExcludeBase:
            try machine.tme.wrmsr(msr, value, machine: machine)
        case MSR.copyLocalToPlatform, MSR.copyPlatformToLocal, MSR.copyStatus, MSR.iwKeyBackupStatus:
            try writeKeyLockerMSR(msr, value)
        default:
            throw .gp0("WRMSR to unmodelled MSR 0x\(String(msr, radix: 16))")
        }
    }
}
