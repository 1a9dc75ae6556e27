//===----------------------------------------------------------------------===//
//
// hwkeys: Platform
//
//===----------------------------------------------------------------------===//

import X86

/// The state of one KeyID in one package's key table, as the debug monitor shows it: never key bytes
/// (docs/design.md rule 3).
public struct MKTMEKeyIDStatus: Hashable, Sendable {
    public let keyID: Int
    public let state: KeyIDState
    /// The algorithm PCONFIG named (nil while unprogrammed).
    public let algorithm: TMEAlgorithm?
}

/// How KeyID-0 traffic is treated, as the debug monitor shows it.
public struct TMEStatus: Hashable, Sendable {
    /// `IA32_TME_ACTIVATE` is locked.
    public let locked: Bool
    /// TME is active (locked and enabled).
    public let active: Bool
    /// KeyID 0's algorithm while active.
    public let policy: TMEAlgorithm?
    /// TME bypass: KeyID 0 stored as plaintext.
    public let bypass: Bool
    /// The activated KeyID bits k.
    public let keyIDBits: Int
    /// Keys were saved at S3 entry and wait for firmware to restore them.
    public let standbyKeysSaved: Bool
}

extension Machine {
    /// The platform TME state (from `IA32_TME_ACTIVATE` and the memory controllers).
    public var tmeStatus: TMEStatus {
        TMEStatus(
            locked: tme.isLocked,
            active: tme.isActive,
            policy: tme.isActive ? tme.policy : nil,
            bypass: tme.isActive && tme.activate & TMEActivate.bypass != 0,
            keyIDBits: tme.keyIDLayout.keyIDBits,
            standbyKeysSaved: memory.hasStandbyKeys
        )
    }

    /// The state of KeyIDs 1…min(MK_TME_MAX_KEYS, 2^k − 1) in `package`'s key table (empty while k = 0).
    /// Debug monitor only: shows state and algorithm, never keys.
    public func keyTableStatus(package: Int) -> [MKTMEKeyIDStatus] {
        precondition(package >= 0 && package < configuration.packages, "no package \(package)")
        let table = memory.controllers[package].keyTable
        let last = min(table.maxKeys, keyIDLayout.keyIDCount - 1)
        guard last >= 1 else { return [] }
        return (1...last).map { keyID in
            let entry = table.entry(keyID)
            return MKTMEKeyIDStatus(keyID: keyID, state: entry.state, algorithm: entry.algorithm)
        }
    }

    /// The packages whose caches hold the line of `address` (this exact alias, KeyID bits included), and
    /// whether each copy is dirty. Debug monitor and tests only.
    public func cachedCopies(of address: PhysicalAddress) -> [(package: Int, dirty: Bool)] {
        memory.cachedCopies(of: PhysicalAddress(address.rawValue & ~63), layout: keyIDLayout)
    }

    /// The number of dirty lines in `package`'s cache (0 without a cache model).
    public func dirtyLineCount(package: Int) -> Int {
        memory.caches.isEmpty ? 0 : memory.caches[package].dirtyLineCount
    }
}
