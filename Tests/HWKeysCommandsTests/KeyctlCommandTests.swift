//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommandsTests
//
//===----------------------------------------------------------------------===//

import Foundation
import Testing

@testable import HWKeysCommands

/// `hwkeys keyctl`, verb by verb the keyutils way (`tests/keyctl/<verb>/{noargs,bad-args,valid}`):
/// expected output is keyctl(1)'s format (keyutils `keyctl.c`), expected errors Linux's errnos.
@Suite struct KeyctlCommandTests {
    /// A scratch state file with a booted machine.
    func machine() -> Scratch {
        let scratch = Scratch()
        scratch.run("machine", "create", "--seed", "5")
        return scratch
    }

    /// Runs a keyctl verb that prints a serial and returns it.
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

    // MARK: noargs

    @Test(arguments: [
        ["add"], ["add", "user"], ["add", "user", "a"], ["add", "user", "a", "b"], ["padd", "user", "a"],
        ["newring", "a"], ["update", "@s"], ["pupdate"], ["describe"], ["rdescribe"], ["read"], ["print"], ["list"],
        ["rlist"], ["search", "@s", "user"], ["link", "@s"], ["unlink"], ["clear"], ["revoke"], ["invalidate"],
        ["timeout", "@s"], ["setperm", "@s"], ["chown", "@s"], ["chgrp", "@s"], ["describe", "@s", "extra"],
        ["show", "@s", "extra"],
    ])
    func missingOrExtraArgumentsAreUsageErrors(words: [String]) throws {
        let scratch = machine()
        let result = scratch.run(["keyctl"] + words + ["--format", "json"])
        #expect(result.exitCode == 2)
        #expect(result.stderr.contains("\"error\":\"EINVAL\""))
    }

    @Test(arguments: ["@x", "lizard", "12abc", "0x", "%user", "%user:", "99999999999"])
    func unparsableKeysAreUsageErrors(key: String) throws {
        let scratch = machine()
        let result = scratch.run("keyctl", "describe", key)
        #expect(result.exitCode == 2)
    }

    // MARK: add, padd, newring

    @Test func addPrintsTheSerial() throws {
        let scratch = machine()
        let key = try serial(scratch, "add", "user", "lizard", "gizzard", "@s")
        #expect(key > 0)
        #expect(try scratch.json("keyctl", "add", "user", "lizard", "stomach", "@s")["serial"] as? Int == Int(key))
        #expect(stdout(scratch, "print", "\(key)") == "stomach")
    }

    @Test func addBadArguments() throws {
        let scratch = machine()
        #expect(try errno(scratch, "add", "", "wibble", "stuff", "@p") == "EINVAL")
        #expect(try errno(scratch, "add", "lizardsgizzards", "wibble", "stuff", "@p") == "ENODEV")
        #expect(try errno(scratch, "add", ".user", "wibble", "stuff", "@p") == "EPERM")
        #expect(try errno(scratch, "add", "keyring", "wibble", "a", "@p") == "EINVAL")
        #expect(try errno(scratch, "add", "user", "wibble", "stuff", "0") == "EINVAL")
        #expect(try errno(scratch, "add", "user", "a" + String(repeating: "d", count: 4095), "x", "@s") == "EINVAL")
        // Nothing was created by the failed adds to @p.
        #expect(try errno(scratch, "describe", "@p") == "ENOKEY")
    }

    @Test func paddReadsThePayloadFromItsInput() throws {
        let scratch = machine()
        let file = scratch.write("payload", "gizzard\n")
        let key = try serial(scratch, "padd", "user", "lizard", "@s", "--input", file)
        #expect(stdout(scratch, "read", "\(key)") == "8 bytes of data in key:\n67697a7a 6172640a")
        #expect(try errno(scratch, "padd", "user", "lizard", "@s", "--input", scratch.write("empty", "")) == "EINVAL")
        #expect(try errno(scratch, "padd", "user", "lizard", "@s", "--input", "/nonexistent/file") == "ENOENT")
    }

    @Test func newringMakesAKeyring() throws {
        let scratch = machine()
        let ring = try serial(scratch, "newring", "wibble", "@s")
        #expect(stdout(scratch, "list", "\(ring)") == "keyring is empty")
        #expect(try errno(scratch, "newring", ".wibble", "@s") == "EPERM")
        #expect(try errno(scratch, "newring", "wibble", "0") == "EINVAL")
    }

    // MARK: describe, rdescribe, read, print

