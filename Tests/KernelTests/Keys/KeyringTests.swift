//===----------------------------------------------------------------------===//
//
// hwkeys: KernelTests
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase
import TestSupport
import Testing

@testable import Kernel

/// Links, unlinks, searches and cycles (`security/keys/keyring.c`; keyutils
/// `tests/keyctl/{link,unlink,search,clear,listing}`).
@Suite struct KeyringTests {
    @Test func linkAddsAndUnlinkRemoves() throws {
        let (_, kernel) = try bootedKernel()
        let ring = try kernel.newring("wibble")
        let key = try kernel.add("user", "lizard", "gizzard", ring)
        let other = try kernel.newring("other")
        try kernel.keys.link(key, into: other, pid: shell)
        #expect(try kernel.list(other) == [key])
        // Linking again changes nothing.
        try kernel.keys.link(key, into: other, pid: shell)
        #expect(try kernel.list(other) == [key])
        try kernel.keys.unlink(key, from: ring, pid: shell)
        #expect(try kernel.print(key) == "gizzard")
        expectErrno(.ENOENT) { try kernel.keys.unlink(key, from: ring, pid: shell) }
        try kernel.keys.unlink(key, from: other, pid: shell)
        expectErrno(.ENOKEY) { try kernel.keys.unlink(key, from: other, pid: shell) }
    }

    @Test func linkingDisplacesAKeyWithTheSameTypeAndDescription() throws {
        let (_, kernel) = try bootedKernel()
        let first = try kernel.newring("first")
        let second = try kernel.newring("second")
        let a = try kernel.add("user", "lizard", "a", first)
        let b = try kernel.add("user", "lizard", "b", second)
        try kernel.keys.link(b, into: first, pid: shell)
        #expect(try kernel.list(first) == [b])
        expectErrno(.ENOKEY) { _ = try kernel.keys.describe(a, pid: shell) }
    }

    @Test func linkBadArguments() throws {
        // keyutils link/bad-args.
        let (_, kernel) = try bootedKernel()
        expectErrno(.EINVAL) { try kernel.keys.link(0, into: KeySpecial.session, pid: shell) }
        expectErrno(.EINVAL) { try kernel.keys.link(KeySpecial.session, into: 0, pid: shell) }
        let key = try kernel.add("user", "lizard", "gizzard")
        expectErrno(.ENOTDIR) { try kernel.keys.link(KeySpecial.session, into: key, pid: shell) }
        try kernel.keys.unlink(key, from: KeySpecial.session, pid: shell)
        expectErrno(.ENOKEY) { try kernel.keys.link(KeySpecial.session, into: key, pid: shell) }
        expectErrno(.ENOKEY) { try kernel.keys.link(key, into: KeySpecial.session, pid: shell) }
    }

    @Test func linkNeedsWriteOnTheKeyringAndLinkOnTheKey() throws {
        let (_, kernel) = try bootedKernel()
        let ring = try kernel.newring("ring")
        let key = try kernel.add("user", "lizard", "gizzard")
        try kernel.keys.setPermissions(key, 0x2F01_0000, pid: shell)  // possessor without link
        expectErrno(.EACCES) { try kernel.keys.link(key, into: ring, pid: shell) }
        try kernel.keys.setPermissions(key, 0x3F01_0000, pid: shell)
        try kernel.keys.setPermissions(ring, 0x3B01_0000, pid: shell)  // possessor without write
        expectErrno(.EACCES) { try kernel.keys.link(key, into: ring, pid: shell) }
        expectErrno(.EACCES) { try kernel.add("user", "x", "y", ring) }
        expectErrno(.EACCES) { try kernel.keys.unlink(key, from: ring, pid: shell) }
    }

