//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommands
//
//===----------------------------------------------------------------------===//

import ArgumentParser
import Foundation
import HWKeysBase
import Workspace

/// `hwkeys run FILE`: runs a script of commands in one process, against the machine given to `run` or, line
/// by line, another machine of the same state file named with `--machine`.
///
/// One command per line, without the leading `hwkeys`; `#` starts a comment; words may be quoted with
/// `"…"` or `'…'`. Each line is its own transaction; machines stay loaded between lines. The script stops at
/// the first failing line and names it. Besides commands (docs/scripts.md):
///
/// - `expect-error CODE <command>` succeeds only if the command fails with that code (its changes are
///   discarded, as for any failed command);
/// - `expect-output TEXT` / `expect-no-output TEXT`: the previous command's text output contains TEXT / does
///   not contain it;
/// - `expect-json PATH VALUE` / `expect-json-not PATH VALUE`: the previous command's JSON value at PATH
///   (dotted keys and array indices, e.g. `cells.0.outcome`) equals VALUE / differs from it.
public struct RunCommand: CLICommand {
    public static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a script of hwkeys commands against one machine (one command per line, # comments).",
        discussion: """
            Assertion lines check the previous command: expect-output TEXT, expect-no-output TEXT, \
            expect-json PATH VALUE, expect-json-not PATH VALUE; expect-error CODE COMMAND expects a failure.
            """
    )

    @OptionGroup public var global: GlobalOptions
    @Argument(help: "The script file.") var file: String
    @Flag(help: "Do not echo each command before its output (text mode).") var quiet = false
    public init() {}

    /// What the previous command printed, for assertion lines.
    private struct Previous {
        var text: String
        var json: JSONValue?
    }

