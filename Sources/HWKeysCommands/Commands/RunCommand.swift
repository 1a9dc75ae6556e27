//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommands
//
//===----------------------------------------------------------------------===//

import ArgumentParser
import Foundation
import HWKeysBase

/// `hwkeys run FILE`: runs a script of commands in one process, against the machine given to `run` or, line
/// by line, another machine of the same state file named with `--machine`.
///
/// One command per line, without the leading `hwkeys`; `#` starts a comment; words may be quoted with
/// `"…"` or `'…'`. Each line is its own transaction. The script stops at the first failing line and names
/// it. `expect-error CODE <command>` succeeds only if the command fails with that code (its changes are
/// discarded, as for any failed command).
public struct RunCommand: HWKeysCommand {
    public static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a script of hwkeys commands against one machine (one command per line, # comments)."
    )

    @OptionGroup public var global: GlobalOptions
    @Argument(help: "The script file.") var file: String
    @Flag(help: "Do not echo each command before its output (text mode).") var quiet = false
    public init() {}

    public func execute(in session: Session) throws -> CommandOutput {
        let script: String
        do {
            script = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            throw HWKeysError(.ENOENT, "cannot read script \(file): \(error.localizedDescription)")
        }
        var results: [JSON] = []
        var executed = 0
        // Other machines of the same state file, named by `--machine` on a line, each with its own session.
        var others: [String: Session] = [:]
        defer { for other in others.values { other.close() } }
        for (index, rawLine) in script.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineNumber = index + 1
            let words: [String]
            do {
                words = try ScriptLexer.words(of: String(rawLine))
            } catch {
                throw HWKeysError(.EINVAL, "\(file):\(lineNumber): \(error.message)")
            }
            guard !words.isEmpty else { continue }
            let expected: String?
            let commandWords: [String]
            if words[0] == "expect-error" {
                guard words.count >= 3 else {
                    throw HWKeysError(.EINVAL, "\(file):\(lineNumber): expect-error needs CODE and a command")
                }
                expected = words[1]
                commandWords = Array(words[2...])
            } else {
                expected = nil
                commandWords = words
            }
            if global.format == .text && !quiet {
                session.emit("$ " + Self.redacted(commandWords).joined(separator: " "))
            }
            let outcome = runLine(commandWords, session: session, others: &others)
            executed += 1
            switch (outcome, expected) {
            case (.success(let output), nil):
                if global.format == .text {
                    if !output.text.isEmpty { session.emit(output.text) }
                } else {
                    results.append(.object([("line", .count(lineNumber)), ("output", output.json)]))
                }
            case (.failure(let error), let code?) where error.code.name == code:
                if global.format == .text {
                    if !quiet { session.emit("(expected error) \(error.code.name): \(error.message)") }
                } else {
                    results.append(.object([("line", .count(lineNumber)), ("expected_error", error.json)]))
                }
            case (.failure(let error), let code?):
                throw HWKeysError(
                    error.code,
                    "\(file):\(lineNumber): expected \(code) but got \(error.code.name): \(error.message)"
                )
            case (.success, let code?):
                throw HWKeysError(.EINVAL, "\(file):\(lineNumber): expected \(code) but the command succeeded")
            case (.failure(let error), nil):
                throw HWKeysError(error.code, "\(file):\(lineNumber): \(error.message)")
            }
        }
        return CommandOutput(
            json: .object([("file", .string(file)), ("commands", .count(executed)), ("results", .array(results))]),
            text: global.format == .text && !quiet ? "ran \(executed) command(s) from \(file)" : ""
        )
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
        if words.first == "keyctl", words.count > 1 {
            // keyctl add TYPE DESC DATA RING; keyctl update KEY DATA. An mktme payload (`type=…` tokens)
            // keeps its tokens, its key= and tweak= already redacted above.
            let data = words[1] == "add" ? 4 : words[1] == "update" ? 3 : nil
            if let data, data < words.count {
                let mktme = words[1] == "add" ? words[2] == "mktme" : words[data].hasPrefix("type=")
                if !mktme { out[data] = "<redacted>" }
            }
        }
        return out
    }

    private func runLine(
        _ words: [String],
        session: Session,
        others: inout [String: Session]
    ) -> Result<CommandOutput, HWKeysError> {
        let command: any ParsableCommand
        do {
            command = try HWKeys.parseAsRoot(words)
        } catch {
            return .failure(.usage(HWKeys.message(for: error)))
        }
        guard let leaf = command as? any HWKeysCommand else {
            return .failure(.usage("'\(words.joined(separator: " "))' is not a command"))
        }
        if leaf is RunCommand { return .failure(.usage("scripts cannot run scripts")) }
        if leaf.global.state != nil {
            return .failure(.usage("a script runs against one state file: --state belongs on `hwkeys run`"))
        }
        // `--machine NAME` on a line runs it against another machine of the same state file (so two
        // machines can be shown side by side); each line is still its own transaction.
        var target = session
        if let name = leaf.global.machine, name != session.machineName {
            if let existing = others[name] {
                target = existing
            } else {
                var options = GlobalOptions()
                options.state = session.statePath
                options.machine = name
                let other = Session(options: options, environment: [:], emit: session.emit)
                others[name] = other
                target = other
            }
        }
        do {
            return .success(try target.perform(leaf))
        } catch {
            return .failure(HWKeysError(mapping: error))
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
