//===----------------------------------------------------------------------===//
//
// hwkeys: HWCryptoTests
//
//===----------------------------------------------------------------------===//

import HWCrypto
import TestSupport
import Testing

/// KeyLockerWrap against its independent twin: handles built per docs/contract.md §3 by pyca/cryptography's
/// AESGCMSIV (Scripts/gen_keylocker_handles.py → Vectors/generated/keylocker-handles.json).
@Suite("Key Locker handle wrap")
struct KeyLockerWrapTests {
    struct Document: Decodable {
        var cases: [Case]
    }

    struct Case: Decodable {
        var encryptionKey: HexField
        var integrityKey: HexField
        var aad: HexField
        var key: HexField
        var handle: HexField
    }

    static let cases: [Case] = {
        do {
            return try VectorFiles.json(Document.self, at: "generated/keylocker-handles.json").cases
        } catch {
            fatalError("generated/keylocker-handles.json: \(error)")
        }
    }()

    @Test func wrapMatchesTheIndependentTwin() {
        #expect(Set(Self.cases.map(\.key.bytes.count)) == [16, 32])
        for (index, twin) in Self.cases.enumerated() {
            let handle = KeyLockerWrap.wrap(
                key: SecretBytes(twin.key.bytes),
                aad: twin.aad.bytes,
                encryptionKey: SecretBytes(twin.encryptionKey.bytes),
                integrityKey: SecretBytes(twin.integrityKey.bytes)
            )
            #expect(handle == twin.handle.bytes, "case \(index)")
            let expectedSize = twin.key.bytes.count == 16 ? KeyLockerWrap.handle128Size : KeyLockerWrap.handle256Size
            #expect(handle.count == expectedSize, "case \(index)")
        }
    }

    @Test func unwrapRecoversTheKey() throws {
        for (index, twin) in Self.cases.enumerated() {
            let key = twin.handle.bytes.withUnsafeBytes {
                KeyLockerWrap.unwrap(
                    handle: $0,
                    encryptionKey: SecretBytes(twin.encryptionKey.bytes),
                    integrityKey: SecretBytes(twin.integrityKey.bytes)
                )
            }
            let unwrapped = try #require(key, "case \(index)")
            #expect(unwrapped.revealedBytes() == twin.key.bytes, "case \(index)")
        }
    }

    /// Every bit of the handle (AAD, tag, wrapped key) and of both IWKey parts is authenticated.
    @Test func anySingleBitFlipFailsUnwrap() {
        func opens(_ handle: [UInt8], _ encryptionKey: [UInt8], _ integrityKey: [UInt8]) -> Bool {
            handle.withUnsafeBytes {
                KeyLockerWrap.unwrap(
                    handle: $0,
                    encryptionKey: SecretBytes(encryptionKey),
                    integrityKey: SecretBytes(integrityKey)
                )
            } != nil
        }
        func flipped(_ bytes: [UInt8], bit: Int) -> [UInt8] {
            var copy = bytes
            copy[bit / 8] ^= 1 << (bit % 8)
            return copy
        }
        for (index, twin) in Self.cases.enumerated() {
            let handle = twin.handle.bytes
            let encryptionKey = twin.encryptionKey.bytes
            let integrityKey = twin.integrityKey.bytes
            #expect(opens(handle, encryptionKey, integrityKey), "case \(index)")
            let handleBits = (0..<8 * handle.count).filter {
                opens(flipped(handle, bit: $0), encryptionKey, integrityKey)
            }
            #expect(handleBits.isEmpty, "case \(index): handle bits \(handleBits) still open")
            let encryptionBits = (0..<256).filter { opens(handle, flipped(encryptionKey, bit: $0), integrityKey) }
            #expect(encryptionBits.isEmpty, "case \(index): encryption-key bits \(encryptionBits) still open")
            let integrityBits = (0..<128).filter { opens(handle, encryptionKey, flipped(integrityKey, bit: $0)) }
            #expect(integrityBits.isEmpty, "case \(index): integrity-key bits \(integrityBits) still open")
        }
    }

    @Test(arguments: [0, 16, 47, 49, 63, 65, 128])
    func handlesOfOtherSizesDoNotUnwrap(size: Int) {
        let twin = Self.cases[0]
        var handle = twin.handle.bytes
        handle += [UInt8](repeating: 0, count: max(0, size - handle.count))
        handle = Array(handle.prefix(size))
        let result = handle.withUnsafeBytes {
            KeyLockerWrap.unwrap(
                handle: $0,
                encryptionKey: SecretBytes(twin.encryptionKey.bytes),
                integrityKey: SecretBytes(twin.integrityKey.bytes)
            )
        }
        #expect(result == nil)
    }
}
