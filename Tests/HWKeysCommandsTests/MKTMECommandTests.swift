//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommandsTests
//
//===----------------------------------------------------------------------===//

import Foundation
import Testing

@testable import HWKeysCommands

/// A scratch state file with a seeded 2-package machine without the kernel.
private func machine(_ extra: String...) -> Scratch {
    let scratch = Scratch()
    let result = scratch.run(["machine", "create", "--seed", "7", "--packages", "2", "--no-kernel"] + extra)
    #expect(result.exitCode == 0, "\(result.stderr)")
    return scratch
}

/// Runs `words` (expected to fail with `code` and `exit`) and checks that the machine did not change.
private func expectFailureChangesNothing(_ scratch: Scratch, _ words: [String], code: String, exit: Int32) throws {
    let before = try scratch.json("machine", "show")
    let keytable = try scratch.json("hw", "keytable")
    let result = scratch.run(words + ["--format", "json"])
    #expect(result.exitCode == exit, "\(words): \(result.stderr)")
    #expect(result.stderr.contains("\"error\":\"\(code)\""), "\(words): \(result.stderr)")
    #expect(result.stdout.isEmpty)
    #expect(NSDictionary(dictionary: before) == NSDictionary(dictionary: try scratch.json("machine", "show")))
    #expect(NSDictionary(dictionary: keytable) == NSDictionary(dictionary: try scratch.json("hw", "keytable")))
}

@Suite struct HWPCONFIGCommandTests {
    @Test func setKeyDirectReportsRAXZFAndStatus() throws {
        let scratch = machine()
        let out = try scratch.json(
            "hw",
            "pconfig",
            "--keyid",
            "1",
            "--command",
            "set-key-direct",
            "--key",
            String(repeating: "11", count: 16),
            "--tweak",
            String(repeating: "22", count: 16)
        )
        #expect(out["rax"] as? Int == 0)
        #expect(out["zf"] as? Int == 0)
        #expect(out["status"] as? String == "PROG_SUCCESS")
        #expect(out.count == 3)
        let table = try scratch.json("hw", "keytable")
        let first = try #require((table["keyids"] as? [[String: Any]])?.first)
        #expect(first["state"] as? String == "direct")
        #expect(first["alg"] as? String == "aes-xts-128")
    }

    @Test(arguments: [
        (["--keyid", "0", "--command", "clear-key"], 3, "INVALID_KEYID"),
        (["--keyid", "64", "--command", "no-encrypt"], 3, "INVALID_KEYID"),
        (["--keyid", "1", "--ctrl", "0x104"], 1, "INVALID_PROG_CMD"),
        (["--keyid", "1", "--ctrl", "0x300"], 4, "INVALID_ENC_ALG"),
        (["--keyid", "1", "--ctrl", "0x2"], 4, "INVALID_ENC_ALG"),
    ])
    func failuresAreStatusNotErrors(arguments: [String], rax: Int, status: String) throws {
        let scratch = machine()
        let out = try scratch.json(["hw", "pconfig"] + arguments)
        #expect(out["rax"] as? Int == rax)
        #expect(out["zf"] as? Int == 1)
        #expect(out["status"] as? String == status)
    }

