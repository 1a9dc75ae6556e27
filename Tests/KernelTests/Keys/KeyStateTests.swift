//===----------------------------------------------------------------------===//
//
// hwkeys: KernelTests
//
//===----------------------------------------------------------------------===//

import Foundation
import HWCrypto
import HWKeysBase
import Platform
import TestSupport
import Testing
import X86

@testable import Kernel

/// Serials, payloads in DRAM, and the saved state.
@Suite struct KeyStateTests {
    @Test func serialsArePositiveUniqueAndDeterministic() throws {
        let (_, kernel) = try bootedKernel()
        var serials = Set<Int32>()
        for index in 0..<2000 { serials.insert(try kernel.add("user", "k\(index)", "x")) }
        #expect(serials.count == 2000)
        #expect(serials.allSatisfy { $0 >= 3 })
        // Same seed, same commands: same serials (randomness is the machine's RDRAND).
        let (_, twin) = try bootedKernel()
        #expect(try twin.add("user", "k0", "x") == kernel.keys.search(-3, type: "user", description: "k0", pid: shell))
        let (_, other) = try bootedKernel { $0.seed = 43 }
        #expect(try other.add("user", "k0", "x") != twin.keys.search(-3, type: "user", description: "k0", pid: shell))
    }

    @Test func aTakenSerialMovesToTheNextFreeOne() throws {
        // Two kernels with the same seed and history draw the same RDRAND values.
        let (_, first) = try bootedKernel()
        let (_, second) = try bootedKernel()
        let drawn = try first.keys.allocateSerial()
        // In the second, the serial the draw will produce is taken (and so is the one after it).
        for taken in [drawn, drawn &+ 1] where taken > 0 {
            second.keys.keys[taken] = Key(
                serial: taken,
                type: "user",
                description: "taken",
                uid: 0,
                gid: 0,
                permissions: KeyPermissions(rawValue: 0),
                isKeyring: false
            )
        }
        let next = try second.keys.allocateSerial()
        #expect(next == (drawn >= Int32.max - 1 ? 3 : drawn + 2))
    }

    @Test func payloadBytesLiveInDRAMAndAreZeroedOnDestroy() throws {
        let (machine, kernel) = try bootedKernel()
        let key = try kernel.add("user", "lizard", "gizzard-payload")
        let data = try #require(kernel.keys.key(key)?.payload.data)
        let address = try #require(data.segments.first?.address)
        // Through the kernel's direct map, and as raw DRAM after a write-back.
        #expect(kernel.physical.readSecret(address, count: 15).text == "gizzard-payload")
        try kernel.cpu.wbinvd()
        var raw = [UInt8](repeating: 0, count: 15)
        raw.withUnsafeMutableBytes { machine.dram.read(address, into: $0) }
        // With TME active the bus sees ciphertext (KeyID 0 is encrypted with the TME key), else plaintext.
        #expect((String(decoding: raw, as: UTF8.self) == "gizzard-payload") == !kernel.tmeActive)
        // The Swift state holds the address, never the bytes.
        let state = String(decoding: try kernel.encodeState(), as: UTF8.self)
        #expect(!state.contains("gizzard-payload"))
        #expect(!state.contains(Array("gizzard-payload".utf8).map { String(format: "%02x", $0) }.joined()))
        try kernel.keys.invalidate(key, pid: shell)
        #expect(kernel.physical.readSecret(address, count: 15).isZero)
    }

    @Test func revokeFreesAUserPayloadAtOnce() throws {
        let (_, kernel) = try bootedKernel()
        let key = try kernel.add("user", "lizard", "gizzard")
        let address = try #require(kernel.keys.key(key)?.payload.data?.segments.first?.address)
        try kernel.keys.revoke(key, pid: shell)
        #expect(kernel.physical.readSecret(address, count: 7).isZero)
        #expect(kernel.keys.key(key)?.payload.data == nil)
    }

    @Test func updateFreesTheOldPayload() throws {
        let (_, kernel) = try bootedKernel()
        let key = try kernel.add("user", "lizard", "gizzard")
        let old = try #require(kernel.keys.key(key)?.payload.data?.segments.first?.address)
        try kernel.keys.updateKey(key, payload: SecretBytes(text: "a much longer payload"), pid: shell)
        #expect(kernel.physical.readSecret(old, count: 7).isZero)
        #expect(try kernel.print(key) == "a much longer payload")
    }

    @Test func stateRoundTripsDeterministically() throws {
        let (machine, kernel) = try bootedKernel()
        let user = try kernel.login(uid: 1000)
        let ring = try kernel.newring("wibble", pid: user)
        let key = try kernel.add("user", "lizard", "gizzard", ring, pid: user)
        try kernel.add("logon", "cifs:pw", "secret", KeySpecial.process, pid: user)
        let revoked = try kernel.add("user", "gone", "x")
        try kernel.keys.revoke(revoked, pid: shell)
        let timed = try kernel.add("user", "timed", "x")
        try kernel.keys.setTimeout(timed, seconds: 60, pid: shell)
        try kernel.keys.unlink(try kernel.add("user", "dead", "x"), from: KeySpecial.session, pid: shell)
        try kernel.keys.chown(key, uid: nil, gid: 1000, pid: user)
        try kernel.sysfsWrite("/proc/sys/kernel/keys/maxkeys", "150", as: shell)

        let encoded = try kernel.encodeState()
        let restored = try Kernel.restore(platform: machine, state: encoded)
        #expect(try restored.encodeState() == encoded)
        #expect(try restored.print(key, pid: user) == "gizzard")
        #expect(restored.keys.usage(of: 1000) == kernel.keys.usage(of: 1000))
        #expect(restored.keys.usage(of: 0) == kernel.keys.usage(of: 0))
        #expect(restored.keys.limits.maxKeys == 150)
        #expect(try restored.list(ring, pid: user) == [key])
        expectErrno(.EKEYREVOKED) { _ = try restored.keys.describe(revoked, pid: shell) }
        #expect(restored.keys.nextCollection == kernel.keys.nextCollection)
        // The restored kernel collects on the same schedule.
        machine.advance(seconds: 360)
        #expect(restored.keys.collectGarbage() == kernel.keys.collectGarbage())
        #expect(try restored.encodeState() == kernel.encodeState())
    }

    @Test func inconsistentStateIsRefused() throws {
        let (machine, kernel) = try bootedKernel()
        try kernel.newring("wibble")
        var json = String(decoding: try kernel.encodeState(), as: UTF8.self)
        let session = try kernel.keys.keyringID(KeySpecial.session, create: false, pid: shell)
        // Point a link at a key that does not exist.
        let user = try kernel.keys.keyringID(KeySpecial.user, create: false, pid: shell)
        json = json.replacingOccurrences(of: "\"links\":[\(user)", with: "\"links\":[7")
        #expect(session > 0)
        #expect(throws: (any Error).self) { try Kernel.restore(platform: machine, state: Data(json.utf8)) }
    }

    @Test func imagesWithoutKeysStillRestore() throws {
        let (machine, kernel) = try bootedKernel()
        var object = try #require(try JSONSerialization.jsonObject(with: kernel.encodeState()) as? [String: Any])
        object["keys"] = nil
        let old = try JSONSerialization.data(withJSONObject: object)
        let restored = try Kernel.restore(platform: machine, state: old)
        // A process without a session keyring gets one on first use, as Linux installs one.
        let key = try restored.add("user", "lizard", "gizzard")
        #expect(try restored.print(key) == "gizzard")
    }
}
