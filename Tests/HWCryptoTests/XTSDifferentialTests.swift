//===----------------------------------------------------------------------===//
//
// hwkeys: HWCryptoTests
//
//===----------------------------------------------------------------------===//

import CAESNI
import HWCrypto
import TestSupport
import Testing

/// The independent twin: expectations computed by pyca/cryptography (Scripts/gen_xts_vectors.py,
/// committed as Vectors/generated/xts.json), run on every path, out of place and in place.
@Suite("XTS and ECB against an independent implementation")
struct XTSDifferentialTests {
    struct Document: Decodable {
        var lines: [LineCase]
        var units: [UnitCase]
        var ecb: [ECBCase]
        var tweakSequences: [TweakSequenceCase]
    }

    struct LineCase: Decodable {
        var form: String
        var keySize: Int
        var key1: HexField
        var key2: HexField
        var firstSequence: DecimalUInt64?
        var sequences: [DecimalUInt64]
        var plaintext: HexField
        var ciphertext: HexField
    }

    struct UnitCase: Decodable {
        var form: String
        var keySize: Int
        var key1: HexField
        var key2: HexField
        var unitLength: Int
        var count: Int
        var tweaks: [HexField]?
        var firstSequence: DecimalUInt64?
        var plaintext: HexField
        var ciphertext: HexField
    }

    struct ECBCase: Decodable {
        var key: HexField
        var plaintext: HexField
        var ciphertext: HexField
    }

    struct TweakSequenceCase: Decodable {
        var t0: HexField
        var count: Int
        var sequence: HexField
    }

    static let document: Document = {
        do {
            return try VectorFiles.json(Document.self, at: "generated/xts.json")
        } catch {
            fatalError("generated/xts.json: \(error)")
        }
    }()

    @Test func documentCoversTheIntendedCases() {
        let document = Self.document
        #expect(Set(document.lines.map(\.form)) == ["array", "consecutive", "iov"])
        #expect(Set(document.units.map(\.form)) == ["tweaks", "sequence"])
        let sequences = document.lines.flatMap(\.sequences).map(\.value)
        #expect(sequences.contains { $0 >= 1 << 32 })
        #expect(sequences.contains { $0 >= UInt64.max - 4096 })
        #expect(document.lines.contains { $0.sequences.count >= 100 })
        #expect(document.units.contains { $0.unitLength % 16 != 0 && $0.unitLength > 512 })
    }