    @Test func injectedFailuresAreReportedAndConsumed() throws {
        let scratch = machine()
        scratch.run("hw", "inject", "pconfig-busy", "1", "--package", "1")
        scratch.run("hw", "inject", "pconfig-entropy", "1")
        #expect(
            try scratch.json("hw", "pconfig", "--keyid", "2", "--command", "set-key-random", "--cpu", "2")["status"]
                as? String == "DEVICE_BUSY"
        )
        #expect(
            try scratch.json("hw", "pconfig", "--keyid", "2", "--command", "set-key-random", "--cpu", "2")["status"]
                as? String == "PROG_SUCCESS"
        )
        #expect(
            try scratch.json("hw", "pconfig", "--keyid", "2", "--command", "set-key-random")["status"] as? String
                == "ENTROPY_ERROR"
        )
        #expect(try scratch.json("hw", "pconfig", "--keyid", "2", "--command", "set-key-random")["rax"] as? Int == 0)
    }

    @Test func programsOnlyTheExecutingPackage() throws {
        let scratch = machine()
        scratch.run("hw", "pconfig", "--keyid", "5", "--command", "no-encrypt", "--alg", "aes-xts-256", "--cpu", "3")
        let one = try #require(try scratch.json("hw", "keytable", "--package", "1")["keyids"] as? [[String: Any]])
        let zero = try #require(try scratch.json("hw", "keytable", "--package", "0")["keyids"] as? [[String: Any]])
        #expect(one[4]["state"] as? String == "no-encrypt")
        #expect(one[4]["alg"] as? String == "aes-xts-256")
        #expect(zero[4]["state"] as? String == "unprogrammed")
        #expect(zero[4]["alg"] is NSNull)
    }

    @Test(arguments: [
        (["hw", "pconfig"], "EINVAL", Int32(2)),
        (["hw", "pconfig", "--keyid", "1"], "EINVAL", 2),
        (["hw", "pconfig", "--keyid", "1", "--command", "frobnicate"], "EINVAL", 2),
        (["hw", "pconfig", "--keyid", "70000", "--command", "clear-key"], "EINVAL", 2),
        (["hw", "pconfig", "--keyid", "1", "--command", "set-key-direct", "--key", "abc"], "EINVAL", 2),
        (
            [
                "hw", "pconfig", "--keyid", "1", "--command", "set-key-direct", "--key",
                String(repeating: "00", count: 65),
            ], "EINVAL", 2
        ),
        (["hw", "pconfig", "--keyid", "1", "--command", "clear-key", "--alg", "aes-gcm"], "EINVAL", 2),
        (["hw", "pconfig", "--keyid", "1", "--command", "clear-key", "--cpl", "3"], "#UD", 1),
        (["hw", "pconfig", "--keyid", "1", "--command", "clear-key", "--cpl", "2"], "EINVAL", 2),
        (["hw", "pconfig", "--keyid", "1", "--command", "clear-key", "--leaf", "1"], "#GP(0)", 1),
        (["hw", "pconfig", "--keyid", "1", "--ctrl", "0x1000100"], "#GP(0)", 1),
        (["hw", "pconfig", "--keyid", "1", "--command", "clear-key", "--cpu", "4"], "EINVAL", 2),
    ])
    func badUseFailsWithTheRightCodeAndChangesNothing(words: [String], code: String, exit: Int32) throws {
        try expectFailureChangesNothing(machine(), words, code: code, exit: exit)
    }

    @Test func tmeNotActiveAndNoPCONFIGFault() throws {
        let off = machine("--tme", "off", "--force")
        try expectFailureChangesNothing(
            off,
            ["hw", "pconfig", "--keyid", "1", "--command", "clear-key"],
            code: "#GP(0)",
            exit: 1
        )
        let absent = machine("--no-pconfig", "--force")
        try expectFailureChangesNothing(
            absent,
            ["hw", "pconfig", "--keyid", "1", "--command", "clear-key"],
            code: "#UD",
            exit: 1
        )
    }

    @Test func pconfigNeverWritesDRAM() throws {
        let scratch = machine("--tme-bypass", "--force")
        scratch.run(
            "hw",
            "pconfig",
            "--keyid",
            "1",
            "--command",
            "set-key-direct",
            "--key",
            String(repeating: "ab", count: 16)
        )
        let dram = try scratch.json("hw", "dram", "0", "4096")["bytes"] as? String
        #expect(dram == String(repeating: "0", count: 8192))
    }
}

@Suite struct HWStoreLoadCommandTests {
    @Test func storeLoadThroughKeyIDsAndTheDRAMView() throws {
        let scratch = machine()
        scratch.run("hw", "pconfig", "--keyid", "1", "--command", "set-key-random")
        let stored = try scratch.json("hw", "store", "0x2000", "48656c6c6f", "--keyid", "1")
        #expect(stored["pa"] as? String == "0x10000002000")
        #expect(stored["keyid"] as? Int == 1)
        #expect(stored["written"] as? Int == 5)
        // KeyID from --keyid or from the PA's KeyID bits: the same line.
        #expect(try scratch.json("hw", "load", "0x2000", "5", "--keyid", "1")["bytes"] as? String == "48656c6c6f")
        let viaBits = try scratch.json("hw", "load", "0x10000002000", "5")
        #expect(viaBits["bytes"] as? String == "48656c6c6f")
        #expect(viaBits["keyid"] as? Int == 1)
        // Still in the cache: DRAM is untouched until the line is flushed.
        #expect(try scratch.json("hw", "dram", "0x2000", "5")["bytes"] as? String == "0000000000")
        let flushed = try scratch.json("hw", "clflush", "0x2000", "--keyid", "1")
        #expect(flushed["written_back"] as? Bool == true)
        #expect(try scratch.json("hw", "clflush", "0x2000", "--keyid", "1")["written_back"] as? Bool == false)
        let dram = try #require(try scratch.json("hw", "dram", "0x2000", "5")["bytes"] as? String)
        #expect(dram != "48656c6c6f" && dram != "0000000000")
        // Through the wrong KeyID: garbage, not a fault.
        let wrong = try #require(try scratch.json("hw", "load", "0x2000", "5")["bytes"] as? String)
        #expect(wrong != "48656c6c6f")
        #expect(try scratch.json("hw", "load", "0x2000", "5", "--keyid", "1")["bytes"] as? String == "48656c6c6f")
    }

