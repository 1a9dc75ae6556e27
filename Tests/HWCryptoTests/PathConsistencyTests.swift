//===----------------------------------------------------------------------===//
//
// hwkeys: HWCryptoTests
//
//===----------------------------------------------------------------------===//

import CAESNI
import HWCrypto
import TestSupport
import Testing

/// Every path gives the portable path's bytes for every API, over shapes the vector files do not
/// cover (many line counts, every unit length from 16 to 80 bytes, long calls that take the wide
/// kernels). The portable path itself is pinned by the NIST vectors and the independent twin.
@Suite("Every path gives identical bytes")
struct PathConsistencyTests {
    static let keySizes = [16, 32]

    @Test(arguments: AESEngine.availablePaths, keySizes)
    func lineEngineFormsAgree(path: AESPath, keySize: Int) {
        var random = SplitMix64(seed: UInt64(keySize))
        let k1 = random.bytes(keySize)
        let k2 = random.bytes(keySize)
        let reference = XTSKey(dataKey: k1, tweakKey: k2, path: .portable)
        let xts = XTSKey(dataKey: k1, tweakKey: k2, path: path)
        #expect(xts.path == path && xts.keySize.rawValue == keySize)
        for count in [1, 2, 3, 4, 5, 7, 8, 9, 13, 31, 64, 255, 257, 600] {
            let data = random.bytes(64 * count)
            let sequences = (0..<count).map { line -> UInt64 in
                switch line % 3 {
                case 0: random.next()
                case 1: UInt64.max - UInt64(random.next(below: 64))
                default: UInt64(random.next(below: 1 << 20))
                }
            }
            let first = count % 2 == 0 ? UInt64.max - UInt64(count / 2) : random.next()
            for encrypt in [true, false] {
                let expected = reference.lines(data, sequences: sequences, encrypt: encrypt, inPlace: false)
                let consecutive = reference.lines(data, firstSequence: first, encrypt: encrypt, inPlace: false)
                for inPlace in [false, true] {
                    let label = "\(count) lines, encrypt \(encrypt), in place \(inPlace)"
                    #expect(
                        xts.lines(data, sequences: sequences, encrypt: encrypt, inPlace: inPlace) == expected,
                        "\(label)"
                    )
                    #expect(
                        xts.linesIOV(data, sequences: sequences, encrypt: encrypt, inPlace: inPlace) == expected,
                        "\(label)"
                    )
                    #expect(
                        xts.lines(data, firstSequence: first, encrypt: encrypt, inPlace: inPlace) == consecutive,
                        "\(label)"
                    )
                }
            }
        }
    }

    @Test(arguments: AESEngine.availablePaths, keySizes)
    func dataUnitsAgree(path: AESPath, keySize: Int) {
        var random = SplitMix64(seed: 100 + UInt64(keySize))
        let k1 = random.bytes(keySize)
        let k2 = random.bytes(keySize)
        let reference = XTSKey(dataKey: k1, tweakKey: k2, path: .portable)
        let xts = XTSKey(dataKey: k1, tweakKey: k2, path: path)
        let shapes =
            (16...80).map { ($0, 1 + $0 % 3) } + [
                (64, 20), (100, 7), (127, 5), (256, 2), (500, 2), (512, 1), (513, 3), (4096, 2), (4097, 1), (4111, 2),
            ]
        for (length, count) in shapes {
            let data = random.bytes(length * count)
            let tweaks = random.bytes(16 * count)
            let first = random.next()
            for encrypt in [true, false] {
                let expected = reference.units(
                    data,
                    unitLength: length,
                    tweaks: tweaks,
                    encrypt: encrypt,
                    inPlace: false
                )
                let consecutive = reference.units(
                    data,
                    unitLength: length,
                    firstSequence: first,
                    encrypt: encrypt,
                    inPlace: false
                )
                for inPlace in [false, true] {
                    let label = "\(count) × \(length) bytes, encrypt \(encrypt), in place \(inPlace)"
                    #expect(
                        xts.units(data, unitLength: length, tweaks: tweaks, encrypt: encrypt, inPlace: inPlace)
                            == expected,
                        "\(label)"
                    )
                    #expect(
                        xts.units(data, unitLength: length, firstSequence: first, encrypt: encrypt, inPlace: inPlace)
                            == consecutive,
                        "\(label)"
                    )
                }
            }
        }
    }

    @Test(arguments: AESEngine.availablePaths, keySizes)
    func blockCipherAgrees(path: AESPath, keySize: Int) {
        var random = SplitMix64(seed: 200 + UInt64(keySize))
        let key = random.bytes(keySize)
        let reference = AESBlockCipher(key: key, path: .portable)
        let cipher = AESBlockCipher(key: key, path: path)
        #expect(cipher.path == path && cipher.keyLength == keySize)
        for blocks in Array(1...40) + [100, 1024] {
            let data = random.bytes(16 * blocks)
            let encrypted = reference.encrypted(data)
            #expect(cipher.encrypted(data) == encrypted, "\(blocks) blocks")
            #expect(cipher.decrypted(encrypted) == data, "\(blocks) blocks")
        }
    }

    @Test func lineIOHasTheLayoutOfTheCStruct() {
        #expect(MemoryLayout<LineIO>.size == MemoryLayout<hwk_line_io>.size)
        #expect(MemoryLayout<LineIO>.stride == MemoryLayout<hwk_line_io>.stride)
        #expect(MemoryLayout<LineIO>.alignment == MemoryLayout<hwk_line_io>.alignment)
        #expect(MemoryLayout<LineIO>.offset(of: \.source) == MemoryLayout<hwk_line_io>.offset(of: \.src))
        #expect(MemoryLayout<LineIO>.offset(of: \.destination) == MemoryLayout<hwk_line_io>.offset(of: \.dst))
        #expect(MemoryLayout<LineIO>.offset(of: \.sequence) == MemoryLayout<hwk_line_io>.offset(of: \.seq))
    }

    @Test func availablePathsMatchTheCPUReport() {
        let mask = hwk_supported_paths()
        #expect(AESEngine.availablePaths.first == .portable)
        #expect(AESEngine.availablePaths.contains(.aesni) == (mask & UInt32(HWK_PATH_AESNI) != 0))
        #expect(AESEngine.availablePaths.contains(.vaes) == (mask & UInt32(HWK_PATH_VAES) != 0))
        #expect(AESEngine.availablePaths.contains(AESEngine.defaultPath))
    }
}
