//===----------------------------------------------------------------------===//
//
// hwkeys: Platform
//
//===----------------------------------------------------------------------===//

import X86

extension LogicalProcessor {
    /// PCONFIG (SDM Vol. 2B). Implemented with the MKTME hardware.
    public func pconfig(leaf: UInt32, structure: PhysicalAddress) throws(X86Fault) -> PCONFIGResult {
        throw .ud("PCONFIG is not implemented yet")
    }
}
