//===----------------------------------------------------------------------===//
//
// hwkeys: X86, the SDM vocabulary
//
//===----------------------------------------------------------------------===//

import HWKeysBase

extension HWKeysError {
    /// An architectural fault leaving the hardware layer (docs/design.md rule 2): code `#UD`, `#NM` or `#GP(0)`
    /// (vector and error code), message the guard that fired (``X86Fault/reason``).
    public init(_ fault: X86Fault) {
        self.init(fault.code, fault.reason)
    }
}
