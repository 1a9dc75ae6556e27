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

/// `@u`, `@s` and `@p` across fork, spawn and exit (`security/keys/process_keys.c`).
@Suite struct ProcessKeyringTests {
    func session(_ kernel: Kernel, _ pid: Int32) throws -> Int32 {
        try kernel.keys.keyringID(KeySpecial.session, create: false, pid: pid)
    }

    @Test func theRootShellHasASessionWithTheUserKeyringInIt() throws {
        let (_, kernel) = try bootedKernel()
        let session = try session(kernel, shell)
        let user = try kernel.keys.keyringID(KeySpecial.user, create: false, pid: shell)
        #expect(try kernel.list(session) == [user])
        // init has a session of its own.
        #expect(try self.session(kernel, ProcessTable.initPID) != session)
    }

    @Test func forkAndSameUserSpawnShareTheSession() throws {
        let (_, kernel) = try bootedKernel()
        let forked = try kernel.createProcess(parent: shell, exec: false)
        let spawned = try kernel.createProcess(parent: shell, exec: true)
        #expect(try session(kernel, forked) == session(kernel, shell))
        #expect(try session(kernel, spawned) == session(kernel, shell))
        let key = try kernel.add("user", "lizard", "gizzard", pid: forked)
        #expect(try kernel.print(key, pid: shell) == "gizzard")
    }

    @Test func anotherUserStartsANewSessionLikeALogin() throws {
        let (_, kernel) = try bootedKernel()
        let user = try kernel.login(uid: 1000)
        let session = try session(kernel, user)
        #expect(session != (try self.session(kernel, shell)))
        let info = try kernel.keys.describe(session, pid: user)
        #expect(info.uid == 1000 && info.gid == 1000 && info.description == "_ses")
        let userRing = try kernel.keys.keyringID(KeySpecial.user, create: false, pid: user)
        #expect(try kernel.keys.describe(userRing, pid: user).description == "_uid.1000")
        #expect(try kernel.list(session, pid: user) == [userRing])
        // A second login of the same uid shares the user keyring, not the session.
        let again = try kernel.login(uid: 1000)
        #expect(try self.session(kernel, again) != session)
        #expect(try kernel.keys.keyringID(KeySpecial.user, create: false, pid: again) == userRing)
    }

    @Test func theProcessKeyringIsCreatedOnDemandAndNotInherited() throws {
        let (_, kernel) = try bootedKernel()
        expectErrno(.ENOKEY) { _ = try kernel.keys.describe(KeySpecial.process, pid: shell) }
        let key = try kernel.add("user", "lizard", "gizzard", KeySpecial.process)
        let ring = try kernel.keys.keyringID(KeySpecial.process, create: false, pid: shell)
        #expect(try kernel.list(ring) == [key])
        let child = try kernel.createProcess(parent: shell, exec: false)
        expectErrno(.ENOKEY) { _ = try kernel.keys.describe(KeySpecial.process, pid: child) }
        // The child does not possess the parent's process keyring's keys.
        expectErrno(.EACCES) { _ = try kernel.keys.lookupUserKey(key, for: child, check: .need(.read)) }
    }

    @Test func theProcessKeyringDiesWithItsProcess() throws {
        let (machine, kernel) = try bootedKernel()
        let worker = try kernel.createProcess(parent: shell, exec: true)
        let key = try kernel.add("user", "lizard", "gizzard", KeySpecial.process, pid: worker)
        let ring = try kernel.keys.keyringID(KeySpecial.process, create: false, pid: worker)
        let address = try #require(kernel.keys.key(key)?.payload.data?.segments.first?.address)
        try kernel.exitProcess(worker)
        #expect(kernel.keys.key(ring)?.state(at: kernel.now) == .dead)
        expectErrno(.ENOKEY) { _ = try kernel.keys.describe(ring, pid: shell) }
        machine.advance(seconds: 300)
        kernel.keys.collectGarbage()
        #expect(kernel.keys.key(ring) == nil)
        // Its key lost its only link: dead, then collected and zeroed.
        machine.advance(seconds: 300)
        kernel.keys.collectGarbage()
        #expect(kernel.keys.key(key) == nil)
        #expect(kernel.physical.readSecret(address, count: 7).isZero)
    }

    @Test func theSessionKeyringLivesAsLongAsItsProcesses() throws {
        let (_, kernel) = try bootedKernel()
        let user = try kernel.login(uid: 1000)
        let child = try kernel.createProcess(parent: user, exec: false)
        let session = try session(kernel, user)
        try kernel.exitProcess(user)
        #expect(try kernel.keys.describe(session, pid: child).description == "_ses")
        try kernel.exitProcess(child)
        #expect(kernel.keys.key(session)?.state(at: kernel.now) == .dead)
        // The user keyring outlives the session (the per-uid registry holds it).
        let later = try kernel.login(uid: 1000)
        #expect(try kernel.keys.describe(KeySpecial.user, pid: later).description == "_uid.1000")
    }

    /// `lookup_user_key`'s special serials beyond `@p`, `@s` and `@u` (`include/uapi/linux/keyctl.h`
    /// `KEY_SPEC_*`): the group keyring was never implemented (EINVAL); without a request-key
    /// authorisation `@a` and the requestor keyring (−8) are ENOKEY; below −8 nothing is special (EINVAL).
    @Test func theOtherSpecialSerials() throws {
        let (_, kernel) = try bootedKernel()
        expectErrno(.EINVAL) { _ = try kernel.keys.describe(KeySpecial.group, pid: shell) }
        expectErrno(.ENOKEY) { _ = try kernel.keys.describe(KeySpecial.requestKeyAuth, pid: shell) }
        expectErrno(.ENOKEY) { _ = try kernel.keys.describe(KeySpecial.requestorKeyring, pid: shell) }
        expectErrno(.EINVAL) { _ = try kernel.keys.describe(-9, pid: shell) }
        expectErrno(.ESRCH) { _ = try kernel.keys.describe(KeySpecial.session, pid: 4242) }
    }

