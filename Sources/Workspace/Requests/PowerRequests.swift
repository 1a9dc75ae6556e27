//===----------------------------------------------------------------------===//
//
// hwkeys: Workspace
//
//===----------------------------------------------------------------------===//

import Foundation
import HWKeysBase
import Platform

/// `power off|on|reset|suspend|resume|hibernate` (docs/contract.md §4).
public struct Power: WorkspaceRequest {
    public static let access = RequestAccess.write
    public static let runsInGuest = false

    public var action: PowerAction

    public init(_ action: PowerAction) { self.action = action }

    public func run(in context: RequestContext) throws(HWKeysError) -> PowerTransition {
        let before = try context.powerTransition(action)
        return PowerTransition(
            action: action.rawValue,
            from: before.rawValue,
            powerState: try context.machine().powerState.rawValue
        )
    }
}

/// The outcome of a power action.
public struct PowerTransition: CommandResult {
    public var action: String
    public var from: String
    public var powerState: String

    enum CodingKeys: String, CodingKey {
        case action, from
        case powerState = "power_state"
    }

    public var text: String { "\(action): \(from) → \(powerState)" }
}

/// `costs`: the modelled cost table (design rule 5). Needs no machine.
public struct ShowCosts: WorkspaceRequest {
    public static let access = RequestAccess.read

    /// Render the text as Markdown (how docs/costs.md is made).
    public var markdown: Bool

    public init(markdown: Bool = false) { self.markdown = markdown }

    public func run(in context: RequestContext) throws(HWKeysError) -> CostTable {
        CostTable(
            costs: CostItem.allCases.map { CostTable.Entry(item: $0.rawValue, cycles: $0.cycles, source: $0.source) },
            markdown: markdown
        )
    }
}

/// The cost table.
public struct CostTable: CommandResult {
    public struct Entry: Codable, Sendable, Hashable {
        public var item: String
        public var cycles: UInt64
        public var source: String
    }

    public var costs: [Entry]
    /// Text as Markdown (text only).
    public var markdown: Bool

    enum CodingKeys: String, CodingKey { case costs }

    public var text: String { markdown ? markdownTable : plainTable }

    var plainTable: String {
        let width = costs.map(\.item.count).max() ?? 0
        return costs.map { entry in
            let cycles = String(entry.cycles)
            return entry.item.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                + String(repeating: " ", count: max(0, 8 - cycles.count)) + cycles + " cycles  " + entry.source
        }.joined(separator: "\n")
    }

    var markdownTable: String {
        var lines = [
            "# Modelled costs",
            "",
            "Every hardware operation hwkeys models charges emulated cycles from one table (`CostItem` in",
            "`Sources/Platform/Machine/CostTable.swift`), which also advances emulated time at the machine's nominal",
            "frequency (`--cpu-mhz`, default 3000). These are models, not measurements of hwkeys itself: host wall",
            "time is reported separately by `hwkeys benchmark`. This page is generated: `hwkeys costs --markdown`.",
            "",
            "| item | cycles | source |",
            "|---|---:|---|",
        ]
        for entry in costs {
            lines.append(
                "| `\(entry.item)` | \(entry.cycles) | \(entry.source.replacingOccurrences(of: "|", with: "\\|")) |"
            )
        }
        return lines.joined(separator: "\n")
    }
}
