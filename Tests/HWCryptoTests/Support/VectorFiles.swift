//===----------------------------------------------------------------------===//
//
// hwkeys: HWCryptoTests
//
//===----------------------------------------------------------------------===//

import Foundation
import TestSupport
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
        return try #require(HexString.decode(text), "field \(name) is not hex in record at line \(line)")
    }

    var description: String { "record at line \(line)" + (fields["COUNT"].map { " (COUNT \($0))" } ?? "") }
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
