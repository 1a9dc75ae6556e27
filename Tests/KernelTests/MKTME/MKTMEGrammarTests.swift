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

/// The rfc-v2 payload grammar, token by token (docs/contract.md §6; RFC v2 `include/keys/mktme-type.h`).
@Suite struct MKTMERFCv2GrammarTests {
    static let valid: [(payload: String, state: KeyIDState)] = [
        ("type=cpu algorithm=aes-xts-128", .random),
        ("type=user algorithm=aes-xts-128 key=\(hex128) tweak=\(hex128.uppercased())", .direct),
        ("type=clear", .clear),
        ("type=no-encrypt", .noEncrypt),
        ("type=cpu algorithm=aes-xts-128 key=\(hex128)", .random),
        ("type=cpu algorithm=aes-xts-128 tweak=\(hex128) key=\(hex128)", .random),
        ("\ttype=cpu\nalgorithm=aes-xts-128  ", .random),
    ]

    @Test(arguments: valid.indices)
    func validPayloadsProgramTheirKeyID(index: Int) throws {
        let (machine, kernel) = try mktmeKernel(.rfcV2)
        let serial = try kernel.addMKTME("tenant", Self.valid[index].payload)
        #expect(kernel.mk.keyID(ofKey: serial) == 1)
        #expect(machine.slot(1) == Self.valid[index].state)
    }

    static let invalid = [
        "",
        String(repeating: " ", count: 1025),
        "type=cpu",
        "algorithm=aes-xts-128",
        "type=bogus algorithm=aes-xts-128",
        "type=cpu algorithm=aes-xts-256",
        "type=cpu algorithm=AES-XTS-128x",
        "type=user algorithm=aes-xts-128 key=\(hex128)",
        "type=user algorithm=aes-xts-128 tweak=\(hex128)",
        "type=user algorithm=aes-xts-128 key=\(hex128.dropLast()) tweak=\(hex128)",
        "type=user algorithm=aes-xts-128 key=\(hex128)0 tweak=\(hex128)",
        "type=user algorithm=aes-xts-128 key=\("g" + hex128.dropFirst()) tweak=\(hex128)",
        "type=clear algorithm=aes-xts-128",
        "type=no-encrypt algorithm=aes-xts-128",
        "type=clear key=\(hex128)",
        "type=no-encrypt tweak=\(hex128)",
        "type=cpu algorithm=aes-xts-128 entropy=\(hex128)",
        "type=cpu type=cpu algorithm=aes-xts-128",
        "type=cpu algorithm=aes-xts-128 algorithm=aes-xts-128",
        "type=cpu algorithm=aes-xts-128 key=\(hex128) key=\(hex128)",
        "type=cpu algorithm=aes-xts-128 junk",
        "type=cpu algorithm=aes-xts-128 =x",
    ]

    @Test(arguments: invalid)
    func badPayloadsAreEINVALAndChangeNothing(payload: String) throws {
        let (machine, kernel) = try mktmeKernel(.rfcV2)
        let before = kernel.keys.count
        expectErrno(.EINVAL) { try kernel.addMKTME("tenant", payload) }
        #expect(kernel.keys.count == before)
        #expect(kernel.mk.keyIDsUsed == 0)
        #expect(machine.slot(1) == .unprogrammed)
    }

    @Test func a1024BytePayloadIsAccepted() throws {
        let (_, kernel) = try mktmeKernel(.rfcV2)
        let payload = "type=cpu algorithm=aes-xts-128"
        try kernel.addMKTME("tenant", payload + String(repeating: " ", count: 1024 - payload.utf8.count))
    }

    @Test func nonRootIsEACCES() throws {
        let (_, kernel) = try mktmeKernel(.rfcV2)
        let user = try kernel.login(uid: 1000)
        expectErrno(.EACCES) { try kernel.addMKTME("tenant", "type=cpu algorithm=aes-xts-128", pid: user) }
        #expect(kernel.mk.keyIDsUsed == 0)
    }

