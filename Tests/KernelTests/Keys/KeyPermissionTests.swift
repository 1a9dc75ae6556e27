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

/// The single access check and possession (`security/keys/permission.c`, `process_keys.c`).
@Suite struct KeyPermissionTests {
    /// A key owned by uid 1000 in its own session, group 2000, and three other processes:
    /// its owner's, a uid-2000 process (group 2000), and a uid-3000 process (other).
    struct World {
        let kernel: Kernel
        let owner: Int32
        let member: Int32
        let stranger: Int32
        let key: Int32

        init() throws {
            (_, kernel) = try bootedKernel()
            owner = try kernel.login(uid: 1000)
            member = try kernel.login(uid: 2000)
            stranger = try kernel.login(uid: 3000)
            key = try kernel.add("user", "lizard", "gizzard", pid: owner)
            try kernel.keys.setPermissions(key, 0x3F3F_3F3F, pid: owner)
            try kernel.keys.chown(key, uid: nil, gid: 2000, pid: shell)
        }

        func set(_ mask: UInt32) throws { try kernel.keys.setPermissions(key, mask, pid: owner) }

        func canView(_ pid: Int32) -> Bool { (try? kernel.keys.describe(key, pid: pid)) != nil }
    }

    @Test func userBitsApplyToTheOwnerOnly() throws {
        let world = try World()
        try world.set(0x0021_0000)  // user view + setattr
        #expect(world.canView(world.owner))
        #expect(!world.canView(world.member))
        #expect(!world.canView(world.stranger))
    }

    @Test func groupBitsApplyToGroupMembersOnly() throws {
        let world = try World()
        try world.set(0x0020_0100)  // group view
        #expect(!world.canView(world.owner))
        #expect(world.canView(world.member))
        #expect(!world.canView(world.stranger))
    }

    @Test func otherBitsApplyToEveryoneElse() throws {
        let world = try World()
        try world.set(0x0020_0001)  // other view
        #expect(!world.canView(world.owner))
        // The group grants nothing, so Linux falls through to the other bits for a member too.
        #expect(world.canView(world.member))
        #expect(world.canView(world.stranger))
        try world.set(0x0020_0201)  // group read only: now members use the group bits
        #expect(!world.canView(world.member))
        #expect(world.canView(world.stranger))
    }

    @Test(arguments: KeyNeed.allCases)
    func eachNeedChecksItsOwnBit(need: KeyNeed) throws {
        let (_, kernel) = try bootedKernel()
        let key = try kernel.add("user", "lizard", "gizzard")
        let snapshot = try #require(kernel.keys.key(key))
        let credentials = Credentials.root
        for other in KeyNeed.allCases {
            var changed = snapshot
            changed.permissions = KeyPermissions(rawValue: KeyPermissions.bits(other.mask, for: .user))
            #expect(kernel.keys.permitted(changed, credentials, possessed: false, need) == (other == need))
            changed.permissions = KeyPermissions(rawValue: KeyPermissions.bits(other.mask, for: .possessor))
            #expect(kernel.keys.permitted(changed, credentials, possessed: true, need) == (other == need))
            #expect(!kernel.keys.permitted(changed, credentials, possessed: false, need))
        }
    }

    @Test func possessorBitsAddToTheOthers() throws {
        let world = try World()
        // Possessor view only: the owner possesses the key (it is in its session keyring).
        try world.set(0x0900_0000 | 0x0020_0000)  // possessor view + search, user setattr
        #expect(world.canView(world.owner))
        // The member does not possess it.
        #expect(!world.canView(world.member))
    }

    @Test func possessionNeedsSearchPermissionAlongTheWay() throws {
        let (_, kernel) = try bootedKernel()
        let user = try kernel.login(uid: 1000)
        let ring = try kernel.newring("inner", pid: user)
        let key = try kernel.add("user", "lizard", "gizzard", ring, pid: user)
        try kernel.keys.setPermissions(key, 0x0900_0000 | 0x0020_0000, pid: user)  // possessor view + search
        #expect(try kernel.keys.describe(key, pid: user).description == "lizard")
        // Without search on the keyring in between, the key is no longer possessed.
        try kernel.keys.setPermissions(ring, 0x3701_0000 | 0x0020_0000, pid: user)
        expectErrno(.EACCES) { _ = try kernel.keys.describe(key, pid: user) }
        // Without search on the key itself, neither.
        try kernel.keys.setPermissions(ring, 0x3F01_0000, pid: user)
        try kernel.keys.setPermissions(key, 0x0100_0000 | 0x0020_0000, pid: user)
        expectErrno(.EACCES) { _ = try kernel.keys.describe(key, pid: user) }
    }

    @Test func rootHasNoBypass() throws {
        let world = try World()
        try world.set(0x3F3F_0000)
        expectErrno(.EACCES) { _ = try world.kernel.keys.describe(world.key, pid: shell) }
        expectErrno(.EACCES) { _ = try world.kernel.keys.read(world.key, pid: shell) }
        expectErrno(.EACCES) { try world.kernel.keys.revoke(world.key, pid: shell) }
    }

    @Test func aPossessedKeyCanBeReadWithoutReadPermission() throws {
        // keyutils reading/valid: read needs read permission, or possession (search).
        let (_, kernel) = try bootedKernel()
        let ring = try kernel.newring("wibble")
        let key = try kernel.add("user", "lizard", "gizzard", ring)
        try kernel.keys.setPermissions(key, 0x003D_0000, pid: shell)  // user: all but read
        #expect(try kernel.print(key) == "gizzard")
        try kernel.keys.setPermissions(key, 0x0035_0000, pid: shell)  // …and no search: not possessed
        expectErrno(.EACCES) { _ = try kernel.keys.read(key, pid: shell) }
        try kernel.keys.setPermissions(key, 0x3D00_0000, pid: shell)  // possessor bits only
        #expect(try kernel.print(key) == "gizzard")
        try kernel.keys.setPermissions(key, 0x0037_0000, pid: shell)
        #expect(try kernel.print(key) == "gizzard")
    }

    @Test func anotherUsersSessionIsNotPossessed() throws {
        let (_, kernel) = try bootedKernel()
        let alice = try kernel.login(uid: 1000)
        let bob = try kernel.login(uid: 2000)
        let key = try kernel.add("user", "lizard", "gizzard", pid: alice)
        try kernel.keys.setPermissions(key, 0x3F01_0000, pid: alice)
        #expect(try kernel.keys.lookupUserKey(key, for: alice, check: .need(.view)).possessed)
        expectErrno(.EACCES) { _ = try kernel.keys.lookupUserKey(key, for: bob, check: .need(.view)) }
        #expect(try kernel.keys.lookupUserKey(key, for: bob, check: .deferred).possessed == false)
        let bobSession = try #require(kernel.keys.keyrings(of: bob)?.session)
        expectErrno(.EACCES) { try kernel.keys.link(bobSession, into: KeySpecial.session, pid: alice) }
    }
}
