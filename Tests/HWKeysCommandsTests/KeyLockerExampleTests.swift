//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommandsTests
//
//===----------------------------------------------------------------------===//

import Foundation
import Testing

@testable import HWKeysCommands

/// Every `examples/keylocker-*.hwk` script runs to the end under `hwkeys run` (its `expect-error` lines
/// included), and the demonstrations show what their comments claim.
@Suite struct KeyLockerExampleTests {
    static let examples: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("examples")

    static let scripts: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: examples.path)) ?? []
        return names.filter { $0.hasPrefix("keylocker-") && $0.hasSuffix(".hwk") }.sorted()
    }()

    /// Runs `script` in a fresh state file and returns each line's JSON output.
    static func run(_ script: String) throws -> [[String: Any]] {
        let scratch = Scratch()
        let result = scratch.run("run", examples.appendingPathComponent(script).path, "--format", "json")
        #expect(result.exitCode == 0, "\(script): \(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let results = try #require(object["results"] as? [[String: Any]])
        #expect(results.count == object["commands"] as? Int)
        return results.compactMap { $0["output"] as? [String: Any] }
    }

    @Test func thereAreKeyLockerExamples() {
        #expect(Self.scripts.contains("keylocker-basics.hwk"))
        #expect(Self.scripts.count >= 3)
    }

    @Test(arguments: scripts)
    func exampleRunsToTheEnd(script: String) throws {
        _ = try Self.run(script)
    }

    @Test func basicsShowsTheFixtureHandleAndAESResults() throws {
        let outputs = try Self.run("keylocker-basics.hwk")
        #expect(outputs.contains { $0["handle"] as? String == KLVector.handle128 })
        #expect(outputs.contains { $0["block"] as? String == String(KLVector.encrypted128.prefix(32)) })
        #expect(outputs.contains { $0["blocks"] as? String == KLVector.encrypted128 })
        #expect(outputs.filter { $0["zf"] as? Int == 1 }.count == 3)
    }

    @Test func backupShowsTheSameHandleOnBothCPUsAndTheS5Loss() throws {
        let outputs = try Self.run("keylocker-backup.hwk")
        let handles = outputs.compactMap { $0["handle"] as? String }
        // CPU 0, CPU 1 after the copy, after S3 before the restore (zero IWKey), after the restore.
        #expect(handles.count == 4)
        #expect(handles[0] == handles[1] && handles[1] == handles[3] && handles[2] != handles[0])
        let statuses = outputs.filter { $0["msr"] as? String == "0x991" }.compactMap { $0["value"] as? String }
        #expect(statuses == ["0x0", "0x9", "0x9", "0x9", "0x4", "0x0"])
        let copies = outputs.filter { $0["msr"] as? String == "0x990" && $0["value"] != nil }.compactMap {
            $0["value"] as? String
        }
        #expect(copies == ["0x1", "0x0", "0x1", "0x1", "0x1", "0x0", "0x0", "0x0"])
    }

    /// The per-mode scripts end with a Key Locker crypt volume across S3, S4, hotplug and S5: every read
    /// that runs returns the bytes written (failures are the scripts' `expect-error` lines: ENODEV where
    /// the mode loses IWKey, ENXIO after S5 until the volume is opened again).
    @Test(arguments: [
        ("native_kernel_key_remember", 5), ("native_kernel_key_backup", 5), ("native_random_key", 5), ("boot", 5),
        ("native_kernel_key_norestore", 2),
    ])
    func modeScriptsShowTheVolumeSurviving(mode: String, reads: Int) throws {
        let outputs = try Self.run("keylocker-mode-\(mode).hwk")
        let written = "7375727669766564"
        let read = outputs.compactMap { $0["bytes"] as? String }.filter { $0.count == written.count }
        #expect(read.count == reads)
        #expect(read.allSatisfy { $0 == written })
    }
}