    /// `@t` (`KEY_SPEC_THREAD_KEYRING`): ENOKEY until something creates it (`lookup_user_key` without
    /// `KEY_LOOKUP_CREATE`), then `_tid` with `KEY_POS_ALL | KEY_USR_VIEW`, possessed, searched first, not
    /// inherited, dead when its process exits.
    @Test func theThreadKeyringIsMadeOnDemandAndDiesWithItsProcess() throws {
        let (_, kernel) = try bootedKernel()
        expectErrno(.ENOKEY) { _ = try kernel.keys.describe(KeySpecial.thread, pid: shell) }
        expectErrno(.ENOKEY) { _ = try kernel.keys.getKeyringID(KeySpecial.thread, create: false, pid: shell) }
        let key = try kernel.add("user", "lizard", "gizzard", KeySpecial.thread)
        let thread = try #require(kernel.keys.keyrings(of: shell)?.thread)
        let info = try kernel.keys.describe(KeySpecial.thread, pid: shell)
        #expect(info.serial == thread)
        #expect(info.raw == "keyring;0;0;3f010000;_tid")
        #expect(try kernel.keys.getKeyringID(KeySpecial.thread, create: false, pid: shell) == thread)
        // Possessed through @t: readable although the key grants its user no read.
        try kernel.keys.setPermissions(key, 0x3f00_0000, pid: shell)
        #expect(try kernel.print(key) == "gizzard")
        // Found first when a name is looked up.
        #expect(try kernel.keys.search(KeySpecial.thread, type: "user", description: "lizard", pid: shell) == key)
        // A child gets none.
        let child = try kernel.createProcess(parent: shell, exec: false)
        expectErrno(.ENOKEY) { _ = try kernel.keys.describe(KeySpecial.thread, pid: child) }
        try kernel.exitProcess(child)
        // Its process gone, the keyring and what only it held are dead at once.
        let other = try kernel.createProcess(parent: shell, exec: false)
        let otherKey = try kernel.add("user", "newt", "eye", KeySpecial.thread, pid: other)
        let otherRing = try #require(kernel.keys.keyrings(of: other)?.thread)
        try kernel.exitProcess(other)
        #expect(kernel.keys.key(otherRing)?.state(at: kernel.now) == .dead)
        #expect(kernel.keys.key(otherKey)?.state(at: kernel.now) == .dead)
    }

    /// `@us` (`KEY_SPEC_USER_SESSION_KEYRING`): `_uid_ses.N` with the user keyring linked in, the user
    /// keyring's mask and no group (Linux `look_up_user_keyrings`); made on first use, create or not, then
    /// the same keyring for every process of the uid, kept by the per-uid registry across their exits and
    /// across a save and restore.
    @Test func theUserSessionKeyringIsPerUIDAndHoldsTheUserKeyring() throws {
        let (machine, kernel) = try bootedKernel()
        #expect(kernel.keys.userSessionKeyring(of: 0) == nil)
        let info = try kernel.keys.describe(KeySpecial.userSession, pid: shell)
        #expect(info.raw == "keyring;0;65534;1f3f0000;_uid_ses.0")
        #expect(kernel.keys.userSessionKeyring(of: 0) == info.serial)
        #expect(try kernel.keys.readLinks(info.serial, pid: shell) == [kernel.keys.userKeyring(of: 0)!])
        #expect(try kernel.keys.getKeyringID(KeySpecial.userSession, create: false, pid: shell) == info.serial)
        // Another process of uid 0 names the same keyring; uid 1000 has its own.
        let child = try kernel.createProcess(parent: shell, exec: false)
        #expect(try kernel.keys.describe(KeySpecial.userSession, pid: child).serial == info.serial)
        let user = try kernel.login(uid: 1000)
        let theirs = try kernel.keys.describe(KeySpecial.userSession, pid: user)
        #expect(theirs.raw == "keyring;1000;65534;1f3f0000;_uid_ses.1000")
        try kernel.exitProcess(user)
        #expect(kernel.keys.key(theirs.serial)?.state(at: kernel.now) == .instantiated)
        // Saved and restored with the kernel.
        let restored = try Kernel.restore(platform: machine, state: try kernel.encodeState())
        #expect(restored.keys.userSessionKeyring(of: 0) == info.serial)
        #expect(try restored.keys.describe(KeySpecial.userSession, pid: shell).serial == info.serial)
    }

    @Test func aFailedAddToTheProcessKeyringLeavesNoneBehind() throws {
        let (_, kernel) = try bootedKernel()
        let count = kernel.keys.count
        let usage = kernel.keys.usage(of: 0)
        expectErrno(.EINVAL) { try kernel.add("user", "lizard", "", KeySpecial.process) }
        expectErrno(.ENODEV) { try kernel.add("nosuchtype", "lizard", "x", KeySpecial.process) }
        expectErrno(.ENOKEY) { _ = try kernel.keys.describe(KeySpecial.process, pid: shell) }
        #expect(kernel.keys.count == count)
        #expect(kernel.keys.usage(of: 0) == usage)
        #expect(kernel.keys.keyrings(of: shell)?.process == nil)
    }
}
