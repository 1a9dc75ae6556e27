//===----------------------------------------------------------------------===//
//
// hwkeys: X86, the SDM vocabulary
//
//===----------------------------------------------------------------------===//

/// CR4 bits that hwkeys models (SDM Vol. 3A §2.5). Only CR4.KL is modelled; CR4.OSFXSR, CR0.EM and
/// CR0.TS are treated as set the way an operating system leaves them (see docs/choices.md).
public enum CR4 {
    /// CR4.KL (bit 19): Key Locker enable. Setting it without Key Locker support is #GP(0).
    public static let keyLocker: UInt64 = 1 << 19
}
