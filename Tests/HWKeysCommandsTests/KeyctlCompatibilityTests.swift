//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommandsTests
//
//===----------------------------------------------------------------------===//

import Foundation
import Testing

@testable import HWKeysCommands

/// keyctl(1) compatibility (issue 11), against keyutils' own command (`keyctl.c`, keyutils 1.6.3) and
/// test suite (`tests/keyctl/<verb>/…` and its toolbox's `expect_error`): the verbs `id`, `pipe` and `supports`,
/// hex payloads, negative special serials, `-1` for chown/chgrp, abbreviated verbs, `@t` and `@us`, and the
/// output and error lines scripts match.
@Suite struct KeyctlCompatibilityTests {
    func machine() -> Scratch {
        let scratch = Scratch()
        scratch.run("machine", "create", "--seed", "5")
        return scratch
    }

    func serial(_ scratch: Scratch, _ words: String...) throws -> Int32 {
        let result = scratch.run(["keyctl"] + words)
        #expect(result.exitCode == 0, "\(words): \(result.stderr)")
        return try #require(Int32(result.stdout))
    }

    func stdout(_ scratch: Scratch, _ words: String...) -> String {
        let result = scratch.run(["keyctl"] + words)
        #expect(result.exitCode == 0, "\(words): \(result.stderr)")
        return result.stdout
    }

    func errno(_ scratch: Scratch, _ words: String...) throws -> String {
        let result = scratch.run(["keyctl"] + words + ["--format", "json"])
        #expect(result.exitCode != 0, "\(words) succeeded")
        let object = try JSONSerialization.jsonObject(with: Data(result.stderr.utf8))
        return try #require((object as? [String: Any])?["error"] as? String)
    }

    /// What `hwkeys --state … keyctl WORDS` writes to stdout, byte for byte (as `main` writes it: each line
    /// with its newline, raw output as it is).
    func bytes(_ scratch: Scratch, _ words: String...) -> [UInt8] {
        let out = OutputBytes()
        let result = HWKeysCLI.run(
            ["--state", scratch.statePath, "keyctl"] + words,
            environment: [:],
            stdout: { out.bytes += Array(($0 + "\n").utf8) },
            rawStdout: { out.bytes += $0 }
        )
        #expect(result.exitCode == 0, "\(words): \(result.stderr)")
        return out.bytes
    }

    // MARK: id

    /// `keyctl id KEY` (keyutils 1.6 `act_keyctl_id`: `keyctl_get_keyring_ID(key, 0)`).
    @Test func idPrintsTheSerialAKeyArgumentNames() throws {
        let scratch = machine()
        let session = try #require(try scratch.json("keyctl", "show")["keyring"] as? Int)
        #expect(try serial(scratch, "id", "@s") == Int32(session))
        #expect(try serial(scratch, "id", "-3") == Int32(session))
        let key = try serial(scratch, "add", "user", "lizard", "gizzard", "@s")
        #expect(try serial(scratch, "id", "%user:lizard") == key)
        #expect(try serial(scratch, "id", "\(key)") == key)
        #expect(try scratch.json("keyctl", "id", "@s")["serial"] as? Int == session)
        // Without create: no process keyring is made.
        #expect(try errno(scratch, "id", "@p") == "ENOKEY")
        #expect(try errno(scratch, "id", "0") == "EINVAL")
        // KEY_NEED_SEARCH: a revoked key is no longer named.
        scratch.run("keyctl", "revoke", "\(key)")
        #expect(try errno(scratch, "id", "\(key)") == "EKEYREVOKED")
        #expect(scratch.run("keyctl", "id").exitCode == 2)
    }

    // MARK: pipe

    /// `keyctl pipe KEY` writes the payload raw, nothing added (keyutils tests/keyctl/reading/valid:
    /// "pipe the contents of the key and add a LF as the key doesn't have one").
    @Test func pipeWritesThePayloadRaw() throws {
        let scratch = machine()
        let key = try serial(scratch, "add", "user", "lizard", "gizzard", "@s")
        #expect(bytes(scratch, "pipe", "\(key)") == Array("gizzard".utf8))
        let binary = try serial(scratch, "add", "-x", "user", "bin", "00ff0a80", "@s")
        #expect(bytes(scratch, "pipe", "\(binary)") == [0x00, 0xFF, 0x0A, 0x80])
        let json = try scratch.json("keyctl", "pipe", "\(binary)")
        #expect(json["bytes"] as? String == "00ff0a80")
        #expect(json["length"] as? Int == 4)
        let logon = try serial(scratch, "add", "logon", "a:b", "secret", "@s")
        #expect(try errno(scratch, "pipe", "\(logon)") == "EOPNOTSUPP")
        #expect(scratch.run("keyctl", "pipe").exitCode == 2)
    }

