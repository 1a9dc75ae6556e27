//===----------------------------------------------------------------------===//
//
// hwkeys: HWCryptoTests
//
//===----------------------------------------------------------------------===//

import Crypto
import CryptoExtras
import Testing

/// RFC 8452 vectors (Vectors/gcm-siv/openssl.txt) through swift-crypto's AES.GCM._SIV, the
/// primitive under KeyLockerWrap.
@Suite("AES-GCM-SIV known answers")
struct GCMSIVTests {
    @Test func everyVectorSealsAndOpens() throws {
        let records = try VectorFiles.records(at: "gcm-siv/openssl.txt")
        #expect(records.count == 46)
        var sizes: Set<Int> = []
        for record in records {
            let cipher = try #require(record["Cipher"], "\(record)")
            let key = try record.bytes("Key")
            #expect(cipher == "aes-\(8 * key.count)-gcm-siv", "\(record)")
            sizes.insert(key.count)
            let nonce = try AES.GCM._SIV.Nonce(data: record.bytes("IV"))
            let aad = record["AAD"] != nil ? try record.bytes("AAD") : []
            let plaintext = try record.bytes("Plaintext")
            let ciphertext = try record.bytes("Ciphertext")
            let tag = try record.bytes("Tag")
            let symmetricKey = SymmetricKey(data: key)

            let box = try AES.GCM._SIV.seal(plaintext, using: symmetricKey, nonce: nonce, authenticating: aad)
            #expect(Array(box.ciphertext) == ciphertext, "\(record)")
            #expect(Array(box.tag) == tag, "\(record)")

            let given = try AES.GCM._SIV.SealedBox(nonce: nonce, ciphertext: ciphertext, tag: tag)
            #expect(
                try Array(AES.GCM._SIV.open(given, using: symmetricKey, authenticating: aad)) == plaintext,
                "\(record)"
            )

            var badTag = tag
            badTag[0] ^= 1
            let tampered = try AES.GCM._SIV.SealedBox(nonce: nonce, ciphertext: ciphertext, tag: badTag)
            #expect(throws: (any Error).self, "\(record)") {
                try AES.GCM._SIV.open(tampered, using: symmetricKey, authenticating: aad)
            }
        }
        #expect(sizes == [16, 32])
    }
}
