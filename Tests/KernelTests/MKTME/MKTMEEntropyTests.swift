//===----------------------------------------------------------------------===//
//
// hwkeys: KernelTests
//
//===----------------------------------------------------------------------===//

import Foundation
import HWKeysBase
import Platform
import TestSupport
import Testing
import X86

@testable import Kernel

/// rfc-v2 `type=cpu` keys: the user's `key=`/`tweak=` entropy is XORed with kernel randomness before
/// SET_KEY_RANDOM, as the RFC v2 kernel did with `get_random_bytes()` ("Strengthen the entropy of CPU
/// generated MKTME keys", docs/research/mktme-research.md §1.5); user keys go to PCONFIG as given.
@Suite struct MKTMEEntropyTests {
    /// A seeded rfc-v2 kernel on recording processors.
    func recordingKernel() throws -> (RecordingPlatform, Kernel) {
        var config = MachineConfiguration()
        config.seed = 11
        config.kernelCommandLine = "mktme.api=rfc-v2"
        let platform = RecordingPlatform(try Machine.create(configuration: config))
        return (platform, try Kernel.boot(platform: platform, commandLine: config.kernelCommandLine))
    }

    /// KEY_FIELD_1 ‖ KEY_FIELD_2 (16 bytes each) of the last SET_KEY_RANDOM or SET_KEY_DIRECT structure.
    func lastFields(_ platform: RecordingPlatform, command: MKTMEKeyCommand) throws -> [UInt8] {
        let structure = try #require(
            platform.pconfigStructures.last { $0[2] == command.rawValue }
        )
        return Array(structure[64..<80] + structure[128..<144])
    }

    /// Whether `bytes` is four consecutive RDRAND values (little-endian) of `values`.
    func isRDRANDRun(_ bytes: [UInt8], in values: [UInt64]) -> Bool {
        guard values.count >= 4 else { return false }
        return (0...values.count - 4).contains { start in
            values[start..<start + 4].flatMap { value in (0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
                == bytes
        }
    }

    static let key = (0..<16).map { UInt8($0 &* 17) }
    static let tweak = (0..<16).map { UInt8(0xF0 ^ $0) }
    static var hex: (key: String, tweak: String) {
        (key.map { String(format: "%02x", $0) }.joined(), tweak.map { String(format: "%02x", $0) }.joined())
    }

    @Test func cpuKeyEntropyIsXORedWithKernelRandomness() throws {
        let (platform, kernel) = try recordingKernel()
        let rdrandBefore = platform.rdrandValues.count
        try kernel.addMKTME("tenant", "type=cpu algorithm=aes-xts-128 key=\(Self.hex.key) tweak=\(Self.hex.tweak)")
        let fields = try lastFields(platform, command: .setKeyRandom)
        let entropy = Self.key + Self.tweak
        let kernelBytes = zip(fields, entropy).map { $0 ^ $1 }
        #expect(fields != entropy)
        #expect(isRDRANDRun(kernelBytes, in: Array(platform.rdrandValues[rdrandBefore...])))
    }

    @Test func cpuKeyWithoutEntropyGetsKernelRandomnessAlone() throws {
        let (platform, kernel) = try recordingKernel()
        let rdrandBefore = platform.rdrandValues.count
        try kernel.addMKTME("tenant", "type=cpu algorithm=aes-xts-128")
        let fields = try lastFields(platform, command: .setKeyRandom)
        #expect(isRDRANDRun(fields, in: Array(platform.rdrandValues[rdrandBefore...])))
        let serial = try kernel.addMKTME("other", "type=cpu algorithm=aes-xts-128")
        #expect(try lastFields(platform, command: .setKeyRandom) != fields)
        // An update to a cpu key mixes fresh kernel randomness too.
        try kernel.update(serial, "type=cpu algorithm=aes-xts-128 key=\(Self.hex.key)")
        let updated = try lastFields(platform, command: .setKeyRandom)
        let entropy = Self.key + [UInt8](repeating: 0, count: 16)
        #expect(isRDRANDRun(zip(updated, entropy).map { $0 ^ $1 }, in: platform.rdrandValues))
    }

    @Test func userKeysAreProgrammedAsGiven() throws {
        let (platform, kernel) = try recordingKernel()
        try kernel.addMKTME("tenant", "type=user algorithm=aes-xts-128 key=\(Self.hex.key) tweak=\(Self.hex.tweak)")
        #expect(try lastFields(platform, command: .setKeyDirect) == Self.key + Self.tweak)
    }

    @Test func rdrandFailureIsEIOAndProgramsNothing() throws {
        let (platform, kernel) = try recordingKernel()
        let serial = try kernel.addMKTME("tenant", "type=cpu algorithm=aes-xts-128")
        let programmed = platform.pconfigStructures.count
        for cpu in platform.recorders { cpu.failRDRAND = true }
        expectErrno(.EIO) { try kernel.update(serial, "type=cpu algorithm=aes-xts-128") }
        #expect(platform.pconfigStructures.count == programmed)
        #expect(kernel.mk.keyID(ofKey: serial) == 1)
    }
}
