//===----------------------------------------------------------------------===//
//
// hwkeys: HWCryptoTests
//
//===----------------------------------------------------------------------===//

import HWCrypto

/// Array-level wrappers around XTSKey's pointer API, so tests read as data in, data out.
extension XTSKey {
    convenience init(dataKey: [UInt8], tweakKey: [UInt8], path: AESPath) {
        self.init(
            dataKey: dataKey.withUnsafeBytes { SecretBytes(copying: $0) },
            tweakKey: tweakKey.withUnsafeBytes { SecretBytes(copying: $0) },
            path: path
        )
    }

    /// Line engine, array form; `inPlace` runs with source == destination.
    func lines(_ input: [UInt8], sequences: [UInt64], encrypt: Bool, inPlace: Bool) -> [UInt8] {
        var output = inPlace ? input : [UInt8](repeating: 0, count: input.count)
        sequences.withUnsafeBufferPointer { seqs in
            output.withUnsafeMutableBytes { out in
                if inPlace {
                    if encrypt {
                        encryptLines(from: out.baseAddress!, to: out.baseAddress!, sequenceNumbers: seqs)
                    } else {
                        decryptLines(from: out.baseAddress!, to: out.baseAddress!, sequenceNumbers: seqs)
                    }
                } else {
                    input.withUnsafeBytes { src in
                        if encrypt {
                            encryptLines(from: src.baseAddress!, to: out.baseAddress!, sequenceNumbers: seqs)
                        } else {
                            decryptLines(from: src.baseAddress!, to: out.baseAddress!, sequenceNumbers: seqs)
                        }
                    }
                }
            }
        }
        return output
    }

    /// Line engine, consecutive form.
    func lines(_ input: [UInt8], firstSequence: UInt64, encrypt: Bool, inPlace: Bool) -> [UInt8] {
        var output = inPlace ? input : [UInt8](repeating: 0, count: input.count)
        let count = input.count / 64
        output.withUnsafeMutableBytes { out in
            input.withUnsafeBytes { src in
                let source = inPlace ? UnsafeRawPointer(out.baseAddress!) : src.baseAddress!
                if encrypt {
                    encryptLines(from: source, to: out.baseAddress!, firstSequence: firstSequence, count: count)
                } else {
                    decryptLines(from: source, to: out.baseAddress!, firstSequence: firstSequence, count: count)
                }
            }
        }
        return output
    }

    /// Line engine, scatter/gather form: the list names the lines in reverse order; out of place the
    /// destination is a separate buffer, in place each line is its own destination.
    func linesIOV(_ input: [UInt8], sequences: [UInt64], encrypt: Bool, inPlace: Bool) -> [UInt8] {
        var output = inPlace ? input : [UInt8](repeating: 0, count: input.count)
        input.withUnsafeBytes { src in
            output.withUnsafeMutableBytes { out in
                let ios = (0..<sequences.count).reversed().map { line in
                    LineIO(
                        source: inPlace ? UnsafeRawPointer(out.baseAddress! + 64 * line) : src.baseAddress! + 64 * line,
                        destination: out.baseAddress! + 64 * line,
                        sequence: sequences[line]
                    )
                }
                ios.withUnsafeBufferPointer { encrypt ? encryptLines($0) : decryptLines($0) }
            }
        }
        return output
    }

    /// Data units with one 16-byte tweak input each (concatenated in `tweaks`).
    func units(_ input: [UInt8], unitLength: Int, tweaks: [UInt8], encrypt: Bool, inPlace: Bool) -> [UInt8] {
        var output = inPlace ? input : [UInt8](repeating: 0, count: input.count)
        tweaks.withUnsafeBytes { t in
            output.withUnsafeMutableBytes { out in
                input.withUnsafeBytes { src in
                    let source = inPlace ? UnsafeRawBufferPointer(out) : src
                    if encrypt {
                        self.encrypt(units: source, into: out, unitLength: unitLength, tweaks: t)
                    } else {
                        decrypt(units: source, into: out, unitLength: unitLength, tweaks: t)
                    }
                }
            }
        }
        return output
    }

    /// Data units with consecutive sequence numbers.
    func units(_ input: [UInt8], unitLength: Int, firstSequence: UInt64, encrypt: Bool, inPlace: Bool) -> [UInt8] {
        var output = inPlace ? input : [UInt8](repeating: 0, count: input.count)
        output.withUnsafeMutableBytes { out in
            input.withUnsafeBytes { src in
                let source = inPlace ? UnsafeRawBufferPointer(out) : src
                if encrypt {
                    self.encrypt(units: source, into: out, unitLength: unitLength, firstSequence: firstSequence)
                } else {
                    decrypt(units: source, into: out, unitLength: unitLength, firstSequence: firstSequence)
                }
            }
        }
        return output
    }
}

extension AESBlockCipher {
    convenience init(key: [UInt8], path: AESPath) {
        self.init(key: key.withUnsafeBytes { SecretBytes(copying: $0) }, path: path)
    }

    func encrypted(_ blocks: [UInt8]) -> [UInt8] {
        var out = blocks
        out.withUnsafeMutableBytes { encrypt($0) }
        return out
    }

    func decrypted(_ blocks: [UInt8]) -> [UInt8] {
        var out = blocks
        out.withUnsafeMutableBytes { decrypt($0) }
        return out
    }
}

/// The 16-byte tweak input of a data-unit sequence number: little-endian 128-bit (NIST XTSGen).
func tweakInput(sequence: UInt64) -> [UInt8] {
    withUnsafeBytes(of: sequence.littleEndian) { Array($0) } + [UInt8](repeating: 0, count: 8)
}
