//===----------------------------------------------------------------------===//
//
// hwkeys: HWCrypto
//
//===----------------------------------------------------------------------===//

import CAESNI
import Crypto
import CryptoExtras

/// One line for the scatter/gather line engine: 64 bytes from `source` to `destination` under
/// sequence number `sequence`. Layout-compatible with CAESNI's `hwk_line_io`.
///
/// The field order and types must stay as they are: the engine reinterprets an array of `LineIO` as
/// an array of `hwk_line_io` (a test checks size, stride, alignment and offsets).
public struct LineIO {
    /// The 64 bytes to read.
    public var source: UnsafeRawPointer
    /// Where the 64 result bytes go; may equal `source`, must not otherwise overlap any line.
    public var destination: UnsafeMutableRawPointer
    /// The data-unit sequence number (docs/contract.md §2: the line's physical address >> 6).
    public var sequence: UInt64

    /// One line: 64 bytes from `source` to `destination` under sequence number `sequence`.
    ///
    /// - Parameters:
    ///   - source: the 64 bytes to read.
    ///   - destination: where the 64 result bytes go.
    ///   - sequence: the data-unit sequence number.
    public init(source: UnsafeRawPointer, destination: UnsafeMutableRawPointer, sequence: UInt64) {
        self.source = source
        self.destination = destination
        self.sequence = sequence
    }
}

/// An AES-XTS key pair (IEEE Std 1619-2018): data key K1 and tweak key K2, both 128 or 256 bits.
///
/// Three ways to use it:
/// - the **line engine**: many 64-byte data units, each with its own sequence number (the MKTME case:
///   docs/contract.md §2 "data unit = one 64-byte line, sequence number = PA >> 6");
/// - **data units** of any length ≥ 16 bytes with ciphertext stealing, each with a 16-byte tweak input
///   or consecutive sequence numbers (disk sectors);
/// - the scatter/gather line engine over ``LineIO`` (cache write-back and fill).
///
/// The tweak input for a sequence number is its little-endian 128-bit encoding (NIST XTSGen
/// `DataUnitSeqNumber`). Sources and destinations may be identical (in place) but must not otherwise overlap.
public final class XTSKey {
    /// The size of each of the two keys.
    public enum KeySize: Int, Sendable {
        case aes128 = 16
        case aes256 = 32
    }

    /// The size of each of K1 and K2.
    public let keySize: KeySize
    /// The implementation in use.
    public let path: AESPath

    private let native: UnsafeMutablePointer<hwk_xts_key>?
    private let portableData: SymmetricKey?
    private let portableTweak: SymmetricKey?

    /// Expands K1 (`dataKey`) and K2 (`tweakKey`), each 16 or 32 bytes and of equal length.
    ///
    /// - Parameters:
    ///   - dataKey: K1, which encrypts the data blocks.
    ///   - tweakKey: K2, which encrypts the tweak inputs.
    ///   - path: the implementation; it must be in ``AESEngine/availablePaths``.
    public init(
        dataKey: UnsafeRawBufferPointer,
        tweakKey: UnsafeRawBufferPointer,
        path: AESPath = AESEngine.defaultPath
    ) {
        (keySize, self.path, native, portableData, portableTweak) = Self.expand(dataKey, tweakKey, path: path)
    }

    /// Expands an XTS key given as K1 ‖ K2 (32 or 64 bytes), the IEEE 1619 "Key" layout.
    ///
    /// - Parameters:
    ///   - key: K1 ‖ K2: 32 bytes for XTS-AES-128, 64 bytes for XTS-AES-256.
    ///   - path: the implementation; it must be in ``AESEngine/availablePaths``.
    public init(combined key: SecretBytes, path: AESPath = AESEngine.defaultPath) {
        precondition(key.count == 32 || key.count == 64, "XTS keys are 32 or 64 bytes (K1 ‖ K2)")
        (keySize, self.path, native, portableData, portableTweak) = key.withUnsafeBytes { bytes in
            let half = bytes.count / 2
            return Self.expand(
                UnsafeRawBufferPointer(rebasing: bytes[0..<half]),
                UnsafeRawBufferPointer(rebasing: bytes[half...]),
                path: path
            )
        }
    }