    @Test func describeUsesKeyctlsFormat() throws {
        let scratch = machine()
        let key = try serial(scratch, "add", "user", "lizard", "gizzard", "@s")
        #expect(
            stdout(scratch, "describe", "\(key)")
                == String(format: "%9d: ", key) + "alswrv-----v------------     0     0 user: lizard"
        )
        #expect(stdout(scratch, "describe", "@u").hasSuffix(": -lswrvalswrv------------     0 65534 keyring: _uid.0"))
        #expect(stdout(scratch, "rdescribe", "\(key)") == "user;0;0;3f010000;lizard")
        #expect(stdout(scratch, "rdescribe", "\(key)", "@") == "user@0@0@3f010000@lizard")
        let json = try scratch.json("keyctl", "describe", "\(key)")
        #expect(json["perm"] as? String == "0x3f010000")
        #expect(json["type"] as? String == "user")
        #expect(json["description"] as? String == "lizard")
        #expect(try errno(scratch, "describe", "0") == "EINVAL")
        #expect(try errno(scratch, "describe", "2147483000") == "ENOKEY")
        #expect(try errno(scratch, "describe", "@g") == "EINVAL")
    }

    @Test func readAndPrintShowThePayload() throws {
        let scratch = machine()
        let key = try serial(scratch, "add", "user", "lizard", "gizzard", "@s")
        #expect(stdout(scratch, "read", "\(key)") == "7 bytes of data in key:\n67697a7a 617264")
        #expect(stdout(scratch, "print", "\(key)") == "gizzard")
        #expect(try scratch.json("keyctl", "read", "\(key)")["bytes"] as? String == "67697a7a617264")
        let long = String(repeating: "abcd", count: 9)
        let longKey = try serial(scratch, "add", "user", "long", long, "@s")
        #expect(
            stdout(scratch, "read", "\(longKey)")
                == "36 bytes of data in key:\n" + Array(repeating: "61626364", count: 8).joined(separator: " ")
                + "\n61626364"
        )
        let ring = try serial(scratch, "newring", "wibble", "@s")
        #expect(stdout(scratch, "read", "\(ring)") == "No data in key")
        let inner = try serial(scratch, "add", "user", "x", "y", "\(ring)")
        let le = withUnsafeBytes(of: inner.littleEndian) { Array($0) }.map { String(format: "%02x", $0) }.joined()
        #expect(stdout(scratch, "print", "\(ring)") == ":hex:" + le)
        #expect(try errno(scratch, "read", "0") == "ENOKEY")
        let logon = try serial(scratch, "add", "logon", "cifs:pw", "secret", "@s")
        #expect(try errno(scratch, "read", "\(logon)") == "EOPNOTSUPP")
        #expect(try errno(scratch, "print", "\(logon)") == "EOPNOTSUPP")
    }

    // MARK: list, rlist, show

    @Test func listAndRlistShowTheKeyring() throws {
        let scratch = machine()
        let ring = try serial(scratch, "newring", "wibble", "@s")
        let key = try serial(scratch, "add", "user", "lizard", "gizzard", "\(ring)")
        #expect(
            stdout(scratch, "list", "\(ring)")
                == "1 key in keyring:\n" + String(format: "%9d: ", key) + "--alswrv     0     0 user: lizard"
        )
        let second = try serial(scratch, "add", "user", "newt", "eye", "\(ring)")
        #expect(stdout(scratch, "list", "\(ring)").hasPrefix("2 keys in keyring:\n"))
        #expect(stdout(scratch, "rlist", "\(ring)") == "\(key) \(second)")
        scratch.run("keyctl", "revoke", "\(key)")
        #expect(
            stdout(scratch, "list", "\(ring)").contains(
                String(format: "%9d: ", key) + "key inaccessible (Key has been revoked)"
            )
        )
        let keys = try #require(try scratch.json("keyctl", "list", "\(ring)")["keys"] as? [[String: Any]])
        #expect(keys.first?["error"] as? String == "EKEYREVOKED")
        #expect(try errno(scratch, "list", "0") == "ENOKEY")
    }

    @Test func showDrawsTheTree() throws {
        let scratch = machine()
        let session = try #require(try scratch.json("keyctl", "show")["keyring"] as? Int)
        let user = try #require(try scratch.json("keyctl", "describe", "@u")["serial"] as? Int)
        let ring = try serial(scratch, "newring", "wibble", "@s")
        let key = try serial(scratch, "add", "user", "lizard", "gizzard", "\(ring)")
        let logon = try serial(scratch, "add", "logon", "a:b", "c", "@u")
        let expected = [
            "Session Keyring",
            String(format: "%10d", session) + " --alswrv      0     0  keyring: _ses",
            String(format: "%10d", user) + " --alswrv      0 65534   \\_ keyring: _uid.0",
            String(format: "%10d", logon) + " --alsw-v      0     0   |   \\_ logon: a:b",
            String(format: "%10d", ring) + " --alswrv      0     0   \\_ keyring: wibble",
            String(format: "%10d", key) + " --alswrv      0     0       \\_ user: lizard",
        ]
        #expect(stdout(scratch, "show") == expected.joined(separator: "\n"))
        #expect(stdout(scratch, "show", "\(ring)").hasPrefix("Keyring\n"))
        #expect(stdout(scratch, "show", "-x", "\(ring)").contains(String(format: "0x%08x", ring)))
        #expect(try errno(scratch, "show", "@p") == "ENOKEY")
    }

    // MARK: search, link, unlink, clear

    @Test func searchFindsAndOptionallyLinks() throws {
        let scratch = machine()
        let ring = try serial(scratch, "newring", "wibble", "@s")
        let key = try serial(scratch, "add", "user", "lizard", "gizzard", "\(ring)")
        #expect(try serial(scratch, "search", "@s", "user", "lizard") == key)
        let dest = try serial(scratch, "newring", "dest", "@s")
        #expect(try serial(scratch, "search", "@s", "user", "lizard", "\(dest)") == key)
        #expect(stdout(scratch, "rlist", "\(dest)") == "\(key)")
        #expect(try errno(scratch, "search", "@s", "user", "newt") == "ENOKEY")
        #expect(try errno(scratch, "search", "@s", "lizardsgizzards", "wibble") == "ENOKEY")
        #expect(try errno(scratch, "search", "@s", ".user", "wibble") == "EPERM")
        #expect(try errno(scratch, "search", "@s", "", "wibble") == "EINVAL")
        #expect(try errno(scratch, "search", "\(key)", "user", "a") == "ENOTDIR")
    }

    @Test func linkAndUnlink() throws {
        let scratch = machine()
        let ring = try serial(scratch, "newring", "wibble", "@s")
        let key = try serial(scratch, "add", "user", "lizard", "gizzard", "@s")
        #expect(stdout(scratch, "link", "\(key)", "\(ring)") == "")
        #expect(stdout(scratch, "rlist", "\(ring)") == "\(key)")
        #expect(try errno(scratch, "link", "\(ring)", "\(ring)") == "EDEADLK")
        #expect(try errno(scratch, "link", "@s", "\(key)") == "ENOTDIR")
        #expect(try errno(scratch, "link", "0", "@s") == "EINVAL")
        #expect(stdout(scratch, "unlink", "\(key)", "\(ring)") == "")
        #expect(try errno(scratch, "unlink", "\(key)", "\(ring)") == "ENOENT")
        // Without a keyring: every link in the session tree.
        scratch.run("keyctl", "link", "\(key)", "\(ring)")
        #expect(stdout(scratch, "unlink", "\(key)") == "2 links removed")
        #expect(try errno(scratch, "describe", "\(key)") == "ENOKEY")
        #expect(try scratch.json("keyctl", "unlink", "\(ring)")["links_removed"] as? Int == 1)
    }

    @Test func clearEmptiesAKeyring() throws {
        let scratch = machine()
        let ring = try serial(scratch, "newring", "wibble", "@s")
        scratch.run("keyctl", "add", "user", "lizard", "gizzard", "\(ring)")
        #expect(stdout(scratch, "clear", "\(ring)") == "")
        #expect(stdout(scratch, "list", "\(ring)") == "keyring is empty")
        #expect(try errno(scratch, "clear", "0") == "EINVAL")
    }

    // MARK: revoke, invalidate, timeout, update

    @Test func revokeThenGC() throws {
        let scratch = machine()
        let key = try serial(scratch, "add", "user", "lizard", "gizzard", "@s")
        #expect(stdout(scratch, "revoke", "\(key)") == "")
        #expect(try errno(scratch, "describe", "\(key)") == "EKEYREVOKED")
        #expect(try errno(scratch, "print", "\(key)") == "EKEYREVOKED")
        #expect(try errno(scratch, "revoke", "\(key)") == "EKEYREVOKED")
        scratch.run("clock", "advance", "299")
        #expect(try errno(scratch, "describe", "\(key)") == "EKEYREVOKED")
        scratch.run("clock", "advance", "1")
        #expect(try errno(scratch, "describe", "\(key)") == "ENOKEY")
        #expect(try errno(scratch, "revoke", "0") == "EINVAL")
    }

    @Test func invalidateIsImmediate() throws {
        let scratch = machine()
        let key = try serial(scratch, "add", "user", "lizard", "gizzard", "@s")
        #expect(try scratch.json("keyctl", "invalidate", "\(key)")["state"] as? String == "invalidated")
        #expect(try errno(scratch, "describe", "\(key)") == "ENOKEY")
        #expect(try errno(scratch, "invalidate", "\(key)") == "ENOKEY")
    }

    @Test func timeoutExpiresTheKey() throws {
        let scratch = machine()
        let key = try serial(scratch, "add", "user", "lizard", "gizzard", "@s")
        #expect(stdout(scratch, "timeout", "\(key)", "2") == "")
        scratch.run("clock", "advance", "2")
        #expect(try errno(scratch, "print", "\(key)") == "EKEYEXPIRED")
        #expect(try errno(scratch, "timeout", "\(key)", "20") == "EKEYEXPIRED")
        let other = try serial(scratch, "add", "user", "newt", "eye", "@s")
        #expect(scratch.run("keyctl", "timeout", "\(other)", "soon").exitCode == 2)
        #expect(scratch.run("keyctl", "timeout", "\(other)", "-1").exitCode == 2)
    }

    @Test func updateReplacesThePayload() throws {
        let scratch = machine()
        let key = try serial(scratch, "add", "user", "lizard", "gizzard", "@s")
        #expect(stdout(scratch, "update", "\(key)", "stomach") == "")
        #expect(stdout(scratch, "print", "\(key)") == "stomach")
        #expect(try errno(scratch, "update", "@s", "x") == "EOPNOTSUPP")
        #expect(try errno(scratch, "update", "\(key)", "") == "EINVAL")
        let file = scratch.write("new", "pancreas")
        #expect(stdout(scratch, "pupdate", "\(key)", "--input", file) == "")
        #expect(stdout(scratch, "print", "\(key)") == "pancreas")
    }

    // MARK: setperm, chown, chgrp, --pid

    @Test func setpermChownAndChgrp() throws {
        let scratch = machine()
        let key = try serial(scratch, "add", "user", "lizard", "gizzard", "@s")
        #expect(stdout(scratch, "setperm", "\(key)", "0x3f3f3f3f") == "")
        #expect(stdout(scratch, "rdescribe", "\(key)") == "user;0;0;3f3f3f3f;lizard")
        #expect(try errno(scratch, "setperm", "\(key)", "0x40000000") == "EINVAL")
        #expect(scratch.run("keyctl", "setperm", "\(key)", "rwx").exitCode == 2)
        #expect(stdout(scratch, "chgrp", "\(key)", "5") == "")
        #expect(stdout(scratch, "chown", "\(key)", "1000") == "")
        #expect(stdout(scratch, "rdescribe", "\(key)") == "user;1000;5;3f3f3f3f;lizard")
        #expect(scratch.run("keyctl", "chown", "\(key)", "bob").exitCode == 2)
    }

    @Test func otherProcessesAndUsers() throws {
        let scratch = machine()
        let key = try serial(scratch, "add", "user", "lizard", "gizzard", "@s")
        let user = try #require(try scratch.json("proc", "spawn", "--uid", "1000")["pid"] as? Int)
        #expect(try errno(scratch, "describe", "\(key)", "--pid", "\(user)") == "EACCES")
        #expect(try errno(scratch, "print", "%user:lizard", "--pid", "\(user)") == "ENOKEY")
        let mine = try serial(scratch, "add", "user", "mine", "x", "@s", "--pid", "\(user)")
        #expect(stdout(scratch, "print", "%user:mine", "--pid", "\(user)") == "x")
        #expect(stdout(scratch, "rdescribe", "\(mine)", "--pid", "\(user)") == "user;1000;1000;3f010000;mine")
        scratch.run("sysfs", "write", "/proc/sys/kernel/keys/maxkeys", "3")
        #expect(try errno(scratch, "add", "user", "more", "x", "@s", "--pid", "\(user)") == "EDQUOT")
        #expect(try errno(scratch, "describe", "@s", "--pid", "4242") == "ESRCH")
        #expect(scratch.run("keyctl", "describe", "@s", "--pid", "0").exitCode == 2)
    }

    @Test func keysPersistBetweenCommands() throws {
        let scratch = machine()
        let key = try serial(scratch, "add", "user", "lizard", "gizzard", "@s")
        // A failed command changes nothing.
        #expect(try errno(scratch, "add", "user", "newt", "", "@p") == "EINVAL")
        #expect(try errno(scratch, "describe", "@p") == "ENOKEY")
        #expect(stdout(scratch, "print", "\(key)") == "gizzard")
        let keys = try #require(try scratch.json("sysfs", "read", "/proc/keys")["value"] as? String)
        #expect(keys.contains("user      lizard: 7"))
    }

    @Test func theExampleScriptRuns() throws {
        let scratch = Scratch()
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("examples/keys-basics.hwk").path
        let result = scratch.run("run", example, "--quiet")
        #expect(result.exitCode == 0, "\(result.stderr)")
    }
}
