//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommands
//
//===----------------------------------------------------------------------===//

import ArgumentParser
import Foundation
import HWKeysBase
import Workspace

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
    let rawSink: (([UInt8]) -> Void)?

    init(sink: @escaping (String) -> Void, rawSink: (([UInt8]) -> Void)?) {
        self.sink = sink
        self.rawSink = rawSink
    }

    func emit(_ text: String) {
        lines.append(text)
        sink(text)
    }

    /// Bytes printed as they are (``CommandResult/rawOutput``): collected as text without a final newline
    /// (lines are collected without theirs), passed to the raw sink, or else to the text sink as that line.
    func emitRaw(_ bytes: [UInt8]) {
        let line = String(decoding: bytes.last == 0x0A ? bytes.dropLast() : bytes[...], as: UTF8.self)
        lines.append(line)
        if let rawSink { rawSink(bytes) } else { sink(line) }
    }
}

/// Entry points of the `hwkeys` CLI.
public enum HWKeysCLI {
    /// Global options that may appear before the subcommand; moved behind it before parsing.
    static let globalOptionNames: Set<String> = ["--state", "--machine", "--vm", "--format"]

    /// Runs `arguments` (without the program name), printing as it goes. Returns the exit status.
    public static func main(_ arguments: [String]) -> Int32 {
        let result = run(
            arguments,
            stdout: { text in
                FileHandle.standardOutput.write(Data((text + "\n").utf8))
            },
            rawStdout: { bytes in FileHandle.standardOutput.write(Data(bytes)) }
        )
        if !result.stderr.isEmpty { FileHandle.standardError.write(Data((result.stderr + "\n").utf8)) }
        return result.exitCode
    }

