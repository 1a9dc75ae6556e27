//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommands
//
//===----------------------------------------------------------------------===//

import ArgumentParser
import Workspace

/// `hwkeys costs`: the cost table every modelled operation charges (docs/design.md rule 5). Needs no machine.
public struct CostsCommand: HWKeysCommand {
    public static let configuration = CommandConfiguration(
        commandName: "costs",
        abstract: "Print the modelled cost table (emulated cycles per operation, with sources)."
    )

    @OptionGroup public var global: GlobalOptions
    @Flag(help: "Print the table as Markdown (this is how docs/costs.md is made).") var markdown = false
    public init() {}

    public func request() -> ShowCosts { ShowCosts(markdown: markdown) }
}