    @Test func wbinvdReportsTheLinesItWroteBack() throws {
        let scratch = machine()
        scratch.run("hw", "store", "0x0", String(repeating: "aa", count: 200))
        scratch.run("hw", "store", "0x3000000", "bb", "--cpu", "2")
        let out = try scratch.json("hw", "wbinvd")
        #expect(out["package"] as? Int == 0)
        #expect(out["lines_written_back"] as? Int == 4)
        #expect(try scratch.json("hw", "wbinvd", "--cpu", "3")["lines_written_back"] as? Int == 1)
        #expect(try scratch.json("hw", "wbinvd")["lines_written_back"] as? Int == 0)
        #expect(try scratch.error("hw", "wbinvd", "--cpl", "3").code == "#GP(0)")
    }

    @Test func countersShowInMachineShow() throws {
        let scratch = machine()
        scratch.run("hw", "pconfig", "--keyid", "1", "--command", "set-key-random")
        scratch.run("hw", "store", "0x1000", "00", "--keyid", "1")
        scratch.run("hw", "clflush", "0x1000", "--keyid", "1")
        scratch.run("hw", "wbinvd")
        let cycles = try #require(try scratch.json("machine", "show")["cycles"] as? [String: [String: Int]])
        for item in ["pconfig", "line_fill", "line_writeback", "clflush", "wbinvd"] {
            #expect(cycles[item]?["count"] == 1, "\(item)")
        }
    }

    @Test(arguments: [
        (["hw", "store"], "EINVAL", Int32(2)),
        (["hw", "store", "0x1000"], "EINVAL", 2),
        (["hw", "store", "0x1000", "xyz"], "EINVAL", 2),
        (["hw", "store", "0x1000", ""], "EINVAL", 2),
        (["hw", "store", "0x4000000", "00"], "EFAULT", 1),
        (["hw", "store", "0x3ffffff", "0000"], "EFAULT", 1),
        (["hw", "store", "0x1000", "00", "--keyid", "64"], "EINVAL", 2),
        (["hw", "store", "0x10000001000", "00", "--keyid", "2"], "EINVAL", 2),
        (["hw", "store", "0x400000000000", "00"], "EINVAL", 2),
        (["hw", "store", "0x1000", "00", "--cpu", "9"], "EINVAL", 2),
        (["hw", "load"], "EINVAL", 2),
        (["hw", "load", "0x1000"], "EINVAL", 2),
        (["hw", "load", "0x1000", "0"], "EINVAL", 2),
        (["hw", "load", "0x1000", "17M"], "EINVAL", 2),
        (["hw", "load", "0x3fffff0", "32"], "EFAULT", 1),
        (["hw", "clflush"], "EINVAL", 2),
        (["hw", "clflush", "0x4000000"], "EFAULT", 1),
        (["hw", "clflush", "0x1000", "--keyid", "99"], "EINVAL", 2),
        (["hw", "wbinvd", "extra"], "EINVAL", 2),
        (["hw", "wbinvd", "--cpu", "4"], "EINVAL", 2),
        (["hw", "keytable", "--package", "2"], "EINVAL", 2),
        (["hw", "keytable", "--package", "x"], "EINVAL", 2),
    ])
    func badUseFailsWithTheRightCodeAndChangesNothing(words: [String], code: String, exit: Int32) throws {
        let scratch = machine()
        scratch.run("hw", "store", "0x1000", "77")  // a dirty line that must stay dirty
        try expectFailureChangesNothing(scratch, words, code: code, exit: exit)
        #expect(try scratch.json("hw", "dram", "0x1000", "1")["bytes"] as? String == "00")
    }

