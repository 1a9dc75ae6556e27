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
import X86

@testable import Kernel

let cpuKey = "type=cpu algorithm=aes-xts-128"

/// rfc-v2 KeyID lifecycle on the 3-KeyID machine (`--keyid-bits 2`; docs/contract.md §6 rfc-v2).
@Suite struct MKTMERFCv2KeyIDTests {
    func machine() throws -> (Machine, Kernel) { try mktmeKernel(.rfcV2) { $0.keyIDBits = 2 } }

    @Test func threeKeysTakeTheThreeKeyIDsAndTheFourthIsENOKEY() throws {
        let (machine, kernel) = try machine()
        let serials = try (1...3).map { try kernel.addMKTME("tenant\($0)", cpuKey) }
        #expect(serials.map { kernel.mk.keyID(ofKey: $0) } == [1, 2, 3])
        #expect((1...3).map { machine.slot($0) } == [.random, .random, .random])
        let before = kernel.keys.count
        expectErrno(.ENOKEY) { try kernel.addMKTME("tenant4", cpuKey) }
        #expect(kernel.keys.count == before)
        #expect(try kernel.sysfsRead("/sys/kernel/mm/mktme/keyids_used") == "3")
    }

    @Test func aRevokedKeyFreesItsKeyIDOnlyAfterGCAndLeavesTheSlotStale() throws {
        let (machine, kernel) = try machine()
        let first = try kernel.addMKTME("tenant1", cpuKey)
        try kernel.addMKTME("tenant2", cpuKey)
        try kernel.addMKTME("tenant3", cpuKey)
        try kernel.keys.revoke(first, pid: shell)
        #expect(kernel.mk.keyID(ofKey: first) == 1)
        expectErrno(.ENOKEY) { try kernel.addMKTME("tenant4", cpuKey) }
        kernel.collectAfterDelay(machine)
        #expect(kernel.keys.key(first) == nil)
        #expect(kernel.mk.keyIDStatus(1)?.state == "free")
        // Released without CLEAR_KEY: the old key is still in the hardware table.
        #expect(machine.slot(1) == .random)
        #expect(try kernel.sysfsRead("/sys/kernel/mm/mktme/keyid_map").contains("\n1 free-stale 0 - set-key-random"))
        let fourth = try kernel.addMKTME("tenant4", cpuKey)
        #expect(kernel.mk.keyID(ofKey: fourth) == 1)
        #expect(
            try kernel.sysfsRead("/sys/kernel/mm/mktme/keyid_map").contains("\n1 assigned 0 \(fourth) set-key-random")
        )
    }

    @Test func aDestroyedKeyInUseKeepsItsKeyIDUntilTheLastUserGoes() throws {
        let (machine, kernel) = try machine()
        let mappings = FakeKeyIDMappings(kernel: kernel)
        kernel.keyIDMappings = mappings
        let serial = try kernel.addMKTME("tenant", "type=user algorithm=aes-xts-128 key=\(hex128) tweak=\(hex128)")
        #expect(try kernel.encryptKeyID(serial) == 1)
        mappings.users[1] = 1
        mappings.map(1, count: 2)  // two pages
        try kernel.keys.invalidate(serial, pid: shell)
        #expect(kernel.keys.key(serial) == nil)
        #expect(kernel.mk.keyIDStatus(1)?.state == "orphaned")
        #expect(kernel.mk.keyIDStatus(1)?.references == 3)
        mappings.unmap(1, count: 2)
        #expect(kernel.mk.keyIDStatus(1)?.state == "orphaned")
        kernel.memoryEncryption!.releaseKeyID(1, count: 1)
        #expect(kernel.mk.keyIDStatus(1)?.state == "free")
        #expect(machine.slot(1) == .direct)
    }

    @Test func updateToClearClearsTheSlotAndUpdateInUseIsEBUSY() throws {
        let (machine, kernel) = try machine()
        let mappings = FakeKeyIDMappings(kernel: kernel)
        kernel.keyIDMappings = mappings
        let serial = try kernel.addMKTME("tenant", cpuKey)
        let keyID = try kernel.encryptKeyID(serial)
        expectErrno(.EBUSY) { try kernel.update(serial, "type=clear") }
        #expect(machine.slot(1) == .random)
        kernel.memoryEncryption!.releaseKeyID(keyID, count: 1)
        mappings.users[1] = 1  // a VMA the memory manager reports but has no reference for
        expectErrno(.EBUSY) { try kernel.update(serial, "type=clear") }
        mappings.users[1] = 0
        try kernel.update(serial, "type=clear")
        #expect(machine.slot(1) == .clear)
        #expect(kernel.keys.key(serial)?.payload.attributes["type"] == "clear")
        try kernel.update(serial, "type=no-encrypt")
        #expect(machine.slot(1) == .noEncrypt)
        expectErrno(.EINVAL) { try kernel.update(serial, "type=cpu") }
        #expect(machine.slot(1) == .noEncrypt)
    }

    @Test func addingTheSameDescriptionAgainUpdatesTheKey() throws {
        let (machine, kernel) = try machine()
        let serial = try kernel.addMKTME("tenant", cpuKey)
        #expect(try kernel.addMKTME("tenant", "type=clear") == serial)
        #expect(machine.slot(1) == .clear)
        #expect(kernel.mk.keyIDsUsed == 1)
    }

    @Test func encryptMprotectLookupErrors() throws {
        let (_, kernel) = try machine()
        let serial = try kernel.addMKTME("tenant", cpuKey)
        let user = try kernel.add("user", "plain", "data")
        expectErrno(.EINVAL) { _ = try kernel.encryptKeyID(0) }
        expectErrno(.EINVAL) { _ = try kernel.encryptKeyID(user) }
        expectErrno(.ENOKEY) { _ = try kernel.encryptKeyID(12345) }
        let other = try kernel.login(uid: 1000)
        expectErrno(.EACCES) { _ = try kernel.encryptKeyID(serial, pid: other) }
        try kernel.keys.revoke(serial, pid: shell)
        expectErrno(.EKEYREVOKED) { _ = try kernel.encryptKeyID(serial) }
        #expect(kernel.mk.keyIDStatus(1)?.references == 0)
    }

    @Test func anExpiredKeyIsEKEYEXPIRED() throws {
        let (machine, kernel) = try machine()
        let serial = try kernel.addMKTME("tenant", cpuKey)
        try kernel.keys.setTimeout(serial, seconds: 5, pid: shell)
        machine.advance(seconds: 6)
        expectErrno(.EKEYEXPIRED) { _ = try kernel.encryptKeyID(serial) }
    }

    @Test func theTableSurvivesSaveAndRestore() throws {
        let (machine, kernel) = try mktmeKernel(.rfcV2, extra: "mktme_savekeys") { $0.keyIDBits = 2 }
        let serial = try kernel.addMKTME("tenant", "type=user algorithm=aes-xts-128 key=\(hex128) tweak=\(hex128)")
        _ = try kernel.encryptKeyID(serial)
        let state = try kernel.encodeState()
        let restored = try Kernel.restore(platform: machine, state: state)
        #expect(restored.mk.keyID(ofKey: serial) == 1)
        #expect(restored.mk.keyIDStatus(1)?.references == 1)
        #expect(restored.mk.entries[1].savedKey != nil)
        #expect(try restored.encodeState() == state)
    }
}

