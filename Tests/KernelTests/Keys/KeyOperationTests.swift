//===----------------------------------------------------------------------===//
//
// hwkeys: KernelTests
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase
import Platform
import TestSupport
import Testing

@testable import Kernel

/// add_key, describe, read, update (keyutils `tests/keyctl/{add,describing,reading,update}`).
@Suite struct KeyAddDescribeReadUpdateTests {
    @Test func addGivesAPositiveSerialAndLinuxDefaultMask() throws {
        let (_, kernel) = try bootedKernel()
        let key = try kernel.add("user", "lizard", "gizzard")
        #expect(key >= 3)
        let info = try kernel.keys.describe(key, pid: shell)
        #expect(info.type == "user")
        #expect(info.uid == 0 && info.gid == 0)
        // KEY_POS_ALL | KEY_USR_VIEW for a readable, updatable type.
        #expect(info.permissions.rawValue == 0x3F01_0000)
        #expect(info.raw == "user;0;0;3f010000;lizard")
        #expect(try kernel.list(KeySpecial.session).contains(key))
    }

    @Test func defaultMasksFollowTheTypesOperations() throws {
        let (_, kernel) = try bootedKernel()
        // logon has no read: no KEY_POS_READ.
        let logon = try kernel.add("logon", "cifs:pw", "secret")
        #expect(try kernel.keys.describe(logon, pid: shell).permissions.rawValue == 0x3D01_0000)
        let ring = try kernel.newring("wibble")
        #expect(try kernel.keys.describe(ring, pid: shell).permissions.rawValue == 0x3F01_0000)
    }

    @Test func specialKeyringsHaveLinuxNamesAndMasks() throws {
        let (_, kernel) = try bootedKernel()
        let user = try kernel.keys.describe(KeySpecial.user, pid: shell)
        #expect(user.description == "_uid.0")
        #expect(user.permissions.rawValue == 0x1F3F_0000)
        #expect(user.gid == 65534)
        let session = try kernel.keys.describe(KeySpecial.session, pid: shell)
        #expect(session.description == "_ses")
        #expect(session.permissions.rawValue == 0x3F03_0000)
        try kernel.add("user", "a", "b", KeySpecial.process)
        let process = try kernel.keys.describe(KeySpecial.process, pid: shell)
        #expect(process.description == "_pid")
        #expect(process.permissions.rawValue == 0x3F01_0000)
    }

    @Test func addingTheSameTypeAndDescriptionUpdatesTheKey() throws {
        let (_, kernel) = try bootedKernel()
        let first = try kernel.add("user", "lizard", "gizzard")
        let second = try kernel.add("user", "lizard", "stomach")
        #expect(first == second)
        #expect(try kernel.print(first) == "stomach")
        #expect(try kernel.list(KeySpecial.session).filter { $0 == first }.count == 1)
    }

    @Test func addingAKeyringWithAnExistingNameReplacesTheLink() throws {
        let (_, kernel) = try bootedKernel()
        let first = try kernel.newring("wibble")
        let second = try kernel.newring("wibble")
        #expect(first != second)
        #expect(try kernel.list(KeySpecial.session).contains(second))
        // The displaced keyring had no other link: it is dead at once.
        expectErrno(.ENOKEY) { _ = try kernel.keys.describe(first, pid: shell) }
    }

    @Test func addingOverARevokedKeyMakesANewKey() throws {
        let (_, kernel) = try bootedKernel()
        let old = try kernel.add("user", "lizard", "gizzard")
        try kernel.keys.revoke(old, pid: shell)
        let new = try kernel.add("user", "lizard", "stomach")
        #expect(new != old)
        #expect(try kernel.print(new) == "stomach")
        expectErrno(.ENOKEY) { _ = try kernel.keys.describe(old, pid: shell) }
    }

