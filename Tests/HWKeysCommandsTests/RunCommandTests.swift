//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommandsTests
//
//===----------------------------------------------------------------------===//

import Foundation
import Testing

@testable import HWKeysCommands

@Suite struct RunCommandTests {
    @Test func runsEveryLineWithCommentsQuotesAndExpectedErrors() throws {
        let scratch = Scratch()
        let script = scratch.write(
            "ok.hwk",
            """
            # a comment line
            machine create --seed 7 --force   # trailing comment
            hw poke-dram 0x100 "00 11 22"
            expect-error EFAULT hw dram 0x4000000 1
            expect-error EHOSTDOWN hw cpuid 0 --cpu 0
            """.replacingOccurrences(
                of: "expect-error EHOSTDOWN hw cpuid 0 --cpu 0",
                with: "power off\nexpect-error EHOSTDOWN hw cpuid 0\npower on"
            )
        )
        let result = scratch.run("run", script, "--format", "json")
        #expect(result.exitCode == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(object["commands"] as? Int == 6)
        #expect(try scratch.json("hw", "dram", "0x100", "3")["bytes"] as? String == "001122")
    }

    /// The echo never carries key material: option values, mktme key=/tweak= tokens, keyctl payloads.
    @Test func echoedLinesHaveTheirKeysRedacted() {
        let cases: [([String], [String])] = [
            (["crypt", "open", "v", "--key", "00ff"], ["crypt", "open", "v", "--key", "<redacted>"]),
            (
                ["hw", "pconfig", "--key=00ff", "--tweak", "11"],
                ["hw", "pconfig", "--key=<redacted>", "--tweak", "<redacted>"]
            ),
            (
                ["keyctl", "add", "mktme", "t", "type=user algorithm=aes-xts-128 key=00ff tweak=11", "@s"],
                [
                    "keyctl", "add", "mktme", "t", "type=user algorithm=aes-xts-128 key=<redacted> tweak=<redacted>",
                    "@s",
                ]
            ),
            (["keyctl", "add", "user", "k", "secret", "@s"], ["keyctl", "add", "user", "k", "<redacted>", "@s"]),
            (["keyctl", "update", "12", "newsecret"], ["keyctl", "update", "12", "<redacted>"]),
            (["keyctl", "update", "12", "type=clear"], ["keyctl", "update", "12", "type=clear"]),
            (["keyctl", "add"], ["keyctl", "add"]),
            // keyctl's ways of writing the same: options first, an abbreviated verb, a hex payload.
            (
                ["keyctl", "add", "--pid", "101", "user", "k", "secret", "@s"],
                ["keyctl", "add", "--pid", "101", "user", "k", "<redacted>", "@s"]
            ),
            (["keyctl", "a", "user", "k", "secret", "@s"], ["keyctl", "a", "user", "k", "<redacted>", "@s"]),
            (
                ["keyctl", "add", "-x", "mktme", "t", "747970653d63707520", "@s"],
                ["keyctl", "add", "-x", "mktme", "t", "<redacted>", "@s"]
            ),
            (["keyctl", "upd", "-x", "12", "6b6579"], ["keyctl", "upd", "-x", "12", "<redacted>"]),
            (["proc", "read", "100", "0x1000", "16"], ["proc", "read", "100", "0x1000", "16"]),
        ]
        for (words, echoed) in cases { #expect(RunCommand.redacted(words) == echoed) }
    }

    @Test func stopsAtTheFirstFailingLineAndNamesIt() throws {
        let scratch = Scratch()
        let script = scratch.write(
            "fail.hwk",
            """
            machine create --seed 7
            hw poke-dram 0x10 aa
            hw dram 0x4000000 1
            hw poke-dram 0x10 bb
            """
        )
        let result = scratch.run("run", script, "--format", "json")
        #expect(result.exitCode == 1)
        #expect(result.stderr.contains("\"error\":\"EFAULT\""))
        #expect(result.stderr.contains("fail.hwk:3"))
        // Lines before the failure were committed; the line after never ran.
        #expect(try scratch.json("hw", "dram", "0x10", "1")["bytes"] as? String == "aa")
    }

    @Test func expectErrorFailsWhenTheCommandSucceedsOrFailsDifferently() throws {
        let scratch = Scratch()
        scratch.run("machine", "create", "--seed", "7")
        let succeeds = scratch.write("s.hwk", "expect-error EFAULT hw dram 0 1\n")
        #expect(scratch.run("run", succeeds).exitCode == 1)
        let differs = scratch.write("d.hwk", "expect-error ENOKEY hw dram 0x4000000 1\n")
        let result = scratch.run("run", differs, "--format", "json")
        #expect(result.exitCode == 1)
        #expect(result.stderr.contains("EFAULT"))
    }

    @Test func scriptsRefuseOtherStateFilesNestedRunsAndBadQuoting() throws {
        let scratch = Scratch()
        scratch.run("machine", "create", "--seed", "7")
        for (name, line) in [
            ("m", "machine show --state other.sqlite"), ("n", "run x.hwk"), ("q", "hw poke-dram 0 \"aa"),
        ] {
            let script = scratch.write("\(name).hwk", line + "\n")
            let result = scratch.run("run", script, "--format", "json")
            #expect(result.exitCode == 1, "\(line)")
            #expect(result.stderr.contains("EINVAL"), "\(line): \(result.stderr)")
        }
        #expect(try scratch.error("run", scratch.directory.appendingPathComponent("missing.hwk").path).code == "ENOENT")
    }

    /// `--machine NAME` on a line runs it against another machine of the same state file, each line its own
    /// transaction: a failing line changes nothing on either machine.
    @Test func linesMayNameAnotherMachineOfTheStateFile() throws {
        let scratch = Scratch()
        let script = scratch.write(
            "two.hwk",
            """
            machine create --seed 7
            machine create --machine b --seed 8 --memory 32M
            hw poke-dram 0x2000 "aa bb" --machine b
            hw poke-dram 0x2000 "11 22"
            expect-error ENOENT machine show --machine nosuch

            """
        )
        #expect(scratch.run("run", script, "--quiet").exitCode == 0)
        #expect(try scratch.json("hw", "dram", "0x2000", "2")["bytes"] as? String == "1122")
        #expect(try scratch.json("hw", "dram", "0x2000", "2", "--machine", "b")["bytes"] as? String == "aabb")
        let shown = try scratch.json("machine", "show", "--machine", "b")
        #expect(shown["memory_bytes"] as? Int == 32 << 20 && shown["seed"] as? Int == 8)
        let list = try scratch.json("machine", "list")
        #expect((list["machines"] as? [[String: Any]])?.count == 2)
    }

    @Test func lexerSplitsLikeAShell() throws {
        #expect(
            try ScriptLexer.words(of: #"keyctl add user k "a b" @u # note"#) == [
                "keyctl", "add", "user", "k", "a b", "@u",
            ]
        )
        #expect(try ScriptLexer.words(of: #"a 'b "c"' d\ e"#) == ["a", #"b "c""#, "d e"])
        #expect(try ScriptLexer.words(of: "   # only a comment") == [])
        #expect(try ScriptLexer.words(of: "x#y") == ["x#y"])
    }
}

