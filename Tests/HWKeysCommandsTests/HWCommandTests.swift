//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommandsTests
//
//===----------------------------------------------------------------------===//

import Foundation
import Testing

@testable import HWKeysCommands

@Suite struct HWDRAMCommandTests {
    @Test func pokedBytesAreSeenByANewSessionExactly() throws {
        let scratch = Scratch()
        scratch.run("machine", "create", "--seed", "7")
        #expect(scratch.run("hw", "poke-dram", "0x2040", "00112233445566778899aabbccddeeff").exitCode == 0)
        // Each CLI call is a new session that reloads the machine from the state file.
        let read = try scratch.json("hw", "dram", "0x2040", "16")
        #expect(read["pa"] as? String == "0x2040")
        #expect(read["bytes"] as? String == "00112233445566778899aabbccddeeff")
    }

    @Test func keyIDBitsOfTheAddressAreIgnored() throws {
        let scratch = Scratch()
        scratch.run("machine", "create", "--seed", "7")
        scratch.run("hw", "poke-dram", "0x3000", "abcd")
        // KeyID 5 with MAXPHYADDR 46 and 6 KeyID bits sits at bit 40.
        let read = try scratch.json("hw", "dram", "0x50000003000", "2")
        #expect(read["pa"] as? String == "0x3000")
        #expect(read["bytes"] as? String == "abcd")
    }

    @Test func rawDRAMWorksWhenTheMachineIsOff() throws {
        let scratch = Scratch()
        scratch.run("machine", "create", "--seed", "7")
        scratch.run("hw", "poke-dram", "0", "77")
        scratch.run("power", "off")
        #expect(try scratch.json("hw", "dram", "0", "1")["bytes"] as? String == "77")
    }

    @Test(arguments: [
        (["hw", "dram"], "EINVAL", Int32(2)),
        (["hw", "dram", "0x1000"], "EINVAL", 2),
        (["hw", "dram", "zzz", "16"], "EINVAL", 2),
        (["hw", "dram", "0x1000", "0"], "EINVAL", 2),
        (["hw", "dram", "0x3fff000", "0x2000"], "EFAULT", 1),
        (["hw", "poke-dram", "0x1000", "abc"], "EINVAL", 2),
        (["hw", "poke-dram", "0x4000000", "00"], "EFAULT", 1),
    ])
    func badArgumentsFailWithTheRightCodeAndChangeNothing(words: [String], code: String, exit: Int32) throws {
        let scratch = Scratch()
        scratch.run("machine", "create", "--seed", "7", "--memory", "64M")
        let before = try scratch.json("machine", "show")
        let result = scratch.run(words + ["--format", "json"])
        #expect(result.exitCode == exit)
        #expect(result.stderr.contains("\"error\":\"\(code)\""), "\(result.stderr)")
        let after = try scratch.json("machine", "show")
        #expect(NSDictionary(dictionary: before) == NSDictionary(dictionary: after))
    }
}

@Suite struct PowerCommandTests {
    @Test func powerTransitionsAndTheirErrors() throws {
        let scratch = Scratch()
        scratch.run("machine", "create", "--seed", "1")
        #expect(try scratch.json("power", "suspend")["power_state"] as? String == "suspended")
        #expect(try scratch.error("power", "suspend").code == "EHOSTDOWN")
        #expect(try scratch.error("hw", "cpuid", "0").code == "EHOSTDOWN")
        #expect(try scratch.json("power", "resume")["power_state"] as? String == "running")
        #expect(try scratch.error("power", "resume").code == "EINVAL")
        #expect(try scratch.error("power", "sideways").code == "EINVAL")
    }
}

@Suite struct InjectCommandTests {
    @Test func injectValidatesKindCountAndPackage() throws {
        let scratch = Scratch()
        scratch.run("machine", "create", "--seed", "1", "--packages", "2")
        #expect(scratch.run("hw", "inject", "pconfig-busy", "3", "--package", "1").exitCode == 0)
        #expect(try scratch.error("hw", "inject", "pconfig-busy", "3", "--package", "2").code == "EINVAL")
        #expect(try scratch.error("hw", "inject", "pconfig-busy").code == "EINVAL")
        #expect(try scratch.error("hw", "inject", "meteor", "1").code == "EINVAL")
        #expect(scratch.run("hw", "inject", "iwkey-backup-error").exitCode == 0)
        #expect(scratch.run("hw", "inject", "iwkey-backup-error", "clear").exitCode == 0)
    }
}
