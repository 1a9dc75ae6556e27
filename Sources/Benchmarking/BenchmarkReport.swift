//===----------------------------------------------------------------------===//
//
// hwkeys: Benchmarking
//
//===----------------------------------------------------------------------===//

import Foundation
import Workspace

/// What `hwkeys benchmark` reports: the AES path under test, the OpenSSL it compared with, and one row per
/// measurement (docs/style.md "Performance"; the JSON is `{"aes_path", "openssl", "results": [row, …]}`).
public struct BenchmarkReport: CommandResult, Codable, Hashable {
    /// The AES implementation measured (`vaes`, `aesni`, `portable`).
    public var aesPath: String
    /// OpenSSL's version string, or nil when libcrypto could not be loaded.
    @EncodesNil public var openssl: String?
    /// The measurements, in the order they ran.
    public var results: [BenchmarkRow]

    enum CodingKeys: String, CodingKey {
        case aesPath = "aes_path"
        case openssl, results
    }

    public init(aesPath: String, openssl: String?, results: [BenchmarkRow]) {
        self.aesPath = aesPath
        self.openssl = openssl
        self.results = results
    }

    public var text: String {
        let header =
            "hwkeys benchmark (host wall time, AES path \(aesPath); "
            + (openssl.map { "reference \($0)" } ?? "OpenSSL unavailable") + ")"
        return ([header] + results.map(\.text)).joined(separator: "\n")
    }
}

/// One measurement: our throughput beside a reference measured in the same run (OpenSSL, or the raw line
/// engine for the memory path), or counts that are not throughput (operations per second, emulated cycles),
/// or — when the hardware lacks what the workload needs — the reason it is unavailable. Never a throughput
/// of 0 for a workload that failed: a failure is the command's error.
///
/// JSON: `name`, `gbps` (null when not measured), the reference as `openssl_gbps` or `line_engine_gbps`
/// (rows compared with OpenSSL — `xts…`, `kl-…`, `crypt-…` — always carry `openssl_gbps`, null without
/// libcrypto), `ratio` (ours ÷ reference, null without one), `note`, `unavailable` (the reason, or null), and
/// the row's extra fields (`emulated_cycles_per_page`, `ops_per_second`, `keys`, `mode`, `s3_resume_cycles`,
/// `cpus`, `cpu_online_cycles`, `sector_size`, `openssl_4k_unit_gbps`). Numbers are rounded to three
/// decimals.
public struct BenchmarkRow: Codable, Sendable, Hashable {
    /// The reference a throughput is compared with.
    public struct Reference: Sendable, Hashable {
        /// Its JSON field: `openssl_gbps` or `line_engine_gbps`.
        public var name: String
        /// Its throughput in GB/s.
        public var gbps: Double

        public init(name: String, gbps: Double) {
            self.name = name
            self.gbps = gbps
        }

        /// OpenSSL's throughput on the same work.
        public static func openssl(_ gbps: Double) -> Reference { Reference(name: "openssl_gbps", gbps: gbps) }
        /// The raw line engine's throughput.
        public static func lineEngine(_ gbps: Double) -> Reference { Reference(name: "line_engine_gbps", gbps: gbps) }
    }

    /// An extra field: a JSON key and its value.
    public struct Field: Sendable, Hashable {
        public var name: String
        public var value: BenchmarkValue

        public init(_ name: String, _ value: BenchmarkValue) {
            self.name = name
            self.value = value
        }
    }

    /// What was measured, e.g. `crypt-write-kl`.
    public var name: String
    /// Our throughput in GB/s (10⁹ bytes per second of host time); nil for rows that are not throughput
    /// and for unavailable rows.
    public var gbps: Double?
    /// The reference, if measured.
    public var reference: Reference?
    /// What the row measures.
    public var note: String
    /// Why the row could not be measured (the hardware lacks a feature), or nil.
    public var unavailable: String?
    /// Further fields, in the order the text shows them.
    public var extra: [Field]

    public init(
        name: String,
        gbps: Double?,
        reference: Reference? = nil,
        note: String,
        unavailable: String? = nil,
        extra: [Field] = []
    ) {
        self.name = name
        self.gbps = gbps
        self.reference = reference
        self.note = note
        self.unavailable = unavailable
        self.extra = extra
    }

    /// A row for a workload the hardware cannot run: no throughput, the reason instead.
    public static func unavailable(_ name: String, note: String, reason: String) -> BenchmarkRow {
        BenchmarkRow(name: name, gbps: nil, note: note, unavailable: reason)
    }