    /// Expands K1 and K2 held as secrets.
    ///
    /// - Parameters:
    ///   - dataKey: K1, 16 or 32 bytes.
    ///   - tweakKey: K2, the same length as K1.
    ///   - path: the implementation; it must be in ``AESEngine/availablePaths``.
    public init(dataKey: SecretBytes, tweakKey: SecretBytes, path: AESPath = AESEngine.defaultPath) {
        (keySize, self.path, native, portableData, portableTweak) = dataKey.withUnsafeBytes { data in
            tweakKey.withUnsafeBytes { tweak in Self.expand(data, tweak, path: path) }
        }
    }

    private static func expand(
        _ dataKey: UnsafeRawBufferPointer,
        _ tweakKey: UnsafeRawBufferPointer,
        path: AESPath
    ) -> (KeySize, AESPath, UnsafeMutablePointer<hwk_xts_key>?, SymmetricKey?, SymmetricKey?) {
        precondition(dataKey.count == tweakKey.count, "XTS data and tweak keys have equal lengths")
        guard let size = KeySize(rawValue: dataKey.count) else { preconditionFailure("XTS keys are 16 or 32 bytes") }
        precondition(AESEngine.availablePaths.contains(path), "AES path \(path) is not available on this CPU")
        if path == .portable {
            return (size, path, nil, SymmetricKey(data: dataKey), SymmetricKey(data: tweakKey))
        }
        let schedule = UnsafeMutablePointer<hwk_xts_key>.allocate(capacity: 1)
        hwk_xts_expand(
            schedule,
            dataKey.baseAddress!.assumingMemoryBound(to: UInt8.self),
            tweakKey.baseAddress!.assumingMemoryBound(to: UInt8.self),
            dataKey.count
        )
        return (size, path, schedule, nil, nil)
    }

    deinit {
        if let native {
            hwk_secure_zero(native, MemoryLayout<hwk_xts_key>.size)
            native.deallocate()
        }
    }

    // MARK: Line engine

    /// Encrypts 64-byte lines, each a data unit with its own sequence number (the MKTME write-back).
    ///
    /// Line `l` is the 64 bytes at `source + 64·l`; its tweak input is `sequenceNumbers[l]` as a
    /// little-endian 128-bit integer. The native paths encrypt the tweaks of several lines together
    /// and interleave many lines per pass. `source` may equal `destination`.
    ///
    /// - Parameters:
    ///   - source: `64 · sequenceNumbers.count` bytes of plaintext.
    ///   - destination: room for as many bytes of ciphertext.
    ///   - sequenceNumbers: one sequence number per line (docs/contract.md §2: physical address >> 6).
    public func encryptLines(
        from source: UnsafeRawPointer,
        to destination: UnsafeMutableRawPointer,
        sequenceNumbers: UnsafeBufferPointer<UInt64>
    ) {
        lines(source, destination, sequenceNumbers, encrypt: true)
    }

    /// Decrypts 64-byte lines, each with its own sequence number (the MKTME fill); the inverse of
    /// ``encryptLines(from:to:sequenceNumbers:)``.
    ///
    /// - Parameters:
    ///   - source: `64 · sequenceNumbers.count` bytes of ciphertext.
    ///   - destination: room for as many bytes of plaintext; may equal `source`.
    ///   - sequenceNumbers: one sequence number per line.
    public func decryptLines(
        from source: UnsafeRawPointer,
        to destination: UnsafeMutableRawPointer,
        sequenceNumbers: UnsafeBufferPointer<UInt64>
    ) {
        lines(source, destination, sequenceNumbers, encrypt: false)
    }

    /// Encrypts `count` 64-byte lines with consecutive sequence numbers (a run of physical lines).
    ///
    /// Line `l` uses sequence number `firstSequence + l`, wrapping modulo 2^64.
    ///
    /// - Parameters:
    ///   - source: `64 · count` bytes of plaintext.
    ///   - destination: room for as many bytes of ciphertext; may equal `source`.
    ///   - firstSequence: the sequence number of the first line.
    ///   - count: the number of lines (≥ 0).
    public func encryptLines(
        from source: UnsafeRawPointer,
        to destination: UnsafeMutableRawPointer,
        firstSequence: UInt64,
        count: Int
    ) {
        linesSeq(source, destination, firstSequence, count, encrypt: true)
    }

