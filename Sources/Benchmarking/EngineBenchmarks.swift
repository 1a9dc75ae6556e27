//===----------------------------------------------------------------------===//
//
// hwkeys: Benchmarking
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase

/// One line of `hwkeys benchmark`: our throughput and, where it has one, OpenSSL's on the same work
/// measured in the same run.
public struct BenchmarkResult: Sendable, Equatable, Codable {
    /// What was measured, e.g. `xts128-line-encrypt`, `xts256-4k-decrypt`, `openssl-xts128-64b`.
    public var name: String
    /// Throughput in GB/s (10⁹ bytes per second).
    public var gbps: Double
    /// OpenSSL's throughput on the paired work, if libcrypto could be loaded.
    public var opensslGBps: Double?
    /// `gbps / opensslGBps` (above 1: faster than OpenSSL).
    public var ratio: Double?

    /// A result; `ratio` is derived from the two throughputs.
    ///
    /// - Parameters:
    ///   - name: what was measured.
    ///   - gbps: throughput in GB/s.
    ///   - opensslGBps: OpenSSL's throughput on the paired work, if measured.
    public init(name: String, gbps: Double, opensslGBps: Double? = nil) {
        self.name = name
        self.gbps = gbps
        self.opensslGBps = opensslGBps
        self.ratio = opensslGBps.flatMap { $0 > 0 ? gbps / $0 : nil }
    }
}

/// Measures the AES engine against OpenSSL for `hwkeys benchmark`, in wall time.
///
/// Results, each for encrypt and decrypt:
/// - `xts128-line-…`, `xts256-line-…`: the line engine (the MKTME case): 256 lines of 64 bytes per
///   call (16 KiB), each line its own data unit with its own sequence number (the array API);
///   paired with OpenSSL AES-XTS on 16 KiB data units, OpenSSL's best case.
/// - `xts128-4k-…`, `xts256-4k-…`: four 4 KiB data units per call with consecutive sequence numbers;
///   paired with OpenSSL on 4 KiB data units.
/// - `openssl-xts128-64b`, `openssl-xts256-64b` (encrypt): OpenSSL called once per 64-byte line
///   with its own tweak, what a naive per-line use of OpenSSL gets (no pairing).
///
/// Each pair is measured alternately in slices of about 50 ms (after a warm-up of both) until each
/// side has run `seconds`, so both see the same machine load; the whole run takes about
/// 18 × `seconds`. Without libcrypto the OpenSSL fields are nil and the `openssl-*` results are
/// left out.
///
/// - Parameters:
///   - seconds: measured time for each side of each pair.
///   - path: the AES path to measure (default: ``AESEngine/defaultPath``).
///   - openssl: the reference (default: libcrypto loaded now; nil: none).
/// - Returns: the results in the order listed above.
/// - Throws: EIO when an OpenSSL call fails during a measurement.
public func runCryptoBenchmarks(
    seconds: Double,
    path: AESPath = AESEngine.defaultPath,
    openssl: OpenSSLReference? = OpenSSLReference.load()
) throws(HWKeysError) -> [BenchmarkResult] {
    precondition(seconds > 0, "benchmark duration must be positive")
    var results: [BenchmarkResult] = []
    for (kind, unitLength, opensslBuffer) in [("line", 64, 16384), ("4k", 4096, 4096)] {
        for bits in [128, 256] {
            for encrypt in [true, false] {
                let engine = EngineWorkload(bits: bits, encrypt: encrypt, unitLength: unitLength, path: path)
                let reference = openssl?.session(keyBits: bits, encrypt: encrypt, bufferSize: opensslBuffer)
                let (ours, theirs) = try Alternation.measure(seconds: seconds, engine.run(for:), reference?.run(for:))
                let name = "xts\(bits)-\(kind)-\(encrypt ? "encrypt" : "decrypt")"
                results.append(BenchmarkResult(name: name, gbps: ours, opensslGBps: theirs))
            }
        }
    }
    if let openssl {
        for bits in [128, 256] {
            if let gbps = try openssl.measure(keyBits: bits, encrypt: true, bufferSize: 64, seconds: seconds) {
                results.append(BenchmarkResult(name: "openssl-xts\(bits)-64b", gbps: gbps))
            }
        }
    }
    return results
}

/// 16 KiB per call through XTSKey: 64-byte lines (array API) or 4 KiB units (sequence API).
private final class EngineWorkload {
    private let key: XTSKey
    private let encrypt: Bool
    private let unitLength: Int
    private let source: UnsafeMutableRawBufferPointer
    private let destination: UnsafeMutableRawBufferPointer
    private let sequences: UnsafeMutableBufferPointer<UInt64>
    private var nextSequence: UInt64 = 0

    init(bits: Int, encrypt: Bool, unitLength: Int, path: AESPath) {
        let bytes = 16 * 1024
        let keyBytes = (0..<(bits / 4)).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        key = XTSKey(combined: SecretBytes(keyBytes), path: path)
        self.encrypt = encrypt
        self.unitLength = unitLength
        source = .allocate(byteCount: bytes, alignment: 64)
        destination = .allocate(byteCount: bytes, alignment: 64)
        for index in 0..<bytes { source[index] = UInt8(truncatingIfNeeded: index &* 131) }
        // Scattered physical lines: distinct sequence numbers that are not consecutive.
        sequences = .allocate(capacity: bytes / 64)
        for line in sequences.indices { sequences[line] = UInt64(line) &* 0x9E37_79B9 &+ (1 << 33) }
    }

    deinit {
        source.deallocate()
        destination.deallocate()
        sequences.deallocate()
    }

    /// Runs calls for at least `duration`; returns the bytes processed and the time taken.
    func run(for duration: Duration) -> (bytes: Int, elapsed: Duration) {
        let clock = ContinuousClock()
        let start = clock.now
        var calls = 0
        var elapsed: Duration = .zero
        let seqs = UnsafeBufferPointer(sequences)
        repeat {
            for _ in 0..<16 {
                switch (unitLength, encrypt) {
                case (64, true):
                    key.encryptLines(from: source.baseAddress!, to: destination.baseAddress!, sequenceNumbers: seqs)
                case (64, false):
                    key.decryptLines(from: source.baseAddress!, to: destination.baseAddress!, sequenceNumbers: seqs)
                case (_, true):
                    key.encrypt(
                        units: UnsafeRawBufferPointer(source),
                        into: destination,
                        unitLength: unitLength,
                        firstSequence: nextSequence
                    )
                case (_, false):
                    key.decrypt(
                        units: UnsafeRawBufferPointer(source),
                        into: destination,
                        unitLength: unitLength,
                        firstSequence: nextSequence
                    )
                }
                nextSequence &+= UInt64(source.count / unitLength)
            }
            calls += 16
            elapsed = clock.now - start
        } while elapsed < duration
        return (calls * source.count, elapsed)
    }
}
