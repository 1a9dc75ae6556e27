//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommandsTests
//
//===----------------------------------------------------------------------===//

import Foundation
import Testing

@testable import HWKeysCommands

@Suite struct MachineCommandTests {
    @Test func createShowListDelete() throws {
        let scratch = Scratch()
        #expect(scratch.run("machine", "create", "--seed", "7", "--packages", "2", "--memory", "32M").exitCode == 0)
        let shown = try scratch.json("machine", "show")
        #expect(shown["packages"] as? Int == 2)
        #expect(shown["cpus_per_package"] as? Int == 2)
        #expect(shown["memory_bytes"] as? Int == 32 << 20)
        #expect(shown["seed"] as? Int == 7)
        let listed = try scratch.json("machine", "list")
        let machines = try #require(listed["machines"] as? [[String: Any]])
        #expect(machines.map { $0["name"] as? String } == ["default"])
        #expect(scratch.run("machine", "delete").exitCode == 0)
        #expect(try scratch.error("machine", "show").code == "ENOENT")
    }

    @Test func unseededMachineShowsNullSeed() throws {
        let scratch = Scratch()
        scratch.run("machine", "create")
        let shown = try scratch.json("machine", "show")
        #expect(shown["seed"] is NSNull)
    }

    @Test func createRefusesToOverwriteWithoutForce() throws {
        let scratch = Scratch()
        scratch.run("machine", "create", "--seed", "1")
        #expect(try scratch.error("machine", "create", "--seed", "2").code == "EEXIST")
        #expect(try scratch.json("machine", "show")["seed"] as? Int == 1)
        #expect(scratch.run("machine", "create", "--seed", "2", "--force").exitCode == 0)
        #expect(try scratch.json("machine", "show")["seed"] as? Int == 2)
    }

    @Test(arguments: [
        ["--packages", "0"], ["--memory", "12345"], ["--keyid-bits", "16"], ["--mk-algorithms", "aes-gcm"],
        ["--tme-exclude", "nonsense"], ["--kl-restrictions", "cpl7"], ["--memory", "1T"],
    ])
    func badConfigurationsAreUsageErrorsAndCreateNothing(arguments: [String]) throws {
        let scratch = Scratch()
        let result = scratch.run(["machine", "create", "--format", "json"] + arguments)
        #expect(result.exitCode == 2)
        #expect(result.stderr.contains("\"error\":\"EINVAL\""))
        #expect(try scratch.error("machine", "show").code == "ENOENT")
    }

    @Test func namedMachinesAreIndependent() throws {
        let scratch = Scratch()
        scratch.run("machine", "create", "--machine", "a", "--seed", "1")
        scratch.run("machine", "create", "--machine", "b", "--seed", "2")
        #expect(try scratch.json("machine", "show", "--machine", "b")["seed"] as? Int == 2)
        #expect(try scratch.error("machine", "show", "--machine", "c").code == "ENOENT")
        #expect(try scratch.error("machine", "show", "--machine", "bad/name").code == "EINVAL")
    }

    @Test func stateFileIsPrivateToItsOwner() throws {
        let scratch = Scratch()
        scratch.run("machine", "create")
        let attributes = try FileManager.default.attributesOfItem(atPath: scratch.statePath)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
    }

    @Test func stateComesFromEnvironmentWhenNoOptionIsGiven() throws {
        let scratch = Scratch()
        let result = HWKeysCLI.run(["machine", "create", "--seed", "5"], environment: ["HWKEYS_STATE": scratch.statePath])
        #expect(result.exitCode == 0)
        #expect(try scratch.json("machine", "show")["seed"] as? Int == 5)
    }

    @Test func globalOptionsMayPrecedeTheSubcommand() throws {
        let scratch = Scratch()
        scratch.run("machine", "create", "--seed", "3")
        let result = HWKeysCLI.run(["--format", "json", "--state", scratch.statePath, "machine", "show"])
        #expect(result.exitCode == 0)
        #expect(result.stdout.hasPrefix("{"))
    }

    @Test func corruptStateFileGivesAClearErrorAndIsLeftAlone() throws {
        let scratch = Scratch()
        let garbage = Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        _ = FileManager.default.createFile(atPath: scratch.statePath, contents: garbage)
        let failure = try scratch.error("machine", "show")
        #expect(failure.code == "EIO")
        #expect(failure.exit == 1)
        #expect(FileManager.default.contents(atPath: scratch.statePath) == garbage)
    }

    @Test func missingSubcommandAndUnknownCommandAreUsageErrors() {
        let scratch = Scratch()
        #expect(scratch.run("machine").exitCode == 2)
        #expect(scratch.run("frobnicate").exitCode == 2)
        #expect(HWKeysCLI.run(["--help"]).exitCode == 0)
        #expect(scratch.run("machine", "show", "--help").exitCode == 0)
    }
}
