//===----------------------------------------------------------------------===//
//
// hwkeys: HWCryptoTests
//
//===----------------------------------------------------------------------===//

import Foundation
import Testing

/// Test vectors bundled under `Vectors/` (provenance in each folder's SOURCE.md).
enum VectorFiles {
    /// The URL of `path`, relative to the bundled `Vectors` folder.
    static func url(_ path: String) throws -> URL {
        let root = try #require(Bundle.module.url(forResource: "Vectors", withExtension: nil), "Vectors folder missing")
        return root.appendingPathComponent(path)
    }

    /// A JSON document under `Vectors/`.
    static func json<T: Decodable>(_ type: T.Type, at path: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(contentsOf: url(path)))
    }

    /// The `Name = value` records of a NIST CAVP `.rsp` file or an OpenSSL-style test file.
    ///
    /// A record is a run of `Name = value` lines ended by a blank line; `[SECTION]` lines name the
    /// section of the records that follow. Comment lines (`#`) are skipped unless they have the
    /// form `#Name = value` (OpenSSL files name the cipher that way). CRLF, LF and bare CR all end
    /// lines.
    static func records(at path: String) throws -> [VectorRecord] {
        let text = try String(contentsOf: url(path), encoding: .utf8)
        var records: [VectorRecord] = []
        var section: String?
        var fields: [String: String] = [:]
        var line = 0
        var firstLine = 0
        func flush() {
            if !fields.isEmpty { records.append(VectorRecord(section: section, line: firstLine, fields: fields)) }
            fields = [:]
        }
        for raw in text.split(
            omittingEmptySubsequences: false,
            whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }
        ) {
            line += 1
            var content = raw.trimmingCharacters(in: .whitespaces)
            if content.isEmpty {
                flush()
                continue
            }
            if content.hasPrefix("[") && content.hasSuffix("]") {
                flush()
                section = String(content.dropFirst().dropLast())
                continue
            }
            if content.hasPrefix("#") { content.removeFirst() }
            guard let equals = content.firstIndex(of: "=") else { continue }
            let name = content[..<equals].trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty, !name.contains(" ") else { continue }
            if fields.isEmpty { firstLine = line }
            fields[name] = content[content.index(after: equals)...].trimmingCharacters(in: .whitespaces)
        }
        flush()
        return records
    }
}

/// One record of a line-oriented vector file.
struct VectorRecord: CustomStringConvertible {
    /// The `[SECTION]` the record appeared under, if any.
    var section: String?
    /// The line the record starts on (for failure messages).
    var line: Int
    var fields: [String: String]

    subscript(name: String) -> String? { fields[name] }

    /// The field `name` decoded from hex; fails the test if it is missing or not hex.
    func bytes(_ name: String) throws -> [UInt8] {
        let text = try #require(fields[name], "field \(name) missing in record at line \(line)")
        return try #require(Hex.decode(text), "field \(name) is not hex in record at line \(line)")
    }

    var description: String { "record at line \(line)" + (fields["COUNT"].map { " (COUNT \($0))" } ?? "") }
}

/// Lower-case hex strings.
enum Hex {
    static func decode(_ text: some StringProtocol) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes = [UInt8]()
        bytes.reserveCapacity(digits.count / 2)
        var index = 0
        while index < digits.count {
            guard let high = nibble(digits[index]), let low = nibble(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xf)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// Hex bytes in a JSON document.
struct HexBytes: Decodable, Equatable {
    var bytes: [UInt8]

    init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let bytes = Hex.decode(text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "not hex: \(text)")
            )
        }
        self.bytes = bytes
    }
}

/// A 64-bit value written as a decimal string in JSON (so no reader rounds it).
struct DecimalUInt64: Decodable, Equatable {
    var value: UInt64

    init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = UInt64(text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "not a UInt64: \(text)")
            )
        }
        self.value = value
    }
}

/// A small deterministic generator for test inputs (SplitMix64); not for expectations.
struct TestRandom {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func next(below bound: Int) -> Int { Int(next() % UInt64(bound)) }

    mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) } }
}