/// Revised KeyID lifecycle (docs/contract.md §6 revised): virtualized KeyIDs, the shared no-encrypt KeyID,
/// automatic clearing, the per-uid limit and rotation.
@Suite struct MKTMERevisedKeyIDTests {
    func machine() throws -> (Machine, Kernel) { try mktmeKernel(.revised) { $0.keyIDBits = 2 } }

    @Test func aThousandKeysExistAtOnceWithoutKeyIDs() throws {
        let (_, kernel) = try machine()
        for index in 0..<1000 { try kernel.addMKTME("tenant\(index)", "type=cpu") }
        #expect(try kernel.sysfsRead("/sys/kernel/mm/mktme/keyids_used") == "0")
        #expect(try kernel.sysfsRead("/sys/kernel/mm/mktme/keyids_total") == "3")
    }

    @Test func keyIDsAreTakenOnFirstUseAndClearedOnRelease() throws {
        let (machine, kernel) = try machine()
        let keys = try (0..<4).map { try kernel.addMKTME("tenant\($0)", "type=cpu") }
        #expect(try kernel.encryptKeyID(keys[0]) == 1)
        #expect(try kernel.encryptKeyID(keys[0]) == 1)
        #expect(kernel.mk.keyIDStatus(1)?.references == 2)
        #expect(try kernel.encryptKeyID(keys[1]) == 2)
        #expect(try kernel.encryptKeyID(keys[2]) == 3)
        #expect((1...3).map { machine.slot($0) } == [.random, .random, .random])
        expectErrno(.ENOKEY) { _ = try kernel.encryptKeyID(keys[3]) }
        kernel.memoryEncryption!.releaseKeyID(2, count: 1)
        #expect(machine.slot(2) == .clear)
        #expect(kernel.mk.keyID(ofKey: keys[1]) == nil)
        #expect(try kernel.encryptKeyID(keys[3]) == 2)
        #expect(machine.slot(2) == .random)
        kernel.memoryEncryption!.releaseKeyID(1, count: 1)
        #expect(machine.slot(1) == .random)
        kernel.memoryEncryption!.releaseKeyID(1, count: 1)
        #expect(machine.slot(1) == .clear)
    }