    // MARK: supports

    /// `keyctl supports [CAP | --raw]` (`KEYCTL_CAPABILITIES`; bits from `include/uapi/linux/keyctl.h`):
    /// hwkeys has the operation itself and invalidation, nothing else keyctl asks about.
    @Test func supportsReportsTheModelledCapabilities() throws {
        let scratch = machine()
        #expect(
            stdout(scratch, "supports") == """
                have_capabilities=1
                have_persistent_keyrings=0
                have_dh_compute=0
                have_public_key=0
                have_big_key_type=0
                have_key_invalidate=1
                have_restrict_keyring=0
                have_move_key=0
                have_ns_keyring_name=0
                have_ns_key_tag=0
                have_notify=0
                """
        )
        #expect(stdout(scratch, "supports", "--raw") == "2100")
        #expect(stdout(scratch, "supports", "key_invalidate") == "")
        #expect(try errno(scratch, "supports", "move_key") == "EOPNOTSUPP")
        #expect(scratch.run("keyctl", "supports", "move_key").exitCode == 1)
        #expect(scratch.run("keyctl", "supports", "teleport").exitCode == 2)
        let json = try scratch.json("keyctl", "supports")
        #expect(json["raw"] as? String == "2100")
        #expect((json["capabilities"] as? [String: Bool])?["key_invalidate"] == true)
    }

    // MARK: -x

    /// `-x`: the data is hex, whitespace between byte pairs skipped (keyutils `hex2bin`); a lone digit is
    /// "Short hex doublet", a non-digit "Bad hex doublet", both exit status 1.
    @Test func hexPayloadsOnAddPaddUpdateAndPupdate() throws {
        let scratch = machine()
        let key = try serial(scratch, "add", "-x", "user", "lizard", "67 69\t7a7a", "@s")
        #expect(stdout(scratch, "print", "\(key)") == "gizz")
        let padded = try serial(scratch, "padd", "-x", "user", "newt", "@s", "--input", scratch.write("p", "657965\n"))
        #expect(stdout(scratch, "print", "\(padded)") == "eye")
        #expect(stdout(scratch, "update", "-x", "\(key)", "6172 64") == "")
        #expect(stdout(scratch, "print", "\(key)") == "ard")
        #expect(stdout(scratch, "pupdate", "-x", "\(key)", "--input", scratch.write("u", "ff00")) == "")
        #expect(stdout(scratch, "print", "\(key)") == ":hex:ff00")
        for (bad, message) in [("abc", "Short hex doublet"), ("zz", "Bad hex doublet"), ("a b", "Bad hex doublet")] {
            let result = scratch.run("keyctl", "add", "-x", "user", "bad", bad, "@s")
            #expect(result.exitCode == 1)
            #expect(result.stderr.contains(message), "\(result.stderr)")
        }
        // Without -x the same words are the payload.
        let plain = try serial(scratch, "add", "user", "plain", "6869", "@s")
        #expect(stdout(scratch, "print", "\(plain)") == "6869")
    }

    // MARK: Negative serials, chown/chgrp -1

    /// keyctl reads key arguments with `strtoul`, so `-1` … `-7` name the `KEY_SPEC_*` keyrings wherever it
    /// takes a key — including after options and where ArgumentParser would take `-3` for an option.
    @Test func negativeSerialsNameTheSpecialKeyrings() throws {
        let scratch = machine()
        #expect(stdout(scratch, "describe", "-3") == stdout(scratch, "describe", "@s"))
        #expect(stdout(scratch, "rdescribe", "-4") == "keyring;0;65534;1f3f0000;_uid.0")
        let key = try serial(scratch, "add", "user", "lizard", "gizzard", "-3")
        #expect(stdout(scratch, "rlist", "-3").split(separator: " ").contains("\(key)"))
        #expect(try serial(scratch, "search", "-3", "user", "lizard") == key)
        let inProcess = try serial(scratch, "add", "user", "newt", "eye", "-2", "--pid", "100")
        #expect(stdout(scratch, "rlist", "--pid", "100", "@p") == "\(inProcess)")
        #expect(try errno(scratch, "describe", "-1") == "ENOKEY")
        #expect(try errno(scratch, "describe", "-6") == "EINVAL")
        #expect(try errno(scratch, "describe", "-7") == "ENOKEY")
        #expect(try errno(scratch, "describe", "-9") == "EINVAL")
        #expect(scratch.run("keyctl", "describe", "-x3").exitCode == 2)
    }

    /// keyctl passes `strtoul("-1")` — `(uid_t)-1` — to `keyctl_chown`, which leaves that id unchanged.
    @Test func chownAndChgrpTakeMinusOneForUnchanged() throws {
        let scratch = machine()
        let key = try serial(scratch, "add", "user", "lizard", "gizzard", "@s")
        #expect(stdout(scratch, "chgrp", "\(key)", "5") == "")
        #expect(stdout(scratch, "chown", "\(key)", "-1") == "")
        #expect(stdout(scratch, "chgrp", "\(key)", "-1") == "")
        #expect(stdout(scratch, "rdescribe", "\(key)") == "user;0;5;3f010000;lizard")
        let json = try scratch.json("keyctl", "chown", "\(key)", "-1")
        #expect(json["uid"] is NSNull)
        #expect(stdout(scratch, "chown", "\(key)", "4294967295") == "")
        #expect(stdout(scratch, "chown", "\(key)", "1000") == "")
        #expect(stdout(scratch, "rdescribe", "\(key)") == "user;1000;5;3f010000;lizard")
        #expect(scratch.run("keyctl", "chown", "\(key)", "-1x").exitCode == 2)
    }

    // MARK: Abbreviations

    /// keyutils' best-fit lookup: an exact verb wins, a unique prefix of keyctl's verbs is accepted, a prefix
    /// keyctl finds ambiguous is an error (checked against keyctl's own verb list, so `pi` is ambiguous —
    /// `pinstantiate`, `pipe` — though hwkeys models only `pipe`).
    @Test func verbsMayBeAbbreviatedAsKeyctlAllows() throws {
        let scratch = machine()
        let key = try serial(scratch, "ad", "user", "lizard", "gizzard", "@s")
        #expect(stdout(scratch, "desc", "\(key)") == stdout(scratch, "describe", "\(key)"))
        #expect(stdout(scratch, "rd", "\(key)") == "user;0;0;3f010000;lizard")
        #expect(stdout(scratch, "pri", "\(key)") == "gizzard")
        #expect(stdout(scratch, "rl", "@s").contains("\(key)"))
        #expect(stdout(scratch, "id", "\(key)") == "\(key)")
        for (word, message) in [
            ("pi", "ambiguous keyctl command 'pi': pinstantiate, pipe"),
            ("r", "ambiguous keyctl command 'r'"),
            ("li", "ambiguous keyctl command 'li': link, list"),
            ("sess", "keyctl session is not modelled"),
            ("lizard", "unknown keyctl command 'lizard'"),
        ] {
            let result = scratch.run("keyctl", word, "@s")
            #expect(result.exitCode == 2)
            #expect(result.stderr.hasPrefix("hwkeys: EINVAL: \(message)"), "\(result.stderr)")
        }
        // Global options before the verb do not change that.
        let result = HWKeysCLI.run(["--format", "json", "--state", scratch.statePath, "keyctl", "desc", "\(key)"])
        #expect(result.exitCode == 0)
    }

    // MARK: @t, @us

    @Test func theThreadKeyringIsENOKEYUntilMadeAndUserSessionIsTheUIDs() throws {
        let scratch = machine()
        #expect(try errno(scratch, "describe", "@t") == "ENOKEY")
        #expect(try errno(scratch, "list", "@t") == "ENOKEY")
        let key = try serial(scratch, "add", "user", "lizard", "gizzard", "@t")
        #expect(stdout(scratch, "rdescribe", "@t") == "keyring;0;0;3f010000;_tid")
        #expect(stdout(scratch, "rlist", "@t") == "\(key)")
        #expect(stdout(scratch, "rdescribe", "@us") == "keyring;0;65534;1f3f0000;_uid_ses.0")
        let user = try serial(scratch, "id", "@u")
        #expect(stdout(scratch, "rlist", "@us") == "\(user)")
        // The same keyring every time (it was committed by the first command that named it).
        #expect(try serial(scratch, "id", "@us") == serial(scratch, "id", "-5"))
    }

    // MARK: Unlink

    /// Unlinking a keyring's last link leaves the keys only it held unreachable at once (keyutils
    /// tests/keyctl/unlink/valid: the key is gone after `unlink_key --wait`; Linux's collector runs at once).
    @Test func keysOnlyAnUnlinkedKeyringHeldAreGoneAtOnce() throws {
        let scratch = machine()
        let ring = try serial(scratch, "newring", "wibble", "@s")
        let key = try serial(scratch, "add", "user", "lizard", "gizzard", "\(ring)")
        #expect(stdout(scratch, "unlink", "\(ring)", "@s") == "")
        #expect(try errno(scratch, "describe", "\(ring)") == "ENOKEY")
        #expect(try errno(scratch, "describe", "\(key)") == "ENOKEY")
        #expect(try errno(scratch, "print", "\(key)") == "ENOKEY")
    }

    // MARK: Readers

    /// docs/workspace.md: keyctl's inspections are readers — the state file is not written — while naming
    /// `@us` the first time (the kernel creates the keyring) and reading a payload are writers.
    @Test func inspectionsLeaveTheStateFileUntouched() throws {
        let scratch = machine()
        let key = try serial(scratch, "add", "user", "lizard", "gizzard", "@s")
        let ring = try serial(scratch, "newring", "wibble", "@s")
        let before = try Data(contentsOf: URL(fileURLWithPath: scratch.statePath))
        for words in [
            ["show"], ["show", "-x", "\(ring)"], ["describe", "\(key)"], ["rdescribe", "@s"], ["id", "@s"],
            ["list", "@s"], ["rlist", "\(ring)"], ["supports"], ["search", "@s", "user", "lizard"],
            ["describe", "%user:lizard"],
        ] {
            #expect(scratch.run(["keyctl"] + words).exitCode == 0, "\(words)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: scratch.statePath)) == before, "\(words) wrote")
        }
        #expect(scratch.run("keyctl", "id", "@us").exitCode == 0)
        let afterUserSession = try Data(contentsOf: URL(fileURLWithPath: scratch.statePath))
        #expect(afterUserSession != before)
        #expect(scratch.run("keyctl", "print", "\(key)").exitCode == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: scratch.statePath)) != afterUserSession)
    }

    // MARK: Output lines

    /// keyctl prints an empty line for an empty `rlist` (`printf("\n")`) and for `print` of an empty payload
    /// (`printf("%s\n", "")`).
    @Test func emptyRlistAndPrintPrintAnEmptyLine() throws {
        let scratch = machine()
        let ring = try serial(scratch, "newring", "wibble", "@s")
        #expect(bytes(scratch, "rlist", "\(ring)") == [0x0A])
        #expect(bytes(scratch, "print", "\(ring)") == [0x0A])
        #expect(bytes(scratch, "list", "\(ring)") == Array("keyring is empty\n".utf8))
        // The empty line is text output only: JSON is the object.
        #expect(try scratch.json("keyctl", "rlist", "\(ring)")["serials"] as? [Int] == [])
        let key = try serial(scratch, "add", "user", "lizard", "gizzard", "\(ring)")
        #expect(bytes(scratch, "rlist", "\(ring)") == Array("\(key)\n".utf8))
    }

    /// `list` and `rlist` of a key that is not a keyring: ENOTDIR (its payload is no list of serials).
    @Test func listingANonKeyringIsENOTDIR() throws {
        let scratch = machine()
        let key = try serial(scratch, "add", "user", "lizard", "gizzard", "@s")
        #expect(try errno(scratch, "list", "\(key)") == "ENOTDIR")
        #expect(try errno(scratch, "rlist", "\(key)") == "ENOTDIR")
        let result = scratch.run("keyctl", "list", "\(key)")
        #expect(result.stderr.hasSuffix(": Not a directory"), "\(result.stderr)")
    }

    /// keyutils' toolbox `expect_error` matches the last line against `.*: <strerror>`: every failing
    /// keyctl verb's error line ends that way.
    @Test(arguments: [
        (["describe", "2147483000"], "Required key not available"),
        (["link", "@s", "@s"], "Resource deadlock avoided"),
        (["add", "lizardsgizzards", "wibble", "stuff", "@s"], "No such device"),
        (["add", ".user", "wibble", "stuff", "@s"], "Operation not permitted"),
        (["add", "user", "wibble", "", "@s"], "Invalid argument"),
        (["update", "@s", "x"], "Operation not supported"),
    ])
    func errorLinesEndWithStrerrorAsKeyctls(words: [String], text: String) throws {
        let scratch = machine()
        let result = scratch.run(["keyctl"] + words)
        #expect(result.exitCode == 1)
        #expect(result.stderr.hasSuffix(": \(text)"), "\(result.stderr)")
    }
}

/// Bytes collected from an in-process run (the closures run on the calling thread).
private final class OutputBytes: @unchecked Sendable {
    var bytes: [UInt8] = []
}
