//===----------------------------------------------------------------------===//
//
// hwkeys: RepositoryTests
//
//===----------------------------------------------------------------------===//

import Foundation

/// A checkout: its files, and where each citation in its scanned files points.
struct Repository {
    let root: URL

    /// The package this test belongs to, or `HWKEYS_REPOSITORY_ROOT`.
    static var defaultRoot: URL {
        if let path = ProcessInfo.processInfo.environment["HWKEYS_REPOSITORY_ROOT"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
    }

    /// Top-level folders whose files are scanned.
    static let scannedFolders = ["Sources", "Tests", "docs", "examples", "Scripts", "Benchmarks"]

    /// What is not scanned: the records copied from the project brief and kept as written, which cite other
    /// projects' files by design, and this checker's own tests, whose inputs cite files that do not exist.
    static let unscanned = ["docs/research/", "docs/style.md", "Tests/RepositoryTests/"]

    /// Whether `path` starts with a folder of the repository (so a string literal naming it cites it).
    static func isRootedPath(_ path: String) -> Bool {
        scannedFolders.contains { path.hasPrefix($0 + "/") }
    }

    /// A citation that does not resolve, for the report.
    struct Finding: Hashable, Sendable {
        var name: String
        var file: String
        var line: Int
    }

    /// Every file, relative to the root; hidden files and folders (`.build`, `.git`) excluded.
    func files() throws -> [String] {
        let keys: [URLResourceKey] = [.isRegularFileKey]
        guard
            let enumerator = FileManager.default.enumerator(
                at: root,
                includingPropertiesForKeys: keys,
                options: [.skipsHiddenFiles]
            )
        else { return [] }
        let prefix = root.standardizedFileURL.path + "/"
        var result: [String] = []
        for case let url as URL in enumerator {
            guard try url.resourceValues(forKeys: Set(keys)).isRegularFile == true else { continue }
            let path = url.standardizedFileURL.path
            if path.hasPrefix(prefix) { result.append(String(path.dropFirst(prefix.count))) }
        }
        return result.sorted()
    }

    /// The files whose citations are checked, with how each is read.
    func scannedFiles(_ all: [String]) -> [(path: String, kind: CitationScanner.Kind)] {
        all.compactMap { path in
            let top = path.split(separator: "/").first.map(String.init) ?? path
            let isTopLevel = !path.contains("/")
            guard
                Self.scannedFolders.contains(top) || (isTopLevel && (path.hasSuffix(".md") || path == "Package.swift"))
            else { return nil }
            guard !Self.unscanned.contains(where: { path.hasPrefix($0) }) else { return nil }
            switch (path as NSString).pathExtension {
            case "swift", "c", "h": return (path, .cLike)
            case "py": return (path, .python)
            case "md", "hwk", "sh": return (path, .prose)
            default: return nil
            }
        }
    }

    /// Every citation of the scanned files, in file order, with the repository file it resolves to (nil:
    /// none).
    func resolvedCitations() throws -> [(citation: CitationScanner.Citation, file: String, target: String?)] {
        let all = try files()
        let fileSet = Set(all)
        var bySuffix: [String: [String]] = [:]
        for path in all {
            let parts = path.split(separator: "/")
            for start in parts.indices { bySuffix[parts[start...].joined(separator: "/"), default: []].append(path) }
        }
        func resolve(_ name: String, from citing: String) -> String? {
            if name.hasPrefix("/work/") || name.hasPrefix("../shared/") { return nil }
            if fileSet.contains(name) { return name }
            let relative = URL(fileURLWithPath: "/" + citing).deletingLastPathComponent().appendingPathComponent(name)
                .standardizedFileURL.path.dropFirst()
            if fileSet.contains(String(relative)) { return String(relative) }
            // A fragment of a name (`+Keyring.swift`, `…-paravirt.hwk`) resolves to any file ending with it.
            if let first = name.unicodeScalars.first, "+-_…".unicodeScalars.contains(first) {
                let fragment = name.hasPrefix("…") ? String(name.dropFirst()) : name
                return all.first { $0.hasSuffix(fragment) }
            }
            return bySuffix[name]?.first
        }
        var result: [(CitationScanner.Citation, String, String?)] = []
        for (path, kind) in scannedFiles(all) {
            let text = try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
            for citation in CitationScanner.citations(in: text, kind: kind) {
                result.append((citation, path, resolve(citation.name, from: path)))
            }
        }
        return result
    }

    /// What a scan found wrong.
    struct Scan: Sendable {
        /// Citations of files that are not in the repository.
        var unresolved: [Finding]
        /// Sections (`§N`), rules (`rule N`) and quoted names cited in repository Markdown files that the file
        /// does not have. A file without numbered headings is not checked for section numbers.
        var missingSections: [Finding]
    }

    /// Scans every scanned file once.
    func scan() throws -> Scan {
        let citations = try resolvedCitations()
        let unresolved = citations.filter { $0.target == nil }.map {
            Finding(name: $0.citation.name, file: $0.file, line: $0.citation.line)
        }
        return Scan(unresolved: unresolved, missingSections: try missingSections(citations))
    }

    private func missingSections(
        _ citations: [(citation: CitationScanner.Citation, file: String, target: String?)]
    ) throws -> [Finding] {
        var documents: [String: (headings: Set<String>, rules: Set<Int>, text: String)] = [:]
        func document(_ path: String) throws -> (headings: Set<String>, rules: Set<Int>, text: String) {
            if let known = documents[path] { return known }
            let text = try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
            var headings = Set<String>()
            var rules = Set<Int>()
            for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                if line.hasPrefix("#") {
                    let words = line.drop { $0 == "#" }.drop { $0 == " " }.split(separator: " ", maxSplits: 1)
                    if var number = words.first.map(String.init) {
                        if number.hasSuffix(".") { number.removeLast() }
                        if number.first?.isNumber == true { headings.insert(number) }
                    }
                } else if let dot = line.firstIndex(of: "."), let rule = Int(line[..<dot]),
                    line[dot...].hasPrefix(". **")
                {
                    rules.insert(rule)
                }
            }
            let entry = (headings, rules, Self.normalized(text))
            documents[path] = entry
            return entry
        }
        var findings: [Finding] = []
        for (citation, file, target) in citations {
            guard let target, target.hasSuffix(".md") else { continue }
            let doc = try document(target)
            let missingSections = doc.headings.isEmpty ? [] : citation.sections.filter { !doc.headings.contains($0) }
            for section in missingSections {
                findings.append(Finding(name: "\(citation.name) §\(section)", file: file, line: citation.line))
            }
            if let rule = citation.rule, !doc.rules.contains(rule) {
                findings.append(Finding(name: "\(citation.name) rule \(rule)", file: file, line: citation.line))
            }
            if let quoted = citation.quotedName, !doc.text.contains(Self.normalized(quoted)) {
                findings.append(Finding(name: "\(citation.name) \"\(quoted)\"", file: file, line: citation.line))
            }
        }
        return findings
    }

    /// `text` in lower case with every run of white space as one space, so a quoted name matches across a
    /// line break.
    static func normalized(_ text: String) -> String {
        text.lowercased().split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
    }

    /// The findings as a list: each cited name with its count and where it is cited.
    static func report(_ findings: [Finding], title: String) -> String {
        guard !findings.isEmpty else { return "no \(title)" }
        var order: [String] = []
        var places: [String: [String]] = [:]
        for finding in findings {
            if places[finding.name] == nil { order.append(finding.name) }
            places[finding.name, default: []].append("\(finding.file):\(finding.line)")
        }
        var lines = ["\(findings.count) citations of \(order.count) \(title):"]
        for name in order.sorted(by: { (places[$0]!.count, $1) > (places[$1]!.count, $0) }) {
            let at = places[name]!
            let shown = at.prefix(6).joined(separator: ", ")
            lines.append("  \(name) (\(at.count)×): \(shown)\(at.count > 6 ? ", … \(at.count - 6) more" : "")")
        }
        return lines.joined(separator: "\n")
    }
}