    @Test func serialZeroSharesOneNoEncryptKeyID() throws {
        let (machine, kernel) = try machine()
        #expect(machine.slot(1) == .unprogrammed)
        #expect(try kernel.encryptKeyID(0) == 1)
        #expect(machine.slot(1) == .noEncrypt)
        let user = try kernel.login(uid: 1000)
        #expect(try kernel.encryptKeyID(0, pid: user) == 1)
        #expect(kernel.mk.keyIDStatus(1)?.references == 2)
        kernel.memoryEncryption!.releaseKeyID(1, count: 2)
        #expect(machine.slot(1) == .clear)
        #expect(kernel.mk.keyIDsUsed == 0)
    }

    /// A zero-length encrypt_mprotect looks the key up as the RFC's syscall does (lookup_user_key before
    /// do_mprotect_ext returns 0), and takes no KeyID for it.
    @Test func zeroLengthEncryptMprotectChecksTheKeyAndTakesNoKeyID() throws {
        let (machine, kernel) = try machine()
        let serial = try kernel.addMKTME("tenant", "type=cpu")
        let pmem = try kernel.addMKTME("pmem", "type=user key=\(hex128) tweak=\(hex128)")
        let user = try kernel.add("user", "plain", "data")
        let base = try kernel.mmap(pid: shell, length: 0x1000, protection: .rw, shared: false)
        func zeroLength(_ serial: Int32) throws(HWKeysError) {
            try kernel.encryptMprotect(pid: shell, address: base, length: 0, protection: .rw, serial: serial)
        }
        expectErrno(.ENOKEY) { try zeroLength(12345) }
        expectErrno(.EINVAL) { try zeroLength(user) }
        expectErrno(.EINVAL) { try zeroLength(pmem) }
        try zeroLength(serial)
        try zeroLength(0)
        #expect(kernel.mk.keyIDsUsed == 0)
        #expect(machine.slot(1) == .unprogrammed)
        try kernel.keys.revoke(serial, pid: shell)
        expectErrno(.EKEYREVOKED) { try zeroLength(serial) }
    }

