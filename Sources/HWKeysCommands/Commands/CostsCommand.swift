//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommands
//
//===----------------------------------------------------------------------===//

import ArgumentParser
import Foundation
import Platform

/// `hwkeys costs`: the cost table every modelled operation charges (docs/design.md rule 5). Needs no machine.
public struct CostsCommand: HWKeysCommand {
    public static let configuration = CommandConfiguration(
        commandName: "costs",
        abstract: "Print the modelled cost table (emulated cycles per operation, with sources)."
    )

    @OptionGroup public var global: GlobalOptions
    @Flag(help: "Print the table as Markdown (this is how docs/costs.md is made).") var markdown = false
    public init() {}

    public func execute(in session: Session) throws -> CommandOutput {
        let json = JSON.object([
            (
                "costs",
                .array(
                    CostItem.allCases.map {
                        .object([("item", .string($0.rawValue)), ("cycles", .uint($0.cycles)), ("source", .string($0.source))])
                    }
                )
            )
        ])
        return CommandOutput(json: json, text: markdown ? Self.markdownTable() : Self.plainTable())
    }

    static func plainTable() -> String {
        let width = CostItem.allCases.map(\.rawValue.count).max() ?? 0
        return CostItem.allCases.map { item in
            item.rawValue.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                + String(item.cycles).leftPadded(to: 8) + " cycles  " + item.source
        }.joined(separator: "\n")
    }

    static func markdownTable() -> String {
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
        for item in CostItem.allCases {
            lines.append("| `\(item.rawValue)` | \(item.cycles) | \(item.source.replacingOccurrences(of: "|", with: "\\|")) |")
        }
        return lines.joined(separator: "\n")
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
