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

/// Garbage collection (`security/keys/gc.c`; docs/contract.md §5): revoked, unlinked and expired keys go after
/// `gc_delay` seconds of emulated time, invalidated ones at once.
@Suite struct KeyGCTests {
    @Test func aRevokedKeyIsEKEYREVOKEDUntilGCThenENOKEY() throws {
        let (machine, kernel) = try bootedKernel()
        let key = try kernel.add("user", "lizard", "gizzard")
        try kernel.keys.revoke(key, pid: shell)
        machine.advance(nanoseconds: 300 * 1_000_000_000 - 1)
        expectErrno(.EKEYREVOKED) { _ = try kernel.keys.describe(key, pid: shell) }
        #expect(try kernel.list(KeySpecial.session).contains(key))
        machine.advance(nanoseconds: 1)
        expectErrno(.ENOKEY) { _ = try kernel.keys.describe(key, pid: shell) }
        #expect(!(try kernel.list(KeySpecial.session).contains(key)))
        #expect(kernel.keys.key(key) == nil)
        #expect(kernel.log.lines.contains { $0.facility == "keys" && $0.text == "gc: collected 1 key" })
    }

    @Test func gcDelayIsTheSysctl() throws {
        let (machine, kernel) = try bootedKernel()
        try kernel.sysfsWrite("/proc/sys/kernel/keys/gc_delay", "10", as: shell)
        let key = try kernel.add("user", "lizard", "gizzard")
        try kernel.keys.revoke(key, pid: shell)
        machine.advance(seconds: 9)
        expectErrno(.EKEYREVOKED) { _ = try kernel.keys.describe(key, pid: shell) }
        machine.advance(seconds: 1)
        expectErrno(.ENOKEY) { _ = try kernel.keys.describe(key, pid: shell) }
    }

    @Test func changingGCDelayMovesPendingCollections() throws {
        let (machine, kernel) = try bootedKernel()
        let key = try kernel.add("user", "lizard", "gizzard")
        try kernel.keys.revoke(key, pid: shell)
        machine.advance(seconds: 50)
        expectErrno(.EKEYREVOKED) { _ = try kernel.keys.describe(key, pid: shell) }
        // Linux compares against the delay in force when the collector runs.
        try kernel.sysfsWrite("/proc/sys/kernel/keys/gc_delay", "30", as: shell)
        expectErrno(.ENOKEY) { _ = try kernel.keys.describe(key, pid: shell) }
    }

    @Test func anExpiredKeyIsCollectedGCDelayAfterItsExpiry() throws {
        let (machine, kernel) = try bootedKernel()
        let key = try kernel.add("user", "lizard", "gizzard")
        try kernel.keys.setTimeout(key, seconds: 5, pid: shell)
        machine.advance(seconds: 5)
        expectErrno(.EKEYEXPIRED) { _ = try kernel.keys.describe(key, pid: shell) }
        #expect(try kernel.sysfsRead("/proc/keys").contains("expd"))
        machine.advance(seconds: 299)
        expectErrno(.EKEYEXPIRED) { _ = try kernel.keys.describe(key, pid: shell) }
        machine.advance(seconds: 1)
        expectErrno(.ENOKEY) { _ = try kernel.keys.describe(key, pid: shell) }
    }

    @Test func extendingATimeoutPostponesCollection() throws {
        let (machine, kernel) = try bootedKernel()
        let key = try kernel.add("user", "lizard", "gizzard")
        try kernel.keys.setTimeout(key, seconds: 5, pid: shell)
        machine.advance(seconds: 4)
        try kernel.keys.setTimeout(key, seconds: 1000, pid: shell)
        machine.advance(seconds: 400)
        #expect(try kernel.print(key) == "gizzard")
    }

