//===----------------------------------------------------------------------===//
//
// hwkeys: KernelTests
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase
import Platform
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

    @Test func unmodelledSpecialKeyrings() throws {
        let (_, kernel) = try bootedKernel()
        expectErrno(.EOPNOTSUPP) { _ = try kernel.keys.describe(KeySpecial.thread, pid: shell) }
        expectErrno(.EOPNOTSUPP) { _ = try kernel.keys.describe(KeySpecial.userSession, pid: shell) }
        expectErrno(.EINVAL) { _ = try kernel.keys.describe(KeySpecial.group, pid: shell) }
        expectErrno(.ENOKEY) { _ = try kernel.keys.describe(KeySpecial.requestKeyAuth, pid: shell) }
        expectErrno(.EINVAL) { _ = try kernel.keys.describe(-8, pid: shell) }
        expectErrno(.ESRCH) { _ = try kernel.keys.describe(KeySpecial.session, pid: 4242) }
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
