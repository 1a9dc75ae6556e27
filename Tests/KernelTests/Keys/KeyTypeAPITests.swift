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

/// A key type shaped like the `mktme` one: root only, no read, a numbered slot in its attributes, told
/// of destruction, refusing updates while busy.
final class SlotKeyType: UpdatableKeyType {
    let name = "slot"
    var busy = false
    var destroyed: [Int32] = []
    var revoked: [Int32] = []
    private var nextSlot = 1

    func preparse(_ prep: inout KeyPreparsedPayload, kernel: Kernel) throws(HWKeysError) {
        // CAP_SYS_RESOURCE.
        guard prep.credentials.isPrivileged else { throw .eacces("slot keys need CAP_SYS_RESOURCE") }
        guard prep.data.text.hasPrefix("type=") else { throw .einval("bad slot payload") }
        prep.quotaLength = 0
        prep.attributes["type"] = String(prep.data.text.dropFirst(5))
    }

    func instantiate(_ key: inout Key, _ prep: KeyPreparsedPayload, kernel: Kernel) throws(HWKeysError) {
        key.payload.attributes = prep.attributes
        key.payload.attributes["slot"] = String(nextSlot)
        nextSlot += 1
    }

    func update(_ key: inout Key, _ prep: KeyPreparsedPayload, kernel: Kernel) throws(HWKeysError) {
        guard !busy else { throw HWKeysError(.EBUSY, "slot in use") }
        key.payload.attributes["type"] = prep.attributes["type"]
    }

    func revoke(_ key: inout Key, kernel: Kernel) { revoked.append(key.serial) }

    func destroy(_ key: Key, kernel: Kernel) { destroyed.append(key.serial) }
}

/// A type whose instantiate looks a key up (a nested key operation) and then refuses.
final class LookingKeyType: KeyType {
    let name = "looking"

    func instantiate(_ key: inout Key, _ prep: KeyPreparsedPayload, kernel: Kernel) throws(HWKeysError) {
        _ = try kernel.keys.lookupKey(KeySpecial.session, for: prep.pid, need: .view)
        throw .einval("refused after looking")
    }
}

/// The API other subsystems (the `mktme` type, Key Locker users) build on.
@Suite struct KeyTypeAPITests {
    func kernelWithSlots() throws -> (Machine, Kernel, SlotKeyType) {
        let (machine, kernel) = try bootedKernel()
        let type = SlotKeyType()
        kernel.keys.register(type)
        return (machine, kernel, type)
    }

    @Test func registrationIsLoggedAsLinuxDoes() throws {
        let (_, kernel, _) = try kernelWithSlots()
        #expect(kernel.log.lines.contains { $0.text == "Key type user registered" })
        #expect(kernel.log.lines.contains { $0.text == "Key type slot registered" })
        #expect(kernel.keys.type(named: "slot") != nil)
    }

    @Test func preparseSeesTheCallersCredentials() throws {
        let (_, kernel, _) = try kernelWithSlots()
        let user = try kernel.login(uid: 1000)
        expectErrno(.EACCES) { try kernel.add("slot", "tenant", "type=cpu", pid: user) }
        expectErrno(.EINVAL) { try kernel.add("slot", "tenant", "cpu") }
        let key = try kernel.add("slot", "tenant", "type=cpu")
        #expect(kernel.keys.key(key)?.payload.attributes == ["type": "cpu", "slot": "1"])
    }

    @Test func aTypeWithoutReadIsUnreadable() throws {
        let (_, kernel, _) = try kernelWithSlots()
        let key = try kernel.add("slot", "tenant", "type=cpu")
        expectErrno(.EOPNOTSUPP) { _ = try kernel.keys.read(key, pid: shell) }
        // No read: the default mask has no possessor read bit.
        #expect(kernel.keys.key(key)?.permissions.rawValue == 0x3D01_0000)
    }

    @Test func aTypeMayRefuseAnUpdate() throws {
        let (_, kernel, type) = try kernelWithSlots()
        let key = try kernel.add("slot", "tenant", "type=cpu")
        type.busy = true
        expectErrno(.EBUSY) { try kernel.keys.updateKey(key, payload: SecretBytes(text: "type=clear"), pid: shell) }
        expectErrno(.EBUSY) { try kernel.add("slot", "tenant", "type=clear") }
        #expect(kernel.keys.key(key)?.payload.attributes["type"] == "cpu")
        type.busy = false
        try kernel.keys.updateKey(key, payload: SecretBytes(text: "type=clear"), pid: shell)
        #expect(kernel.keys.key(key)?.payload.attributes["type"] == "clear")
    }