@Suite struct ValueParserTests {
    @Test func numbersSizesBytesAndDurations() {
        #expect(ValueParser.number("0x1F") == 31)
        #expect(ValueParser.number("1_000") == 1000)
        #expect(ValueParser.number("0x") == nil)
        #expect(ValueParser.number("-1") == nil)
        #expect(ValueParser.size("64M") == 64 << 20)
        #expect(ValueParser.size("4KiB") == 4096)
        #expect(ValueParser.size("2G") == 2 << 30)
        #expect(ValueParser.size("16") == 16)
        #expect(ValueParser.size("99999999999G") == nil)
        #expect(ValueParser.hexBytes("0xDEad BE:ef") == [0xDE, 0xAD, 0xBE, 0xEF])
        #expect(ValueParser.hexBytes("abc") == nil)
        #expect(ValueParser.hexBytes("zz") == nil)
        #expect(ValueParser.duration("10ms") == 10_000_000)
        #expect(ValueParser.duration("1.5us") == 1500)
        #expect(ValueParser.duration("42") == 42)
        #expect(ValueParser.duration("5 parsecs") == nil)
    }

    @Test func globalOptionsAreHoistedBehindTheSubcommand() {
        #expect(
            HWKeysCLI.hoistGlobalOptions(["--format", "json", "--state=x", "machine", "show"])
                == ["machine", "show", "--format", "json", "--state=x"]
        )
        #expect(
            HWKeysCLI.hoistGlobalOptions(["machine", "show", "--format", "json"]) == [
                "machine", "show", "--format", "json",
            ]
        )
    }
}

