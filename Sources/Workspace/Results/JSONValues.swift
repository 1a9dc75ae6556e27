//===----------------------------------------------------------------------===//
//
// hwkeys: Workspace
//
//===----------------------------------------------------------------------===//

import Foundation

/// An address, register or MSR value: encoded as a `"0x…"` lower-case hex string (docs/design.md).
public struct Hex: Codable, Sendable, Hashable, CustomStringConvertible {
    public var value: UInt64

    public init(_ value: UInt64) { self.value = value }
    public init(_ value: some BinaryInteger) { self.value = UInt64(truncatingIfNeeded: value) }

    public var description: String { "0x" + String(value, radix: 16) }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard text.hasPrefix("0x"), let value = UInt64(text.dropFirst(2), radix: 16) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "expected a 0x… hex value")
        }
        self.value = value
    }
}

/// A byte string: encoded as a lower-case hex string without prefix (docs/design.md).
public struct HexBytes: Codable, Sendable, Hashable, CustomStringConvertible {
    public var bytes: [UInt8]

    public init(_ bytes: some Sequence<UInt8>) { self.bytes = Array(bytes) }

    public var description: String { hexString(bytes) }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let bytes = parseHex(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "expected a hex byte string")
        }
        self.bytes = bytes
    }
}

/// Lower-case hex digits of `bytes`.
public func hexString(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(bytes.underestimatedCount * 2)
    for byte in bytes {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 0xF)])
    }
    return String(decoding: out, as: UTF8.self)
}

/// Bytes of an even-length hex string (either case, no prefix), or nil.
public func parseHex(_ text: some StringProtocol) -> [UInt8]? {
    let utf8 = Array(text.utf8)
    guard utf8.count % 2 == 0 else { return nil }
    func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
    var out: [UInt8] = []
    out.reserveCapacity(utf8.count / 2)
    var index = 0
    while index < utf8.count {
        guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
        out.append(high << 4 | low)
        index += 2
    }
    return out
}

/// The JSON the CLI prints and the server returns for a result: its Codable encoding with sorted keys
/// (so the same state always prints the same bytes, design rule 4).
public enum ResultEncoding {
    /// Encodes `value` as compact JSON with sorted keys.
    public static func json(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return String(decoding: try encoder.encode(value), as: UTF8.self)
        } catch {
            // Results hold only strings, integers, finite doubles, booleans and arrays of them.
            return #"{"error":"EIO","message":"result not encodable"}"#
        }
    }
}

/// A canonical hex dump: offset, 16 bytes in hex, ASCII.
public func hexDump(_ bytes: [UInt8], startingAt base: UInt64) -> String {
    var lines: [String] = []
    var offset = 0
    while offset < bytes.count {
        let chunk = bytes[offset..<min(offset + 16, bytes.count)]
        let address = String(base + UInt64(offset), radix: 16)
        let pad = String(repeating: "0", count: max(0, 12 - address.count))
        var hex = chunk.map { byte -> String in
            let digits = String(byte, radix: 16)
            return digits.count == 1 ? "0" + digits : digits
        }.joined(separator: " ")
        hex += String(repeating: " ", count: max(0, 47 - hex.count))
        let ascii = String(chunk.map { (0x20..<0x7F).contains($0) ? Character(UnicodeScalar($0)) : "." })
        lines.append("\(pad)\(address)  \(hex)  |\(ascii)|")
        offset += 16
    }
    return lines.joined(separator: "\n")
}

/// An optional field that encodes `nil` as JSON `null` rather than leaving the key out (synthesized
/// `Encodable` skips nil optionals), so every documented field is always present.
@propertyWrapper
public struct EncodesNil<Value: Codable & Sendable & Hashable>: Codable, Sendable, Hashable {
    public var wrappedValue: Value?

    public init(wrappedValue: Value?) { self.wrappedValue = wrappedValue }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let wrappedValue { try container.encode(wrappedValue) } else { try container.encodeNil() }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        wrappedValue = container.decodeNil() ? nil : try container.decode(Value.self)
    }
}

extension KeyedDecodingContainer {
    /// A missing key decodes as nil.
    public func decode<Value>(_ type: EncodesNil<Value>.Type, forKey key: Key) throws -> EncodesNil<Value> {
        try decodeIfPresent(type, forKey: key) ?? EncodesNil(wrappedValue: nil)
    }
}