    @Test func addBadArgumentsFailWithLinuxErrnos() throws {
        let (_, kernel) = try bootedKernel()
        let maxType = String(repeating: "a", count: 31)
        let maxDescription = String(repeating: "d", count: 4095)
        expectErrno(.EINVAL) { try kernel.add("", "wibble", "stuff") }
        expectErrno(.ENODEV) { try kernel.add("lizardsgizzards", "wibble", "stuff") }
        expectErrno(.EPERM) { try kernel.add(".user", "wibble", "stuff") }
        expectErrno(.ENODEV) { try kernel.add(maxType, "wibble", "stuff") }
        expectErrno(.EINVAL) { try kernel.add("a" + maxType, "wibble", "stuff") }
        expectErrno(.EINVAL) { try kernel.add("keyring", "wibble", "a") }
        expectErrno(.EINVAL) { try kernel.add("user", "a" + maxDescription, "stuff") }
        expectErrno(.EINVAL) { try kernel.add("user", "wibble", "stuff", 0) }
        expectErrno(.EINVAL) { try kernel.add("user", "", "stuff") }
        expectErrno(.EINVAL) { try kernel.add("user", "wibble", "") }
        expectErrno(.EPERM) { try kernel.add("keyring", ".wibble", "") }
        expectErrno(.EINVAL) { try kernel.add("logon", "nocolon", "stuff") }
        expectErrno(.EINVAL) { try kernel.add("logon", ":noprefix", "stuff") }
        expectErrno(.ESRCH) { try kernel.add("user", "wibble", "stuff", pid: 4242) }
        expectErrno(.EINVAL) { try kernel.add("user", "wibble", "stuff", KeySpecial.group) }
        let plain = try kernel.add("user", "plain", "x")
        expectErrno(.ENOTDIR) { try kernel.add("user", "wibble", "stuff", plain) }
        expectErrno(.ENOKEY) { try kernel.add("user", "wibble", "stuff", 0x7FFF_FFF0) }
        // The longest description works (root's byte quota holds it).
        #expect(try kernel.add("user", maxDescription, "stuff") > 0)
    }

