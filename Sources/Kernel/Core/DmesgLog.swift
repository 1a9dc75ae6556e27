//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

/// The kernel log (`dmesg`): timestamped lines in emulated time since boot. Never holds secrets.
public struct DmesgLog: Codable, Sendable, Hashable {
    /// One log line.
    public struct Line: Codable, Sendable, Hashable {
        /// Nanoseconds since boot.
        public let time: UInt64
        /// The subsystem prefix, e.g. `mktme` (empty for none).
        public let facility: String
        public let text: String
    }

    /// Lines, oldest first, at most ``capacity``.
    public private(set) var lines: [Line] = []
    /// Lines dropped because the buffer was full.
    public private(set) var dropped = 0

    /// The ring buffer size in lines.
    public static let capacity = 2000

    public init() {}

    mutating func append(time: UInt64, facility: String, _ text: String) {
        if lines.count >= Self.capacity {
            lines.removeFirst(lines.count - Self.capacity + 1)
            dropped = dropped == Int.max ? dropped : dropped + 1
        }
        lines.append(Line(time: time, facility: facility, text: text))
    }

    /// Why a restored log is impossible, or nil (a saved kernel is attacker-writable: docs/robustness.md).
    var problem: String? {
        lines.count <= Self.capacity && dropped >= 0 ? nil : "kernel log of \(lines.count) lines, \(dropped) dropped"
    }

    /// `[    1.234567] facility: text`, like `dmesg`.
    public static func format(_ line: Line) -> String {
        let seconds = line.time / 1_000_000_000
        let micros = (line.time % 1_000_000_000) / 1000
        let secondsText = String(seconds)
        let microsText = String(micros)
        let stamp =
            String(repeating: " ", count: max(0, 5 - secondsText.count)) + secondsText + "."
            + String(repeating: "0", count: 6 - microsText.count) + microsText
        return "[\(stamp)] " + (line.facility.isEmpty ? "" : line.facility + ": ") + line.text
    }
}