    @Test func aTypeIsToldOfRevocationAndDestruction() throws {
        let (machine, kernel, type) = try kernelWithSlots()
        let key = try kernel.add("slot", "tenant", "type=cpu")
        try kernel.keys.revoke(key, pid: shell)
        #expect(type.revoked == [key])
        #expect(type.destroyed.isEmpty)
        machine.advance(seconds: 300)
        kernel.keys.collectGarbage()
        #expect(type.destroyed == [key])
        let other = try kernel.add("slot", "other", "type=cpu")
        try kernel.keys.invalidate(other, pid: shell)
        #expect(type.destroyed == [key, other])
    }

    @Test func lookupKeyChecksExistencePermissionAndState() throws {
        let (machine, kernel, _) = try kernelWithSlots()
        let user = try kernel.login(uid: 1000)
        let key = try kernel.add("slot", "tenant", "type=cpu")
        #expect(try kernel.keys.lookupKey(key, for: shell, need: .view).serial == key)
        expectErrno(.ENOKEY) { _ = try kernel.keys.lookupKey(0x1234_5678, for: shell, need: .view) }
        expectErrno(.EINVAL) { _ = try kernel.keys.lookupKey(0, for: shell, need: .view) }
        expectErrno(.EACCES) { _ = try kernel.keys.lookupKey(key, for: user, need: .view) }
        let timed = try kernel.add("slot", "timed", "type=cpu")
        try kernel.keys.setTimeout(timed, seconds: 1, pid: shell)
        machine.advance(seconds: 1)
        expectErrno(.EKEYEXPIRED) { _ = try kernel.keys.lookupKey(timed, for: shell, need: .view) }
        try kernel.keys.revoke(key, pid: shell)
        expectErrno(.EKEYREVOKED) { _ = try kernel.keys.lookupKey(key, for: shell, need: .view) }
        machine.advance(seconds: 300)
        expectErrno(.ENOKEY) { _ = try kernel.keys.lookupKey(key, for: shell, need: .view) }
    }

    @Test func modifyPayloadKeepsTypeBookkeeping() throws {
        let (machine, kernel, _) = try kernelWithSlots()
        let key = try kernel.add("slot", "tenant", "type=cpu")
        try kernel.keys.modifyPayload(of: key) { payload in payload.attributes["keyid"] = "5" }
        let restored = try Kernel.restore(platform: machine, state: try kernel.encodeState())
        #expect(restored.keys.key(key)?.payload.attributes["keyid"] == "5")
        expectErrno(.ENOKEY) { try kernel.keys.modifyPayload(of: 42) { _ in } }
        expectErrno(.EBUSY) {
            try kernel.keys.modifyPayload(of: key) { (payload) throws(HWKeysError) in
                payload.attributes["keyid"] = "6"
                throw HWKeysError(.EBUSY, "no")
            }
        }
        #expect(kernel.keys.key(key)?.payload.attributes["keyid"] == "5")
    }

    @Test func keysOfAnUnregisteredTypeBehaveAsRevoked() throws {
        let (machine, kernel, _) = try kernelWithSlots()
        let key = try kernel.add("slot", "tenant", "type=cpu")
        // Restored without the type registered (its subsystem is gone): Linux marks such keys dead.
        let restored = try Kernel.restore(platform: machine, state: try kernel.encodeState())
        expectErrno(.EKEYREVOKED) { _ = try restored.keys.describe(key, pid: shell) }
        try restored.keys.unlink(key, from: KeySpecial.session, pid: shell)
    }

    @Test func aNestedOperationDoesNotEndTheOuterOnesRollback() throws {
        let (_, kernel) = try bootedKernel()
        kernel.keys.register(LookingKeyType())
        let count = kernel.keys.count
        expectErrno(.EINVAL) { try kernel.add("looking", "x", "y", KeySpecial.process) }
        #expect(kernel.keys.keyrings(of: shell)?.process == nil)
        #expect(kernel.keys.count == count)
    }

    @Test func registeringATypeTwiceIsAHostBug() async {
        await #expect(processExitsWith: .failure) {
            let (_, kernel) = try bootedKernel()
            kernel.keys.register(UserKeyType())
        }
    }
}
