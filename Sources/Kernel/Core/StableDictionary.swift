//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

/// A dictionary that encodes as an array of `[key, value]` pairs sorted by key, so kernel state encodes to
/// the same bytes every time (docs/design.md rule 4). Swift's `Dictionary` with non-`String` keys encodes in
/// hash order, which varies between runs.
public struct StableDictionary<Key: Hashable & Comparable & Codable & Sendable, Value: Codable & Sendable>: Sendable {
    public var storage: [Key: Value] = [:]

    public init() {}

    public subscript(key: Key) -> Value? {
        get { storage[key] }
        set { storage[key] = newValue }
    }

    public subscript(key: Key, default value: @autoclosure () -> Value) -> Value {
        get { storage[key] ?? value() }
        set { storage[key] = newValue }
    }

    public var keys: Dictionary<Key, Value>.Keys { storage.keys }
    public var values: Dictionary<Key, Value>.Values { storage.values }
    public var count: Int { storage.count }
    public var isEmpty: Bool { storage.isEmpty }

    @discardableResult
    public mutating func removeValue(forKey key: Key) -> Value? { storage.removeValue(forKey: key) }

    /// Entries in key order.
    public var sorted: [(key: Key, value: Value)] { storage.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } }
}

extension StableDictionary: Codable {
    private struct Pair: Codable {
        let key: Key
        let value: Value
    }

    public init(from decoder: any Decoder) throws {
        let pairs = try [Pair](from: decoder)
        for pair in pairs { storage[pair.key] = pair.value }
    }

    public func encode(to encoder: any Encoder) throws {
        try sorted.map { Pair(key: $0.key, value: $0.value) }.encode(to: encoder)
    }
}

extension StableDictionary: Equatable where Value: Equatable {}
extension StableDictionary: Hashable where Value: Hashable {}
