//===----------------------------------------------------------------------===//
//
// hwkeys: RepositoryTests
//
//===----------------------------------------------------------------------===//

import Foundation

/// Finds file citations in text: the names of files written in comments, doc comments, string literals,
/// Markdown and scripts, with the sections, rule or quoted name that follow them.
struct CitationScanner {
    /// How a file's text is read.
    enum Kind {
        /// Everything is prose (Markdown, scripts of commands, shell).
        case prose
        /// Swift, C: `//` and `/* */` comments and string literals; code is skipped.
        case cLike
        /// Python: `#` comments and string literals.
        case python
    }

    /// A file name as written, where, and what of the file it cites.
    struct Citation: Hashable {
        var name: String
        /// The line (1-based) in the citing file.
        var line: Int
        /// Section numbers written after the name (`§2–§3` → 2, 3).
        var sections: [String] = []
        /// `rule N` written after the name.
        var rule: Int?
        /// A quoted section or phrase written after the name or its sections (`"Common to both"`).
        var quotedName: String?
    }

    /// Extensions of the files a citation may name.
    static let citedExtensions: Set<String> = ["md", "py", "hwk", "sh", "swift", "c", "h", "json", "txt", "rsp"]

    /// Files of other projects, cited by their path there: Linux, OpenSSL, PyPI `cryptography-vectors`, SQLite.
    static let externalPrefixes = [
        "security/", "include/", "fs/", "mm/", "arch/", "kernel/", "drivers/", "crypto/", "Documentation/",
        "openssl/", "vectors/cryptography_vectors/", "sqlite/src/",
    ]

    /// Files of other projects cited by bare name: Linux `security/keys/*.c` beside the Swift files that model
    /// them (`Sources/Kernel/Keys/`, `docs/kernel-keys.md`), and the GRDB package. Cite new ones by full path.
    static let externalNames: Set<String> = [
        "keyctl.c", "key.c", "keyring.c", "gc.c", "proc.c", "sysctl.c", "permission.c", "process_keys.c", "GRDB.swift",
    ]

    /// File names that stand for any file (`examples/NAME.hwk`).
    static let placeholders: Set<String> = ["NAME", "FILE", "PATH", "X"]

    /// Characters that end a path when they precede it: a template (`\(dir)/x.hwk`, `<source>/SOURCE.md`,
    /// `KeyLocker*Tests.swift`) or a URL (`https://…`). A `*` counts only inside a word: `**notes.md**` is
    /// Markdown emphasis.
    private static let templateMarks: Set<Unicode.Scalar> = ["<", ">", "{", "}", "*", "$", ")", "]", ":", "\\"]

    /// The citations in `text`.
    static func citations(in text: String, kind: Kind) -> [Citation] {
        let scalars = Array(text.unicodeScalars)
        var lineStarts = [0]
        for (index, scalar) in scalars.enumerated() where scalar == "\n" { lineStarts.append(index + 1) }
        func line(of offset: Int) -> Int {
            var low = 0
            var high = lineStarts.count - 1
            while low < high {
                let mid = (low + high + 1) / 2
                if lineStarts[mid] <= offset { low = mid } else { high = mid - 1 }
            }
            return low + 1
        }
        var found: [Citation] = []
        for segment in segments(of: scalars, kind: kind) {
            for run in pathRuns(in: scalars, segment.range) {
                let previous = run.start > 0 ? scalars[run.start - 1] : " "
                let isTemplate =
                    templateMarks.contains(previous)
                    && (previous != "*" || (run.start > 1 && isPathCharacter(scalars[run.start - 2])))
                guard let name = citedName(run.text, inTemplate: isTemplate) else {
                    continue
                }
                // In code, a string names a run-time file unless it names a document or a repository path.
                if segment.isString && !name.hasSuffix(".md") && !Repository.isRootedPath(name) { continue }
                var citation = Citation(name: name, line: line(of: run.start))
                readTrailer(scalars, from: run.end, upTo: segment.range.upperBound, into: &citation)
                found.append(citation)
            }
        }
        return found
    }

