//===----------------------------------------------------------------------===//
//
// hwkeys: HWCrypto benchmarks (package-benchmark).
//
// Every benchmark moves 16 KiB per iteration, so throughput (iterations/s) × 16 KiB = bytes/s.
// The AES path is AESEngine.defaultPath: the fastest on this CPU, or the one named by HWKEYS_AES
// (portable, aesni, vaes). The hot path never allocates: every benchmark reports the allocation
// count of "Baseline: empty loop", which is the harness's own.
//
//===----------------------------------------------------------------------===//

import Benchmark
import HWCrypto

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.throughput, .wallClock, .instructions, .mallocCountTotal],
        timeUnits: .microseconds,
        warmupIterations: 20,
        maxDuration: .seconds(2),
        maxIterations: 1_000_000
    )

    let bytesPerIteration = 16 * 1024
    let path = AESEngine.defaultPath

    /// Fixed inputs; what matters is their size, not their value.
    func pattern(_ count: Int, _ salt: UInt8) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 167 &+ Int(salt)) }
    }

    func xtsKey(bits: Int) -> XTSKey {
        XTSKey(
            dataKey: SecretBytes(pattern(bits / 8, 1)),
            tweakKey: SecretBytes(pattern(bits / 8, 2)),
            path: path
        )
    }

    // The harness's own allocations per sample: every benchmark below should report the same count.
    Benchmark("Baseline: empty loop") { benchmark in
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(1) }
    }

    for bits in [128, 256] {
        for encrypt in [true, false] {
            let direction = encrypt ? "encrypt" : "decrypt"

            // The MKTME hot loop: 256 lines of 64 bytes, each with its own sequence number.
            Benchmark("XTS-\(bits) line engine \(direction), 256 lines (\(path.rawValue))") { benchmark in
                let key = xtsKey(bits: bits)
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytesPerIteration, alignment: 64)
                buffer.copyBytes(from: pattern(bytesPerIteration, 3))
                let sequences = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: bytesPerIteration / 64)
                for line in sequences.indices { sequences[line] = UInt64(line) &* 0x9E37_79B9 &+ (1 << 33) }
                benchmark.startMeasurement()
                for _ in benchmark.scaledIterations {
                    if encrypt {
                        key.encryptLines(
                            from: buffer.baseAddress!,
                            to: buffer.baseAddress!,
                            sequenceNumbers: UnsafeBufferPointer(sequences)
                        )
                    } else {
                        key.decryptLines(
                            from: buffer.baseAddress!,
                            to: buffer.baseAddress!,
                            sequenceNumbers: UnsafeBufferPointer(sequences)
                        )
                    }
                    blackHole(buffer[0])
                }
                benchmark.stopMeasurement()
                buffer.deallocate()
                sequences.deallocate()
            }

            // Disk-style XTS: four 4 KiB data units with consecutive sequence numbers.
            Benchmark("XTS-\(bits) 4 KiB units \(direction), 4 units (\(path.rawValue))") { benchmark in
                let key = xtsKey(bits: bits)
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytesPerIteration, alignment: 64)
                buffer.copyBytes(from: pattern(bytesPerIteration, 4))
                var sector: UInt64 = 0
                benchmark.startMeasurement()
                for _ in benchmark.scaledIterations {
                    if encrypt {
                        key.encrypt(
                            units: UnsafeRawBufferPointer(buffer),
                            into: buffer,
                            unitLength: 4096,
                            firstSequence: sector
                        )
                    } else {
                        key.decrypt(
                            units: UnsafeRawBufferPointer(buffer),
                            into: buffer,
                            unitLength: 4096,
                            firstSequence: sector
                        )
                    }
                    sector &+= 4
                    blackHole(buffer[0])
                }
                benchmark.stopMeasurement()
                buffer.deallocate()
            }

            // ECB: 1024 blocks through AESBlockCipher (the Key Locker primitive).
            Benchmark("AES-\(bits) ECB \(direction), 1024 blocks (\(path.rawValue))") { benchmark in
                let cipher = AESBlockCipher(key: SecretBytes(pattern(bits / 8, 5)), path: path)
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytesPerIteration, alignment: 64)
                buffer.copyBytes(from: pattern(bytesPerIteration, 6))
                benchmark.startMeasurement()
                for _ in benchmark.scaledIterations {
                    if encrypt { cipher.encrypt(buffer) } else { cipher.decrypt(buffer) }
                    blackHole(buffer[0])
                }
                benchmark.stopMeasurement()
                buffer.deallocate()
            }
        }
    }
}