    @Test(arguments: AESEngine.availablePaths)
    func lineEngineMatches(path: AESPath) throws {
        for (index, line) in Self.document.lines.enumerated() {
            let xts = XTSKey(dataKey: line.key1.bytes, tweakKey: line.key2.bytes, path: path)
            let sequences = line.sequences.map(\.value)
            let plaintext = line.plaintext.bytes
            let ciphertext = line.ciphertext.bytes
            let label = "line case \(index): \(line.form), \(sequences.count) lines, AES-\(8 * line.keySize)"
            for inPlace in [false, true] {
                switch line.form {
                case "array":
                    #expect(
                        xts.lines(plaintext, sequences: sequences, encrypt: true, inPlace: inPlace) == ciphertext,
                        "\(label)"
                    )
                    #expect(
                        xts.lines(ciphertext, sequences: sequences, encrypt: false, inPlace: inPlace) == plaintext,
                        "\(label)"
                    )
                    // The same lines as 64-byte data units with explicit tweak inputs.
                    let tweaks = Array(sequences.map(tweakInput(sequence:)).joined())
                    #expect(
                        xts.units(plaintext, unitLength: 64, tweaks: tweaks, encrypt: true, inPlace: inPlace)
                            == ciphertext,
                        "\(label)"
                    )
                    #expect(
                        xts.units(ciphertext, unitLength: 64, tweaks: tweaks, encrypt: false, inPlace: inPlace)
                            == plaintext,
                        "\(label)"
                    )
                case "consecutive":
                    let first = try #require(line.firstSequence?.value)
                    #expect(
                        xts.lines(plaintext, firstSequence: first, encrypt: true, inPlace: inPlace) == ciphertext,
                        "\(label)"
                    )
                    #expect(
                        xts.lines(ciphertext, firstSequence: first, encrypt: false, inPlace: inPlace) == plaintext,
                        "\(label)"
                    )
                    #expect(
                        xts.units(plaintext, unitLength: 64, firstSequence: first, encrypt: true, inPlace: inPlace)
                            == ciphertext,
                        "\(label)"
                    )
                    #expect(
                        xts.units(ciphertext, unitLength: 64, firstSequence: first, encrypt: false, inPlace: inPlace)
                            == plaintext,
                        "\(label)"
                    )
                case "iov":
                    #expect(
                        xts.linesIOV(plaintext, sequences: sequences, encrypt: true, inPlace: inPlace) == ciphertext,
                        "\(label)"
                    )
                    #expect(
                        xts.linesIOV(ciphertext, sequences: sequences, encrypt: false, inPlace: inPlace) == plaintext,
                        "\(label)"
                    )
                default:
                    Issue.record("unknown form \(line.form)")
                }
            }
        }
    }

    @Test(arguments: AESEngine.availablePaths)
    func dataUnitsWithCiphertextStealingMatch(path: AESPath) throws {
        for (index, unit) in Self.document.units.enumerated() {
            let xts = XTSKey(dataKey: unit.key1.bytes, tweakKey: unit.key2.bytes, path: path)
            let plaintext = unit.plaintext.bytes
            let ciphertext = unit.ciphertext.bytes
            let label =
                "unit case \(index): \(unit.form), \(unit.count) × \(unit.unitLength) bytes, AES-\(8 * unit.keySize)"
            try #require(plaintext.count == unit.count * unit.unitLength)
            for inPlace in [false, true] {
                if let tweaks = unit.tweaks {
                    let joined = Array(tweaks.map(\.bytes).joined())
                    #expect(
                        xts.units(
                            plaintext,
                            unitLength: unit.unitLength,
                            tweaks: joined,
                            encrypt: true,
                            inPlace: inPlace
                        ) == ciphertext,
                        "\(label)"
                    )
                    #expect(
                        xts.units(
                            ciphertext,
                            unitLength: unit.unitLength,
                            tweaks: joined,
                            encrypt: false,
                            inPlace: inPlace
                        ) == plaintext,
                        "\(label)"
                    )
                } else {
                    let first = try #require(unit.firstSequence?.value)
                    #expect(
                        xts.units(
                            plaintext,
                            unitLength: unit.unitLength,
                            firstSequence: first,
                            encrypt: true,
                            inPlace: inPlace
                        ) == ciphertext,
                        "\(label)"
                    )
                    #expect(
                        xts.units(
                            ciphertext,
                            unitLength: unit.unitLength,
                            firstSequence: first,
                            encrypt: false,
                            inPlace: inPlace
                        ) == plaintext,
                        "\(label)"
                    )
                }
            }
        }
    }

    @Test(arguments: AESEngine.availablePaths)
    func ecbMatches(path: AESPath) {
        for (index, ecb) in Self.document.ecb.enumerated() {
            let cipher = AESBlockCipher(key: ecb.key.bytes, path: path)
            #expect(cipher.keyLength == ecb.key.bytes.count)
            #expect(cipher.encrypted(ecb.plaintext.bytes) == ecb.ciphertext.bytes, "ECB case \(index)")
            #expect(cipher.decrypted(ecb.ciphertext.bytes) == ecb.plaintext.bytes, "ECB case \(index)")
        }
    }

    @Test func tweakSequenceHelperMatches() {
        for case let (index, twin) in Self.document.tweakSequences.enumerated() {
            var out = [UInt8](repeating: 0, count: 16 * twin.count)
            twin.t0.bytes.withUnsafeBufferPointer { t0 in
                out.withUnsafeMutableBufferPointer {
                    hwk_xts_tweak_sequence(t0.baseAddress!, $0.baseAddress!, twin.count)
                }
            }
            #expect(out == twin.sequence.bytes, "tweak sequence case \(index)")
        }
    }

    @Test func xorHelperMatchesBytewiseXor() {
        var random = SplitMix64(seed: 7)
        for length in [0, 1, 15, 16, 17, 63, 64, 65, 200, 1000] {
            let a = random.bytes(length)
            let b = random.bytes(length)
            var out = [UInt8](repeating: 0, count: length)
            out.withUnsafeMutableBufferPointer { o in
                a.withUnsafeBufferPointer { x in
                    b.withUnsafeBufferPointer { y in hwk_xor_bytes(o.baseAddress, x.baseAddress, y.baseAddress, length)
                    }
                }
            }
            #expect(out == zip(a, b).map { $0 ^ $1 }, "length \(length)")
        }
    }
}