    @Test func anUnlinkedKeyIsGoneAtOnceButCollectedAfterGCDelay() throws {
        let (machine, kernel) = try bootedKernel()
        let user = try kernel.login(uid: 1000)
        let before = kernel.keys.usage(of: 1000)
        let key = try kernel.add("user", "lizard", "gizzard", pid: user)
        let address = try #require(kernel.keys.key(key)?.payload.data?.segments.first?.address)
        try kernel.keys.unlink(key, from: KeySpecial.session, pid: user)
        // Dead at once: no key_lookup finds it …
        expectErrno(.ENOKEY) { _ = try kernel.keys.describe(key, pid: user) }
        expectErrno(.ENOKEY) { try kernel.keys.unlink(key, from: KeySpecial.session, pid: user) }
        #expect(kernel.keys.key(key)?.state(at: kernel.now) == .dead)
        #expect(try kernel.sysfsRead("/proc/keys").contains("I-DQ---"))
        // … but collected (payload zeroed, quota released) only gc_delay later (docs/contract.md §5).
        #expect(kernel.physical.readSecret(address, count: 7).text == "gizzard")
        #expect(kernel.keys.usage(of: 1000).keys == before.keys + 1)
        machine.advance(seconds: 300)
        kernel.keys.collectGarbage()
        #expect(kernel.keys.key(key) == nil)
        #expect(kernel.physical.readSecret(address, count: 7).isZero)
        #expect(kernel.keys.usage(of: 1000) == before)
    }

    @Test func invalidatedKeysAreCollectedAtOnce() throws {
        let (_, kernel) = try bootedKernel()
        let key = try kernel.add("user", "lizard", "gizzard")
        let address = try #require(kernel.keys.key(key)?.payload.data?.segments.first?.address)
        let count = kernel.keys.count
        try kernel.keys.invalidate(key, pid: shell)
        #expect(kernel.keys.count == count - 1)
        #expect(kernel.physical.readSecret(address, count: 7).isZero)
    }

    @Test func keysInACollectedKeyringDieWithIt() throws {
        let (machine, kernel) = try bootedKernel()
        let ring = try kernel.newring("wibble")
        let inside = try kernel.add("user", "lizard", "gizzard", ring)
        let elsewhere = try kernel.add("user", "shared", "x", ring)
        try kernel.keys.link(elsewhere, into: KeySpecial.session, pid: shell)
        try kernel.keys.unlink(ring, from: KeySpecial.session, pid: shell)
        machine.advance(seconds: 300)
        kernel.keys.collectGarbage()
        #expect(kernel.keys.key(ring) == nil)
        // The keyring's links went with it: the key linked nowhere else is dead, the other lives.
        expectErrno(.ENOKEY) { _ = try kernel.keys.describe(inside, pid: shell) }
        #expect(try kernel.print(elsewhere) == "x")
        machine.advance(seconds: 300)
        kernel.keys.collectGarbage()
        #expect(kernel.keys.key(inside) == nil)
    }

    /// A keyring that loses its last link drops its own links at once, so what only it held is dead —
    /// unreachable, ENOKEY — straight away, nested keyrings included (Linux: the last `key_put` hands the
    /// keyring to the collector, which destroys it and puts its keys without waiting for `gc_delay`). Keys
    /// linked elsewhere too live on.
    @Test func keysOnlyAnUnlinkedKeyringHeldAreUnreachableAtOnce() throws {
        let (machine, kernel) = try bootedKernel()
        let ring = try kernel.newring("wibble")
        let inside = try kernel.add("user", "lizard", "gizzard", ring)
        let nested = try kernel.newring("nested", ring)
        let deep = try kernel.add("user", "deep", "x", nested)
        let elsewhere = try kernel.add("user", "shared", "x", ring)
        try kernel.keys.link(elsewhere, into: KeySpecial.session, pid: shell)
        let before = kernel.keys.usage(of: 0)
        try kernel.keys.unlink(ring, from: KeySpecial.session, pid: shell)
        for key in [ring, inside, nested, deep] {
            expectErrno(.ENOKEY) { _ = try kernel.keys.describe(key, pid: shell) }
            #expect(kernel.keys.key(key)?.state(at: kernel.now) == .dead)
        }
        #expect(try kernel.print(elsewhere) == "x")
        #expect(
            try kernel.keys.search(KeySpecial.session, type: "user", description: "shared", pid: shell) == elsewhere
        )
        expectErrno(.ENOKEY) {
            _ = try kernel.keys.search(KeySpecial.session, type: "user", description: "deep", pid: shell)
        }
        // The dead keys wait for gc_delay to be destroyed; their quota with them.
        machine.advance(seconds: 300)
        kernel.keys.collectGarbage()
        for key in [ring, inside, nested, deep] { #expect(kernel.keys.key(key) == nil) }
        #expect(kernel.keys.usage(of: 0).keys == before.keys - 4)
    }