    @Test func userPayloadLimits() throws {
        let (_, kernel) = try bootedKernel()
        let longest = SecretBytes(Array(repeating: 0x41, count: 32767))
        #expect(
            try kernel.keys.addKey(type: "user", description: "big", payload: longest, keyring: -3, pid: shell) > 0
        )
        expectErrno(.EINVAL) {
            _ = try kernel.keys.addKey(
                type: "user",
                description: "bigger",
                payload: SecretBytes(Array(repeating: 0x41, count: 32768)),
                keyring: KeySpecial.session,
                pid: shell
            )
        }
        expectErrno(.EINVAL) {
            _ = try kernel.keys.addKey(
                type: "keyring",
                description: "huge",
                payload: SecretBytes(count: 1024 * 1024),
                keyring: KeySpecial.session,
                pid: shell
            )
        }
    }

    @Test func readReturnsThePayloadAndKeyringsReturnTheirSerials() throws {
        let (_, kernel) = try bootedKernel()
        let ring = try kernel.newring("wibble")
        let key = try kernel.add("user", "lizard", "gizzard", ring)
        #expect(try kernel.keys.read(key, pid: shell).revealedBytes() == Array("gizzard".utf8))
        // keyctl read of a keyring: its serials as native-endian 32-bit integers.
        var expected: [UInt8] = []
        withUnsafeBytes(of: key.littleEndian) { expected.append(contentsOf: $0) }
        #expect(try kernel.keys.read(ring, pid: shell).revealedBytes() == expected)
        #expect(try kernel.keys.read(try kernel.newring("empty"), pid: shell).count == 0)
    }

    @Test func logonKeysCannotBeRead() throws {
        let (_, kernel) = try bootedKernel()
        let key = try kernel.add("logon", "cifs:pw", "secret")
        expectErrno(.EOPNOTSUPP) { _ = try kernel.keys.read(key, pid: shell) }
        // …but can be updated.
        try kernel.keys.updateKey(key, payload: SecretBytes(text: "other"), pid: shell)
        expectErrno(.EOPNOTSUPP) { _ = try kernel.keys.read(key, pid: shell) }
    }

    @Test func readBadArgumentsAreENOKEY() throws {
        let (_, kernel) = try bootedKernel()
        // keyctl_read_key reports every lookup failure as ENOKEY (keyutils reading/bad-args).
        expectErrno(.ENOKEY) { _ = try kernel.keys.read(0, pid: shell) }
        let key = try kernel.add("user", "lizard", "gizzard")
        try kernel.keys.unlink(key, from: KeySpecial.session, pid: shell)
        expectErrno(.ENOKEY) { _ = try kernel.keys.read(key, pid: shell) }
    }

    @Test func updateReplacesThePayload() throws {
        let (_, kernel) = try bootedKernel()
        let key = try kernel.add("user", "lizard", "gizzard")
        try kernel.keys.updateKey(key, payload: SecretBytes(text: "stomach lining"), pid: shell)
        #expect(try kernel.print(key) == "stomach lining")
        expectErrno(.EINVAL) { try kernel.keys.updateKey(key, payload: SecretBytes(count: 0), pid: shell) }
        expectErrno(.EINVAL) {
            try kernel.keys.updateKey(key, payload: SecretBytes(Array(repeating: 1, count: 4097)), pid: shell)
        }
        expectErrno(.EOPNOTSUPP) {
            try kernel.keys.updateKey(KeySpecial.session, payload: SecretBytes(text: "x"), pid: shell)
        }
        expectErrno(.EINVAL) { try kernel.keys.updateKey(0, payload: SecretBytes(text: "x"), pid: shell) }
        #expect(try kernel.print(key) == "stomach lining")
    }

    @Test func updateNeedsWritePermission() throws {
        let (_, kernel) = try bootedKernel()
        let key = try kernel.add("user", "lizard", "gizzard")
        try kernel.keys.setPermissions(key, 0x3B01_0000, pid: shell)  // possessor without write
        expectErrno(.EACCES) { try kernel.keys.updateKey(key, payload: SecretBytes(text: "x"), pid: shell) }
        // add_key over it needs write on the key too (__key_update).
        expectErrno(.EACCES) { try kernel.add("user", "lizard", "x") }
        #expect(try kernel.print(key) == "gizzard")
    }

    @Test func updateClearsTheTimeoutAsLinuxUserUpdateDoes() throws {
        let (machine, kernel) = try bootedKernel()
        let key = try kernel.add("user", "lizard", "gizzard")
        try kernel.keys.setTimeout(key, seconds: 10, pid: shell)
        try kernel.keys.updateKey(key, payload: SecretBytes(text: "new"), pid: shell)
        #expect(kernel.keys.key(key)?.expiry == nil)
        machine.advance(seconds: 20)
        #expect(try kernel.print(key) == "new")
    }
}

/// revoke, invalidate, timeout (keyutils `tests/keyctl/{revoke,invalidate,timeout}`).
@Suite struct KeyRevokeInvalidateTimeoutTests {
    @Test func revokedKeysFailEverythingButUnlink() throws {
        let (_, kernel) = try bootedKernel()
        let ring = try kernel.newring("wibble")
        let key = try kernel.add("user", "lizard", "gizzard", ring)
        try kernel.keys.revoke(key, pid: shell)
        expectErrno(.EKEYREVOKED) { _ = try kernel.keys.describe(key, pid: shell) }
        expectErrno(.EKEYREVOKED) { _ = try kernel.keys.read(key, pid: shell) }
        expectErrno(.EKEYREVOKED) { try kernel.keys.updateKey(key, payload: SecretBytes(text: "x"), pid: shell) }
        expectErrno(.EKEYREVOKED) { try kernel.keys.revoke(key, pid: shell) }
        expectErrno(.EKEYREVOKED) { try kernel.keys.invalidate(key, pid: shell) }
        expectErrno(.EKEYREVOKED) { try kernel.keys.setTimeout(key, seconds: 20, pid: shell) }
        expectErrno(.EKEYREVOKED) { try kernel.keys.setPermissions(key, 0x3F3F_0000, pid: shell) }
        expectErrno(.EKEYREVOKED) { try kernel.keys.link(key, into: KeySpecial.session, pid: shell) }
        expectErrno(.EKEYREVOKED) { try kernel.keys.chown(key, uid: nil, gid: 5, pid: shell) }
        expectErrno(.EKEYREVOKED) { _ = try kernel.keys.search(ring, type: "user", description: "lizard", pid: shell) }
        #expect(try kernel.list(ring) == [key])
        try kernel.keys.unlink(key, from: ring, pid: shell)
        #expect(try kernel.list(ring).isEmpty)
    }

