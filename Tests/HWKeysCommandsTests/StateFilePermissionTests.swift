//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommandsTests
//
//===----------------------------------------------------------------------===//

import Foundation
import Testing

@testable import HWKeysCommands

/// The state file holds emulated-hardware secrets (key tables, IWKeys): a file its group or others can read
/// gets a warning on stderr, and the command still runs (docs/state-file.md).
@Suite struct StateFilePermissionTests {
    func setMode(_ mode: Int, _ path: String) throws {
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
    }

    @Test func aGroupOrOtherReadableStateFileWarnsAndTheCommandStillSucceeds() throws {
        let scratch = Scratch()
        #expect(scratch.run("machine", "create", "--seed", "1", "--no-kernel", "--swap", "0").exitCode == 0)
        for mode in [0o644, 0o640, 0o604] {
            try setMode(mode, scratch.statePath)
            let result = scratch.run("machine", "show")
            #expect(result.exitCode == 0, "\(result.stderr)")
            #expect(result.stdout.contains("running"), "\(result.stdout)")
            let warning = result.stderr.split(separator: "\n").first { $0.hasPrefix("hwkeys: warning: ") }
            #expect(
                warning?.contains("chmod 600 \(scratch.statePath)") == true,
                "mode \(String(mode, radix: 8)): \(result.stderr)"
            )
        }
    }

    @Test func aPrivateStateFileDoesNotWarn() throws {
        let scratch = Scratch()
        #expect(scratch.run("machine", "create", "--seed", "1", "--no-kernel", "--swap", "0").exitCode == 0)
        try setMode(0o600, scratch.statePath)
        let result = scratch.run("machine", "show")
        #expect(result.exitCode == 0)
        #expect(!result.stderr.contains("warning"), "\(result.stderr)")
        #expect(result.stderr.isEmpty)
    }
}
