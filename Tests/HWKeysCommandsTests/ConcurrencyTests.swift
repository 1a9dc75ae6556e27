//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommandsTests
//
//===----------------------------------------------------------------------===//

import Foundation
import Testing

@testable import HWKeysCommands

/// contract §12: writers to one state file serialize (they wait, they do not fail); readers never write and
/// never fail because of a writer. Each CLI invocation here has its own workspace and SQLite connection, as
/// separate `hwkeys` processes do.
@Suite struct ConcurrencyTests {
    @Test func twentyWritersAndTwentyReadersOnOneFileAllSucceed() throws {
        let scratch = Scratch()
        #expect(scratch.run("machine", "create", "--seed", "3", "--memory", "16M").exitCode == 0)
        let results = Results()
        let statePath = scratch.statePath
        DispatchQueue.concurrentPerform(iterations: 40) { index in
            let scratch = Scratch(statePath: statePath)
            let result: CLIResult
            if index % 2 == 0 {
                result = scratch.run("keyctl", "add", "user", "writer\(index)", "payload \(index)", "@u")
            } else {
                result = scratch.run(index % 4 == 1 ? ["machine", "show"] : ["keyctl", "show", "@u"])
            }
            results.append(index, result)
        }
        for (index, result) in results.all {
            #expect(result.exitCode == 0, "command \(index): \(result.stderr)")
        }
        // No writer's update was lost.
        for index in stride(from: 0, to: 40, by: 2) {
            let printed = scratch.run("keyctl", "print", "%user:writer\(index)")
            #expect(printed.stdout == "payload \(index)", "\(printed.stderr)")
        }
    }

    /// A reader leaves the file exactly as it was: no commit, no new revision.
    @Test func aReadOnlyCommandDoesNotWriteTheFile() throws {
        let scratch = Scratch()
        #expect(scratch.run("machine", "create", "--seed", "3", "--memory", "16M").exitCode == 0)
        let before = try Data(contentsOf: URL(fileURLWithPath: scratch.statePath))
        let attributes = try FileManager.default.attributesOfItem(atPath: scratch.statePath)
        for words in [["machine", "show"], ["machine", "list"], ["dmesg"], ["cpu", "list"], ["clock", "show"]] {
            #expect(scratch.run(words).exitCode == 0, "\(words)")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: scratch.statePath)) == before)
        let after = try FileManager.default.attributesOfItem(atPath: scratch.statePath)
        #expect(after[.modificationDate] as? Date == attributes[.modificationDate] as? Date)
    }

    final class Results: @unchecked Sendable {
        // @unchecked Sendable: `entries` is touched only under `lock`.
        private let lock = NSLock()
        private var entries: [(Int, CLIResult)] = []
        func append(_ index: Int, _ result: CLIResult) { lock.withLock { entries.append((index, result)) } }
        var all: [(Int, CLIResult)] { lock.withLock { entries.sorted { $0.0 < $1.0 } } }
    }
}
