//===----------------------------------------------------------------------===//
//
// hwkeys: RepositoryTests
//
//===----------------------------------------------------------------------===//

import Foundation
import Testing

/// The repository stands alone (issue 10): every file that code, tests, docs, examples and scripts cite exists
/// in the repository, and every section they cite by number (`docs/contract.md §6`,
/// `docs/research/keylocker-research.md §1.10`), rule (`docs/design.md rule 3`) or quoted name exists in it.
///
/// The scan covers `Sources/`, `Tests/`, `docs/`, `examples/`, `Scripts/`, `Benchmarks/`, the top-level `*.md`
/// files and `Package.swift`, except ``Repository/unscanned``. Set `HWKEYS_REPOSITORY_ROOT` to check another
/// checkout (for example a copy with a citation rewrite applied).
@Suite struct CitationTests {
    /// The repository's citations, scanned once for both checks.
    static let scan = Result { try Repository(root: Repository.defaultRoot).scan() }

    @Test func everyCitedFileIsInTheRepository() throws {
        let missing = try Self.scan.get().unresolved
        #expect(
            missing.count == 0,
            Comment(rawValue: Repository.report(missing, title: "cited files not in the repository"))
        )
    }

    @Test func everyCitedSectionExists() throws {
        let missing = try Self.scan.get().missingSections
        #expect(
            missing.count == 0,
            Comment(rawValue: Repository.report(missing, title: "cited sections, rules or names that do not exist"))
        )
    }

    // MARK: The scanner itself

    @Test func findsCitationsInProseCommentsAndStringsButNotInCode() {
        let swift = """
            /// Implements notes.md §6 (docs/design.md rule 3).
            let cost = "see docs/research/keylocker-research.md §1.4"
            let value = key.json(session)   // the `Scripts/gen_xts_vectors.py` output
            /* examples/walkthrough.hwk */
            """
        let names = CitationScanner.citations(in: swift, kind: .cLike).map(\.name)
        #expect(
            names == [
                "notes.md", "docs/design.md", "docs/research/keylocker-research.md", "Scripts/gen_xts_vectors.py",
                "examples/walkthrough.hwk",
            ]
        )
        let prose = "Read docs/choices.md, then `docs/mktme.md`. Run examples/mktme-basics.hwk. **notes.md choice:**"
        #expect(
            CitationScanner.citations(in: prose, kind: .prose).map(\.name) == [
                "docs/choices.md", "docs/mktme.md", "examples/mktme-basics.hwk", "notes.md",
            ]
        )
        let python = "# Expected values (notes.md §2)\nopen('out.json')\n\"\"\"See docs/mktme.md.\"\"\"\n"
        #expect(CitationScanner.citations(in: python, kind: .python).map(\.name) == ["notes.md", "docs/mktme.md"])
    }

    @Test func ignoresURLsTemplatesPlaceholdersRunTimeNamesAndOtherProjects() {
        let swift = """
            /// https://github.com/groue/GRDB.swift and `\\(dir)/fail.hwk`, `examples/NAME.hwk`,
            /// `Tests/<Module>Tests/Vectors/<source>/SOURCE.md`, `KeyLocker*Tests.swift`, Linux
            /// `security/keys/keyctl.c` and `gc.c`.
            let path = scratch.write("fail.hwk", "run x.hwk")
            #include <string.h>
            """
        #expect(CitationScanner.citations(in: swift, kind: .cLike).isEmpty)
    }

    @Test func readsSectionsRulesAndQuotedNamesAfterACitation() {
        let text = """
            `docs/contract.md` §2–§3, docs/research/keylocker-research.md §1.10, §4, §5. docs/design.md rule 3; \
            docs/contract.md §6 "Common to both"; docs/design.md "Persistence"; docs/contract.md §4.
            """
        let found = CitationScanner.citations(in: text, kind: .prose)
        #expect(found.map(\.sections) == [["2", "3"], ["1.10", "4", "5"], [], ["6"], [], ["4"]])
        #expect(found.map(\.rule) == [nil, nil, 3, nil, nil, nil])
        #expect(found.map(\.quotedName) == [nil, nil, nil, "Common to both", "Persistence", nil])
    }

    @Test func reportsCitationsOfTheProjectBriefAndFilesThatAreGone() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("citations-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let write = { (path: String, text: String) throws in
            let url = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(),
                withIntermediateDirectories: true
            )
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        try write("docs/contract.md", "# Contract\n\n## 1. Machine\n\n## 2. Hardware\n")
        try write("docs/design.md", "# Design\n\n## Rules\n\n1. **One.**\n2. **Two.**\n\n## Persistence\n")
        try write("examples/a.hwk", "# docs/contract.md §2 and ../shared/reference/notes.md §3\n")
        try write(
            "Sources/M/File+Aspect.swift",
            """
            /// docs/contract.md §3, docs/design.md rule 2, docs/design.md rule 7, docs/design.md "Persistence",
            /// docs/design.md "Caches", `+Aspect.swift`, gone.swift, data from the `/work/shared/vectors/xts/` folder.
            let s = "notes.md"

            """
        )
        let scan = try Repository(root: root).scan()
        let missing = scan.unresolved.map { "\($0.name) \($0.file):\($0.line)" }
        #expect(
            missing == [
                "gone.swift Sources/M/File+Aspect.swift:2",
                "/work/shared/vectors/xts/ Sources/M/File+Aspect.swift:2",
                "notes.md Sources/M/File+Aspect.swift:3",
                "../shared/reference/notes.md examples/a.hwk:1",
            ]
        )
        let sections = scan.missingSections.map { "\($0.name) \($0.file):\($0.line)" }
        #expect(
            sections == [
                "docs/contract.md §3 Sources/M/File+Aspect.swift:1",
                "docs/design.md rule 7 Sources/M/File+Aspect.swift:1",
                "docs/design.md \"Caches\" Sources/M/File+Aspect.swift:2",
            ]
        )
    }
}