    /// The same when the last holder is a process: its process keyring's keys die with it.
    @Test func keysOnlyAnExitedProcessHeldAreUnreachableAtOnce() throws {
        let (_, kernel) = try bootedKernel()
        let child = try kernel.createProcess(parent: shell, exec: false)
        let key = try kernel.add("user", "lizard", "gizzard", KeySpecial.process, pid: child)
        try kernel.exitProcess(child)
        expectErrno(.ENOKEY) { _ = try kernel.keys.describe(key, pid: shell) }
    }

    @Test func collectionIsLazyAndOrdered() throws {
        let (machine, kernel) = try bootedKernel()
        let first = try kernel.add("user", "first", "x")
        try kernel.keys.revoke(first, pid: shell)
        machine.advance(seconds: 100)
        let second = try kernel.add("user", "second", "x")
        try kernel.keys.revoke(second, pid: shell)
        #expect(kernel.keys.nextCollection == kernel.keys.key(first)!.revokedAt! + 300 * 1_000_000_000)
        machine.advance(seconds: 200)
        // Nothing runs until a key operation (or a /proc read) starts.
        #expect(kernel.keys.key(first) != nil)
        #expect(kernel.keys.collectGarbage() == 1)
        #expect(kernel.keys.key(first) == nil)
        #expect(kernel.keys.key(second) != nil)
        machine.advance(seconds: 100)
        #expect(kernel.keys.collectGarbage() == 1)
        #expect(kernel.keys.nextCollection == nil)
    }

    @Test func procKeysShowsFlagsAndTimeouts() throws {
        let (machine, kernel) = try bootedKernel()
        let revoked = try kernel.add("user", "revoked", "x")
        try kernel.keys.revoke(revoked, pid: shell)
        let timed = try kernel.add("user", "timed", "xyz")
        try kernel.keys.setTimeout(timed, seconds: 7200, pid: shell)
        machine.advance(seconds: 1)
        let lines = try kernel.sysfsRead("/proc/keys").split(separator: "\n").map(String.init)
        let hex = { (serial: Int32) in KeyRetentionService.hex8(UInt32(bitPattern: serial)) }
        let revokedLine = try #require(lines.first { $0.hasPrefix(hex(revoked)) })
        #expect(revokedLine == hex(revoked) + " IR-Q---     1 perm 3f010000     0     0 user      revoked: 0")
        let timedLine = try #require(lines.first { $0.hasPrefix(hex(timed)) })
        #expect(timedLine == hex(timed) + " I--Q---     1   1h 3f010000     0     0 user      timed: 3")
        #expect(KeyRetentionService.timeout(nil, now: 0) == "perm")
        #expect(KeyRetentionService.timeout(59_000_000_000, now: 0) == "59s")
        #expect(KeyRetentionService.timeout(3 * 86_400_000_000_000, now: 0) == "3d")
        #expect(KeyRetentionService.timeout(15 * 86_400_000_000_000, now: 0) == "2w")
    }
}

/// The collector's deadline queue.
@Suite struct KeyGCQueueTests {
    @Test func ordersByTimeThenSerialAndSupportsRescheduleAndCancel() {
        var queue = KeyGCQueue()
        queue.schedule(7, at: 30)
        queue.schedule(5, at: 10)
        queue.schedule(9, at: 10)
        queue.schedule(3, at: 20)
        queue.schedule(7, at: 5)  // reschedule earlier
        queue.schedule(5, at: 40)  // reschedule later
        queue.cancel(3)
        queue.cancel(42)
        #expect(queue.count == 3)
        #expect(queue.time(of: 7) == 5)
        var order: [Int32] = []
        while let next = queue.removeFirst() { order.append(next.serial) }
        #expect(order == [7, 9, 5])
    }

    @Test func staysAHeapUnderManyOperations() {
        var queue = KeyGCQueue()
        var expected: [Int32: UInt64] = [:]
        var state: UInt64 = 12345
        func random(_ bound: UInt64) -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return (state >> 33) % bound
        }
        for _ in 0..<5000 {
            let serial = Int32(random(500))
            if random(4) == 0 {
                queue.cancel(serial)
                expected[serial] = nil
            } else {
                let time = random(1000)
                queue.schedule(serial, at: time)
                expected[serial] = time
            }
        }
        var drained: [(UInt64, Int32)] = []
        while let next = queue.removeFirst() { drained.append((next.time, next.serial)) }
        let sorted = expected.map { ($0.value, $0.key) }.sorted { ($0.0, $0.1) < ($1.0, $1.1) }
        #expect(drained.map(\.1) == sorted.map(\.1))
        #expect(drained.map(\.0) == sorted.map(\.0))
    }
}
