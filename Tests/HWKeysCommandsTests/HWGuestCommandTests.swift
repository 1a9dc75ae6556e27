//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommandsTests
//
//===----------------------------------------------------------------------===//

import Foundation
import Testing

@testable import HWKeysCommands

/// docs/contract.md §8: the host-only commands of the debug monitor (raw DRAM, the key table, disks, fault
/// injection) refuse `--vm NAME` with EINVAL (usage, exit 2) and change nothing; the same words without
/// `--vm` succeed, so the refusal is about the guest.
@Suite struct HWGuestCommandTests {
    @Test(arguments: [
        ["hw", "dram", "0", "16"],
        ["hw", "poke-dram", "0", "00"],
        ["hw", "keytable"],
        ["hw", "inject", "rdseed-fail", "1"],
        ["hw", "disks"],
        ["hw", "disk", "swap", "0", "16"],
        ["hw", "poke-disk", "swap", "0", "00"],
    ])
    func hostOnlyCommandsAnswerEINVALUnderVM(words: [String]) throws {
        let scratch = Scratch()
        #expect(scratch.run("machine", "create", "--seed", "7", "--no-kernel").exitCode == 0)
        let before = try scratch.storedState()
        let refused = scratch.run(words + ["--vm", "x", "--format", "json"])
        #expect(refused.exitCode == 2, "\(words): \(refused.stderr)")
        #expect(refused.stderr.contains("\"error\":\"EINVAL\""), "\(words): \(refused.stderr)")
        #expect(refused.stdout.isEmpty)
        #expect(try scratch.storedState() == before)
        // Global options may come first, as everywhere.
        #expect(scratch.run(["--vm", "x"] + words).exitCode == 2)
        let allowed = scratch.run(words)
        #expect(allowed.exitCode == 0, "\(words): \(allowed.stderr)")
    }
}