    @Test func keyringRecursionIsEDEADLKThenELOOP() throws {
        // keyutils link/recursion: a chain of nine keyrings. Keyrings deeper than the possession search
        // reaches (6 levels) are not possessed, so — as the keyutils test does — each grants its owner
        // everything, and the last two are made in @s and linked down.
        let (_, kernel) = try bootedKernel()
        let first = try kernel.newring("first")
        try kernel.keys.setPermissions(first, 0x3F3F_0000, pid: shell)
        expectErrno(.EDEADLK) { try kernel.keys.link(first, into: first, pid: shell) }
        var chain = [first]
        for name in ["second", "third", "fourth", "fifth", "sixth", "seventh"] {
            chain.append(try kernel.newring(name, chain.last!))
            try kernel.keys.setPermissions(chain.last!, 0x3F3F_0000, pid: shell)
            expectErrno(.EDEADLK) { try kernel.keys.link(first, into: chain.last!, pid: shell) }
        }
        for name in ["eighth", "ninth"] {
            let ring = try kernel.newring(name)
            try kernel.keys.setPermissions(ring, 0x3F3F_0000, pid: shell)
            try kernel.keys.link(ring, into: chain.last!, pid: shell)
            try kernel.keys.unlink(ring, from: KeySpecial.session, pid: shell)
            chain.append(ring)
        }
        expectErrno(.EDEADLK) { try kernel.keys.link(first, into: chain[7], pid: shell) }
        expectErrno(.ELOOP) { try kernel.keys.link(first, into: chain[8], pid: shell) }
        #expect(try kernel.list(chain[8]).isEmpty)
    }

    @Test func possessionReachesSixLevelsDown() throws {
        let (_, kernel) = try bootedKernel()
        var chain: [Int32] = []
        for level in 1...8 { chain.append(try kernel.newring("level\(level)", chain.last ?? KeySpecial.session)) }
        // @s is searched at depth 0, so the keyrings nested up to depth 7 are found; deeper ones are not.
        #expect(try kernel.keys.lookupUserKey(chain[6], for: shell, check: .deferred).possessed)
        #expect(!(try kernel.keys.lookupUserKey(chain[7], for: shell, check: .deferred).possessed))
        expectErrno(.EACCES) { try kernel.newring("deeper", chain[7]) }
    }

    @Test func linkingTwoStacksCannotHideACycle() throws {
        // keyutils link/recursion, second half.
        let (_, kernel) = try bootedKernel()
        let aRoot = try kernel.newring("A1")
        let bRoot = try kernel.newring("B1")
        var a = aRoot
        var b = bRoot
        for level in 2...4 {
            a = try kernel.newring("A\(level)", a)
            b = try kernel.newring("B\(level)", b)
        }
        try kernel.keys.link(aRoot, into: b, pid: shell)
        expectErrno(.EDEADLK) { try kernel.keys.link(bRoot, into: a, pid: shell) }
        try kernel.keys.unlink(aRoot, from: b, pid: shell)
        try kernel.keys.link(bRoot, into: a, pid: shell)
        expectErrno(.EDEADLK) { try kernel.keys.link(aRoot, into: b, pid: shell) }
        try kernel.keys.unlink(bRoot, from: a, pid: shell)
        a = try kernel.newring("A5", a)
        b = try kernel.newring("B5", b)
        try kernel.keys.link(aRoot, into: b, pid: shell)
        expectErrno(.ELOOP) { try kernel.keys.link(bRoot, into: a, pid: shell) }
        try kernel.keys.unlink(aRoot, from: b, pid: shell)
        try kernel.keys.link(bRoot, into: a, pid: shell)
        expectErrno(.ELOOP) { try kernel.keys.link(aRoot, into: b, pid: shell) }
    }

    @Test func unlinkBadArguments() throws {
        let (_, kernel) = try bootedKernel()
        let key = try kernel.add("user", "lizard", "gizzard")
        expectErrno(.EINVAL) { try kernel.keys.unlink(0, from: KeySpecial.session, pid: shell) }
        expectErrno(.EINVAL) { try kernel.keys.unlink(key, from: 0, pid: shell) }
        expectErrno(.ENOTDIR) { try kernel.keys.unlink(key, from: key, pid: shell) }
        expectErrno(.ENOENT) { try kernel.keys.unlink(KeySpecial.session, from: KeySpecial.session, pid: shell) }
    }

    @Test func listsComeOutInLinkOrder() throws {
        let (_, kernel) = try bootedKernel()
        let ring = try kernel.newring("wibble")
        var serials: [Int32] = []
        for index in 0..<20 { serials.append(try kernel.add("user", "lizard\(index)", "gizzard\(index)", ring)) }
        for index in 0..<20 { serials.append(try kernel.newring("ring\(index)", ring)) }
        #expect(try kernel.list(ring) == serials)
        for serial in serials.shuffled() { try kernel.keys.unlink(serial, from: ring, pid: shell) }
        #expect(try kernel.list(ring).isEmpty)
    }