    @Test func cpuAccessNeedsARunningMachine() throws {
        let scratch = machine()
        scratch.run("power", "suspend")
        #expect(try scratch.error("hw", "store", "0x1000", "00").code == "EHOSTDOWN")
        #expect(try scratch.error("hw", "load", "0x1000", "1").code == "EHOSTDOWN")
        #expect(try scratch.error("hw", "clflush", "0x1000").code == "EHOSTDOWN")
        #expect(try scratch.error("hw", "wbinvd").code == "EHOSTDOWN")
        #expect(try scratch.error("hw", "pconfig", "--keyid", "1", "--command", "clear-key").code == "EHOSTDOWN")
        // The key table is hardware state and can be inspected in any power state.
        #expect(try scratch.json("hw", "keytable")["tme"] as? [String: Any] != nil)
    }
}

@Suite struct HWKeyTableCommandTests {
    @Test func showsEveryKeyIDAndTheTMEStateButNeverKeyBytes() throws {
        let scratch = machine()
        let key = "0123456789abcdeffedcba9876543210"
        scratch.run("hw", "pconfig", "--keyid", "3", "--command", "set-key-direct", "--key", key, "--tweak", key)
        scratch.run("hw", "pconfig", "--keyid", "4", "--command", "set-key-random", "--alg", "aes-xts-256")
        scratch.run("hw", "pconfig", "--keyid", "5", "--command", "clear-key")
        let result = scratch.run("hw", "keytable", "--format", "json")
        #expect(!result.stdout.contains(key))
        let out = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(out["package"] as? Int == 0)
        let tme = try #require(out["tme"] as? [String: Any])
        #expect(tme["state"] as? String == "active")
        #expect(tme["alg"] as? String == "aes-xts-128")
        #expect(tme["keyid_bits"] as? Int == 6)
        let keyids = try #require(out["keyids"] as? [[String: Any]])
        #expect(keyids.count == 63)
        #expect(keyids.map { $0["keyid"] as? Int } == (1...63).map { $0 })
        #expect(keyids[2]["state"] as? String == "direct")
        #expect(keyids[3]["state"] as? String == "random")
        #expect(keyids[3]["alg"] as? String == "aes-xts-256")
        #expect(keyids[4]["state"] as? String == "clear")
        #expect(Set(keyids.map { Set($0.keys) }) == [["keyid", "state", "alg"]])
        #expect(!scratch.run("hw", "keytable").stdout.contains(key))
    }

    @Test func tmeOffShowsUnlockedAndNoKeyIDsUntilActivatedByHand() throws {
        let scratch = machine("--tme", "off", "--force")
        var out = try scratch.json("hw", "keytable")
        #expect((out["tme"] as? [String: Any])?["state"] as? String == "unlocked")
        #expect((out["keyids"] as? [Any])?.isEmpty == true)
        #expect(try scratch.error("hw", "wrmsr", "0x982", "0x100000000").code == "#GP(0)")  // k > 0 without enable
        #expect(scratch.run("hw", "wrmsr", "0x982", "0x0001000200000002").exitCode == 0)  // k = 2, AES-XTS-128
        out = try scratch.json("hw", "keytable")
        #expect((out["tme"] as? [String: Any])?["state"] as? String == "active")
        #expect((out["keyids"] as? [Any])?.count == 3)
        #expect(try scratch.error("hw", "wrmsr", "0x982", "0x0001000200000002").code == "#GP(0)")  // locked
    }

    @Test func whileSuspendedTheTableShowsSavedKeys() throws {
        let scratch = machine()
        scratch.run("hw", "pconfig", "--keyid", "1", "--command", "set-key-random")
        scratch.run("power", "suspend")
        let tme = try #require(try scratch.json("hw", "keytable")["tme"] as? [String: Any])
        #expect(tme["state"] as? String == "saved")
        #expect(tme["standby_keys_saved"] as? Bool == true)
        scratch.run("power", "resume")
        #expect((try scratch.json("hw", "keytable")["tme"] as? [String: Any])?["state"] as? String == "active")
    }

    @Test func s3WithSaveForStandbyKeepsTheTableAndWithoutLosesIt() throws {
        for (save, expected) in [("on", "random"), ("off", "unprogrammed")] {
            let scratch = machine("--save-key-for-standby", save, "--force")
            scratch.run("hw", "pconfig", "--keyid", "1", "--command", "set-key-random")
            scratch.run("power", "suspend")
            scratch.run("power", "resume")
            let keyids = try #require(try scratch.json("hw", "keytable")["keyids"] as? [[String: Any]])
            #expect(keyids[0]["state"] as? String == expected, "save-key-for-standby \(save)")
        }
    }
}
