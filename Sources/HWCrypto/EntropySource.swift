//===----------------------------------------------------------------------===//
//
// hwkeys: HWCrypto
//
//===----------------------------------------------------------------------===//

import Crypto

/// Where a machine's randomness comes from (docs/design.md rule 4: all randomness from one source).
///
/// Hardware random keys (PCONFIG SET_KEY_RANDOM, LOADIWKEY KeySource 1, the TME key), kernel random
/// numbers and key serials all draw from the machine's source, so a seeded machine reruns byte-identically.
public protocol EntropySource: AnyObject {
    /// Fills `buffer` with random bytes.
    func fill(_ buffer: UnsafeMutableRawBufferPointer)
}

extension EntropySource {
    /// `count` random bytes as a secret.
    public func secretBytes(count: Int) -> SecretBytes {
        let secret = SecretBytes(count: count)
        secret.withUnsafeMutableBytes { fill($0) }
        return secret
    }

    /// A random 64-bit value.
    public func nextUInt64() -> UInt64 {
        var value: UInt64 = 0
        withUnsafeMutableBytes(of: &value) { fill($0) }
        return value
    }

    /// A uniformly random value in `range` (rejection sampling, so no modulo bias).
    public func next(in range: ClosedRange<UInt64>) -> UInt64 {
        let span = range.upperBound &- range.lowerBound
        if span == .max { return nextUInt64() }
        let bound = span + 1
        let limit = UInt64.max - (UInt64.max % bound)
        while true {
            let value = nextUInt64()
            if value < limit { return range.lowerBound + value % bound }
        }
    }
}

/// The host's CSPRNG (`getrandom` via `SystemRandomNumberGenerator`).
public final class SystemEntropySource: EntropySource {
    /// A source over the host's CSPRNG.
    public init() {}

    /// Fills `buffer` from the host's CSPRNG.
    ///
    /// - Parameter buffer: the bytes to overwrite.
    public func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        var generator = SystemRandomNumberGenerator()
        var offset = 0
        while offset < buffer.count {
            var word = generator.next()
            let chunk = min(8, buffer.count - offset)
            withUnsafeBytes(of: &word) { bytes in
                for i in 0..<chunk { buffer[offset + i] = bytes[i] }
            }
            offset += chunk
        }
    }
}

/// A deterministic generator for reproducible machines: AES-128 in counter mode under
/// K = SHA-256("hwkeys.entropy.v1" ‖ seed as 8 little-endian bytes)[0..<16]; output block n is
/// AES_K(n as a little-endian 128-bit integer). Each `fill` consumes whole blocks, so the state is
/// just (seed, blocks consumed) and survives a save and reload exactly.
public final class SeededEntropySource: EntropySource {
    /// The seed given at creation.
    public let seed: UInt64
    /// How many 16-byte blocks have been produced so far.
    public private(set) var blocksConsumed: UInt64

    private let cipher: AESBlockCipher

    /// A generator for `seed`, positioned after `blocksConsumed` blocks.
    public init(seed: UInt64, blocksConsumed: UInt64 = 0) {
        self.seed = seed
        self.blocksConsumed = blocksConsumed
        var hasher = SHA256()
        hasher.update(data: Array("hwkeys.entropy.v1".utf8))
        withUnsafeBytes(of: seed.littleEndian) { hasher.update(bufferPointer: $0) }
        let digest = hasher.finalize()
        cipher = digest.withUnsafeBytes { AESBlockCipher(key: UnsafeRawBufferPointer(rebasing: $0[0..<16])) }
    }

    /// Fills `buffer` with the next bytes of the stream, consuming `ceil(buffer.count / 16)` whole
    /// blocks (the unused end of the last block is discarded).
    ///
    /// - Parameter buffer: the bytes to overwrite.
    public func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        guard !buffer.isEmpty else { return }
        let blocks = (buffer.count + 15) / 16
        withUnsafeTemporaryAllocation(byteCount: blocks * 16, alignment: 16) { scratch in
            scratch.initializeMemory(as: UInt8.self, repeating: 0)
            for index in 0..<blocks {
                withUnsafeBytes(of: (blocksConsumed &+ UInt64(index)).littleEndian) { counter in
                    UnsafeMutableRawBufferPointer(rebasing: scratch[16 * index..<16 * index + 8]).copyMemory(
                        from: counter
                    )
                }
            }
            cipher.encrypt(scratch)
            buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: scratch[0..<buffer.count]))
            for i in 0..<scratch.count { scratch[i] = 0 }
        }
        blocksConsumed &+= UInt64(blocks)
    }
}