    public func execute(in cli: CLIEnvironment) throws(HWKeysError) -> any CommandResult {
        let script = try Self.readScript(file)
        let workspace = cli.workspace(keepingMachinesLoaded: true)
        var results: [ScriptLineResult] = []
        var executed = 0
        var previous: Previous?
        for (index, rawLine) in script.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineNumber = index + 1
            let location = "\(file):\(lineNumber)"
            let words: [String]
            do {
                words = try ScriptLexer.words(of: String(rawLine))
            } catch {
                throw HWKeysError(.EINVAL, "\(location): \(error.message)")
            }
            guard !words.isEmpty else { continue }
            if let assertion = Assertion(words) {
                guard let previous else {
                    throw HWKeysError(.EINVAL, "\(location): \(words[0]) needs a command before it")
                }
                try assertion.check(previous.text, previous.json, at: location)
                continue
            }
            if words[0].hasPrefix("expect-"), words[0] != "expect-error" {
                throw HWKeysError(
                    .EINVAL,
                    "\(location): \(words[0]) takes \(Assertion.usage[words[0]] ?? "arguments it did not get")"
                )
            }
            let expected: String?
            let commandWords: [String]
            if words[0] == "expect-error" {
                guard words.count >= 3 else {
                    throw HWKeysError(.EINVAL, "\(location): expect-error needs CODE and a command")
                }
                expected = words[1]
                commandWords = Array(words[2...])
            } else {
                expected = nil
                commandWords = words
            }
            if global.format == .text && !quiet {
                cli.emit("$ " + Self.redacted(commandWords).joined(separator: " "))
            }
            let outcome = runLine(commandWords, cli: cli, workspace: workspace)
            executed += 1
            switch (outcome, expected) {
            case (.success(let result), nil):
                let text = result.text
                let json = ResultEncoding.json(result)
                previous = Previous(text: text, json: JSONValue(parsing: json))
                if global.format == .text {
                    if !text.isEmpty { cli.emit(text) }
                } else {
                    results.append(ScriptLineResult(line: lineNumber, output: previous?.json, expectedError: nil))
                }
            case (.failure(let error), let code?) where error.code.name == code:
                previous = Previous(text: "\(error.code.name): \(error.message)", json: nil)
                if global.format == .text {
                    if !quiet { cli.emit("(expected error) \(error.code.name): \(error.message)") }
                } else {
                    results.append(ScriptLineResult(line: lineNumber, output: nil, expectedError: ErrorReport(error)))
                }
            case (.failure(let error), let code?):
                throw HWKeysError(
                    error.code,
                    "\(location): expected \(code) but got \(error.code.name): \(error.message)"
                )
            case (.success, let code?):
                throw HWKeysError(.EINVAL, "\(location): expected \(code) but the command succeeded")
            case (.failure(let error), nil):
                throw HWKeysError(error.code, "\(location): \(error.message)", isUsage: false)
            }
        }
        return ScriptResult(
            file: file,
            commands: executed,
            results: results,
            summary: global.format == .text && !quiet ? "ran \(executed) command(s) from \(file)" : ""
        )
    }

    /// The script's text: a clear error for a missing, unreadable, directory or binary file.
    static func readScript(_ file: String) throws(HWKeysError) -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory) else {
            throw HWKeysError(.ENOENT, "cannot read script \(file): no such file")
        }
        if isDirectory.boolValue { throw HWKeysError(.EISDIR, "cannot read script \(file): it is a directory") }
        guard let data = FileManager.default.contents(atPath: file) else {
            throw HWKeysError(.EACCES, "cannot read script \(file): permission denied")
        }
        guard !data.contains(0), let text = String(data: data, encoding: .utf8) else {
            throw HWKeysError(.EINVAL, "cannot read script \(file): not a text file (binary or not UTF-8)")
        }
        return text
    }

    /// Options whose value is key material.
    static let secretOptions: Set<String> = ["--key", "--tweak", "--enc", "--int"]

    /// `words` as echoed: key material replaced by `<redacted>` — values of ``secretOptions``, `key=` and
    /// `tweak=` payload tokens, and the DATA of `keyctl add|update` — so a script's output and logs never
    /// carry keys (the script file itself is the user's to keep).
    static func redacted(_ words: [String]) -> [String] {
        var out = words
        for index in words.indices {
            let word = words[index]
            if secretOptions.contains(word), index + 1 < words.count {
                out[index + 1] = "<redacted>"
            } else if let equals = word.firstIndex(of: "="), secretOptions.contains(String(word[..<equals])) {
                out[index] = word[..<equals] + "=<redacted>"
            } else if word.contains("key=") || word.contains("tweak=") {
                out[index] = word.split(separator: " ", omittingEmptySubsequences: false).map { token in
                    token.hasPrefix("key=") ? "key=<redacted>" : token.hasPrefix("tweak=") ? "tweak=<redacted>" : token
                }.joined(separator: " ")
            }
        }
        if words.first == "keyctl", words.count > 1, let verb = try? KeyctlCommand.verb(words[1]) {
            // keyctl add [-x] TYPE DESC DATA RING; keyctl update [-x] KEY DATA (the verb perhaps abbreviated,
            // options anywhere). An mktme payload (`type=…` tokens) keeps its tokens, its key= and tweak=
            // already redacted above; a hex (-x) payload is always redacted.
            let rest = Array(words.dropFirst(2))
            let split = KeyctlCommand.split(rest)
            let hex = split.options.contains("-x")
            let positional = split.positional
            let data = verb == "add" ? 2 : verb == "update" ? 1 : nil
            if let data, data < positional.count {
                let word = positional[data].word
                let mktme = verb == "add" ? positional[0].word == "mktme" : word.hasPrefix("type=")
                if !mktme || hex { out[positional[data].index + 2] = "<redacted>" }
            }
        }
        return out
    }

    private func runLine(
        _ words: [String],
        cli: CLIEnvironment,
        workspace: Workspace
    ) -> Result<any CommandResult, HWKeysError> {
        do {
            return .success(
                try HWKeysCLI.perform(words, in: workspace, defaultMachine: cli.machineName, emit: cli.emit)
            )
        } catch {
            return .failure(error)
        }
    }
}