/// Assertion lines (docs/scripts.md): each checks the previous command's output and can fail.
@Suite struct RunAssertionTests {
    @Test func passingAssertionsLetTheScriptFinish() throws {
        let scratch = Scratch()
        let script = scratch.write(
            "ok.hwk",
            """
            machine create --seed 1 --memory 16M --force
            keyctl add user greeting "hello,   world" @u
            keyctl print %user:greeting
            expect-output "hello,   world"
            expect-no-output goodbye
            machine show
            expect-json power_state running
            expect-json configuration.keyid_bits 6
            expect-json disks [1]
            expect-json-not seed 2
            expect-error ENOKEY keyctl print %user:nothing
            expect-output ENOKEY
            """
        )
        let result = scratch.run("run", script, "--quiet")
        #expect(result.exitCode == 0, "\(result.stderr)")
    }

    @Test(arguments: [
        ("expect-output goodbye", "does not contain"),
        ("expect-no-output running", "contains"),
        ("expect-json power_state off", "expected off, got running"),
        ("expect-json-not power_state running", "expected anything but running"),
        ("expect-json no.such.path 1", "no value at no.such.path"),
        ("expect-output", "takes TEXT"),
    ])
    func failingAssertionsStopTheScriptAndNameTheLine(assertion: String, message: String) throws {
        let scratch = Scratch()
        let script = scratch.write(
            "bad.hwk",
            """
            machine create --seed 1 --memory 16M --force
            keyctl add user greeting hello @u
            keyctl print %user:greeting
            machine show
            \(assertion)
            keyctl add user after x @u
            """
        )
        let result = scratch.run("run", script, "--quiet")
        #expect(result.exitCode == 1)
        #expect(result.stderr.contains("bad.hwk:5"), "\(result.stderr)")
        #expect(result.stderr.contains(message), "\(result.stderr)")
        #expect(scratch.run("keyctl", "print", "%user:after").exitCode != 0)
    }

    @Test func anAssertionNeedsACommandBeforeIt() {
        let scratch = Scratch()
        let script = scratch.write("first.hwk", "expect-output x\n")
        let result = scratch.run("run", script)
        #expect(result.exitCode == 1)
        #expect(result.stderr.contains("needs a command before it"))
    }

    @Test func scriptsThatAreDirectoriesOrBinaryAreRefusedClearly() throws {
        let scratch = Scratch()
        let directory = scratch.directory.path
        let asDirectory = scratch.run("run", directory, "--format", "json")
        #expect(asDirectory.stderr.contains("EISDIR"), "\(asDirectory.stderr)")
        let binary = scratch.directory.appendingPathComponent("bin.hwk").path
        FileManager.default.createFile(atPath: binary, contents: Data([0x7F, 0x45, 0x4C, 0x46, 0, 1, 2]))
        let asBinary = scratch.run("run", binary)
        #expect(asBinary.stderr.contains("not a text file"), "\(asBinary.stderr)")
    }
}
