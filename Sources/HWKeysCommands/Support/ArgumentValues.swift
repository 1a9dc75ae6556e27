//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommands
//
//===----------------------------------------------------------------------===//

import ArgumentParser
import Foundation
import HWKeysBase
import X86

/// Parsing of the value forms every command accepts (docs/design.md): decimal or `0x` hex numbers, sizes with
/// K/M/G suffixes, byte strings as hex, durations.
public enum ValueParser {
    /// A decimal or `0x`-hex unsigned number; underscores allowed as separators.
    public static func number(_ text: String) -> UInt64? {
        let cleaned = text.replacingOccurrences(of: "_", with: "")
        guard !cleaned.isEmpty else { return nil }
        if cleaned.lowercased().hasPrefix("0x") {
            let digits = cleaned.dropFirst(2)
            return digits.isEmpty ? nil : UInt64(digits, radix: 16)
        }
        return UInt64(cleaned, radix: 10)
    }

    /// A size: a number optionally followed by K, M or G (binary units; `KiB`/`MiB`/`GiB` and `B` also accepted).
    public static func size(_ text: String) -> UInt64? {
        var body = text.uppercased()
        for suffix in ["IB", "B"] where body.hasSuffix(suffix) && body.count > suffix.count {
            let candidate = String(body.dropLast(suffix.count))
            if candidate.last.map({ "KMG".contains($0) }) == true || suffix == "B" {
                body = candidate
                break
            }
        }
        let multipliers: [Character: UInt64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
        if let last = body.last, let multiplier = multipliers[last] {
            guard let value = number(String(body.dropLast())) else { return nil }
            let (product, overflow) = value.multipliedReportingOverflow(by: multiplier)
            return overflow ? nil : product
        }
        return number(body)
    }

    /// A hex byte string (optional `0x` prefix; spaces, colons and underscores ignored). Even length.
    public static func hexBytes(_ text: String) -> [UInt8]? {
        var digits = Substring(text)
        if digits.lowercased().hasPrefix("0x") { digits = digits.dropFirst(2) }
        let nibbles = digits.compactMap { character -> UInt8? in
            if character == " " || character == ":" || character == "_" { return 0xFF }
            return character.hexDigitValue.map(UInt8.init)
        }
        guard nibbles.count == digits.count else { return nil }
        let values = nibbles.filter { $0 != 0xFF }
        guard values.count % 2 == 0 else { return nil }
        return stride(from: 0, to: values.count, by: 2).map { values[$0] << 4 | values[$0 + 1] }
    }

    /// A duration: a number with unit `ns`, `us`, `ms` or `s` (default `ns`). Returns nanoseconds.
    public static func duration(_ text: String) -> UInt64? {
        let lower = text.lowercased()
        let units: [(String, UInt64)] = [
            ("ns", 1), ("us", 1_000), ("µs", 1_000), ("ms", 1_000_000), ("s", 1_000_000_000),
        ]
        for (suffix, scale) in units where lower.hasSuffix(suffix) {
            let body = String(lower.dropLast(suffix.count))
            if let whole = number(body) {
                let (product, overflow) = whole.multipliedReportingOverflow(by: scale)
                return overflow ? nil : product
            }
            if let fraction = Double(body), fraction >= 0, fraction * Double(scale) < 1.8e19 {
                return UInt64((fraction * Double(scale)).rounded())
            }
            return nil
        }
        return number(lower)
    }
}

/// A number argument: decimal or `0x` hex.
public struct Number: ExpressibleByArgument, Sendable, Hashable {
    public let value: UInt64
    public init(_ value: UInt64) { self.value = value }
    public init?(argument: String) {
        guard let value = ValueParser.number(argument) else { return nil }
        self.value = value
    }
    public var defaultValueDescription: String { String(value) }

    /// The value as `Int`, or a usage error naming `what`.
    public func int(_ what: String) throws(HWKeysError) -> Int {
        guard value <= UInt64(Int.max) else { throw HWKeysError.usage("\(what) is too large") }
        return Int(value)
    }

    /// The value as `UInt32`, or a usage error naming `what`.
    public func uint32(_ what: String) throws(HWKeysError) -> UInt32 {
        guard let narrow = UInt32(exactly: value) else { throw HWKeysError.usage("\(what) must fit in 32 bits") }
        return narrow
    }
}

/// A size argument: a number with an optional K/M/G suffix.
public struct Size: ExpressibleByArgument, Sendable, Hashable {
    public let bytes: UInt64
    public init?(argument: String) {
        guard let bytes = ValueParser.size(argument) else { return nil }
        self.bytes = bytes
    }
}

/// A hex byte-string argument.
public struct HexBytes: ExpressibleByArgument, Sendable, Hashable {
    public let bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public init?(argument: String) {
        guard let bytes = ValueParser.hexBytes(argument) else { return nil }
        self.bytes = bytes
    }

    /// The bytes, which must be exactly `count` long.
    public func exactly(_ count: Int, _ what: String) throws(HWKeysError) -> [UInt8] {
        guard bytes.count == count else {
            throw HWKeysError.usage("\(what) must be \(count) bytes (\(2 * count) hex digits), got \(bytes.count)")
        }
        return bytes
    }
}

/// A duration argument (`10ms`, `5us`, `1s`, `250ns`, or plain nanoseconds).
public struct DurationArgument: ExpressibleByArgument, Sendable, Hashable {
    public let nanoseconds: UInt64
    public init?(argument: String) {
        guard let value = ValueParser.duration(argument) else { return nil }
        nanoseconds = value
    }
}

/// `on` / `off`.
public enum OnOff: String, ExpressibleByArgument, CaseIterable, Sendable {
    case on
    case off
    public var isOn: Bool { self == .on }
}

extension OutputFormat: ExpressibleByArgument {}

extension TMEAlgorithm: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
    public static var allValueStrings: [String] { allCases.map(\.name) }
}