    /// Decrypts `count` 64-byte lines with consecutive sequence numbers `firstSequence + l`.
    ///
    /// - Parameters:
    ///   - source: `64 · count` bytes of ciphertext.
    ///   - destination: room for as many bytes of plaintext; may equal `source`.
    ///   - firstSequence: the sequence number of the first line (wrapping modulo 2^64).
    ///   - count: the number of lines (≥ 0).
    public func decryptLines(
        from source: UnsafeRawPointer,
        to destination: UnsafeMutableRawPointer,
        firstSequence: UInt64,
        count: Int
    ) {
        linesSeq(source, destination, firstSequence, count, encrypt: false)
    }

    /// Encrypts each line of a scatter/gather list (cache write-back of lines scattered in memory).
    ///
    /// - Parameter lines: per line, its source, destination and sequence number.
    public func encryptLines(_ lines: UnsafeBufferPointer<LineIO>) { linesIOV(lines, encrypt: true) }

    /// Decrypts each line of a scatter/gather list (cache fill of lines scattered in memory).
    ///
    /// - Parameter lines: per line, its source, destination and sequence number.
    public func decryptLines(_ lines: UnsafeBufferPointer<LineIO>) { linesIOV(lines, encrypt: false) }

    // MARK: Data units

    /// Encrypts `source.count / unitLength` data units, each with its own 16-byte tweak input.
    ///
    /// Units whose length is not a multiple of 16 end with ciphertext stealing (IEEE 1619 §5.3.2).
    ///
    /// - Parameters:
    ///   - source: whole data units of plaintext.
    ///   - destination: at least `source.count` bytes; may be the same memory as `source`.
    ///   - unitLength: the data-unit length in bytes, at least 16.
    ///   - tweaks: `16 · units` bytes; unit `u` uses `tweaks[16u ..< 16u + 16]`.
    public func encrypt(
        units source: UnsafeRawBufferPointer,
        into destination: UnsafeMutableRawBufferPointer,
        unitLength: Int,
        tweaks: UnsafeRawBufferPointer
    ) {
        units(source, destination, unitLength, tweaks: tweaks, firstSequence: nil, encrypt: true)
    }

    /// Decrypts data units, each with its own 16-byte tweak input; the inverse of
    /// ``encrypt(units:into:unitLength:tweaks:)``.
    ///
    /// - Parameters:
    ///   - source: whole data units of ciphertext.
    ///   - destination: at least `source.count` bytes; may be the same memory as `source`.
    ///   - unitLength: the data-unit length in bytes, at least 16.
    ///   - tweaks: `16 · units` bytes; unit `u` uses `tweaks[16u ..< 16u + 16]`.
    public func decrypt(
        units source: UnsafeRawBufferPointer,
        into destination: UnsafeMutableRawBufferPointer,
        unitLength: Int,
        tweaks: UnsafeRawBufferPointer
    ) {
        units(source, destination, unitLength, tweaks: tweaks, firstSequence: nil, encrypt: false)
    }

    /// Encrypts data units with consecutive sequence numbers (disk sectors: dm-crypt's plain64).
    ///
    /// - Parameters:
    ///   - source: whole data units of plaintext.
    ///   - destination: at least `source.count` bytes; may be the same memory as `source`.
    ///   - unitLength: the data-unit length in bytes, at least 16.
    ///   - firstSequence: the sequence number of the first unit; unit `u` uses `firstSequence + u`
    ///     (wrapping modulo 2^64).
    public func encrypt(
        units source: UnsafeRawBufferPointer,
        into destination: UnsafeMutableRawBufferPointer,
        unitLength: Int,
        firstSequence: UInt64
    ) {
        units(source, destination, unitLength, tweaks: nil, firstSequence: firstSequence, encrypt: true)
    }

    /// Decrypts data units with consecutive sequence numbers `firstSequence + u`.
    ///
    /// - Parameters:
    ///   - source: whole data units of ciphertext.
    ///   - destination: at least `source.count` bytes; may be the same memory as `source`.
    ///   - unitLength: the data-unit length in bytes, at least 16.
    ///   - firstSequence: the sequence number of the first unit (wrapping modulo 2^64).
    public func decrypt(
        units source: UnsafeRawBufferPointer,
        into destination: UnsafeMutableRawBufferPointer,
        unitLength: Int,
        firstSequence: UInt64
    ) {
        units(source, destination, unitLength, tweaks: nil, firstSequence: firstSequence, encrypt: false)
    }

