//===----------------------------------------------------------------------===//
//
// hwkeys: HWCryptoTests
//
//===----------------------------------------------------------------------===//

import HWCrypto
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Host misuse stops the process (docs/design.md rule 2); valid inputs never do. Each exit test runs in
/// a child process.
@Suite("Preconditions and path selection")
struct PreconditionTests {
    @Test func xtsKeyOfWrongLengthTraps() async {
        await #expect(processExitsWith: .failure) {
            let key = SecretBytes(count: 24)
            _ = XTSKey(dataKey: key, tweakKey: key)
        }
    }

    @Test func xtsKeyHalvesOfDifferentLengthsTrap() async {
        await #expect(processExitsWith: .failure) {
            _ = XTSKey(dataKey: SecretBytes(count: 16), tweakKey: SecretBytes(count: 32))
        }
    }

    @Test func dataUnitShorterThanABlockTraps() async {
        await #expect(processExitsWith: .failure) {
            let xts = XTSKey(dataKey: SecretBytes(count: 16), tweakKey: SecretBytes([UInt8](repeating: 1, count: 16)))
            var buffer = [UInt8](repeating: 0, count: 32)
            buffer.withUnsafeMutableBytes {
                xts.encrypt(units: UnsafeRawBufferPointer($0), into: $0, unitLength: 8, firstSequence: 0)
            }
        }
    }

    @Test func partialBlockForECBTraps() async {
        await #expect(processExitsWith: .failure) {
            let cipher = AESBlockCipher(key: SecretBytes(count: 16))
            var buffer = [UInt8](repeating: 0, count: 20)
            buffer.withUnsafeMutableBytes { cipher.encrypt($0) }
        }
    }

    /// `HWKEYS_AES` picks the default path when it names an available one.
    @Test func environmentSelectsTheDefaultPath() async {
        await #expect(processExitsWith: .success) {
            setenv("HWKEYS_AES", "portable", 1)
            exit(AESEngine.defaultPath == .portable ? 0 : 1)
        }
        await #expect(processExitsWith: .success) {
            setenv("HWKEYS_AES", "no-such-path", 1)
            exit(AESEngine.defaultPath == AESEngine.availablePaths.last ? 0 : 1)
        }
    }
}
