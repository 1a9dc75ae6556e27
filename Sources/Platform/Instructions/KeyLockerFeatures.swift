//===----------------------------------------------------------------------===//
//
// hwkeys: Platform
//
//===----------------------------------------------------------------------===//

import X86

/// What a Key Locker instruction needs before it may execute (its #UD conditions, SDM Vol. 2A).
///
/// Feature gating is data: each instruction starts with one `try require(…)`, and the conditions are read
/// from hwkeys' CPU model (the machine configuration, as copied into the processor's Key Locker unit) and
/// CR4, the same sources CPUID reports from.
enum KeyLockerFeature {
    /// LOADIWKEY: CPUID.(7,0):ECX.KL = 1 and CR4.KL = 1. (LOADIWKEY does not check AESKLE.)
    case keyLocker
    /// ENCODEKEY*, AESENC/DEC*KL: additionally CPUID.19H:EBX.AESKLE = 1.
    case aesKLE
    /// AESENCWIDE*/AESDECWIDE*KL: additionally CPUID.19H:EBX.WIDE_KL = 1.
    case wideKL
}

extension LogicalProcessor {
    /// CPUID.19H:EBX[0] AESKLE, which is dynamic: 1 only while Key Locker exists and CR4.KL = 1 (docs/contract.md §3;
    /// docs/research/keylocker-research.md §1.1). ``cpuid(leaf:subleaf:)`` reports the same value.
    var aesKLEnabled: Bool { keyLocker.features.present && cr4 & CR4.keyLocker != 0 }

    /// Throws the #UD a Key Locker instruction raises when `feature` is missing. CR0.EM, CR4.OSFXSR (#UD)
    /// and CR0.TS (#NM) are not modelled: they are treated as an OS leaves them (docs/choices.md).
    @inline(__always)
    func require(_ feature: KeyLockerFeature, _ mnemonic: @autoclosure () -> String) throws(X86Fault) {
        let features = keyLocker.features
        guard features.present else { throw .ud("\(mnemonic()): CPUID.(7,0):ECX.KL = 0") }
        guard cr4 & CR4.keyLocker != 0 else { throw .ud("\(mnemonic()): CR4.KL = 0") }
        switch feature {
        case .keyLocker:
            return
        case .aesKLE:
            guard aesKLEnabled else { throw .ud("\(mnemonic()): CPUID.19H:EBX.AESKLE = 0") }
        case .wideKL:
            guard aesKLEnabled else { throw .ud("\(mnemonic()): CPUID.19H:EBX.AESKLE = 0") }
            guard features.wide else { throw .ud("\(mnemonic()): CPUID.19H:EBX.WIDE_KL = 0") }
        }
    }
}
