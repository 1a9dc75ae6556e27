//===----------------------------------------------------------------------===//
//
// hwkeys: HWCryptoTests
//
//===----------------------------------------------------------------------===//

import HWCrypto
import Testing

@Suite("SecretBytes")
struct SecretBytesTests {
    @Test func wipeZeroesEveryByte() {
        let secret = SecretBytes([1, 2, 3, 0xff])
        #expect(!secret.isZero)
        secret.wipe()
        #expect(secret.isZero)
        #expect(secret.revealedBytes() == [0, 0, 0, 0])
        #expect(secret.count == 4)
    }

    @Test func descriptionsAreRedacted() {
        let secret = SecretBytes([0x41, 0x42, 0x43])
        #expect(secret.description == "<redacted 3 bytes>")
        #expect(secret.debugDescription == "<redacted 3 bytes>")
        #expect("\(secret)" == "<redacted 3 bytes>")
        #expect(String(reflecting: secret) == "<redacted 3 bytes>")
    }

    @Test func emptySecretsHoldNothing() {
        #expect(SecretBytes(count: 0).count == 0)
        #expect(SecretBytes([]).count == 0)
        #expect(SecretBytes([]).revealedBytes() == [])
        #expect(SecretBytes([]).description == "<redacted 0 bytes>")
        #expect(SecretBytes.concatenating(SecretBytes([]), SecretBytes([])).count == 0)
    }

    @Test func equalityComparesContentsAndLength() {
        #expect(SecretBytes([1, 2, 3]) == SecretBytes([1, 2, 3]))
        #expect(SecretBytes([1, 2, 3]) != SecretBytes([1, 2, 4]))
        #expect(SecretBytes([1, 2, 3]) != SecretBytes([1, 2]))
        #expect(SecretBytes(count: 0) == SecretBytes([]))
        #expect(SecretBytes(count: 2) == SecretBytes([0, 0]))
    }

    @Test func copiesAreIndependent() {
        let original = SecretBytes([9, 8, 7])
        let copy = original.copy()
        original.wipe()
        #expect(copy.revealedBytes() == [9, 8, 7])
        let fromPointer = [5, 6].withUnsafeBytes { SecretBytes(copying: UnsafeRawBufferPointer(rebasing: $0[0..<1])) }
        #expect(fromPointer.revealedBytes() == [5])
    }

    @Test func sliceConcatenateAndXor() {
        let secret = SecretBytes([0, 1, 2, 3, 4, 5])
        #expect(secret.slice(2..<5).revealedBytes() == [2, 3, 4])
        #expect(
            SecretBytes.concatenating(secret.slice(0..<2), SecretBytes([]), secret.slice(4..<6)).revealedBytes() == [
                0, 1, 4, 5,
            ]
        )
        let mask = SecretBytes([0xff, 0, 0xff, 0, 0xff, 0])
        secret.formXor(mask)
        #expect(secret.revealedBytes() == [0xff, 1, 0xfd, 3, 0xfb, 5])
    }

    @Test func mutableAccessWritesThrough() {
        let secret = SecretBytes(count: 3)
        secret.withUnsafeMutableBytes { $0[1] = 7 }
        #expect(secret.revealedBytes() == [0, 7, 0])
        #expect(secret.withUnsafeBytes { $0.count } == 3)
    }
}
