//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommands
//
//===----------------------------------------------------------------------===//

import ArgumentParser
import Foundation
import HWKeysBase

/// The `hwkeys` command tree. The executable's `@main` only calls ``HWKeysCLI/main(_:)``; the tree lives
/// here so that `hwkeys run FILE` and the tests can parse and run commands in-process.
public struct HWKeys: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "hwkeys",
        abstract: "An executable reference for hardware-held encryption keys on x86 (TME/MKTME and Key Locker).",
        discussion: """
            Machines live in a SQLite state file (default ./hwkeys.sqlite, or $HWKEYS_STATE). Every command loads \
            the machine, runs, and commits its changes in one transaction. Add --format json for one JSON object \
            on stdout; errors go to stderr with exit status 1 (operation) or 2 (usage).
            """,
        subcommands: [
            MachineCommand.self,
            HWCommand.self,
            PowerCommand.self,
            RunCommand.self,
            CostsCommand.self,
            BenchmarkCommand.self,
            DmesgCommand.self,
            SysfsCommand.self,
            ClockCommand.self,
            CPUCommand.self,
            ProcCommand.self,
            KeyctlCommand.self,
            CryptCommand.self,
        ]
    )

    public init() {}
}

/// What one CLI invocation printed and its exit status.
public struct CLIResult: Sendable {
    public var stdout: String
    public var stderr: String
    public var exitCode: Int32
}

/// Collects what a command prints while passing it on.
private final class OutputCollector {
    private(set) var lines: [String] = []
    let sink: (String) -> Void

    init(sink: @escaping (String) -> Void) { self.sink = sink }

    func emit(_ text: String) {
        lines.append(text)
        sink(text)
    }
}

/// Entry points of the `hwkeys` CLI.
public enum HWKeysCLI {
    /// Global options that may appear before the subcommand; moved behind it before parsing.
    static let globalOptionNames: Set<String> = ["--state", "--machine", "--format"]

    /// Runs `arguments` (without the program name), printing as it goes. Returns the exit status.
    public static func main(_ arguments: [String]) -> Int32 {
        let result = run(
            arguments,
            stdout: { text in
                FileHandle.standardOutput.write(Data((text + "\n").utf8))
            }
        )
        if !result.stderr.isEmpty { FileHandle.standardError.write(Data((result.stderr + "\n").utf8)) }
        return result.exitCode
    }

    /// Runs `arguments` in-process. Text that commands stream (e.g. `run`) goes to `stdout` as it is
    /// produced and is also collected in the result.
    public static func run(
        _ arguments: [String],
        environment: [String: String] = ProcessInfo.processInfo.environment,
        stdout: @escaping (String) -> Void = { _ in }
    ) -> CLIResult {
        let collector = OutputCollector(sink: stdout)
        let emit: (String) -> Void = collector.emit
        var collected: [String] { collector.lines }
        let arguments = hoistGlobalOptions(arguments)
        let format = requestedFormat(arguments)
        let command: any ParsableCommand
        do {
            command = try HWKeys.parseAsRoot(arguments)
        } catch {
            let status = HWKeys.exitCode(for: error)
            if status == .success {
                emit(HWKeys.fullMessage(for: error))
                return CLIResult(stdout: collected.joined(separator: "\n"), stderr: "", exitCode: 0)
            }
            let failure = HWKeysError.usage(HWKeys.message(for: error))
            return CLIResult(stdout: collected.joined(separator: "\n"), stderr: render(failure, format), exitCode: 2)
        }
        guard let leaf = command as? any HWKeysCommand else {
            let commandType = type(of: command)
            if !commandType.configuration.subcommands.isEmpty {
                // A command group given without a subcommand: a usage error that shows its help.
                let failure = HWKeysError.usage("missing subcommand\n\(HWKeys.helpMessage(for: commandType))")
                return CLIResult(stdout: "", stderr: render(failure, format), exitCode: 2)
            }
            // ArgumentParser's own commands (`help`, `--help`) report through a clean exit.
            do {
                var builtin = command
                try builtin.run()
                return CLIResult(stdout: collected.joined(separator: "\n"), stderr: "", exitCode: 0)
            } catch {
                let status = HWKeys.exitCode(for: error)
                if status == .success {
                    emit(HWKeys.fullMessage(for: error))
                    return CLIResult(stdout: collected.joined(separator: "\n"), stderr: "", exitCode: 0)
                }
                return CLIResult(stdout: "", stderr: render(.usage(HWKeys.message(for: error)), format), exitCode: 2)
            }
        }
        let session = Session(options: leaf.global, environment: environment, emit: emit)
        defer { session.close() }
        do {
            let output = try session.perform(leaf)
            let rendered = output.rendered(leaf.global.format)
            if !rendered.isEmpty { emit(rendered) }
            return CLIResult(stdout: collected.joined(separator: "\n"), stderr: "", exitCode: 0)
        } catch {
            let failure = HWKeysError(mapping: error)
            return CLIResult(
                stdout: collected.joined(separator: "\n"),
                stderr: render(failure, leaf.global.format),
                exitCode: failure.exitCode
            )
        }
    }

    /// An error as stderr shows it: `{"error": …, "message": …}` in JSON mode, `hwkeys: CODE: message` otherwise.
    static func render(_ error: HWKeysError, _ format: OutputFormat) -> String {
        format == .json ? error.json.serialized() : "hwkeys: \(error.code.name): \(error.message)"
    }

    /// Moves global options found before the first subcommand word to the end, so
    /// `hwkeys --format json machine show` parses like `hwkeys machine show --format json`.
    static func hoistGlobalOptions(_ arguments: [String]) -> [String] {
        var leading: [String] = []
        var index = 0
        while index < arguments.count {
            let word = arguments[index]
            let name = word.split(separator: "=", maxSplits: 1).first.map(String.init) ?? word
            guard globalOptionNames.contains(name) else { break }
            leading.append(word)
            if !word.contains("="), index + 1 < arguments.count {
                leading.append(arguments[index + 1])
                index += 1
            }
            index += 1
        }
        return Array(arguments[index...]) + leading
    }

    /// The `--format` given, for reporting errors before (or without) a successful parse.
    static func requestedFormat(_ arguments: [String]) -> OutputFormat {
        var format = OutputFormat.text
        for (index, word) in arguments.enumerated() {
            if word == "--format", index + 1 < arguments.count, let value = OutputFormat(rawValue: arguments[index + 1])
            {
                format = value
            } else if word.hasPrefix("--format="), let value = OutputFormat(rawValue: String(word.dropFirst(9))) {
                format = value
            }
        }
        return format
    }
}
