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
public struct LineIO {
    public var source: UnsafeRawPointer
    public var destination: UnsafeMutableRawPointer
    public var sequence: UInt64

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
///   spec.md §2 "data unit = one 64-byte line, sequence number = PA >> 6");
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
    public init(
        dataKey: UnsafeRawBufferPointer,
        tweakKey: UnsafeRawBufferPointer,
        path: AESPath = AESEngine.defaultPath
    ) {
        precondition(dataKey.count == tweakKey.count, "XTS data and tweak keys have equal lengths")
        guard let size = KeySize(rawValue: dataKey.count) else { preconditionFailure("XTS keys are 16 or 32 bytes") }
        precondition(AESEngine.availablePaths.contains(path), "AES path \(path) is not available on this CPU")
        self.keySize = size
        self.path = path
        if path == .portable {
            native = nil
            portableData = SymmetricKey(data: dataKey)
            portableTweak = SymmetricKey(data: tweakKey)
        } else {
            let schedule = UnsafeMutablePointer<hwk_xts_key>.allocate(capacity: 1)
            hwk_xts_expand(
                schedule,
                dataKey.baseAddress!.assumingMemoryBound(to: UInt8.self),
                tweakKey.baseAddress!.assumingMemoryBound(to: UInt8.self),
                dataKey.count
            )
            native = schedule
            portableData = nil
            portableTweak = nil
        }
    }

    /// Expands an XTS key given as K1 ‖ K2 (32 or 64 bytes).
    public convenience init(combined key: SecretBytes, path: AESPath = AESEngine.defaultPath) {
        precondition(key.count == 32 || key.count == 64, "XTS keys are 32 or 64 bytes (K1 ‖ K2)")
        let half = key.count / 2
        self.init(
            dataKey: key.withUnsafeBytes { UnsafeRawBufferPointer(rebasing: $0[0..<half]) },
            tweakKey: key.withUnsafeBytes { UnsafeRawBufferPointer(rebasing: $0[half..<key.count]) },
            path: path
        )
    }

    /// Expands K1 and K2 held as secrets.
    public convenience init(dataKey: SecretBytes, tweakKey: SecretBytes, path: AESPath = AESEngine.defaultPath) {
        self.init(dataKey: dataKey.withUnsafeBytes { $0 }, tweakKey: tweakKey.withUnsafeBytes { $0 }, path: path)
    }

    deinit {
        if let native {
            hwk_secure_zero(native, MemoryLayout<hwk_xts_key>.size)
            native.deallocate()
        }
    }

    // MARK: Line engine

    /// Encrypts `count` 64-byte lines; line `l` uses `sequenceNumbers[l]`.
    public func encryptLines(
        from source: UnsafeRawPointer,
        to destination: UnsafeMutableRawPointer,
        sequenceNumbers: UnsafeBufferPointer<UInt64>
    ) {
        lines(source, destination, sequenceNumbers, encrypt: true)
    }

    /// Decrypts `count` 64-byte lines; line `l` uses `sequenceNumbers[l]`.
    public func decryptLines(
        from source: UnsafeRawPointer,
        to destination: UnsafeMutableRawPointer,
        sequenceNumbers: UnsafeBufferPointer<UInt64>
    ) {
        lines(source, destination, sequenceNumbers, encrypt: false)
    }

    /// Encrypts `count` consecutive 64-byte lines with sequence numbers `firstSequence + l`.
    public func encryptLines(
        from source: UnsafeRawPointer,
        to destination: UnsafeMutableRawPointer,
        firstSequence: UInt64,
        count: Int
    ) {
        linesSeq(source, destination, firstSequence, count, encrypt: true)
    }

    /// Decrypts `count` consecutive 64-byte lines with sequence numbers `firstSequence + l`.
    public func decryptLines(
        from source: UnsafeRawPointer,
        to destination: UnsafeMutableRawPointer,
        firstSequence: UInt64,
        count: Int
    ) {
        linesSeq(source, destination, firstSequence, count, encrypt: false)
    }

    /// Encrypts each line of a scatter/gather list.
    public func encryptLines(_ lines: UnsafeBufferPointer<LineIO>) { linesIOV(lines, encrypt: true) }

    /// Decrypts each line of a scatter/gather list.
    public func decryptLines(_ lines: UnsafeBufferPointer<LineIO>) { linesIOV(lines, encrypt: false) }

    // MARK: Data units

    /// Encrypts `source.count / unitLength` data units; unit `u` uses the 16-byte tweak input
    /// `tweaks[16u ..< 16u+16]`. `unitLength` ≥ 16; `source.count` is a multiple of it.
    public func encrypt(
        units source: UnsafeRawBufferPointer,
        into destination: UnsafeMutableRawBufferPointer,
        unitLength: Int,
        tweaks: UnsafeRawBufferPointer
    ) {
        units(source, destination, unitLength, tweaks: tweaks, firstSequence: nil, encrypt: true)
    }