    /// Runs `arguments` in-process. Text that commands stream (e.g. `run`) goes to `stdout` as it is
    /// produced and is also collected in the result; a result's raw bytes (``CommandResult/rawOutput``) go
    /// to `rawStdout` if given, else to `stdout` as a line.
    public static func run(
        _ arguments: [String],
        environment: [String: String] = ProcessInfo.processInfo.environment,
        stdout: @escaping (String) -> Void = { _ in },
        rawStdout: (([UInt8]) -> Void)? = nil
    ) -> CLIResult {
        let collector = OutputCollector(sink: stdout, rawSink: rawStdout)
        let emit: (String) -> Void = collector.emit
        let output = Output(emit: emit, emitRaw: collector.emitRaw, arguments: arguments)
        var collected: [String] { collector.lines }
        let format = requestedFormat(arguments)
        let command: any ParsableCommand
        do {
            command = try HWKeys.parseAsRoot(try prepare(arguments))
        } catch let error as HWKeysError {
            let failure = truncatingEchoes(error, of: arguments)
            return CLIResult(stdout: collected.joined(separator: "\n"), stderr: render(failure, format), exitCode: 2)
        } catch {
            let status = HWKeys.exitCode(for: error)
            if status == .success {
                emit(HWKeys.fullMessage(for: error))
                return CLIResult(stdout: collected.joined(separator: "\n"), stderr: "", exitCode: 0)
            }
            let failure = truncatingEchoes(.usage(HWKeys.message(for: error)), of: arguments)
            return CLIResult(stdout: collected.joined(separator: "\n"), stderr: render(failure, format), exitCode: 2)
        }
        if let leaf = command as? any HWKeysCommand {
            let cli = CLIEnvironment(options: leaf.global, environment: environment, emit: emit)
            return finish(cli, leaf.global.format, output, collected: { collected }) { () throws(HWKeysError) in
                try execute(leaf, in: cli)
            }
        }
        if let leaf = command as? any CLICommand {
            let cli = CLIEnvironment(options: leaf.global, environment: environment, emit: emit)
            return finish(cli, leaf.global.format, output, collected: { collected }) { () throws(HWKeysError) in
                try leaf.execute(in: cli)
            }
        }
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
            let failure = truncatingEchoes(.usage(HWKeys.message(for: error)), of: arguments)
            return CLIResult(stdout: "", stderr: render(failure, format), exitCode: 2)
        }
    }

    /// Runs one command given as words (without `hwkeys`) in an existing workspace: how `hwkeys run` runs a
    /// script line and how the server runs `POST /v1/run`. The words may name another machine of the
    /// workspace's store (`--machine`) and a guest (`--vm`); they may not name another state file (`--state`),
    /// nor be `run`, `benchmark` or `serve`.
    ///
    /// - Parameters:
    ///   - words: The command's words.
    ///   - workspace: The workspace to run it in.
    ///   - defaultMachine: The machine when the words name none.
    ///   - vm: The guest when the words name none.
    ///   - emit: Where text streamed while the command runs goes.
    /// - Returns: The command's result.
    /// - Throws: `HWKeysError`: a usage error for words that do not parse or are not a workspace command,
    ///   or the command's own error.
    public static func perform(
        _ words: [String],
        in workspace: Workspace,
        defaultMachine: String = Workspace.defaultMachineName,
        vm defaultVM: String? = nil,
        emit: @escaping (String) -> Void = { _ in }
    ) throws(HWKeysError) -> any CommandResult {
        let command: any ParsableCommand
        do {
            command = try HWKeys.parseAsRoot(try prepare(words))
        } catch let error as HWKeysError {
            throw truncatingEchoes(error, of: words)
        } catch {
            throw truncatingEchoes(.usage(HWKeys.message(for: error)), of: words)
        }
        func target(_ global: GlobalOptions) throws(HWKeysError) -> String {
            if global.state != nil {
                throw .usage("--state cannot change within a workspace: it runs against one state file")
            }
            return global.machine ?? defaultMachine
        }
        do {
            if let leaf = command as? any HWKeysCommand {
                return try run(leaf, in: workspace, machine: try target(leaf.global), vm: leaf.global.vm ?? defaultVM)
            }
        } catch {
            throw truncatingEchoes(error, of: words)
        }
        if command is RunCommand { throw .usage("scripts cannot run scripts") }
        throw .usage("'\(words.joined(separator: " "))' is not a command that runs in a workspace")
    }

    private static func run<Command: HWKeysCommand>(
        _ command: Command,
        in workspace: Workspace,
        machine: String,
        vm: String?
    ) throws(HWKeysError) -> any CommandResult {
        try workspace.run(try command.request(), machine: machine, vm: vm)
    }

    /// Runs a request command in the invocation's workspace.
    static func execute<Command: HWKeysCommand>(
        _ command: Command,
        in cli: CLIEnvironment
    ) throws(HWKeysError)
        -> any CommandResult
    {
        let request = try command.request()
        return try cli.workspace().run(request, machine: cli.machineName, vm: command.global.vm)
    }

    /// Where one invocation's output goes, and its words (to shorten what error messages echo of them).
    private struct Output {
        let emit: (String) -> Void
        let emitRaw: ([UInt8]) -> Void
        let arguments: [String]
    }

    /// Prints a command's result (or error) and the warnings it raised.
    private static func finish(
        _ cli: CLIEnvironment,
        _ format: OutputFormat,
        _ output: Output,
        collected: () -> [String],
        _ body: () throws(HWKeysError) -> any CommandResult
    ) -> CLIResult {
        var stderr: [String] = []
        let exitCode: Int32
        do {
            let result = try body()
            if format == .text, let raw = result.rawOutput {
                output.emitRaw(raw)
            } else {
                let rendered = render(result, format)
                if !rendered.isEmpty { output.emit(rendered) }
            }
            exitCode = 0
        } catch {
            stderr.append(render(truncatingEchoes(error, of: output.arguments), format))
            exitCode = error.isUsage ? 2 : 1
        }
        stderr = cli.warnings.map { "hwkeys: warning: \($0)" } + stderr
        return CLIResult(
            stdout: collected().joined(separator: "\n"),
            stderr: stderr.joined(separator: "\n"),
            exitCode: exitCode
        )
    }

    /// A result as stdout shows it: its Codable encoding in JSON mode, its text otherwise.
    static func render(_ result: any CommandResult, _ format: OutputFormat) -> String {
        format == .json ? ResultEncoding.json(result) : result.text
    }

    /// An error as stderr shows it: `{"error": …, "message": …}` in JSON mode; otherwise
    /// `hwkeys: CODE: message: STRERROR` — ending, for an errno, with the C library's text for it, as
    /// keyctl(1)'s `perror` does (so scripts matching `…: Required key not available` work), and with no
    /// suffix for a fault or a PCONFIG status. A message of several lines (a usage error with help) gets
    /// the suffix on its first line.
    static func render(_ error: HWKeysError, _ format: OutputFormat) -> String {
        if format == .json { return ResultEncoding.json(ErrorReport(error)) }
        guard let errno = error.errno else { return "hwkeys: \(error.code.name): \(error.message)" }
        var lines = error.message.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let first = lines.first ?? ""
        let strerror = errno.strerror
        if first.isEmpty {
            lines[0] = strerror
        } else if !first.hasSuffix(": \(strerror)") {
            lines[0] = first + ": " + strerror
        }
        return "hwkeys: \(error.code.name): " + lines.joined(separator: "\n")
    }

    /// The longest argument an error message quotes whole.
    static let maximumEcho = 80

    /// `text` as a message quotes it: at most ``maximumEcho`` characters, cut with `…`.
    static func echo(_ text: String) -> String {
        text.count <= maximumEcho ? text : String(text.prefix(maximumEcho - 1)) + "…"
    }

    /// `error` with every argument longer than ``maximumEcho`` characters that its message repeats cut
    /// short (``echo(_:)``), so a huge argument is not printed back whole.
    static func truncatingEchoes(_ error: HWKeysError, of arguments: [String]) -> HWKeysError {
        var message = error.message
        for argument in Set(arguments) where argument.count > maximumEcho && message.contains(argument) {
            message = message.replacingOccurrences(of: argument, with: echo(argument))
        }
        return message == error.message ? error : HWKeysError(error.code, message, isUsage: error.isUsage)
    }

    /// argv as ArgumentParser should see it: global options moved behind the subcommand words
    /// (``hoistGlobalOptions(_:)``), an unknown subcommand reported as such (ArgumentParser would report
    /// the first option after it instead, e.g. the hoisted `--state`), and keyctl's verbs and arguments
    /// read as keyctl reads them (``KeyctlCommand/normalize(_:)``).
    ///
    /// - Throws: a usage error for an unknown subcommand or keyctl verb.
    static func prepare(_ arguments: [String]) throws(HWKeysError) -> [String] {
        let words = hoistGlobalOptions(arguments)
        var command: any ParsableCommand.Type = HWKeys.self
        var path = ["hwkeys"]
        for (index, word) in words.enumerated() {
            let subcommands = command.configuration.subcommands
            if subcommands.isEmpty || word.hasPrefix("-") || word == "help" { break }
            if ObjectIdentifier(command) == ObjectIdentifier(KeyctlCommand.self) {
                return Array(words[..<index]) + (try KeyctlCommand.normalize(Array(words[index...])))
            }
            guard let next = subcommands.first(where: { $0._commandName == word }) else {
                let names = subcommands.map { $0._commandName }
                throw .usage(
                    "unknown subcommand '\(echo(word))' for '\(path.joined(separator: " "))'; "
                        + "the subcommands are: \(names.joined(separator: ", "))"
                )
            }
            command = next
            path.append(word)
        }
        return words
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
