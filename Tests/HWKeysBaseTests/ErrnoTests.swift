//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysBaseTests
//
//===----------------------------------------------------------------------===//

import Foundation
import Testing

@testable import HWKeysBase

/// `Errno` against the C library: numbers and names from Python's `errno` module, messages from glibc's
/// `strerror` (`Fixtures/errno/`, written by `Scripts/gen_errno_table.py`).
@Suite struct ErrnoTests {
    struct Entry: Decodable {
        let number: Int32
        let errorcode: String
        let names: [String]
        let strerror: String
    }

    struct Table: Decodable {
        let platform: String
        let libc: String
        let errnos: [Entry]
    }

    static let table: Table = {
        do {
            let url = try #require(
                Bundle.module.url(forResource: "Fixtures/errno/linux-x86_64", withExtension: "json"),
                "errno table missing"
            )
            return try JSONDecoder().decode(Table.self, from: Data(contentsOf: url))
        } catch {
            preconditionFailure("cannot load the errno table: \(error)")
        }
    }()

    static func entry(_ errno: Errno) -> Entry? { table.errnos.first { $0.number == errno.rawValue } }

    @Test func tableIsLinuxX8664WithGlibc() {
        #expect(Self.table.platform == "Linux x86_64")
        #expect(Self.table.libc.hasPrefix("glibc "))
        #expect(Self.table.errnos.count > 100)
    }

    @Test(arguments: Errno.allCases)
    func nameAndNumberAreLinuxs(errno: Errno) throws {
        let entry = try #require(Self.entry(errno), "\(errno.rawValue) is no Linux errno")
        #expect(entry.names.contains(errno.name), "\(errno.rawValue) is \(entry.names), not \(errno.name)")
        // The name is the case name: what Swift prints for the value.
        #expect(String(describing: errno) == errno.name)
    }

    @Test(arguments: Errno.allCases)
    func strerrorIsGlibcs(errno: Errno) throws {
        let entry = try #require(Self.entry(errno))
        #expect(errno.strerror == entry.strerror)
    }

    @Test(arguments: Errno.allCases)
    func initByNameFindsOnlyTheOneSpelling(errno: Errno) throws {
        #expect(Errno(name: errno.name) == errno)
        let aliases = try #require(Self.entry(errno)).names.filter { $0 != errno.name }
        for alias in aliases { #expect(Errno(name: alias) == nil, "\(alias) is spelled \(errno.name)") }
    }

    @Test func eopnotsuppIsTheSpellingOf95() {
        // Python's errno.errorcode names 95 ENOTSUP; hwkeys spells it the way Linux's own headers do.
        #expect(Self.table.errnos.first { $0.number == 95 }?.names == ["ENOTSUP", "EOPNOTSUPP"])
        #expect(Errno(rawValue: 95) == .EOPNOTSUPP)
        #expect(Errno.EOPNOTSUPP.name == "EOPNOTSUPP")
        #expect(Errno(name: "ENOTSUP") == nil)
    }

    @Test func unknownNamesAndNumbersAreNil() {
        #expect(Errno(name: "") == nil)
        #expect(Errno(name: "enokey") == nil)
        #expect(Errno(name: "EWHATEVER") == nil)
        #expect(Errno(rawValue: 0) == nil)
        #expect(Errno(rawValue: -1) == nil)
    }
}
