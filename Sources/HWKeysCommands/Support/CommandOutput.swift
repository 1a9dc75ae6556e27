//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommands
//
//===----------------------------------------------------------------------===//

/// What a command produced: one JSON object and its human-readable rendering.
public struct CommandOutput: Sendable {
    /// The JSON object printed with `--format json`.
    public var json: JSON
    /// The text printed by default (may be empty).
    public var text: String

    public init(json: JSON, text: String) {
        self.json = json
        self.text = text
    }

    /// Output with the same fields in both forms: text prints `key: value` lines.
    public init(fields: [(String, JSON)]) {
        self.json = .object(fields)
        self.text = fields.map { "\($0.0): \(Self.plain($0.1))" }.joined(separator: "\n")
    }

    /// The rendering for `format`, without a trailing newline.
    public func rendered(_ format: OutputFormat) -> String {
        format == .json ? json.serialized() : text
    }

    /// A JSON value as plain text (strings unquoted).
    static func plain(_ value: JSON) -> String {
        switch value {
        case .string(let text): text
        case .null: "-"
        default: value.serialized()
        }
    }
}

/// A canonical hex dump: offset, 16 bytes in hex, ASCII.
func hexDump(_ bytes: [UInt8], startingAt base: UInt64) -> String {
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
