//===----------------------------------------------------------------------===//
//
// hwkeys: Platform
//
//===----------------------------------------------------------------------===//

import X86

extension LogicalProcessor {
    /// A load through this package's cache (KeyID from the address bits).
    public func load(_ address: PhysicalAddress, into buffer: UnsafeMutableRawBufferPointer) {
        machine.memory.load(address, into: buffer, package: packageID, machine: machine)
    }

    /// A store through this package's cache (KeyID from the address bits).
    public func store(_ address: PhysicalAddress, from buffer: UnsafeRawBufferPointer) {
        machine.memory.store(address, from: buffer, package: packageID, machine: machine)
    }

    /// CLFLUSH (SDM Vol. 2A): write back the line of this exact alias if dirty, invalidate it everywhere.
    /// Allowed at any CPL.
    public func clflush(_ address: PhysicalAddress) {
        machine.charge(.clflush)
        machine.memory.clflush(address, machine: machine)
    }

    /// WBINVD (SDM Vol. 2B): #GP(0) above CPL0; writes back and invalidates this package's cache.
    public func wbinvd() throws(X86Fault) {
        try requireCPL0("WBINVD")
        machine.charge(.wbinvd)
        machine.memory.wbinvd(package: packageID, machine: machine)
    }
}
