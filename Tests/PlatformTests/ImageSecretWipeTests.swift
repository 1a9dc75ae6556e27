//===----------------------------------------------------------------------===//
//
// hwkeys: PlatformTests
//
//===----------------------------------------------------------------------===//

import HWCrypto
import TestSupport
import Testing

@testable import Platform

/// Host-side secrets (docs/design.md rule 3): saving a machine copies IWKeys, MKTME key tables, XMM
/// registers and cached plaintext into the image's byte arrays. Every buffer the encoder outgrows is zeroed
/// before it is released, and the image is wiped once the caller has stored it.
@Suite struct ImageSecretWipeTests {
    @Test func buffersTheWriterOutgrowsAreZeroedBeforeRelease() throws {
        var retired: [(count: Int, zero: Bool)] = []
        var writer = ImageWriter()
        writer.retiredBufferObserver = { buffer in retired.append((buffer.count, buffer.allSatisfy { $0 == 0 })) }
        let secret = SecretBytes(Array(repeating: UInt8(0xA5), count: 48))
        for _ in 0..<200 { writer.secret(secret) }
        writer.u64(0xDEAD_BEEF)
        writer.string("tail")
        #expect(writer.bytes.count == 200 * 52 + 8 + 8)
        #expect(retired.count >= 3, "the writer grew \(retired.count) times")
        #expect(retired.allSatisfy { $0.zero })
        #expect(retired.contains { $0.count > 1000 })
        // What was written survives the moves.
        var reader = ImageReader(writer.bytes)
        for _ in 0..<200 { #expect(try reader.secret(count: 48) == secret) }
    }

    @Test func aMachineImageHoldsSecretsUntilItIsWiped() throws {
        let machine = try makeMachine { $0.cacheLines = 0 }
        try machine.cpu().wrmsr(0xD91, 1)  // a backup: the IWKey is in both parts of the image
        var image = machine.makeImage()
        // The TME key (32 random bytes) and the IWKey are in there: the image is not mostly zeros.
        #expect(image.volatile.contains { $0 != 0 } && image.nonVolatile.contains { $0 != 0 })
        let restored = try Machine.restore(configuration: machine.configuration, image: image, pageSource: nil)
        #expect(restored.makeImage().volatile == image.volatile)
        image.wipe()
        #expect(image.volatile.allSatisfy { $0 == 0 } && image.nonVolatile.allSatisfy { $0 == 0 })
        #expect(image.volatile.count > 0)
    }

    @Test func makeImageRetiresOnlyZeroedBuffers() throws {
        let machine = try makeMachine()
        var retired: [Bool] = []
        let image = machine.makeImage(retiredBufferObserver: { buffer in retired.append(buffer.allSatisfy { $0 == 0 }) }
        )
        #expect(!retired.isEmpty)
        #expect(!retired.contains(false))
        #expect(image.volatile == machine.makeImage().volatile)
    }
}
