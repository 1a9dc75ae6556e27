//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommandsTests
//
//===----------------------------------------------------------------------===//

import Foundation
import Testing

@testable import HWKeysCommands

/// Every script in `examples/` runs to the end with `hwkeys run` (each against a fresh state file).
@Suite struct ExamplesTests {
    static let examples: [String] = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let directory = root.appendingPathComponent("examples")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasSuffix(".hwk") }.sorted().map { directory.appendingPathComponent($0).path }
    }()

    @Test func thereAreExamples() {
        #expect(Self.examples.contains { $0.hasSuffix("mktme-basics.hwk") })
    }

    @Test(arguments: examples)
    func exampleRunsToTheEnd(path: String) throws {
        let scratch = Scratch()
        let result = scratch.run("run", path, "--quiet", "--format", "json")
        #expect(result.exitCode == 0, "\(path): \(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect((object["commands"] as? Int ?? 0) > 0)
    }
}
