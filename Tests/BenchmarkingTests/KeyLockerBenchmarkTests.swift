//===----------------------------------------------------------------------===//
//
// hwkeys: BenchmarkingTests
//
//===----------------------------------------------------------------------===//

import HWCrypto
import Platform
import Testing
import X86

@testable import Benchmarking

/// The KL-XTS the benchmark measures is real AES-256-XTS (no timing assertions here).
@Suite struct KeyLockerBenchmarkTests {
    static func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        bytes.withUnsafeMutableBytes { SeededEntropySource(seed: seed).fill($0) }
        return bytes
    }

    @Test(arguments: [(4096, UInt64(0)), (4096, 0xFFFF_FFFF_FFFF_FFFE), (512, 77)])
    func keyLockerXTSEqualsAES256XTS(unitLength: Int, firstSector: UInt64) throws {
        let key = Self.randomBytes(64, seed: 1)
        let plaintext = Self.randomBytes(16 << 10, seed: 2)
        let (machine, xts) = try KeyLockerBenchmarks.makeXTS256(key: key, unitLength: unitLength)
        defer { withExtendedLifetime(machine) {} }

        var expected = [UInt8](repeating: 0, count: plaintext.count)
        let reference = key.withUnsafeBytes {
            XTSKey(
                dataKey: UnsafeRawBufferPointer(rebasing: $0[0..<32]),
                tweakKey: UnsafeRawBufferPointer(rebasing: $0[32..<64])
            )
        }
        plaintext.withUnsafeBytes { source in
            expected.withUnsafeMutableBytes {
                reference.encrypt(units: source, into: $0, unitLength: unitLength, firstSequence: firstSector)
            }
        }
        var buffer = plaintext
        #expect(try buffer.withUnsafeMutableBytes { try xts.encrypt($0, firstSector: firstSector) })
        #expect(buffer == expected)
        #expect(try buffer.withUnsafeMutableBytes { try xts.decrypt($0, firstSector: firstSector) })
        #expect(buffer == plaintext)
    }

    @Test func aRejectedHandleStopsTheXTSAndIsReported() throws {
        let key = Self.randomBytes(64, seed: 3)
        let (machine, xts) = try KeyLockerBenchmarks.makeXTS256(key: key)
        defer { withExtendedLifetime(machine) {} }
        // IWKey lost (S3): the handles no longer unwrap.
        try machine.power(.suspend)
        try machine.power(.resume)
        try xts.processor.writeCR4(CR4.keyLocker)
        var buffer = Self.randomBytes(4096, seed: 4)
        let before = buffer
        #expect(try buffer.withUnsafeMutableBytes { try xts.encrypt($0, firstSector: 0) } == false)
        #expect(buffer == before)
    }

    @Test func theMeasurementRunsAndReportsBothDirections() throws {
        let result = try KeyLockerBenchmarks.xts256(bufferBytes: 4096, minimumSeconds: 0)
        #expect(result.encryptGBps > 0 && result.decryptGBps > 0)
        #expect(result.bufferBytes == 4096)
    }
}
