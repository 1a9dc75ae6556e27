//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommands
//
//===----------------------------------------------------------------------===//

import ArgumentParser
import Platform
import Workspace

/// `hwkeys power off|on|reset|suspend|resume|hibernate` (docs/contract.md §4).
public struct PowerCommand: HWKeysCommand {
    public static let configuration = CommandConfiguration(
        commandName: "power",
        abstract: "Power transitions: off (S5), on (cold boot), reset (warm), suspend (S3), resume, hibernate (S4)."
    )

    @OptionGroup public var global: GlobalOptions
    @Argument(help: "off, on, reset, suspend, resume or hibernate.") var action: PowerActionArgument
    public init() {}

    public func request() -> Power { Power(action.action) }
}

/// A power action on the command line.
struct PowerActionArgument: ExpressibleByArgument {
    let action: PowerAction
    init?(argument: String) {
        guard let action = PowerAction(rawValue: argument) else { return nil }
        self.action = action
    }
    static var allValueStrings: [String] { PowerAction.allCases.map(\.rawValue) }
}
