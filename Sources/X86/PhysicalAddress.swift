//===----------------------------------------------------------------------===//
//
// hwkeys: X86, the SDM vocabulary
//
//===----------------------------------------------------------------------===//

/// A physical address as the processor emits it, KeyID bits included.
///
/// With TME-MK active, the KeyID occupies PA bits [MAXPHYADDR-1 : MAXPHYADDR-k]; the memory controller
/// strips them to find the DRAM location and uses them only to select a key (MKTME spec §4; spec.md §2).
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

    public init(maxPhysAddr: Int, keyIDBits: Int) {
        precondition(maxPhysAddr > 12 && maxPhysAddr <= 52, "MAXPHYADDR out of range")
        precondition(keyIDBits >= 0 && keyIDBits <= 15 && keyIDBits < maxPhysAddr - 12, "KeyID bits out of range")
        self.maxPhysAddr = maxPhysAddr
        self.keyIDBits = keyIDBits
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
    public func address(_ address: PhysicalAddress, withKeyID keyID: UInt16) -> PhysicalAddress {
        precondition(Int(keyID) < keyIDCount, "KeyID \(keyID) does not fit in \(keyIDBits) bits")
        return PhysicalAddress((address.rawValue & ~keyIDMask) | (UInt64(keyID) << UInt64(keyIDShift)))
    }
}