    // MARK: Dispatch

    private func lines(
        _ source: UnsafeRawPointer,
        _ destination: UnsafeMutableRawPointer,
        _ sequences: UnsafeBufferPointer<UInt64>,
        encrypt: Bool
    ) {
        guard !sequences.isEmpty else { return }
        if let native {
            let s = source.assumingMemoryBound(to: UInt8.self)
            let d = destination.assumingMemoryBound(to: UInt8.self)
            if encrypt {
                hwk_xts_encrypt_lines(path.cPath, native, s, d, sequences.baseAddress, sequences.count)
            } else {
                hwk_xts_decrypt_lines(path.cPath, native, s, d, sequences.baseAddress, sequences.count)
            }
        } else {
            for (index, sequence) in sequences.enumerated() {
                portableUnit(
                    source + 64 * index,
                    destination + 64 * index,
                    64,
                    tweak: .sequence(sequence),
                    encrypt: encrypt
                )
            }
        }
    }

    private func linesSeq(
        _ source: UnsafeRawPointer,
        _ destination: UnsafeMutableRawPointer,
        _ first: UInt64,
        _ count: Int,
        encrypt: Bool
    ) {
        precondition(count >= 0)
        guard count > 0 else { return }
        if let native {
            let s = source.assumingMemoryBound(to: UInt8.self)
            let d = destination.assumingMemoryBound(to: UInt8.self)
            if encrypt {
                hwk_xts_encrypt_lines_seq(path.cPath, native, s, d, first, count)
            } else {
                hwk_xts_decrypt_lines_seq(path.cPath, native, s, d, first, count)
            }
        } else {
            for index in 0..<count {
                portableUnit(
                    source + 64 * index,
                    destination + 64 * index,
                    64,
                    tweak: .sequence(first &+ UInt64(index)),
                    encrypt: encrypt
                )
            }
        }
    }

    private func linesIOV(_ lines: UnsafeBufferPointer<LineIO>, encrypt: Bool) {
        guard !lines.isEmpty else { return }
        if let native {
            lines.withMemoryRebound(to: hwk_line_io.self) { ios in
                if encrypt {
                    hwk_xts_encrypt_lines_iov(path.cPath, native, ios.baseAddress, ios.count)
                } else {
                    hwk_xts_decrypt_lines_iov(path.cPath, native, ios.baseAddress, ios.count)
                }
            }
        } else {
            for line in lines {
                portableUnit(line.source, line.destination, 64, tweak: .sequence(line.sequence), encrypt: encrypt)
            }
        }
    }

    private func units(
        _ source: UnsafeRawBufferPointer,
        _ destination: UnsafeMutableRawBufferPointer,
        _ unitLength: Int,
        tweaks: UnsafeRawBufferPointer?,
        firstSequence: UInt64?,
        encrypt: Bool
    ) {
        precondition(unitLength >= 16, "XTS data units are at least 16 bytes")
        precondition(source.count % unitLength == 0, "XTS input must be whole data units")
        precondition(destination.count >= source.count, "XTS output buffer too small")
        let count = source.count / unitLength
        guard count > 0 else { return }
        if let tweaks { precondition(tweaks.count >= 16 * count, "one 16-byte tweak per data unit") }
        if let native {
            let s = source.baseAddress!.assumingMemoryBound(to: UInt8.self)
            let d = destination.baseAddress!.assumingMemoryBound(to: UInt8.self)
            switch (tweaks, encrypt) {
            case (let tweaks?, true):
                hwk_xts_encrypt_units(
                    path.cPath,
                    native,
                    s,
                    d,
                    unitLength,
                    count,
                    tweaks.baseAddress!.assumingMemoryBound(to: UInt8.self)
                )
            case (let tweaks?, false):
                hwk_xts_decrypt_units(
                    path.cPath,
                    native,
                    s,
                    d,
                    unitLength,
                    count,
                    tweaks.baseAddress!.assumingMemoryBound(to: UInt8.self)
                )
            case (nil, true):
                hwk_xts_encrypt_units_seq(path.cPath, native, s, d, unitLength, count, firstSequence!)
            case (nil, false):
                hwk_xts_decrypt_units_seq(path.cPath, native, s, d, unitLength, count, firstSequence!)
            }
        } else {
            for unit in 0..<count {
                let tweak: PortableTweak
                if let tweaks {
                    tweak = .raw(UnsafeRawBufferPointer(rebasing: tweaks[16 * unit..<16 * unit + 16]))
                } else {
                    tweak = .sequence(firstSequence! &+ UInt64(unit))
                }
                portableUnit(
                    source.baseAddress! + unit * unitLength,
                    destination.baseAddress! + unit * unitLength,
                    unitLength,
                    tweak: tweak,
                    encrypt: encrypt
                )
            }
        }
    }

