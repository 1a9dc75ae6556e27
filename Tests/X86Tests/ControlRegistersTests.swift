//===----------------------------------------------------------------------===//
//
// hwkeys: X86Tests
//
//===----------------------------------------------------------------------===//

import Testing
import X86

/// CR4 bits: docs/contract.md §3 "CR4.KL is bit 19"; docs/research/keylocker-research.md §1.1.
@Suite struct ControlRegistersTests {
    @Test func cr4KeyLockerIsBit19() {
        #expect(CR4.keyLocker == 0x0008_0000)
        #expect(CR4.keyLocker.nonzeroBitCount == 1)
        #expect(CR4.keyLocker.trailingZeroBitCount == 19)
    }
}