    @Test func mktmeKeysCannotBeReadButCanBeDescribed() throws {
        let (_, kernel) = try mktmeKernel(.rfcV2)
        let serial = try kernel.addMKTME("tenant", "type=user algorithm=aes-xts-128 key=\(hex128) tweak=\(hex128)")
        expectErrno(.EOPNOTSUPP) { _ = try kernel.keys.read(serial, pid: shell) }
        let description = try kernel.keys.describe(serial, pid: shell)
        #expect(description.type == "mktme")
        #expect(!description.raw.contains(hex128))
    }
}

/// The revised payload grammar (docs/contract.md §6 revised; v2-59 plus the review's asks).
@Suite struct MKTMERevisedGrammarTests {
    static let valid: [(payload: String, type: String, algorithm: String)] = [
        ("type=cpu", "cpu", "aes-xts-128"),
        ("algorithm=aes-xts-256", "cpu", "aes-xts-256"),
        ("type=cpu algorithm=aes-xts-128", "cpu", "aes-xts-128"),
        ("type=user key=\(hex128) tweak=\(hex128)", "user", "aes-xts-128"),
        ("type=user algorithm=aes-xts-256 key=\(hex256) tweak=\(hex256)", "user", "aes-xts-256"),
    ]

    @Test(arguments: valid.indices)
    func validPayloadsCreateKeysWithoutKeyIDs(index: Int) throws {
        let (machine, kernel) = try mktmeKernel(.revised)
        let serial = try kernel.addMKTME("tenant", Self.valid[index].payload)
        let key = try #require(kernel.keys.key(serial))
        #expect(key.payload.attributes["type"] == Self.valid[index].type)
        #expect(key.payload.attributes["algorithm"] == Self.valid[index].algorithm)
        #expect(kernel.mk.keyID(ofKey: serial) == nil)
        #expect(kernel.mk.keyIDsUsed == 0)
        #expect(machine.slot(1) == .unprogrammed)
    }

    static let invalid = [
        "",
        "type=clear",
        "type=no-encrypt",
        "type=bogus",
        "type=cpu key=\(hex128)",
        "type=cpu tweak=\(hex128)",
        "type=user key=\(hex128)",
        "type=user algorithm=aes-xts-256 key=\(hex128) tweak=\(hex128)",
        "algorithm=aes-xts-512",
        "type=cpu type=user",
        "type=cpu color=blue",
    ]

    @Test(arguments: invalid)
    func badPayloadsAreEINVAL(payload: String) throws {
        let (_, kernel) = try mktmeKernel(.revised)
        let before = kernel.keys.count
        expectErrno(.EINVAL) { try kernel.addMKTME("tenant", payload) }
        #expect(kernel.keys.count == before)
    }

    @Test func anAlgorithmThatIsNotActivatedIsEINVAL() throws {
        let (_, kernel) = try mktmeKernel(.revised) { $0.mkAlgorithms = [.aesXTS128] }
        expectErrno(.EINVAL) { try kernel.addMKTME("tenant", "algorithm=aes-xts-256") }
        try kernel.addMKTME("tenant", "algorithm=aes-xts-128")
    }

    @Test func anyUserMayCreateCPUKeysButOnlyRootUserKeys() throws {
        let (_, kernel) = try mktmeKernel(.revised)
        let user = try kernel.login(uid: 1000)
        try kernel.addMKTME("mine", "type=cpu", pid: user)
        expectErrno(.EACCES) { try kernel.addMKTME("raw", "type=user key=\(hex128) tweak=\(hex128)", pid: user) }
    }

    @Test func userKeyMaterialLivesInKernelMemoryAndGoesOnRevoke() throws {
        let (_, kernel) = try mktmeKernel(.revised)
        let serial = try kernel.addMKTME("pmem", "type=user key=\(hex128) tweak=\(hex128)")
        let data = try #require(kernel.keys.key(serial)?.payload.data)
        #expect(kernel.readKernelMemory(data).revealedBytes() == hexBytes(hex128 + hex128))
        try kernel.keys.revoke(serial, pid: shell)
        #expect(kernel.keys.key(serial)?.payload.data == nil)
        #expect(kernel.physical.readSecret(data.segments[0].address, count: 32).isZero)
    }
}
