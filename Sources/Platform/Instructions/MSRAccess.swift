//===----------------------------------------------------------------------===//
//
// hwkeys: Platform
//
//===----------------------------------------------------------------------===//

import X86

extension LogicalProcessor {
    /// RDMSR (SDM Vol. 2B): #GP(0) above CPL0 or for an MSR that does not exist on this machine — the TME MSRs
    /// 981H–984H exist only with CPUID.(7,0):ECX[13] (SDM Vol. 4 Table 2-2).
    public func rdmsr(_ msr: UInt32) throws(X86Fault) -> UInt64 {
        try requireCPL0("RDMSR")
        machine.charge(.msrAccess)
        switch msr {
        case MSR.tmeCapability, MSR.tmeActivate, MSR.tmeExcludeMask, MSR.tmeExcludeBase:
            try requireTME(msr, "RDMSR")
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
            try requireTME(msr, "WRMSR")
            try machine.tme.wrmsr(msr, value, machine: machine)
        case MSR.copyLocalToPlatform, MSR.copyPlatformToLocal, MSR.copyStatus, MSR.iwKeyBackupStatus:
            try writeKeyLockerMSR(msr, value)
        default:
            throw .gp0("WRMSR to unmodelled MSR 0x\(String(msr, radix: 16))")
        }
    }

    /// #GP(0) for a TME MSR on a CPU without TME (`--no-tme`).
    private func requireTME(_ msr: UInt32, _ instruction: String) throws(X86Fault) {
        guard machine.configuration.tmePresent else {
            throw .gp0("\(instruction) of 0x\(String(msr, radix: 16)): no TME (CPUID.(7,0):ECX[13] = 0)")
        }
    }
}