    /// Decrypts data units; see ``encrypt(units:into:unitLength:tweaks:)``.
    public func decrypt(
        units source: UnsafeRawBufferPointer,
        into destination: UnsafeMutableRawBufferPointer,
        unitLength: Int,
        tweaks: UnsafeRawBufferPointer
    ) {
        units(source, destination, unitLength, tweaks: tweaks, firstSequence: nil, encrypt: false)
    }

    /// Encrypts consecutive data units with sequence numbers `firstSequence + u` (disk sectors, plain64).
    public func encrypt(
        units source: UnsafeRawBufferPointer,
        into destination: UnsafeMutableRawBufferPointer,
        unitLength: Int,
        firstSequence: UInt64
    ) {
        units(source, destination, unitLength, tweaks: nil, firstSequence: firstSequence, encrypt: true)
    }

    /// Decrypts consecutive data units with sequence numbers `firstSequence + u`.
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

    private func portableUnit(
        _ source: UnsafeRawPointer,
        _ destination: UnsafeMutableRawPointer,
        _ length: Int,
        tweak: PortableTweak,
        encrypt: Bool
    ) {
        withUnsafeTemporaryAllocation(byteCount: 48 + length, alignment: 16) { scratch in
            let t = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<16])
            let block = UnsafeMutableRawBufferPointer(rebasing: scratch[16..<32])
            let spare = UnsafeMutableRawBufferPointer(rebasing: scratch[32..<48])
            let work = UnsafeMutableRawBufferPointer(rebasing: scratch[48..<48 + length])
            work.copyMemory(from: UnsafeRawBufferPointer(start: source, count: length))
            switch tweak {
            case .sequence(let value):
                t.initializeMemory(as: UInt8.self, repeating: 0)
                withUnsafeBytes(of: value.littleEndian) { t.copyMemory(from: $0) }
            case .raw(let bytes):
                t.copyMemory(from: bytes)
            }
            PortableAES.permute(t, key: portableTweak!, inverse: false)

            let fullBlocks = length / 16
            let tail = length % 16
            // With stealing, the last full block is handled together with the tail.
            let plainBlocks = tail == 0 ? fullBlocks : fullBlocks - 1
            for index in 0..<plainBlocks {
                let chunk = UnsafeMutableRawBufferPointer(rebasing: work[16 * index..<16 * index + 16])
                xex(chunk, tweak: t, encrypt: encrypt)
                Self.multiplyByAlpha(t)
            }
            if tail != 0 {
                let last = 16 * plainBlocks
                let penultimate = UnsafeMutableRawBufferPointer(rebasing: work[last..<last + 16])
                let partial = UnsafeMutableRawBufferPointer(rebasing: work[last + 16..<last + 16 + tail])
                if encrypt {
                    // CC = E(P_{m-1}, T_{m-1}); C_m = CC[0..<b]; C_{m-1} = E(P_m ‖ CC[b...], T_m)
                    block.copyMemory(from: UnsafeRawBufferPointer(penultimate))
                    xex(block, tweak: t, encrypt: true)
                    Self.multiplyByAlpha(t)
                    spare.copyMemory(from: UnsafeRawBufferPointer(block))
                    for i in 0..<tail { spare[i] = partial[i] }
                    for i in 0..<tail { partial[i] = block[i] }
                    xex(spare, tweak: t, encrypt: true)
                    penultimate.copyMemory(from: UnsafeRawBufferPointer(spare))
                } else {
                    // PP = D(C_{m-1}, T_m); P_m = PP[0..<b]; P_{m-1} = D(C_m ‖ PP[b...], T_{m-1})
                    let previous = UnsafeMutableRawBufferPointer(rebasing: spare[0..<16])
                    previous.copyMemory(from: UnsafeRawBufferPointer(t))
                    Self.multiplyByAlpha(t)
                    block.copyMemory(from: UnsafeRawBufferPointer(penultimate))
                    xex(block, tweak: t, encrypt: false)
                    for i in 0..<tail {
                        let plain = block[i]
                        block[i] = partial[i]
                        partial[i] = plain
                    }
                    xex(block, tweak: previous, encrypt: false)
                    penultimate.copyMemory(from: UnsafeRawBufferPointer(block))
                }
            }
            UnsafeMutableRawBufferPointer(start: destination, count: length).copyMemory(
                from: UnsafeRawBufferPointer(work)
            )
            hwk_secure_zero(scratch.baseAddress, scratch.count)
        }
    }

    private func xex(_ block: UnsafeMutableRawBufferPointer, tweak: UnsafeMutableRawBufferPointer, encrypt: Bool) {
        for i in 0..<16 { block[i] ^= tweak[i] }
        PortableAES.permute(block, key: portableData!, inverse: !encrypt)
        for i in 0..<16 { block[i] ^= tweak[i] }
    }

    /// T ← T·α in GF(2^128), little-endian byte order (IEEE 1619 §5.2).
    static func multiplyByAlpha(_ t: UnsafeMutableRawBufferPointer) {
        var carry: UInt8 = 0
        for i in 0..<16 {
            let next = t[i] >> 7
            t[i] = (t[i] << 1) | carry
            carry = next
        }
        if carry != 0 { t[0] ^= 0x87 }
    }
}
