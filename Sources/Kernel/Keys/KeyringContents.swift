//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

/// The links of one keyring (the keyring's payload; Linux keeps them in an `assoc_array` keyed by index
/// key, `security/keys/keyring.c`).
///
/// Every operation is O(1) on average: links are found by index key (one per type and description) or
/// by serial, nested keyrings are kept apart so searches descend without scanning leaves, and link order
/// is a sequence number so listings come out in the order keys were linked (Linux lists in hash order;
/// link order is deterministic and easier to read). Listing sorts, O(k log k) for k links.
struct KeyringContents: Sendable {
    /// index key → linked serial.
    private(set) var byIndex: [KeyIndex: Int32] = [:]
    /// linked serial → link sequence number.
    private var sequence: [Int32: UInt64] = [:]
    /// Nested keyrings: serial → link sequence number.
    private var nested: [Int32: UInt64] = [:]
    private var nextSequence: UInt64 = 0

    /// Number of links.
    var count: Int { sequence.count }
    var isEmpty: Bool { sequence.isEmpty }

    /// The serial linked under `index`, if any.
    func serial(for index: KeyIndex) -> Int32? { byIndex[index] }

    /// Whether `serial` is linked here.
    func contains(_ serial: Int32) -> Bool { sequence[serial] != nil }

    /// Adds a link (the caller has removed any link with the same index first).
    mutating func insert(_ serial: Int32, index: KeyIndex, isKeyring: Bool) {
        precondition(byIndex[index] == nil, "keyring already links a key with this index")
        byIndex[index] = serial
        sequence[serial] = nextSequence
        if isKeyring { nested[serial] = nextSequence }
        nextSequence += 1
    }

    /// Removes the link to `serial` (indexed by `index`); false if there was none.
    @discardableResult
    mutating func remove(_ serial: Int32, index: KeyIndex) -> Bool {
        guard sequence.removeValue(forKey: serial) != nil else { return false }
        byIndex.removeValue(forKey: index)
        nested.removeValue(forKey: serial)
        return true
    }

    /// Linked serials in link order.
    func serialsInOrder() -> [Int32] {
        sequence.sorted { $0.value < $1.value }.map(\.key)
    }

    /// Nested keyrings in link order.
    func nestedInOrder() -> [Int32] {
        nested.isEmpty ? [] : nested.sorted { $0.value < $1.value }.map(\.key)
    }
}