    // MARK: Portable XTS (IEEE Std 1619-2018 §5.3, with ciphertext stealing §5.3.2 / §5.4.2)

    private enum PortableTweak {
        case sequence(UInt64)
        case raw(UnsafeRawBufferPointer)
    }

    /// One data unit on the portable path. The tweaks T_j = E_K2(i)·α^j and the XORs come from
    /// CAESNI's portable helpers (plain C on every CPU); each block goes through swift-crypto once.
    /// Stack scratch only, wiped before returning.
    private func portableUnit(
        _ source: UnsafeRawPointer,
        _ destination: UnsafeMutableRawPointer,
        _ length: Int,
        tweak: PortableTweak,
        encrypt: Bool
    ) {
        let blocks = length / 16
        let tail = length % 16
        withUnsafeTemporaryAllocation(byteCount: 16 * (blocks + 2) + length, alignment: 16) { scratch in
            let first = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<16])
            let tweaks = UnsafeMutableRawBufferPointer(rebasing: scratch[16..<16 * (blocks + 2)])
            let work = UnsafeMutableRawBufferPointer(rebasing: scratch[(16 * (blocks + 2))...])
            let t = tweaks.baseAddress!.assumingMemoryBound(to: UInt8.self)
            let w = work.baseAddress!.assumingMemoryBound(to: UInt8.self)
            switch tweak {
            case .sequence(let value):
                first.storeBytes(of: value.littleEndian, toByteOffset: 0, as: UInt64.self)
                first.storeBytes(of: 0, toByteOffset: 8, as: UInt64.self)
            case .raw(let bytes):
                first.baseAddress!.copyMemory(from: bytes.baseAddress!, byteCount: 16)
            }
            PortableAES.permute(first, key: portableTweak!, inverse: false)
            // Block j of `tweaks` holds T_j = T_0·α^j.
            hwk_xts_tweak_sequence(first.baseAddress!.assumingMemoryBound(to: UInt8.self), t, blocks + 1)
            work.baseAddress!.copyMemory(from: source, byteCount: length)

            // With stealing, the last full block is handled together with the tail.
            let plain = tail == 0 ? blocks : blocks - 1
            hwk_xor_bytes(w, w, t, 16 * plain)
            PortableAES.permute(
                UnsafeMutableRawBufferPointer(rebasing: work[0..<16 * plain]),
                key: portableData!,
                inverse: !encrypt
            )
            hwk_xor_bytes(w, w, t, 16 * plain)
            if tail != 0 {
                // Encrypt: CC = XEX(P_{m-1}, T_{m-1}); C_m = CC[0..<b]; C_{m-1} = XEX(P_m ‖ CC[b...], T_m).
                // Decrypt: PP = XEX⁻¹(C_{m-1}, T_m); P_m = PP[0..<b]; P_{m-1} = XEX⁻¹(C_m ‖ PP[b...], T_{m-1}).
                let last = 16 * plain
                let previous = t + last
                let final = t + last + 16
                xex(w + last, tweak: encrypt ? previous : final, encrypt: encrypt)
                for i in 0..<tail {
                    let byte = w[last + i]
                    w[last + i] = w[last + 16 + i]
                    w[last + 16 + i] = byte
                }
                xex(w + last, tweak: encrypt ? final : previous, encrypt: encrypt)
            }
            destination.copyMemory(from: w, byteCount: length)
            hwk_secure_zero(scratch.baseAddress, scratch.count)
        }
    }

    private func xex(_ block: UnsafeMutablePointer<UInt8>, tweak: UnsafePointer<UInt8>, encrypt: Bool) {
        hwk_xor_bytes(block, block, tweak, 16)
        PortableAES.permute(
            UnsafeMutableRawBufferPointer(start: block, count: 16),
            key: portableData!,
            inverse: !encrypt
        )
        hwk_xor_bytes(block, block, tweak, 16)
    }
}
