//===----------------------------------------------------------------------===//
//
// hwkeys: Platform
//
//===----------------------------------------------------------------------===//

import X86

extension LogicalProcessor {
    /// A load through this package's cache (KeyID from the address bits). Never faults: a read through the
    /// wrong KeyID returns garbage, a read beyond DRAM returns all ones.
    public func load(_ address: PhysicalAddress, into buffer: UnsafeMutableRawBufferPointer) {
        machine.memory.load(address, into: buffer, package: packageID, machine: machine)
    }

    /// A store through this package's cache (KeyID from the address bits). Stores beyond DRAM are dropped.
    public func store(_ address: PhysicalAddress, from buffer: UnsafeRawBufferPointer) {
        machine.memory.store(address, from: buffer, package: packageID, machine: machine)
    }

    /// CLFLUSH (SDM Vol. 2A): write back the line of this exact alias if dirty, invalidate it everywhere.
    /// Allowed at any CPL.
    public func clflush(_ address: PhysicalAddress) {
        machine.charge(.clflush)
        machine.memory.clflush(address, machine: machine)
    }

    /// CLFLUSHOPT (SDM Vol. 2A) over every line of `[address, address + length)`: charged as one `clflush`
    /// per line, written back in bulk. Allowed at any CPL.
    public func clflush(_ address: PhysicalAddress, length: Int) {
        guard length > 0 else { return }
        let first = address.rawValue >> 6
        let lines = Int(((address.rawValue &+ UInt64(length) &- 1) >> 6) &- first) &+ 1
        machine.charge(.clflush, count: UInt64(lines))
        machine.memory.clflush(address, lines: lines, machine: machine)
    }

    /// WBINVD (SDM Vol. 2B): #GP(0) above CPL0; writes back and invalidates this package's cache. Costs a
    /// fixed `wbinvd` plus `wbinvd_per_dirty_line` for each line written back.
    public func wbinvd() throws(X86Fault) {
        try requireCPL0("WBINVD")
        machine.charge(.wbinvd)
        machine.memory.wbinvd(package: packageID, machine: machine)
    }
}