    @Test func userKeysAreEINVALForAnonymousMemory() throws {
        let (machine, kernel) = try machine()
        let serial = try kernel.addMKTME("pmem", "type=user key=\(hex128) tweak=\(hex128)")
        expectErrno(.EINVAL) { _ = try kernel.encryptKeyID(serial) }
        #expect(machine.slot(1) == .unprogrammed)
    }

    @Test func thePerUIDLimitIsENOKEY() throws {
        let (_, kernel) = try machine()
        let user = try kernel.login(uid: 1000)
        let keys = try (0..<2).map { try kernel.addMKTME("mine\($0)", "type=cpu", pid: user) }
        expectErrno(.EACCES) { try kernel.sysfsWrite("/sys/kernel/mm/mktme/keyids_max_per_uid", "1", as: user) }
        for bad in ["0", "4", "x", "-1"] {
            expectErrno(.EINVAL) { try kernel.sysfsWrite("/sys/kernel/mm/mktme/keyids_max_per_uid", bad, as: shell) }
        }
        #expect(try kernel.sysfsRead("/sys/kernel/mm/mktme/keyids_max_per_uid") == "3")
        try kernel.sysfsWrite("/sys/kernel/mm/mktme/keyids_max_per_uid", "1", as: shell)
        #expect(try kernel.encryptKeyID(keys[0], pid: user) == 1)
        expectErrno(.ENOKEY) { _ = try kernel.encryptKeyID(keys[1], pid: user) }
        let rootKey = try kernel.addMKTME("root", "type=cpu")
        #expect(try kernel.encryptKeyID(rootKey) == 2)
    }

    @Test func updatingAKeyInUseRotatesIt() throws {
        let (machine, kernel) = try machine()
        let mappings = FakeKeyIDMappings(kernel: kernel)
        kernel.keyIDMappings = mappings
        let serial = try kernel.addMKTME("tenant", "type=cpu")
        let old = try kernel.encryptKeyID(serial)
        mappings.users[old] = 1  // the VMA holding the reference just taken
        mappings.map(old, count: 4)  // four pages
        try kernel.update(serial, "type=cpu algorithm=aes-xts-256")
        #expect(mappings.moves.count == 1)
        #expect(kernel.mk.keyID(ofKey: serial) == 2)
        #expect(kernel.mk.keyIDStatus(2)?.references == 5)
        #expect(machine.slot(2) == .random)
        #expect(machine.slotAlgorithm(2) == .aesXTS256)
        #expect(machine.slot(1) == .clear)
        #expect(kernel.mk.keyIDStatus(1)?.state == "free")
    }

    @Test func rotationFailuresChangeNothing() throws {
        let (machine, kernel) = try machine()
        let serial = try kernel.addMKTME("tenant", "type=cpu")
        _ = try kernel.encryptKeyID(serial)
        // No memory manager to move the mappings.
        kernel.keyIDMappings = nil
        expectErrno(.EBUSY) { try kernel.update(serial, "type=cpu") }
        let mappings = FakeKeyIDMappings(kernel: kernel)
        kernel.keyIDMappings = mappings
        mappings.failMove = HWKeysError(.ENOMEM, "no memory for the copies")
        expectErrno(.ENOMEM) { try kernel.update(serial, "type=cpu") }
        #expect(kernel.mk.keyID(ofKey: serial) == 1)
        #expect(kernel.mk.keyIDsUsed == 1)
        #expect(machine.slot(2) == .clear)
        // A user key cannot take over memory in use.
        mappings.failMove = nil
        expectErrno(.EBUSY) { try kernel.update(serial, "type=user key=\(hex128) tweak=\(hex128)") }
        #expect(kernel.keys.key(serial)?.payload.attributes["type"] == "cpu")
    }

