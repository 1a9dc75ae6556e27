//===----------------------------------------------------------------------===//
//
// hwkeys: HWCryptoTests
//
//===----------------------------------------------------------------------===//

import HWCrypto
import Testing

/// NIST CAVP XTSGen known answers (Vectors/nist-xts, provenance in its SOURCE.md) on every path.
@Suite("NIST XTSGen known answers")
struct NISTXTSTests {
    /// The four vector files: two key sizes, two ways of giving the tweak.
    enum VectorFile: String, CaseIterable, CustomTestStringConvertible {
        case aes128SequenceNumber = "nist-xts/dataunitseqno/XTSGenAES128.rsp"
        case aes256SequenceNumber = "nist-xts/dataunitseqno/XTSGenAES256.rsp"
        case aes128Tweak = "nist-xts/tweak-128hexstr/XTSGenAES128.rsp"
        case aes256Tweak = "nist-xts/tweak-128hexstr/XTSGenAES256.rsp"

        /// Vectors whose data unit is whole bytes (the others are skipped), counted from the files.
        var wholeByteVectors: Int {
            switch self {
            case .aes128SequenceNumber, .aes128Tweak: 800
            case .aes256SequenceNumber, .aes256Tweak: 600
            }
        }

        var testDescription: String { rawValue }
    }

    /// Each vector runs as a single data unit (encrypt PT, decrypt CT, out of place and in place),
    /// through the API that matches its tweak form (sequence numbers or raw tweak inputs), and
    /// again as one call over enough copies of the unit (each with the same tweak input) to pass
    /// the 512-byte threshold at which the VAES path switches from the AES-NI kernels to its own.
    @Test(arguments: AESEngine.availablePaths, VectorFile.allCases)
    func everyWholeByteVectorEncryptsAndDecrypts(path: AESPath, file: VectorFile) throws {
        let records = try VectorFiles.records(at: file.rawValue)
        var run = 0
        for record in records {
            let bits = try #require(record["DataUnitLen"].flatMap { Int($0) }, "\(record)")
            guard bits % 8 == 0 else { continue }
            let key = try record.bytes("Key")
            let plaintext = try record.bytes("PT")
            let ciphertext = try record.bytes("CT")
            try #require(plaintext.count == bits / 8 && ciphertext.count == bits / 8, "\(record)")
            let half = key.count / 2
            let xts = XTSKey(dataKey: Array(key[..<half]), tweakKey: Array(key[half...]), path: path)
            let length = plaintext.count

            let tweak: [UInt8]
            if let sequenceText = record["DataUnitSeqNumber"] {
                let sequence = try #require(UInt64(sequenceText), "\(record)")
                tweak = tweakInput(sequence: sequence)
                for inPlace in [false, true] {
                    #expect(
                        xts.units(
                            plaintext,
                            unitLength: length,
                            firstSequence: sequence,
                            encrypt: true,
                            inPlace: inPlace
                        )
                            == ciphertext,
                        "\(record) encrypt"
                    )
                    #expect(
                        xts.units(
                            ciphertext,
                            unitLength: length,
                            firstSequence: sequence,
                            encrypt: false,
                            inPlace: inPlace
                        )
                            == plaintext,
                        "\(record) decrypt"
                    )
                }
            } else {
                tweak = try record.bytes("i")
                for inPlace in [false, true] {
                    #expect(
                        xts.units(plaintext, unitLength: length, tweaks: tweak, encrypt: true, inPlace: inPlace)
                            == ciphertext,
                        "\(record) encrypt"
                    )
                    #expect(
                        xts.units(ciphertext, unitLength: length, tweaks: tweak, encrypt: false, inPlace: inPlace)
                            == plaintext,
                        "\(record) decrypt"
                    )
                }
            }

            let copies = (600 + length - 1) / length
            let tweaks = Array([[UInt8]](repeating: tweak, count: copies).joined())
            let plainCopies = Array([[UInt8]](repeating: plaintext, count: copies).joined())
            let cipherCopies = Array([[UInt8]](repeating: ciphertext, count: copies).joined())
            #expect(
                xts.units(plainCopies, unitLength: length, tweaks: tweaks, encrypt: true, inPlace: false)
                    == cipherCopies,
                "\(record) encrypt, \(copies) units per call"
            )
            #expect(
                xts.units(cipherCopies, unitLength: length, tweaks: tweaks, encrypt: false, inPlace: true)
                    == plainCopies,
                "\(record) decrypt, \(copies) units per call"
            )
            run += 1
        }
        #expect(run == file.wholeByteVectors)
    }
}
