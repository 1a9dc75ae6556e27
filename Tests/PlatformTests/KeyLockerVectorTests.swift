//===----------------------------------------------------------------------===//
//
// hwkeys: PlatformTests
//
//===----------------------------------------------------------------------===//

import HWCrypto
import TestSupport
import Testing
import X86

@testable import Platform

/// ENCODEKEY and AES*KL against values computed independently by Python `cryptography`
/// (Fixtures/keylocker/SOURCE.md).
@Suite struct KeyLockerVectorTests {
    @Test func fixturesCoverBothKeySizesEveryRestrictionAndTheZeroIWKey() {
        let vectors = KeyLockerVector.all
        #expect(vectors.count == 48)
        #expect(Set(vectors.map(\.restrictions)) == Set(0...7))
        #expect(Set(vectors.map { $0.key.count / 2 }) == [16, 32])
        #expect(vectors.contains { hexBytes($0.iwkeyEncryptionKey).allSatisfy { $0 == 0 } })
    }

    /// KeySource 0 with a fixed IWKey gives deterministic handles: exactly the docs/contract.md §3 wrap.
    @Test(arguments: KeyLockerVector.all)
    func encodekeyWithAFixedSoftwareIWKeyGivesTheExpectedHandle(vector: KeyLockerVector) throws {
        let machine = try keyLockerMachine()
        defer { withExtendedLifetime(machine) {} }
        let cpu = machine.processors[0]
        #expect(
            try cpu.loadIWKey(enc: hexBytes(vector.iwkeyEncryptionKey), int: hexBytes(vector.iwkeyIntegrityKey))
                == false
        )
        let key = hexBytes(vector.key)
        cpu.setXMM(3, testBytes(16, 33))
        cpu.setXMM(4, testBytes(48, 34))
        cpu.setXMM(0, key)
        let eax =
            key.count == 16
            ? try cpu.encodekey128(src: vector.restrictions) : try cpu.encodekey256(src: vector.restrictions)
        #expect(eax == 0)
        let handle = cpu.xmmBytes(0, count: key.count == 16 ? 48 : 64)
        #expect(handle == hexBytes(vector.handle))
        // XMM4–6 are zeroed; ENCODEKEY128 keeps XMM3.
        #expect(cpu.xmmBytes(4, count: 48) == [UInt8](repeating: 0, count: 48))
        if key.count == 16 { #expect(cpu.xmmBytes(3) == testBytes(16, 33)) }
    }

    /// AES*KL equals AES-128/256 ECB of each block under the wrapped key, single and WIDE.
    @Test(arguments: KeyLockerVector.all)
    func aesklMatchesIndependentAES(vector: KeyLockerVector) throws {
        let machine = try keyLockerMachine()
        defer { withExtendedLifetime(machine) {} }
        let cpu = machine.processors[0]
        try cpu.loadIWKey(enc: hexBytes(vector.iwkeyEncryptionKey), int: hexBytes(vector.iwkeyIntegrityKey))
        let handle = hexBytes(vector.handle)
        let aes256 = handle.count == 64
        let blocks = hexBytes(vector.blocks)
        let canEncrypt = vector.restrictions & 2 == 0
        let canDecrypt = vector.restrictions & 4 == 0
        let encrypt: AESKLOperation = aes256 ? .encrypt256 : .encrypt128
        let decrypt: AESKLOperation = aes256 ? .decrypt256 : .decrypt128
        // At CPL0 every restriction but no-encrypt / no-decrypt allows use.
        for register in [0, 7, 15] {
            let single = try cpu.aesKL(encrypt, Array(blocks[0..<16]), handle: handle, register: register)
            #expect(single.zf == !canEncrypt)
            #expect(single.block == (canEncrypt ? Array(hexBytes(vector.encrypted)[0..<16]) : Array(blocks[0..<16])))
        }
        let singleDecrypt = try cpu.aesKL(decrypt, Array(blocks[0..<16]), handle: handle)
        #expect(singleDecrypt.zf == !canDecrypt)
        #expect(singleDecrypt.block == (canDecrypt ? Array(hexBytes(vector.decrypted)[0..<16]) : Array(blocks[0..<16])))
        let wide = try cpu.aesWideKL(encrypt, blocks, handle: handle)
        #expect(wide.zf == !canEncrypt)
        #expect(wide.blocks == (canEncrypt ? hexBytes(vector.encrypted) : blocks))
        let wideDecrypt = try cpu.aesWideKL(decrypt, blocks, handle: handle)
        #expect(wideDecrypt.zf == !canDecrypt)
        #expect(wideDecrypt.blocks == (canDecrypt ? hexBytes(vector.decrypted) : blocks))
        // Decrypting the encryption gives the blocks back (when both directions are allowed).
        if canEncrypt && canDecrypt {
            let roundTrip = try cpu.aesWideKL(decrypt, hexBytes(vector.encrypted), handle: handle)
            #expect(roundTrip.blocks == blocks)
        }
    }
}
