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

/// Per-uid quotas (`maxkeys`, `maxbytes`, `root_maxkeys`, `root_maxbytes`; `security/keys/key.c`).
@Suite struct KeyQuotaTests {
    @Test func linuxDefaults() throws {
        let (_, kernel) = try bootedKernel()
        #expect(try kernel.sysfsRead("/proc/sys/kernel/keys/gc_delay") == "300")
        #expect(try kernel.sysfsRead("/proc/sys/kernel/keys/maxkeys") == "200")
        #expect(try kernel.sysfsRead("/proc/sys/kernel/keys/maxbytes") == "20000")
        #expect(try kernel.sysfsRead("/proc/sys/kernel/keys/root_maxkeys") == "1000000")
        #expect(try kernel.sysfsRead("/proc/sys/kernel/keys/root_maxbytes") == "25000000")
    }

    @Test func aUserMayOwn200Keys() throws {
        let (_, kernel) = try bootedKernel()
        let user = try kernel.login(uid: 1000)
        // The login made _uid.1000 and _ses: two keys already.
        #expect(kernel.keys.usage(of: 1000).keys == 2)
        for index in 0..<198 { try kernel.add("user", "k\(index)", "x", pid: user) }
        #expect(kernel.keys.usage(of: 1000).keys == 200)
        expectErrno(.EDQUOT) { try kernel.add("user", "one-too-many", "x", pid: user) }
        expectErrno(.EDQUOT) { try kernel.newring("ring", pid: user) }
        // Updating an existing key needs no new key.
        try kernel.add("user", "k0", "y", pid: user)
        #expect(
            try kernel.print(
                try kernel.keys.search(KeySpecial.session, type: "user", description: "k0", pid: user),
                pid: user
            ) == "y"
        )
    }

    @Test func aUserMayUse20000Bytes() throws {
        let (_, kernel) = try bootedKernel()
        let user = try kernel.login(uid: 1000)
        // _uid.1000: 9 + 1 bytes; _ses: 4 + 1, plus 4 for its link to _uid.1000.
        #expect(kernel.keys.usage(of: 1000).bytes == 19)
        // "big" (3 + 1) and its link into _ses (4): 19973 bytes of payload fill the quota exactly.
        let tooMuch = SecretBytes(Array(repeating: 0x41, count: 19974))
        expectErrno(.EDQUOT) {
            _ = try kernel.keys.addKey(type: "user", description: "big", payload: tooMuch, keyring: -3, pid: user)
        }
        let exact = SecretBytes(Array(repeating: 0x41, count: 19973))
        let key = try kernel.keys.addKey(type: "user", description: "big", payload: exact, keyring: -3, pid: user)
        #expect(kernel.keys.usage(of: 1000).bytes == 20000)
        // A smaller update releases bytes; a larger one must fit.
        try kernel.keys.updateKey(key, payload: SecretBytes(text: "small"), pid: user)
        #expect(kernel.keys.usage(of: 1000).bytes == 19 + 4 + 5 + 4)
        let fill = SecretBytes(Array(repeating: 0x42, count: 20000 - 32 - (4 + 1) - 4))
        let filler = try kernel.keys.addKey(type: "user", description: "fill", payload: fill, keyring: -3, pid: user)
        #expect(kernel.keys.usage(of: 1000).bytes == 20000)
        expectErrno(.EDQUOT) { try kernel.keys.updateKey(key, payload: SecretBytes(text: "small!"), pid: user) }
        try kernel.keys.updateKey(key, payload: SecretBytes(text: "tiny"), pid: user)
        #expect(kernel.keys.usage(of: 1000).bytes == 19999)
        // Invalidation collects at once and gives the bytes back.
        try kernel.keys.invalidate(filler, pid: user)
        #expect(kernel.keys.usage(of: 1000).bytes == 19 + 4 + 4 + 4)
        // Each link costs the keyring's owner 4 bytes.
        let ring = try kernel.newring("r", pid: user)
        let before = kernel.keys.usage(of: 1000).bytes
        try kernel.keys.link(key, into: ring, pid: user)
        #expect(kernel.keys.usage(of: 1000).bytes == before + 4)
        try kernel.keys.unlink(key, from: ring, pid: user)
        #expect(kernel.keys.usage(of: 1000).bytes == before)
    }

    @Test func rootHasItsOwnLimits() throws {
        let (_, kernel) = try bootedKernel()
        let used = kernel.keys.usage(of: 0).keys
        #expect(try kernel.sysfsRead("/proc/key-users").contains("\(used)/1000000"))
        try kernel.sysfsWrite("/proc/sys/kernel/keys/root_maxkeys", "\(used + 1)", as: shell)
        try kernel.add("user", "last", "x")
        expectErrno(.EDQUOT) { try kernel.add("user", "over", "x") }
        // The non-root limit does not apply to root, and the root limit not to users.
        let user = try kernel.login(uid: 1000)
        try kernel.add("user", "fine", "x", pid: user)
        try kernel.sysfsWrite("/proc/sys/kernel/keys/root_maxkeys", "1000000", as: shell)
        try kernel.sysfsWrite(
            "/proc/sys/kernel/keys/root_maxbytes",
            "\(kernel.keys.usage(of: 0).bytes + 10)",
            as: shell
        )
        // "eleven": 6 + 1 description, 5 payload, 4 for the link: 16 bytes do not fit in 10.
        expectErrno(.EDQUOT) { try kernel.add("user", "eleven", "bytes") }
        try kernel.add("user", "a", "b")  // 1 + 1 + 1 + 4 = 7
        expectErrno(.EDQUOT) { try kernel.add("user", "c", "d") }  // 7 more
    }

    @Test func sysctlsAreRootWritableAndChecked() throws {
        let (_, kernel) = try bootedKernel()
        let user = try kernel.login(uid: 1000)
        expectErrno(.EACCES) { try kernel.sysfsWrite("/proc/sys/kernel/keys/maxkeys", "500", as: user) }
        expectErrno(.EINVAL) { try kernel.sysfsWrite("/proc/sys/kernel/keys/maxkeys", "0", as: shell) }
        expectErrno(.EINVAL) { try kernel.sysfsWrite("/proc/sys/kernel/keys/gc_delay", "-1", as: shell) }
        expectErrno(.EACCES) { try kernel.sysfsWrite("/proc/keys", "x", as: shell) }
        try kernel.sysfsWrite("/proc/sys/kernel/keys/maxkeys", "3", as: shell)
        #expect(kernel.keys.limits.maxKeys == 3)
        try kernel.add("user", "third", "x", pid: user)
        expectErrno(.EDQUOT) { try kernel.add("user", "fourth", "x", pid: user) }
    }

    @Test func quotaIsReleasedWhenTheKeyIsCollected() throws {
        let (machine, kernel) = try bootedKernel()
        let user = try kernel.login(uid: 1000)
        let before = kernel.keys.usage(of: 1000)
        let key = try kernel.add("user", "lizard", "gizzard", pid: user)
        try kernel.keys.revoke(key, pid: user)
        // user_revoke released the payload bytes at once; the key itself stays charged until gc.
        #expect(kernel.keys.usage(of: 1000).keys == before.keys + 1)
        #expect(kernel.keys.usage(of: 1000).bytes == before.bytes + 7 + 4)
        machine.advance(seconds: 300)
        kernel.keys.collectGarbage()
        #expect(kernel.keys.usage(of: 1000) == before)
    }

    @Test func keyUsersShowsLinuxColumns() throws {
        let (_, kernel) = try bootedKernel()
        let user = try kernel.login(uid: 1000)
        try kernel.add("user", "lizard", "gizzard", pid: user)
        let line = try #require(
            try kernel.sysfsRead("/proc/key-users").split(separator: "\n").first { $0.hasPrefix(" 1000:") }
        )
        // uid: usage nkeys/nikeys qnkeys/maxkeys qnbytes/maxbytes — 3 keys; 19 bytes of keyrings, 14 for
        // the key (6 + 1 + 7) and 4 for its link.
        #expect(line == " 1000:     3 3/3 3/200 37/20000")
    }
}