    @Test func revokingAKeyringDropsItsLinksAndFailsListing() throws {
        let (_, kernel) = try bootedKernel()
        let ring = try kernel.newring("wibble")
        let key = try kernel.add("user", "lizard", "gizzard", ring)
        try kernel.keys.revoke(ring, pid: shell)
        expectErrno(.EKEYREVOKED) { _ = try kernel.list(ring) }
        expectErrno(.EKEYREVOKED) { _ = try kernel.keys.describe(ring, pid: shell) }
        // keyring_revoke cleared the links: the key lost its only one.
        expectErrno(.ENOKEY) { _ = try kernel.keys.describe(key, pid: shell) }
        try kernel.keys.unlink(ring, from: KeySpecial.session, pid: shell)
    }

    @Test func revokeNeedsWriteOrSetattr() throws {
        let (_, kernel) = try bootedKernel()
        let viaSetattr = try kernel.add("user", "a", "x")
        try kernel.keys.setPermissions(viaSetattr, 0x0021_0000, pid: shell)  // user setattr + view only
        try kernel.keys.revoke(viaSetattr, pid: shell)
        let viaWrite = try kernel.add("user", "b", "x")
        try kernel.keys.setPermissions(viaWrite, 0x0005_0000, pid: shell)  // user write + view only
        try kernel.keys.revoke(viaWrite, pid: shell)
        let neither = try kernel.add("user", "c", "x")
        try kernel.keys.setPermissions(neither, 0x000B_0000, pid: shell)  // view, read, search
        expectErrno(.EACCES) { try kernel.keys.revoke(neither, pid: shell) }
        #expect(try kernel.print(neither) == "x")
    }

    @Test func invalidateMakesTheKeyVanishAtOnce() throws {
        let (_, kernel) = try bootedKernel()
        let ring = try kernel.newring("wibble")
        let key = try kernel.add("user", "lizard", "gizzard", ring)
        try kernel.keys.invalidate(key, pid: shell)
        #expect(try kernel.list(ring).isEmpty)
        expectErrno(.ENOKEY) { _ = try kernel.keys.describe(key, pid: shell) }
        #expect(kernel.keys.key(key) == nil)
        // Invalidating a keyring takes its keys with it (keyutils invalidate/valid).
        let second = try kernel.add("user", "lizard2", "gizzard", ring)
        try kernel.keys.invalidate(ring, pid: shell)
        expectErrno(.ENOKEY) { _ = try kernel.list(ring) }
        expectErrno(.ENOKEY) { _ = try kernel.keys.describe(second, pid: shell) }
    }

    @Test func invalidateNeedsSearch() throws {
        let (_, kernel) = try bootedKernel()
        let key = try kernel.add("user", "lizard", "gizzard")
        try kernel.keys.setPermissions(key, 0x3701_0000, pid: shell)  // possessor without search
        expectErrno(.EACCES) { try kernel.keys.invalidate(key, pid: shell) }
        #expect(try kernel.keys.describe(key, pid: shell).description == "lizard")
    }

