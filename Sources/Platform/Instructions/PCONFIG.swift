//===----------------------------------------------------------------------===//
//
// hwkeys: Platform
//
//===----------------------------------------------------------------------===//

import HWCrypto
import X86

extension LogicalProcessor {
    /// PCONFIG (SDM Vol. 2B "PCONFIG—Platform Configuration", original generation; MKTME spec 336907 §6.2):
    /// EAX = leaf, RBX = the physical address (KeyID bits included) of `MKTME_KEY_PROGRAM_STRUCT`.
    ///
    /// Guards, in order:
    /// 1. #UD without PCONFIG (CPUID.(7,0):EDX[18] = 0) or above CPL0;
    /// 2. #GP(0) for a leaf other than 0 (MKTME_KEY_PROGRAM);
    /// 3. #GP(0) unless `IA32_TME_ACTIVATE` is locked with TME enabled and MK_TME_KEYID_BITS > 0;
    /// 4. #GP(0) when RBX is not 256-byte aligned, or the structure is not in DRAM (standing in for the
    ///    #GP/#PF of an inaccessible operand).
    ///
    /// The 192 bytes are then read **through this package's cache**, as any load (the kernel builds the
    /// structure in its memory), and ``Machine/mktmeKeyProgram(_:package:)`` programs this package's key
    /// table; its failures are returned in RAX/ZF, never thrown. Costs `pconfig` cycles.
    public func pconfig(leaf: UInt32, structure: PhysicalAddress) throws(X86Fault) -> PCONFIGResult {
        try pconfigGuards(leaf: leaf)
        guard structure.rawValue % MKTMEKeyProgramLayout.alignment == 0 else {
            throw .gp0("MKTME_KEY_PROGRAM_STRUCT at \(structure) is not 256-byte aligned")
        }
        let layout = machine.keyIDLayout
        let dramAddress = layout.stripKeyID(structure).rawValue
        guard structure.rawValue >> UInt64(layout.maxPhysAddr) == 0,
            machine.dram.contains(dramAddress, count: MKTMEKeyProgramLayout.size)
        else {
            throw .gp0("MKTME_KEY_PROGRAM_STRUCT at \(structure) is not in DRAM")
        }
        machine.charge(.pconfig)
        let bytes = SecretBytes(count: MKTMEKeyProgramLayout.size)
        bytes.withUnsafeMutableBytes { load(structure, into: $0) }
        return try bytes.withUnsafeBytes { (raw) throws(X86Fault) in
            try machine.mktmeKeyProgram(raw, package: packageID)
        }
    }

    /// PCONFIG with the structure given by value (its first 192 bytes): the debug monitor's form, which must
    /// not write the structure into emulated DRAM. Same guards as ``pconfig(leaf:structure:)`` except those
    /// about RBX (there is no address).
    public func pconfig(leaf: UInt32, structureBytes: UnsafeRawBufferPointer) throws(X86Fault) -> PCONFIGResult {
        precondition(structureBytes.count >= MKTMEKeyProgramLayout.size, "MKTME_KEY_PROGRAM_STRUCT is 192 bytes")
        try pconfigGuards(leaf: leaf)
        machine.charge(.pconfig)
        return try machine.mktmeKeyProgram(structureBytes, package: packageID)
    }

    private func pconfigGuards(leaf: UInt32) throws(X86Fault) {
        guard machine.configuration.pconfig else { throw .ud("PCONFIG is not supported (CPUID.(7,0):EDX[18] = 0)") }
        guard cpl == 0 else { throw .ud("PCONFIG at CPL\(cpl)") }
        guard leaf == PCONFIGLeaf.mktmeKeyProgram else { throw .gp0("PCONFIG leaf \(leaf) is not supported") }
        guard machine.tme.isActive, machine.keyIDLayout.keyIDBits > 0 else {
            throw .gp0("TME-MK is not active (IA32_TME_ACTIVATE not locked and enabled with MK_TME_KEYID_BITS > 0)")
        }
    }
}
