//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommands
//
//===----------------------------------------------------------------------===//

import ArgumentParser
import HWKeysBase

/// keyctl(1)'s command line before ArgumentParser sees it: verb abbreviations, and arguments that start
/// with `-` (negative serials, a uid of `-1`) that keyctl takes as positional.
extension KeyctlCommand {
    /// keyctl(1)'s verbs (keyutils `keyctl.c` `commands[]`, the entries with an action), which an
    /// abbreviation is matched against: a prefix ambiguous for keyctl is ambiguous here too, even where
    /// hwkeys models only one of the verbs it could name.
    static let keyutilsVerbs: [String] = [
        "add", "chgrp", "chown", "clear", "describe", "dh_compute", "dh_compute_kdf", "dh_compute_kdf_oi",
        "get_persistent", "id", "instantiate", "invalidate", "link", "list", "move", "negate", "new_session",
        "newring", "padd", "pinstantiate", "pipe", "pkey_query", "pkey_encrypt", "pkey_decrypt", "pkey_sign",
        "pkey_verify", "prequest2", "print", "pupdate", "purge", "rdescribe", "read", "reap", "reject",
        "request", "request2", "restrict_keyring", "revoke", "rlist", "search", "security", "session",
        "setperm", "show", "supports", "timeout", "unlink", "update", "watch", "watch_add", "watch_rm",
        "watch_session", "watch_sync",
    ]

    /// The verbs hwkeys models.
    static var verbs: [String] { configuration.subcommands.map { $0._commandName } }

    /// Options of the keyctl verbs that take a value (the global options, `--pid`, `--input`).
    static let optionsWithValues: Set<String> = ["--state", "--machine", "--vm", "--format", "--pid", "--input"]
    /// Flags of the keyctl verbs.
    static let flags: Set<String> = ["-x", "--raw", "--help", "-h"]

    /// The verb `word` names, by keyutils' rules (`main()`'s best-fit loop, keyutils ≤ 1.5): an exact
    /// match wins, a unique prefix is accepted, an ambiguous prefix is an error. (keyutils 1.6 added a
    /// length check to that loop that leaves only exact matches; hwkeys keeps the abbreviations.)
    ///
    /// - Throws: a usage error for an unknown or ambiguous verb, or a keyctl verb hwkeys does not model.
    static func verb(_ word: String) throws(HWKeysError) -> String {
        let modelled = verbs
        if modelled.contains(word) { return word }
        let known = keyutilsVerbs + modelled.filter { !keyutilsVerbs.contains($0) }
        var matches = known.filter { $0 == word }
        if matches.isEmpty { matches = known.filter { $0.hasPrefix(word) } }
        guard let match = matches.first else {
            throw .usage(
                "unknown keyctl command '\(HWKeysCLI.echo(word))'; the commands are: \(modelled.joined(separator: ", "))"
            )
        }
        guard matches.count == 1 else {
            throw .usage("ambiguous keyctl command '\(HWKeysCLI.echo(word))': \(matches.joined(separator: ", "))")
        }
        guard modelled.contains(match) else {
            throw .usage(
                "keyctl \(match) is not modelled by hwkeys; the commands are: \(modelled.joined(separator: ", "))"
            )
        }
        return match
    }

    /// `words` (the arguments after `keyctl`, global options already moved behind them) as ArgumentParser
    /// should see them: the verb spelled out, options first, and every other word — including ones that
    /// start with `-`, such as `-3` (the session keyring) or a uid of `-1` — after a `--`, so they stay
    /// positional as keyctl takes them. Words are left alone once the user wrote a `--`, and for help.
    static func normalize(_ words: [String]) throws(HWKeysError) -> [String] {
        guard let first = words.first else { return words }
        if first.hasPrefix("-") || first == "help" { return words }
        let verb = try self.verb(first)
        let rest = Array(words.dropFirst())
        if rest.contains("--") { return [verb] + rest }
        let split = split(rest)
        if split.positional.isEmpty { return [verb] + split.options }
        return [verb] + split.options + ["--"] + split.positional.map(\.word)
    }

    /// The options (with their values) and the positional words (with their index in `words`) of a keyctl
    /// verb's arguments.
    static func split(_ words: [String]) -> (options: [String], positional: [(index: Int, word: String)]) {
        var options: [String] = []
        var positional: [(Int, String)] = []
        var index = 0
        while index < words.count {
            let word = words[index]
            let name = word.split(separator: "=", maxSplits: 1).first.map(String.init) ?? word
            if optionsWithValues.contains(name) {
                options.append(word)
                if !word.contains("="), index + 1 < words.count {
                    options.append(words[index + 1])
                    index += 1
                }
            } else if flags.contains(word) {
                options.append(word)
            } else {
                positional.append((index, word))
            }
            index += 1
        }
        return (options, positional)
    }
}
