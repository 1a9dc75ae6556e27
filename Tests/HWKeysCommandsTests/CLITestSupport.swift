//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommandsTests
//
//===----------------------------------------------------------------------===//

import Foundation
import Testing

@testable import HWKeysCommands

/// A scratch directory with a state file path, removed at the end of a test.
final class Scratch {
    let directory: URL
    let statePath: String
    /// Whether this scratch made (and removes) its directory.
    private let owned: Bool

    init() {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("hwkeys-test-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        statePath = directory.appendingPathComponent("state.sqlite").path
        owned = true
    }

    /// Another view of an existing scratch's state file (for use on another thread); removes nothing.
    init(statePath: String) {
        self.statePath = statePath
        directory = URL(fileURLWithPath: statePath).deletingLastPathComponent()
        owned = false
    }

    deinit { if owned { try? FileManager.default.removeItem(at: directory) } }

    /// Runs `hwkeys --state <scratch> <words>` in-process.
    @discardableResult
    func run(_ words: String..., environment: [String: String] = [:]) -> CLIResult {
        run(words, environment: environment)
    }

    @discardableResult
    func run(_ words: [String], environment: [String: String] = [:]) -> CLIResult {
        HWKeysCLI.run(["--state", statePath] + words, environment: environment)
    }

    /// Runs a command with `--format json` and parses stdout.
    func json(_ words: String...) throws -> [String: Any] {
        try json(words)
    }

    /// ``json(_:)`` with the words as an array.
    func json(_ words: [String]) throws -> [String: Any] {
        let result = run(words + ["--format", "json"])
        #expect(result.exitCode == 0, "\(words): \(result.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8))
        return try #require(object as? [String: Any])
    }

    /// The JSON error a failing command printed.
    func error(_ words: String...) throws -> (code: String, exit: Int32) {
        let result = run(words + ["--format", "json"])
        let object = try JSONSerialization.jsonObject(with: Data(result.stderr.utf8))
        let dictionary = try #require(object as? [String: Any])
        return (try #require(dictionary["error"] as? String), result.exitCode)
    }

    func write(_ name: String, _ contents: String) -> String {
        let path = directory.appendingPathComponent(name).path
        _ = FileManager.default.createFile(atPath: path, contents: Data(contents.utf8))
        return path
    }
}
