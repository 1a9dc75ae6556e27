//===----------------------------------------------------------------------===//
//
// hwkeys: Benchmarking
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase
import Kernel
import Platform
import X86

/// One direction of KL-XTS-256 over a fixed buffer, measured in slices: `hwkeys benchmark` alternates
/// slices of this with slices of OpenSSL's AES-256-XTS so both see the same host load.
///
/// Only work the instructions did counts: a pass whose handle is rejected (AES*KL sets ZF) stops the run
/// with EKEYREJECTED and counts nothing of the slice, and a fault (#UD) stops it with the fault's code.
public final class KeyLockerXTSWorkload {
    /// Encrypt (true) or decrypt.
    public let encrypt: Bool
    /// The machine whose CPU 0 runs the instructions (tests change its Key Locker state under the handles).
    let machine: Machine
    private let xts: KeyLockerXTS256
    private let buffer: UnsafeMutableRawBufferPointer
    private var nextSector: UInt64 = 0

    /// A seeded machine with a random IWKey, handles for a fixed random XTS key, and a `bufferBytes`
    /// buffer (whole 4 KiB data units) of random data. No instruction with the handles runs yet.
    ///
    /// - Parameter configuration: the machine (default: a seeded machine with Key Locker and WIDE_KL).
    /// - Throws: EOPNOTSUPP for a machine without Key Locker or WIDE_KL (what ``KeyLockerBenchmarks/makeXTS256(key:unitLength:configuration:)`` throws).
    public init(
        encrypt: Bool,
        bufferBytes: Int = 16 << 10,
        configuration: MachineConfiguration = KeyLockerBenchmarks.defaultConfiguration
    ) throws(HWKeysError) {
        precondition(bufferBytes > 0 && bufferBytes % 4096 == 0, "the buffer is whole 4 KiB units")
        self.encrypt = encrypt
        let entropy = SeededEntropySource(seed: 0x4B4C_5854_5321)
        var key = [UInt8](repeating: 0, count: 64)
        key.withUnsafeMutableBytes { entropy.fill($0) }
        (machine, xts) = try KeyLockerBenchmarks.makeXTS256(key: key, configuration: configuration)
        buffer = .allocate(byteCount: bufferBytes, alignment: 64)
        entropy.fill(buffer)
    }

    deinit { buffer.deallocate() }

    /// Processes the buffer repeatedly (each pass its own run of sector numbers) for at least
    /// `duration` of host time; returns the bytes processed and the time taken.
    ///
    /// - Throws: EKEYREJECTED when a handle is rejected, the fault's code when an instruction faults; the
    ///   slice then counts nothing.
    public func run(for duration: Duration) throws(HWKeysError) -> MeasuredSlice {
        let clock = ContinuousClock()
        let start = clock.now
        var passes = 0
        var elapsed: Duration = .zero
        repeat {
            for _ in 0..<8 { try pass() }
            passes += 8
            elapsed = clock.now - start
        } while elapsed < duration
        return (passes * buffer.count, elapsed)
    }

    /// One pass over the buffer.
    private func pass() throws(HWKeysError) {
        defer { nextSector &+= UInt64(buffer.count / xts.unitLength) }
        let accepted: Bool
        do throws(X86Fault) {
            accepted =
                encrypt
                ? try xts.encrypt(buffer, firstSector: nextSector) : try xts.decrypt(buffer, firstSector: nextSector)
        } catch {
            throw HWKeysError(error)
        }
        guard accepted else {
            throw HWKeysError(
                .EKEYREJECTED,
                "AES*KL rejected the benchmark's Key Locker handle (ZF = 1: IWKey changed or lost); nothing counted"
            )
        }
    }
}