    @Test func updatingAKeyNotInUseOnlyChangesItsPayload() throws {
        let (machine, kernel) = try machine()
        let serial = try kernel.addMKTME("tenant", "type=cpu")
        try kernel.update(serial, "type=cpu algorithm=aes-xts-256")
        #expect(kernel.keys.key(serial)?.payload.attributes["algorithm"] == "aes-xts-256")
        #expect(machine.slot(1) == .unprogrammed)
        #expect(try kernel.encryptKeyID(serial) == 1)
        #expect(machine.slotAlgorithm(1) == .aesXTS256)
    }

    @Test func aDestroyedKeyInUseIsClearedWhenItsLastUserGoes() throws {
        let (machine, kernel) = try machine()
        let serial = try kernel.addMKTME("tenant", "type=cpu")
        _ = try kernel.encryptKeyID(serial)
        try kernel.keys.invalidate(serial, pid: shell)
        #expect(kernel.mk.keyIDStatus(1)?.state == "orphaned")
        #expect(machine.slot(1) == .random)
        kernel.memoryEncryption!.releaseKeyID(1, count: 1)
        #expect(machine.slot(1) == .clear)
        #expect(kernel.mk.keyIDsUsed == 0)
    }
}

/// Without TME-MK the type registers but nothing can take a KeyID (docs/choices.md).
@Suite struct MKTMEUnavailableTests {
    @Test(arguments: MKTMEAPIDesign.allCases)
    func keyIDsAreENOKEYWithoutMKTME(design: MKTMEAPIDesign) throws {
        let (_, kernel) = try mktmeKernel(design) { $0.keyIDBits = 0 }
        #expect(try kernel.sysfsRead("/sys/kernel/mm/mktme/keyids_total") == "0")
        #expect(try kernel.sysfsRead("/sys/kernel/mm/mktme/api") == design.rawValue)
        switch design {
        case .rfcV2:
            expectErrno(.ENOKEY) { try kernel.addMKTME("tenant", cpuKey) }
        case .revised:
            let serial = try kernel.addMKTME("tenant", "type=cpu")
            #expect(kernel.memoryEncryption == nil)
            expectErrno(.ENOKEY) { _ = try kernel.mk.keyIDForEncryptMprotect(serial: serial, pid: shell) }
            expectErrno(.ENOKEY) { _ = try kernel.mk.keyIDForEncryptMprotect(serial: 0, pid: shell) }
        }
    }
}

/// A failed rfc-v2 update puts the old key back, or marks the KeyID lost (docs/choices.md "Roll-back").
@Suite struct MKTMEFailedUpdateTests {
    @Test func aFailedUpdateOfACPUKeyProgramsARandomKeyAgain() throws {
        let (machine, kernel) = try mktmeKernel(.rfcV2) { $0.packages = 2 }
        let serial = try kernel.addMKTME("tenant", cpuKey)
        machine.faults.pconfigBusy[1] = 11
        expectErrno(.ENOKEY) { try kernel.update(serial, "type=no-encrypt") }
        #expect(machine.slot(1, package: 0) == .random)
        #expect(machine.slot(1, package: 1) == .random)
        #expect(kernel.keys.key(serial)?.payload.attributes["type"] == "cpu")
        #expect(try kernel.encryptKeyID(serial) == 1)
    }

    @Test func aFailedUpdateOfAnUnsavedUserKeyMarksTheKeyIDLost() throws {
        let (machine, kernel) = try mktmeKernel(.rfcV2) { $0.packages = 2 }
        let serial = try kernel.addMKTME("tenant", fixtureUserKey)
        machine.faults.pconfigBusy[1] = 11
        expectErrno(.ENOKEY) { try kernel.update(serial, "type=no-encrypt") }
        #expect(machine.slot(1, package: 0) == .clear)
        expectErrno(.ENOKEY) { _ = try kernel.encryptKeyID(serial) }
        try kernel.update(serial, "type=no-encrypt")
        #expect(machine.slot(1, package: 1) == .noEncrypt)
        #expect(try kernel.encryptKeyID(serial) == 1)
    }
}