    @Test func expiredKeysFailWithEKEYEXPIRED() throws {
        let (machine, kernel) = try bootedKernel()
        let ring = try kernel.newring("wibble")
        let key = try kernel.add("user", "lizard", "gizzard", ring)
        try kernel.keys.setTimeout(key, seconds: 10_000_000, pid: shell)
        #expect(try kernel.print(key) == "gizzard")
        try kernel.keys.setTimeout(key, seconds: 2, pid: shell)
        machine.advance(nanoseconds: 1_999_999_999)
        #expect(try kernel.print(key) == "gizzard")
        machine.advance(nanoseconds: 1)
        expectErrno(.EKEYEXPIRED) { _ = try kernel.keys.read(key, pid: shell) }
        expectErrno(.EKEYEXPIRED) { _ = try kernel.keys.describe(key, pid: shell) }
        expectErrno(.EKEYEXPIRED) { try kernel.keys.revoke(key, pid: shell) }
        expectErrno(.EKEYEXPIRED) { try kernel.keys.setTimeout(key, seconds: 20, pid: shell) }
        expectErrno(.EKEYEXPIRED) { _ = try kernel.keys.search(ring, type: "user", description: "lizard", pid: shell) }
        try kernel.keys.unlink(key, from: ring, pid: shell)
        // An expired keyring cannot be listed.
        try kernel.keys.setTimeout(ring, seconds: 1, pid: shell)
        machine.advance(seconds: 1)
        expectErrno(.EKEYEXPIRED) { _ = try kernel.list(ring) }
        expectErrno(.EKEYEXPIRED) { _ = try kernel.keys.describe(ring, pid: shell) }
        try kernel.keys.unlink(ring, from: KeySpecial.session, pid: shell)
    }

    @Test func timeoutZeroRemovesTheExpiry() throws {
        let (machine, kernel) = try bootedKernel()
        let key = try kernel.add("user", "lizard", "gizzard")
        try kernel.keys.setTimeout(key, seconds: 5, pid: shell)
        try kernel.keys.setTimeout(key, seconds: 0, pid: shell)
        machine.advance(seconds: 1000)
        #expect(try kernel.print(key) == "gizzard")
    }

    @Test func timeoutNeedsSetattr() throws {
        let (_, kernel) = try bootedKernel()
        let key = try kernel.add("user", "lizard", "gizzard")
        try kernel.keys.setPermissions(key, 0x1F01_0000, pid: shell)  // possessor without setattr
        expectErrno(.EACCES) { try kernel.keys.setTimeout(key, seconds: 5, pid: shell) }
        #expect(kernel.keys.key(key)?.expiry == nil)
    }
}

/// setperm, chown, chgrp (keyutils `tests/keyctl/permitting`).
@Suite struct KeyAttributeTests {
    @Test(
        arguments: [
            0x0021_0002, 0x0021_0004, 0x0021_0008, 0x0021_0010, 0x0021_0200, 0x0021_0400, 0x0021_0800, 0x0021_1000,
            0x0023_0000, 0x0025_0000, 0x0029_0000, 0x0031_0000, 0x0221_0000, 0x0421_0000, 0x0821_0000, 0x1021_0000,
        ] as [UInt32]
    )
    func eachPermissionCanBeGranted(mask: UInt32) throws {
        let (_, kernel) = try bootedKernel()
        let key = try kernel.add("user", "lizard", "gizzard")
        try kernel.keys.setPermissions(key, mask, pid: shell)
        #expect(try kernel.keys.describe(key, pid: shell).permissions.rawValue == mask)
    }

    @Test func theOwnerUsesUserBitsNotGroupOrOther() throws {
        let (_, kernel) = try bootedKernel()
        let key = try kernel.add("user", "lizard", "gizzard")
        try kernel.keys.setPermissions(key, 0x0020_1F00, pid: shell)
        expectErrno(.EACCES) { _ = try kernel.keys.describe(key, pid: shell) }
        try kernel.keys.setPermissions(key, 0x0020_001F, pid: shell)
        expectErrno(.EACCES) { _ = try kernel.keys.describe(key, pid: shell) }
    }

    @Test func withoutSetattrTheMaskIsFixed() throws {
        let (_, kernel) = try bootedKernel()
        let key = try kernel.add("user", "lizard", "gizzard")
        try kernel.keys.setPermissions(key, 0x1F1F_1F1F, pid: shell)
        expectErrno(.EACCES) { try kernel.keys.setPermissions(key, 0x3F3F_1F1F, pid: shell) }
        #expect(try kernel.keys.describe(key, pid: shell).permissions.rawValue == 0x1F1F_1F1F)
    }