/// What `run` returns: the script, how many commands ran, and (in JSON mode) each line's output.
struct ScriptResult: CommandResult {
    var file: String
    var commands: Int
    var results: [ScriptLineResult]
    /// The text summary (text only).
    var summary: String

    enum CodingKeys: String, CodingKey { case file, commands, results }

    var text: String { summary }
}

/// One line's output in a script's JSON.
struct ScriptLineResult: Encodable, Sendable {
    var line: Int
    var output: JSONValue?
    var expectedError: ErrorReport?

    enum CodingKeys: String, CodingKey {
        case line, output
        case expectedError = "expected_error"
    }
}

/// An assertion line about the previous command's output.
struct Assertion {
    enum Kind {
        case output(contains: Bool)
        case json(equal: Bool)
    }

    static let usage: [String: String] = [
        "expect-output": "TEXT", "expect-no-output": "TEXT", "expect-json": "PATH VALUE",
        "expect-json-not": "PATH VALUE",
    ]

    let keyword: String
    let kind: Kind
    let arguments: [String]

    init?(_ words: [String]) {
        switch (words[0], words.count) {
        case ("expect-output", 2...): kind = .output(contains: true)
        case ("expect-no-output", 2...): kind = .output(contains: false)
        case ("expect-json", 3...): kind = .json(equal: true)
        case ("expect-json-not", 3...): kind = .json(equal: false)
        default: return nil
        }
        keyword = words[0]
        // The text (or VALUE) is the rest of the line, its words joined by single spaces.
        switch kind {
        case .output: arguments = [words.dropFirst().joined(separator: " ")]
        case .json: arguments = [words[1], words.dropFirst(2).joined(separator: " ")]
        }
    }

    func check(_ text: String, _ json: JSONValue?, at location: String) throws(HWKeysError) {
        switch kind {
        case .output(let contains):
            guard text.contains(arguments[0]) == contains else {
                throw HWKeysError(
                    .EINVAL,
                    "\(location): \(keyword): the previous output \(contains ? "does not contain" : "contains") "
                        + "\(String(reflecting: arguments[0]))"
                )
            }
        case .json(let equal):
            guard let json else {
                throw HWKeysError(.EINVAL, "\(location): \(keyword): the previous command printed no JSON")
            }
            guard let value = json.value(at: arguments[0]) else {
                throw HWKeysError(.EINVAL, "\(location): \(keyword): no value at \(arguments[0])")
            }
            let actual = value.scalarText
            guard (actual == arguments[1]) == equal else {
                throw HWKeysError(
                    .EINVAL,
                    "\(location): \(keyword) \(arguments[0]): expected \(equal ? "" : "anything but ")"
                        + "\(arguments[1]), got \(actual)"
                )
            }
        }
    }
}

/// Splits a script line into words: whitespace-separated, `"…"`/`'…'` quoting, `\` escapes, `#` comments.
enum ScriptLexer {
    struct LexError: Error {
        let message: String
    }

    static func words(of line: String) throws(LexError) -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        var escaping = false
        for character in line {
            if escaping {
                current.append(character)
                escaping = false
                continue
            }
            if character == "\\" && quote != "'" {
                escaping = true
                inWord = true
                continue
            }
            if let open = quote {
                if character == open { quote = nil } else { current.append(character) }
                continue
            }
            switch character {
            case "\"", "'":
                quote = character
                inWord = true
            case "#" where !inWord:
                if inWord { words.append(current) }
                return words
            case " ", "\t", "\r":
                if inWord {
                    words.append(current)
                    current = ""
                    inWord = false
                }
            default:
                current.append(character)
                inWord = true
            }
        }
        if quote != nil { throw LexError(message: "unterminated quote") }
        if escaping { throw LexError(message: "line ends with a backslash") }
        if inWord { words.append(current) }
        return words
    }
}