    /// Ours ÷ the reference (above 1: faster), or nil.
    public var ratio: Double? {
        guard let gbps, let reference, reference.gbps > 0 else { return nil }
        return gbps / reference.gbps
    }

    /// The value of extra field `key`, if present.
    public subscript(extra key: String) -> BenchmarkValue? { extra.first { $0.name == key }?.value }

    /// Rows compared with OpenSSL, which always show `openssl_gbps` (null when OpenSSL is unavailable).
    var comparesWithOpenSSL: Bool { name.hasPrefix("xts") || name.hasPrefix("kl-") || name.hasPrefix("crypt-") }

    /// The row as the text table shows it.
    public var text: String {
        var line = name.padding(toLength: 30, withPad: " ", startingAt: 0)
        if let gbps { line += String(format: "%7.2f GB/s", gbps) }
        if let reference {
            let label = reference.name == "openssl_gbps" ? "OpenSSL" : "line engine"
            line += String(format: "   %@ %6.2f GB/s   ratio %.2f×", label, reference.gbps, ratio ?? 0)
        } else if gbps != nil, comparesWithOpenSSL {
            line += "   OpenSSL unavailable"
        }
        for field in extra { line += "   \(field.name) \(field.value.text)" }
        return line + "   (" + (unavailable.map { "unavailable: \($0)" } ?? note) + ")"
    }

    // MARK: Codable

    private struct Key: CodingKey {
        let stringValue: String
        init(_ string: String) { stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
    }

    private static let fixedKeys: Set<String> = [
        "name", "gbps", "ratio", "note", "unavailable", "openssl_gbps", "line_engine_gbps",
    ]

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(name, forKey: Key("name"))
        try container.encode(BenchmarkValue.optional(gbps), forKey: Key("gbps"))
        if let reference {
            try container.encode(BenchmarkValue.number(reference.gbps), forKey: Key(reference.name))
        } else if comparesWithOpenSSL {
            try container.encodeNil(forKey: Key("openssl_gbps"))
        }
        try container.encode(BenchmarkValue.optional(ratio), forKey: Key("ratio"))
        try container.encode(note, forKey: Key("note"))
        if let unavailable {
            try container.encode(unavailable, forKey: Key("unavailable"))
        } else {
            try container.encodeNil(forKey: Key("unavailable"))
        }
        for field in extra where !Self.fixedKeys.contains(field.name) {
            try container.encode(field.value, forKey: Key(field.name))
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        name = try container.decode(String.self, forKey: Key("name"))
        gbps = try container.decodeIfPresent(Double.self, forKey: Key("gbps"))
        note = try container.decodeIfPresent(String.self, forKey: Key("note")) ?? ""
        unavailable = try container.decodeIfPresent(String.self, forKey: Key("unavailable"))
        reference = nil
        for referenceName in ["openssl_gbps", "line_engine_gbps"] {
            if let value = try container.decodeIfPresent(Double.self, forKey: Key(referenceName)) {
                reference = Reference(name: referenceName, gbps: value)
            }
        }
        extra = try container.allKeys.filter { !Self.fixedKeys.contains($0.stringValue) }
            .sorted { $0.stringValue < $1.stringValue }
            .map { Field($0.stringValue, try container.decode(BenchmarkValue.self, forKey: $0)) }
    }
}

/// An extra field of a benchmark row.
public enum BenchmarkValue: Codable, Sendable, Hashable {
    /// A measured or derived number (rounded to three decimals in JSON and text).
    case number(Double)
    /// A count (keys, CPUs, emulated cycles).
    case count(Int)
    /// A name (a Key Locker mode).
    case text(String)
    /// No value (JSON null).
    case null

    /// A number, or null.
    static func optional(_ value: Double?) -> BenchmarkValue { value.map(BenchmarkValue.number) ?? .null }

    /// Three decimals are plenty for throughput and ratios, and keep output stable.
    static func rounded(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .number(let value):
            if value.isFinite { try container.encode(Self.rounded(value)) } else { try container.encodeNil() }
        case .count(let value): try container.encode(value)
        case .text(let value): try container.encode(value)
        case .null: try container.encodeNil()
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Int.self) {
            self = .count(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else {
            self = .text(try container.decode(String.self))
        }
    }

    /// The value as the text table shows it: numbers as JSON prints them, names unquoted, null as `-`.
    public var text: String {
        switch self {
        case .number(let value):
            guard value.isFinite else { return "null" }
            let scaled = Self.rounded(value)
            return scaled == scaled.rounded() && abs(scaled) < 1e15 ? String(Int64(scaled)) : String(scaled)
        case .count(let value): return String(value)
        case .text(let value): return value
        case .null: return "-"
        }
    }
}
