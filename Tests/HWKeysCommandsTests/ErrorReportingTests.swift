//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommandsTests
//
//===----------------------------------------------------------------------===//

import Foundation
import HWKeysBase
import HWKeysStore
import Testing
import Workspace
import X86

@testable import HWKeysCommands

/// How failures reach the user (docs/architecture.md "Errors and exit codes"): `hwkeys: CODE: message` on
/// stderr, or `{"error": CODE, "message": …}` with `--format json`; exit status 2 for usage errors, 1 otherwise.
@Suite struct ErrorReportingTests {
    func expectFailure(
        _ scratch: Scratch,
        _ words: [String],
        _ stderr: String,
        exit: Int32,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let result = scratch.run(words)
        #expect(result.stderr == stderr, sourceLocation: sourceLocation)
        #expect(result.exitCode == exit, sourceLocation: sourceLocation)
    }

    @Test func eachLayersFailuresPrintCodeAndMessage() throws {
        let scratch = Scratch()
        // A configuration the platform refuses: a usage error.
        expectFailure(
            scratch,
            ["machine", "create", "--packages", "9"],
            "hwkeys: EINVAL: packages must be 1…8 (got 9)",
            exit: 2
        )
        expectFailure(
            scratch,
            ["machine", "create", "--packages", "9", "--format", "json"],
            #"{"error":"EINVAL","message":"packages must be 1…8 (got 9)"}"#,
            exit: 2
        )
        #expect(scratch.run("machine", "create", "--seed", "1").exitCode == 0)
        // The platform's power state machine.
        #expect(scratch.run("power", "suspend").exitCode == 0)
        expectFailure(
            scratch,
            ["power", "suspend"],
            "hwkeys: EHOSTDOWN: cannot suspend: the machine is suspended",
            exit: 1
        )
        expectFailure(scratch, ["power", "on"], "hwkeys: EINVAL: cannot on: the machine is suspended", exit: 1)
        #expect(scratch.run("power", "resume").exitCode == 0)
        // An architectural fault.
        expectFailure(scratch, ["hw", "rdcr4", "--cpl", "3"], "hwkeys: #GP(0): MOV from CR4 at CPL3", exit: 1)
        expectFailure(
            scratch,
            ["hw", "rdcr4", "--cpl", "3", "--format", "json"],
            ##"{"error":"#GP(0)","message":"MOV from CR4 at CPL3"}"##,
            exit: 1
        )
        // The kernel.
        expectFailure(scratch, ["keyctl", "describe", "2147483000"], "hwkeys: ENOKEY: no key 2147483000", exit: 1)
        // The state store.
        let directory = scratch.directory.path
        let result = HWKeysCLI.run(["--state", directory, "machine", "show"])
        #expect(result.stderr == "hwkeys: EISDIR: state file '\(directory)' is a directory")
        #expect(result.exitCode == 1)
    }

    @Test func aDamagedMachineImageIsEIOAndNamesTheImage() throws {
        let scratch = Scratch()
        #expect(scratch.run("machine", "create", "--seed", "1").exitCode == 0)
        let store = try StateStore.open(atPath: scratch.statePath)
        var update = MachineUpdate.modify("default", expecting: try store.loadMachine(named: "default").revision)
        update.setComponent(ComponentName.platformVolatile, to: Data([0, 1]))
        _ = try store.commit(update)

        let result = scratch.run("machine", "show")
        #expect(result.stderr.hasPrefix("hwkeys: EIO: cannot read machine image: "), "\(result.stderr)")
        #expect(result.exitCode == 1)
    }

    @Test func anyErrorMapsOntoHWKeysError() {
        struct Unexpected: Error, CustomStringConvertible { var description: String { "something odd" } }
        let unknown = HWKeysError(mapping: Unexpected())
        #expect(unknown.code == .errno(.EIO))
        #expect(unknown.message == "something odd")
        #expect(unknown.exitCode == 1)

        let fault = HWKeysError(mapping: X86Fault.nm("CR0.TS = 1"))
        #expect(fault.code.name == "#NM")
        #expect(fault.message == "CR0.TS = 1")

        let usage = HWKeysError(mapping: HWKeysError.usage("--cpl must be 0 or 3"))
        #expect(usage.isUsage)
        #expect(usage.exitCode == 2)
        #expect(usage.json.serialized() == #"{"error":"EINVAL","message":"--cpl must be 0 or 3"}"#)
        #expect(HWKeysCLI.render(usage, .text) == "hwkeys: EINVAL: --cpl must be 0 or 3")
    }
}