    @Test func setpermRejectsUndefinedBitsAndNonOwners() throws {
        let (_, kernel) = try bootedKernel()
        let key = try kernel.add("user", "lizard", "gizzard")
        expectErrno(.EINVAL) { try kernel.keys.setPermissions(key, 0x4000_0000, pid: shell) }
        expectErrno(.EINVAL) { try kernel.keys.setPermissions(key, 0x0000_0040, pid: shell) }
        // A non-owner with setattr permission still may not change the mask.
        try kernel.keys.setPermissions(key, 0x3F3F_3F3F, pid: shell)
        let user = try kernel.login(uid: 1000)
        expectErrno(.EACCES) { try kernel.keys.setPermissions(key, 0x3F3F_3F00, pid: user) }
        // Root may change anyone's mask — given setattr permission, which it has no bypass for.
        let theirs = try kernel.add("user", "mine", "x", pid: user)
        try kernel.keys.setPermissions(theirs, 0x3F3F_0000, pid: user)
        expectErrno(.EACCES) { try kernel.keys.setPermissions(theirs, 0x3F3F_0001, pid: shell) }
        try kernel.keys.setPermissions(theirs, 0x3F3F_0020, pid: user)
        try kernel.keys.setPermissions(theirs, 0x3F3F_0021, pid: shell)
        #expect(kernel.keys.key(theirs)?.permissions.rawValue == 0x3F3F_0021)
    }

    @Test func chownIsForRootAndMovesTheQuotaCharge() throws {
        let (_, kernel) = try bootedKernel()
        let user = try kernel.login(uid: 1000)
        let key = try kernel.add("user", "lizard", "gizzard", pid: user)
        try kernel.keys.setPermissions(key, 0x3F3F_3F3F, pid: user)
        expectErrno(.EACCES) { try kernel.keys.chown(key, uid: 1, gid: nil, pid: user) }
        let before1000 = kernel.keys.usage(of: 1000)
        let before1 = kernel.keys.usage(of: 1)
        try kernel.keys.chown(key, uid: 1, gid: nil, pid: shell)
        #expect(try kernel.keys.describe(key, pid: shell).uid == 1)
        let cost = "lizard".utf8.count + 1 + "gizzard".utf8.count
        #expect(kernel.keys.usage(of: 1000).keys == before1000.keys - 1)
        #expect(kernel.keys.usage(of: 1000).bytes == before1000.bytes - cost)
        #expect(kernel.keys.usage(of: 1).keys == before1.keys + 1)
        #expect(kernel.keys.usage(of: 1).bytes == before1.bytes + cost)
    }

    @Test func chgrpToAGroupTheCallerIsNotInNeedsRoot() throws {
        let (_, kernel) = try bootedKernel()
        let user = try kernel.login(uid: 1000)
        let key = try kernel.add("user", "lizard", "gizzard", pid: user)
        try kernel.keys.setPermissions(key, 0x3F3F_0000, pid: user)
        expectErrno(.EACCES) { try kernel.keys.chown(key, uid: nil, gid: 1, pid: user) }
        try kernel.keys.chown(key, uid: nil, gid: 1000, pid: user)
        // Root needs setattr permission like anyone else (here through the "other" bits).
        expectErrno(.EACCES) { try kernel.keys.chown(key, uid: nil, gid: 1, pid: shell) }
        try kernel.keys.setPermissions(key, 0x3F3F_0020, pid: user)
        try kernel.keys.chown(key, uid: nil, gid: 1, pid: shell)
        #expect(try kernel.keys.describe(key, pid: user).raw.hasPrefix("user;1000;1;"))
    }

    @Test func chownToAFullUserIsEDQUOT() throws {
        let (_, kernel) = try bootedKernel()
        let key = try kernel.add("user", "lizard", "gizzard")
        try kernel.sysfsWrite("/proc/sys/kernel/keys/maxkeys", "1", as: shell)
        let user = try kernel.login(uid: 1000)  // owns _uid.1000 and _ses: already over 1
        _ = user
        expectErrno(.EDQUOT) { try kernel.keys.chown(key, uid: 1000, gid: nil, pid: shell) }
        #expect(try kernel.keys.describe(key, pid: shell).uid == 0)
    }
}
