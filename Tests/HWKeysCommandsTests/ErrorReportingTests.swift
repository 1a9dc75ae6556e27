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
            "hwkeys: EINVAL: packages must be 1…8 (got 9): Invalid argument",
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
            "hwkeys: EHOSTDOWN: cannot suspend: the machine is suspended: Host is down",
            exit: 1
        )
        expectFailure(
            scratch,
            ["power", "on"],
            "hwkeys: EINVAL: cannot on: the machine is suspended: Invalid argument",
            exit: 1
        )
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
        expectFailure(
            scratch,
            ["keyctl", "describe", "2147483000"],
            "hwkeys: ENOKEY: no key 2147483000: Required key not available",
            exit: 1
        )
        // The state store.
        let directory = scratch.directory.path
        let result = HWKeysCLI.run(["--state", directory, "machine", "show"])
        #expect(result.stderr == "hwkeys: EISDIR: state file '\(directory)' is a directory: Is a directory")
        #expect(result.exitCode == 1)
    }

    /// keyctl(1) reports a failed call with `perror`, so its error lines end with the C library's text for
    /// the errno, and scripts match on it (keyutils' test toolbox's `expect_error` looks for
    /// `: Required key not available`). hwkeys ends every errno error line the same way; faults and PCONFIG
    /// statuses are no errnos and get no suffix.
    @Test func errnoErrorLinesEndWithTheCLibrarysText() {
        #expect(
            HWKeysCLI.render(HWKeysError(.ENOKEY, "no key 5"), .text)
                == "hwkeys: ENOKEY: no key 5: Required key not available"
        )
        #expect(
            HWKeysCLI.render(HWKeysError(.EKEYREVOKED, "key 5"), .text)
                == "hwkeys: EKEYREVOKED: key 5: Key has been revoked"
        )
        #expect(HWKeysCLI.render(HWKeysError(.EDQUOT, ""), .text) == "hwkeys: EDQUOT: Disk quota exceeded")
        // Already ending with the text (a message that quotes strerror itself): not repeated.
        #expect(
            HWKeysCLI.render(HWKeysError(.EACCES, "x: Permission denied"), .text)
                == "hwkeys: EACCES: x: Permission denied"
        )
        // Several lines (a usage error with help): the first line carries it.
        #expect(
            HWKeysCLI.render(.usage("missing subcommand\nUSAGE: hwkeys keyctl"), .text)
                == "hwkeys: EINVAL: missing subcommand: Invalid argument\nUSAGE: hwkeys keyctl"
        )
        #expect(HWKeysCLI.render(HWKeysError(X86Fault.gp0("CPL3")), .text) == "hwkeys: #GP(0): CPL3")
        #expect(
            HWKeysCLI.render(HWKeysError(.pconfig(.invalidKeyID), "KeyID 0"), .text)
                == "hwkeys: INVALID_KEYID: KeyID 0"
        )
        // JSON keeps the bare message.
        #expect(
            HWKeysCLI.render(HWKeysError(.ENOKEY, "no key 5"), .json) == #"{"error":"ENOKEY","message":"no key 5"}"#
        )
    }

    /// An unknown subcommand of any command group is reported as one — not as the global option ArgumentParser
    /// meets next (`--state`, moved behind the words before parsing).
    @Test(arguments: [
        (["keyctl", "bogus"], "unknown keyctl command 'bogus'"),
        (["machine", "bogus"], "unknown subcommand 'bogus' for 'hwkeys machine'"),
        (["hw", "bogus", "1"], "unknown subcommand 'bogus' for 'hwkeys hw'"),
        (["sysfs", "bogus"], "unknown subcommand 'bogus' for 'hwkeys sysfs'"),
        (["bogus"], "unknown subcommand 'bogus' for 'hwkeys'"),
    ])
    func unknownSubcommandsAreNamed(words: [String], message: String) throws {
        let scratch = Scratch()
        let result = scratch.run(words)
        #expect(result.exitCode == 2)
        #expect(result.stderr.hasPrefix("hwkeys: EINVAL: \(message)"), "\(result.stderr)")
        #expect(!result.stderr.contains("--state"))
    }

    /// An argument an error message repeats is cut to 80 characters, `…` last — whichever layer wrote the
    /// message (ArgumentParser, the CLI, the kernel).
    @Test func longArgumentsAreEchoedAtMost80CharactersLong() throws {
        let scratch = Scratch()
        #expect(scratch.run("machine", "create", "--seed", "1").exitCode == 0)
        let long = String(repeating: "a", count: 200)
        let cut = String(repeating: "a", count: 79) + "…"
        for words in [
            ["keyctl", "describe", long],  // ArgumentParser: not a key
            ["keyctl", "timeout", "@s", long],  // the CLI: not a number
            ["keyctl", long],  // not a verb
            ["machine", "show", "--machine", long],  // the workspace: not a machine name
            ["keyctl", "print", "%user:" + long],  // the kernel's search
        ] {
            let result = scratch.run(words)
            #expect(result.exitCode != 0)
            #expect(!result.stderr.contains(long), "\(words.prefix(2)): \(result.stderr)")
            #expect(result.stderr.contains(cut) || !result.stderr.contains("aaaa"), "\(result.stderr)")
        }
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
        #expect(HWKeysCLI.render(usage, .json) == #"{"error":"EINVAL","message":"--cpl must be 0 or 3"}"#)
        #expect(HWKeysCLI.render(usage, .text) == "hwkeys: EINVAL: --cpl must be 0 or 3: Invalid argument")
    }
}