    @Test func clearEmptiesAKeyring() throws {
        let (_, kernel) = try bootedKernel()
        let ring = try kernel.newring("wibble")
        let key = try kernel.add("user", "lizard", "gizzard", ring)
        try kernel.keys.clear(ring, pid: shell)
        #expect(try kernel.list(ring).isEmpty)
        expectErrno(.ENOKEY) { _ = try kernel.keys.describe(key, pid: shell) }
        expectErrno(.ENOTDIR) { try kernel.keys.clear(try kernel.add("user", "a", "b"), pid: shell) }
    }

    @Test func searchFindsKeysInNestedKeyrings() throws {
        let (_, kernel) = try bootedKernel()
        let outer = try kernel.newring("outer")
        let inner = try kernel.newring("inner", outer)
        let key = try kernel.add("user", "lizard", "gizzard", inner)
        #expect(try kernel.keys.search(KeySpecial.session, type: "user", description: "lizard", pid: shell) == key)
        #expect(try kernel.keys.search(outer, type: "user", description: "lizard", pid: shell) == key)
        // The session keyring itself matches a search for it.
        let session = try kernel.keys.keyringID(KeySpecial.session, create: false, pid: shell)
        #expect(try kernel.keys.search(KeySpecial.session, type: "keyring", description: "_ses", pid: shell) == session)
        expectErrno(.ENOKEY) { _ = try kernel.keys.search(outer, type: "user", description: "newt", pid: shell) }
        // Found keys can be linked into a destination keyring.
        let dest = try kernel.newring("dest")
        #expect(
            try kernel.keys.search(outer, type: "user", description: "lizard", destination: dest, pid: shell) == key
        )
        #expect(try kernel.list(dest) == [key])
    }

    @Test func searchBadArguments() throws {
        // keyutils search/bad-args.
        let (_, kernel) = try bootedKernel()
        let maxType = String(repeating: "a", count: 31)
        let maxDescription = String(repeating: "d", count: 4095)
        expectErrno(.EINVAL) { _ = try kernel.keys.search(-3, type: "", description: "wibble", pid: shell) }
        expectErrno(.ENOKEY) { _ = try kernel.keys.search(-3, type: "lizardsgizzards", description: "w", pid: shell) }
        expectErrno(.EPERM) { _ = try kernel.keys.search(-3, type: ".user", description: "wibble", pid: shell) }
        expectErrno(.ENOKEY) { _ = try kernel.keys.search(-3, type: maxType, description: "wibble", pid: shell) }
        expectErrno(.EINVAL) { _ = try kernel.keys.search(-3, type: "a" + maxType, description: "w", pid: shell) }
        expectErrno(.ENOKEY) { _ = try kernel.keys.search(-3, type: "user", description: maxDescription, pid: shell) }
        expectErrno(.EINVAL) {
            _ = try kernel.keys.search(-3, type: "user", description: "a" + maxDescription, pid: shell)
        }
        expectErrno(.EINVAL) {
            _ = try kernel.keys.search(-3, type: "user", description: "wibble", destination: -2000, pid: shell)
        }
        let key = try kernel.add("user", "a", "a")
        expectErrno(.ENOTDIR) { _ = try kernel.keys.search(key, type: "user", description: "a", pid: shell) }
        expectErrno(.ENOTDIR) {
            _ = try kernel.keys.search(key, type: "user", description: "a", destination: -2, pid: shell)
        }
    }

    @Test func searchSkipsKeysWithoutSearchPermission() throws {
        let (_, kernel) = try bootedKernel()
        let key = try kernel.add("user", "lizard", "gizzard")
        try kernel.keys.setPermissions(key, 0x3701_0000, pid: shell)
        expectErrno(.EACCES) { _ = try kernel.keys.search(-3, type: "user", description: "lizard", pid: shell) }
        let ring = try kernel.newring("hidden")
        try kernel.add("user", "newt", "eye", ring)
        try kernel.keys.setPermissions(ring, 0x3701_0000, pid: shell)
        expectErrno(.ENOKEY) { _ = try kernel.keys.search(-3, type: "user", description: "newt", pid: shell) }
    }

    @Test func searchNeedsLinkPermissionToLinkTheResult() throws {
        let (_, kernel) = try bootedKernel()
        let key = try kernel.add("user", "lizard", "gizzard")
        try kernel.keys.setPermissions(key, 0x2F01_0000, pid: shell)  // no link
        let dest = try kernel.newring("dest")
        expectErrno(.EACCES) {
            _ = try kernel.keys.search(-3, type: "user", description: "lizard", destination: dest, pid: shell)
        }
        #expect(try kernel.list(dest).isEmpty)
    }
}
