//===----------------------------------------------------------------------===//
//
// hwkeys: X86, the SDM vocabulary
//
//===----------------------------------------------------------------------===//

/// A physical address as the processor emits it, KeyID bits included.
///
/// With TME-MK active, the KeyID occupies PA bits [MAXPHYADDR-1 : MAXPHYADDR-k]; the memory controller
/// strips them to find the DRAM location and uses them only to select a key (MKTME spec §4; docs/contract.md §2).
public struct PhysicalAddress: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt64

    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }

    public static func < (lhs: PhysicalAddress, rhs: PhysicalAddress) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { "0x" + String(rawValue, radix: 16) }

    /// The address `offset` bytes further on.
    public func advanced(by offset: UInt64) -> PhysicalAddress { PhysicalAddress(rawValue &+ offset) }
}

/// Where the KeyID sits in a physical address: MAXPHYADDR and the number of KeyID bits `k`
/// (`IA32_TME_ACTIVATE.MK_TME_KEYID_BITS`).
public struct KeyIDLayout: Hashable, Sendable {
    /// MAXPHYADDR (CPUID.80000008H:EAX[7:0]), unchanged by KeyID bits.
    public let maxPhysAddr: Int
    /// The number of KeyID bits k (0 = TME only).
    public let keyIDBits: Int

    /// The layout for MAXPHYADDR and k as the host configured them.
    ///
    /// - Precondition: ``isValid(maxPhysAddr:keyIDBits:)``. Values that emulated software controls (a virtual
    ///   processor's CPUID or `IA32_TME_ACTIVATE`, a stored image) go through
    ///   ``init(validatingMaxPhysAddr:keyIDBits:)`` instead.
    public init(maxPhysAddr: Int, keyIDBits: Int) {
        precondition(
            Self.isValid(maxPhysAddr: maxPhysAddr, keyIDBits: keyIDBits),
            "MAXPHYADDR \(maxPhysAddr) with \(keyIDBits) KeyID bits is out of range"
        )
        self.maxPhysAddr = maxPhysAddr
        self.keyIDBits = keyIDBits
    }

    /// The layout for MAXPHYADDR and k, or nil when ``isValid(maxPhysAddr:keyIDBits:)`` is false. Never traps.
    public init?(validatingMaxPhysAddr maxPhysAddr: Int, keyIDBits: Int) {
        guard Self.isValid(maxPhysAddr: maxPhysAddr, keyIDBits: keyIDBits) else { return nil }
        self.init(maxPhysAddr: maxPhysAddr, keyIDBits: keyIDBits)
    }

    /// True when MAXPHYADDR and k describe a layout: 13 ≤ MAXPHYADDR ≤ 52 (SDM Vol. 3A §4.1.4: MAXPHYADDR is at
    /// most 52), 0 ≤ k ≤ 15 (`IA32_TME_ACTIVATE[35:32]` is four bits wide) and k < MAXPHYADDR - 12 (the KeyID
    /// leaves at least one frame-number bit above the 4-KiB page offset).
    public static func isValid(maxPhysAddr: Int, keyIDBits: Int) -> Bool {
        (13...52).contains(maxPhysAddr) && (0...15).contains(keyIDBits) && keyIDBits < maxPhysAddr - 12
    }

    /// The lowest KeyID bit: MAXPHYADDR - k.
    public var keyIDShift: Int { maxPhysAddr - keyIDBits }

    /// The mask of KeyID bits within a physical address.
    public var keyIDMask: UInt64 {
        keyIDBits == 0 ? 0 : ((UInt64(1) << UInt64(keyIDBits)) - 1) << UInt64(keyIDShift)
    }

    /// The mask of address bits that reach DRAM (below the KeyID bits).
    public var addressMask: UInt64 { (UInt64(1) << UInt64(keyIDShift)) - 1 }

    /// The number of KeyIDs the address can carry, KeyID 0 included: 2^k.
    public var keyIDCount: Int { 1 << keyIDBits }

    /// The KeyID carried by `address`.
    public func keyID(of address: PhysicalAddress) -> UInt16 {
        keyIDBits == 0 ? 0 : UInt16(truncatingIfNeeded: (address.rawValue & keyIDMask) >> UInt64(keyIDShift))
    }

    /// `address` with the KeyID bits cleared: the DRAM location.
    public func stripKeyID(_ address: PhysicalAddress) -> PhysicalAddress {
        PhysicalAddress(address.rawValue & ~keyIDMask)
    }

    /// `address` (KeyID bits ignored) carrying `keyID`. Bits above MAXPHYADDR are preserved as given.
    ///
    /// - Precondition: `keyID` < ``keyIDCount``. Check KeyIDs that software supplies first (callers return
    ///   EINVAL or a PCONFIG status for them).
    public func address(_ address: PhysicalAddress, withKeyID keyID: UInt16) -> PhysicalAddress {
        precondition(Int(keyID) < keyIDCount, "KeyID \(keyID) does not fit in \(keyIDBits) bits")
        return PhysicalAddress((address.rawValue & ~keyIDMask) | (UInt64(keyID) << UInt64(keyIDShift)))
    }
}