    /// The file name `run` cites, or nil when it cites none (no cited extension, a URL, a template, a
    /// placeholder, another project's file).
    private static func citedName(_ run: String, inTemplate: Bool) -> String? {
        var name = run
        while name.hasSuffix(".") { name.removeLast() }
        if name.hasPrefix("./") { name.removeFirst(2) }
        // Citations of the project brief's folders, which are not in the repository, whatever they name.
        if name.hasPrefix("/work/") || name.hasPrefix("../shared/") { return name }
        if name.hasPrefix("/") || inTemplate { return nil }
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return nil }
        let stem = name[..<dot]
        guard citedExtensions.contains(String(name[name.index(after: dot)...])),
            let last = stem.unicodeScalars.last, last == "_" || CharacterSet.alphanumerics.contains(last)
        else { return nil }
        let base = stem.split(separator: "/").last.map(String.init) ?? String(stem)
        if placeholders.contains(base) || externalNames.contains(name) { return nil }
        if externalPrefixes.contains(where: { name.hasPrefix($0) }) { return nil }
        return name
    }

    /// Reads `§N[, §M | –§M]…`, `rule N` and a quoted name after a citation, on the same line.
    private static func readTrailer(
        _ s: [Unicode.Scalar],
        from start: Int,
        upTo end: Int,
        into citation: inout Citation
    ) {
        var i = start
        func skip(_ set: Set<Unicode.Scalar>) { while i < end, set.contains(s[i]) { i += 1 } }
        func peek(_ text: String) -> Bool {
            let t = Array(text.unicodeScalars)
            return i + t.count <= end && Array(s[i..<i + t.count]) == t
        }
        skip(["`"])
        skip([" "])
        if peek("rule ") {
            i += 5
            var digits = ""
            while i < end, CharacterSet.decimalDigits.contains(s[i]) {
                digits.unicodeScalars.append(s[i])
                i += 1
            }
            citation.rule = Int(digits)
            return
        }
        while i < end, s[i] == "§" {
            i += 1
            var number = ""
            while i < end {
                let c = s[i]
                if CharacterSet.decimalDigits.contains(c) || (c >= "a" && c <= "z" && !number.isEmpty) {
                    number.unicodeScalars.append(c)
                    i += 1
                } else if c == ".", i + 1 < end, CharacterSet.decimalDigits.contains(s[i + 1]) {
                    number.unicodeScalars.append(c)
                    i += 1
                } else {
                    break
                }
            }
            guard !number.isEmpty else { break }
            citation.sections.append(number)
            if peek("–§") || peek("-§") {
                i += 1
            } else if peek(", §") {
                i += 2
            } else if peek(" and §") {
                i += 5
            } else {
                break
            }
        }
        skip([" "])
        if i < end, s[i] == "\"" || s[i] == "“" {
            var j = i + 1
            var quoted = ""
            while j < end, s[j] != "\"", s[j] != "”", s[j] != "\n" {
                quoted.unicodeScalars.append(s[j])
                j += 1
            }
            if j < end, s[j] != "\n", !quoted.isEmpty { citation.quotedName = quoted }
        }
    }

    // MARK: Lexing

    /// Lexemes as scalars, made once.
    private enum Lexeme {
        static let slashes = Array("//".unicodeScalars)
        static let hash = Array("#".unicodeScalars)
        static let include = Array("#include".unicodeScalars)
        static let blockOpen = Array("/*".unicodeScalars)
        static let blockClose = Array("*/".unicodeScalars)
        static let tripleQuote = Array("\"\"\"".unicodeScalars)
        static let tripleApostrophe = Array("'''".unicodeScalars)
    }

    private struct Segment {
        var range: Range<Int>
        var isString: Bool
    }

    /// The parts of a file where citations are written.
    private static func segments(of s: [Unicode.Scalar], kind: Kind) -> [Segment] {
        if kind == .prose { return [Segment(range: 0..<s.count, isString: false)] }
        var result: [Segment] = []
        var i = 0
        let n = s.count
        func starts(_ pattern: [Unicode.Scalar], at index: Int) -> Bool {
            guard index + pattern.count <= n else { return false }
            for k in pattern.indices where s[index + k] != pattern[k] { return false }
            return true
        }
        func find(_ pattern: [Unicode.Scalar], from index: Int) -> Int? {
            var j = index
            while j < n {
                if starts(pattern, at: j) { return j }
                j += 1
            }
            return nil
        }
        func lineEnd(from index: Int) -> Int { s[index...].firstIndex(of: "\n") ?? n }
        let lineComment = kind == .python ? Lexeme.hash : Lexeme.slashes
        while i < n {
            if starts(lineComment, at: i) {
                let end = lineEnd(from: i)
                result.append(Segment(range: i..<end, isString: false))
                i = end
            } else if kind == .cLike, starts(Lexeme.include, at: i) {
                // A preprocessor line (`#include <stdio.h>`) names a system header, not a citation.
                i = lineEnd(from: i)
            } else if kind == .cLike, starts(Lexeme.blockOpen, at: i) {
                let end = find(Lexeme.blockClose, from: i + 2).map { $0 + 2 } ?? n
                result.append(Segment(range: i..<end, isString: false))
                i = end
            } else if let quote = [Lexeme.tripleQuote, Lexeme.tripleApostrophe].first(where: { starts($0, at: i) }),
                kind == .python || quote == Lexeme.tripleQuote
            {
                let end = find(quote, from: i + 3).map { $0 + 3 } ?? n
                result.append(Segment(range: i..<end, isString: true))
                i = end
            } else if s[i] == "\"" || s[i] == "'" {
                // Python strings use either quote; a C or Swift `'` is a character literal.
                var j = i + 1
                while j < n, s[j] != s[i], s[j] != "\n" { j += s[j] == "\\" ? 2 : 1 }
                let end = min(j + 1, n)
                if s[i] == "\"" || kind == .python { result.append(Segment(range: i..<end, isString: true)) }
                i = end
            } else {
                i += 1
            }
        }
        return result
    }

    private struct Run {
        var text: String
        var start: Int
        var end: Int
    }

    /// Maximal runs of characters that may form a path.
    /// Whether `c` may be part of a path.
    private static func isPathCharacter(_ c: Unicode.Scalar) -> Bool {
        (c.isASCII && (CharacterSet.alphanumerics.contains(c) || "_./+-~".unicodeScalars.contains(c))) || c == "…"
    }

    private static func pathRuns(in s: [Unicode.Scalar], _ range: Range<Int>) -> [Run] {
        var runs: [Run] = []
        var i = range.lowerBound
        while i < range.upperBound {
            guard isPathCharacter(s[i]) else {
                i += 1
                continue
            }
            var j = i
            var text = ""
            while j < range.upperBound, isPathCharacter(s[j]) {
                text.unicodeScalars.append(s[j])
                j += 1
            }
            runs.append(Run(text: text, start: i, end: j))
            i = j
        }
        return runs
    }
}
