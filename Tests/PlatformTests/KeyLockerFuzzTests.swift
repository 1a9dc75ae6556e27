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

/// SplitMix64 (Steele, Lea, Flood 2014), seeded from the machine-style seeded entropy source so the
/// whole run is reproducible; cheap enough to drive 100,000 cases in a debug build.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) {
        state = SeededEntropySource(seed: seed).nextUInt64()
    }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
    mutating func byte() -> UInt8 { UInt8(truncatingIfNeeded: next()) }
}

@Suite struct KeyLockerFuzzTests {
    static let cases = 100_000

    /// At least 100,000 random or mutated handles and AAD words through every AES*KL form, at CPL0 and CPL3:
    /// never a crash, ZF = 1 with data unchanged for everything but an unmodified valid handle used as its
    /// restrictions allow, and for that one the AES result of the unmutated key.
    @Test func randomAndMutatedHandlesOnlyEverWorkUnmodified() throws {
        let machine = try keyLockerMachine(seed: 11)
        defer { withExtendedLifetime(machine) {} }
        let cpu = machine.processors[0]
        try cpu.loadIWKey(enc: testBytes(32, 51), int: testBytes(16, 52))
        // One valid handle per key size and restriction combination, with its expected AES results.
        struct Valid {
            let handle: [UInt8]
            let encrypted: [UInt8]
            let decrypted: [UInt8]
        }
        let plain = testBytes(128, 53)
        var valid: [Valid] = []
        for size in [16, 32] {
            let key = testBytes(size, UInt8(size))
            let reference = AESBlockCipher(key: SecretBytes(key))
            var encrypted = plain
            encrypted.withUnsafeMutableBytes { reference.encrypt($0) }
            var decrypted = plain
            decrypted.withUnsafeMutableBytes { reference.decrypt($0) }
            for src: UInt32 in 0..<8 {
                valid.append(Valid(handle: try cpu.encode(key, src: src), encrypted: encrypted, decrypted: decrypted))
            }
        }

        var rng = SplitMix64(seed: 0x4B4C_4655_5A5A)
        var kinds = [Int](repeating: 0, count: 8)
        var successes = 0
        for index in 0..<Self.cases {
            let base = valid[rng.below(valid.count)]
            var handle = base.handle
            let kind = rng.below(8)
            kinds[kind] += 1
            switch kind {
            case 0:  // entirely random bytes
                for i in handle.indices { handle[i] = rng.byte() }
            case 1:  // a random AAD (restrictions, key type, reserved bits), valid tag and wrapped key
                for i in 0..<16 { handle[i] = rng.byte() }
            case 2:  // a plausible AAD: other restrictions and/or key type, nothing reserved
                handle[0] = UInt8(rng.below(8))
                handle[3] = UInt8(rng.below(2))
            case 3:  // one bit flipped anywhere
                let bit = rng.below(8 * handle.count)
                handle[bit / 8] ^= 1 << UInt8(bit % 8)
            case 4:  // one to four bytes changed anywhere
                for _ in 0...rng.below(4) { handle[rng.below(handle.count)] ^= UInt8(1 + rng.below(255)) }
            case 5:  // a random tag and wrapped key under a valid AAD
                for i in 16..<handle.count { handle[i] = rng.byte() }
            case 6:  // a valid handle's tail under another valid handle's AAD
                let other = valid[rng.below(valid.count)].handle
                for i in 0..<16 { handle[i] = other[i] }
            default:  // unmodified (the control)
                break
            }
            let modified = handle != base.handle
            let aes256 = handle.count == 64
            let encrypts = rng.below(2) == 0
            let operation: AESKLOperation =
                encrypts ? (aes256 ? .encrypt256 : .encrypt128) : (aes256 ? .decrypt256 : .decrypt128)
            cpu.cpl = rng.below(4) == 0 ? 3 : 0
            let restrictions = base.handle[0]
            let allowed =
                !(restrictions & 1 != 0 && cpu.cpl > 0) && !(encrypts && restrictions & 2 != 0)
                && !(!encrypts && restrictions & 4 != 0)
            let shouldWork = !modified && allowed

            let wide = rng.below(2) == 0
            let data = wide ? plain : Array(plain[0..<16])
            let (zf, out) =
                wide
                ? try cpu.aesWideKL(operation, data, handle: handle)
                : try cpu.aesKL(operation, data, handle: handle, register: index % 16)
            cpu.cpl = 0
            if zf == shouldWork {
                Issue.record("case \(index) kind \(kind): ZF = \(zf) for \(operation.rawValue), handle \(handle)")
                break
            }
            if zf {
                #expect(out == data, "case \(index): data changed with ZF = 1")
            } else {
                successes += 1
                let expected = encrypts ? base.encrypted : base.decrypted
                #expect(out == Array(expected[0..<data.count]), "case \(index): wrong AES result")
            }
        }
        #expect(kinds.allSatisfy { $0 > Self.cases / 10 })
        #expect(successes > Self.cases / 40)
    }
}
