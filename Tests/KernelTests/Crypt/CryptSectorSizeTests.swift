//===----------------------------------------------------------------------===//
//
// hwkeys: KernelTests
//
//===----------------------------------------------------------------------===//

import Foundation
import HWCrypto
import HWKeysBase
import Platform
import TestSupport
import Testing

@testable import Kernel

/// Volumes with 4096-byte sectors (`crypt create --sector-size 4096`; docs/crypt-volumes.md "Sector size and
/// IV"). The disk bytes themselves are checked against Python `cryptography` in ``CryptFixtureTests``.
@Suite struct CryptSectorSizeTests {
    @Test func onlyWholeSectorsOf512Or4096BytesAreAccepted() throws {
        let (machine, kernel) = try cryptKernel()
        for sectorSize in [0, 256, 1024, 2048, 8192] {
            #expect(throws: HWKeysError(.EINVAL, "")) {
                try kernel.crypt.create(
                    "v",
                    size: 16384,
                    cipher: .aesXTSPlain64,
                    sectorSize: sectorSize,
                    key: secret(countingKey),
                    as: shell
                )
            }
        }
        for size: UInt64 in [512, 4096 + 512, 6144] {
            #expect(throws: HWKeysError(.EINVAL, "")) {
                try kernel.crypt.create(
                    "v",
                    size: size,
                    cipher: .aesXTSPlain64,
                    sectorSize: 4096,
                    key: secret(countingKey),
                    as: shell
                )
            }
        }
        #expect(machine.disk(named: "v") == nil)
        #expect(try kernel.crypt.list(as: shell).isEmpty)
    }

    @Test func theHeaderRecordsTheSectorSizeAndTheVolumeIsFoundAgainAfterPowerOff() throws {
        let (machine, kernel) = try cryptKernel()
        try kernel.crypt.create(
            "big",
            size: 64 << 10,
            cipher: .aesXTSKLPlain64,
            sectorSize: 4096,
            key: secret(countingKey),
            as: shell
        )
        let status = try kernel.crypt.status("big", as: shell)
        #expect(status.sectorSize == 4096 && status.size == 64 << 10 && status.payloadOffset == 4096)
        let header = machine.diskBytes("big", 0, 24)
        #expect(Array(header[10..<12]) == [0x00, 0x10])  // 4096, little-endian
        #expect(Array(header[12..<16]) == [1, 0, 0, 0])  // the payload starts after one 4096-byte sector
        #expect(Array(header[16..<24]) == [16, 0, 0, 0, 0, 0, 0, 0])  // 16 sectors
        try Array("four k".utf8).withUnsafeBytes { try kernel.crypt.write("big", offset: 8190, data: $0, as: shell) }

        try machine.power(.off)
        try machine.power(.on)
        let fresh = try Kernel.boot(platform: machine, commandLine: "")
        let found = try fresh.crypt.status("big", as: shell)
        #expect(found.sectorSize == 4096 && found.size == 64 << 10 && !found.isOpen)
        #expect(fresh.log.lines.contains { $0.text.contains("16 sectors of 4096 bytes") })
        try fresh.keyLockerManager.setMode("native_kernel_key_backup")
        try fresh.crypt.open("big", key: secret(countingKey), as: shell)
        #expect(try fresh.crypt.read("big", offset: 8190, count: 6, as: shell) == Array("four k".utf8))
    }

    /// Kernel states saved before 4 KiB sectors existed have no `sectorSize`: their volumes are 512-byte
    /// volumes, and a 512-byte volume still saves exactly as before. A saved sector size other than 512 or
    /// 4096 (the state may come from an attacker-writable hibernation image) is refused.
    @Test func savedStateKeepsTheOldFormForSmallSectorsAndChecksTheSectorSize() throws {
        let (machine, kernel) = try cryptKernel()
        try kernel.crypt.create("old", size: 8192, cipher: .aesXTSPlain64, key: secret(countingKey), as: shell)
        try kernel.crypt.create(
            "new",
            size: 8192,
            cipher: .aesXTSPlain64,
            sectorSize: 4096,
            key: secret(countingKey),
            as: shell
        )
        let state = String(decoding: try kernel.encodeState(), as: UTF8.self)
        #expect(state.components(separatedBy: "\"sectorSize\"").count == 2)
        #expect(state.contains("\"sectorSize\":4096"))
        let restored = try Kernel.restore(platform: machine, state: Data(state.utf8))
        #expect(try restored.crypt.status("old", as: shell).sectorSize == 512)
        #expect(try restored.crypt.status("new", as: shell).sectorSize == 4096)
        #expect(try restored.encodeState() == Data(state.utf8))
        for bad in ["1024", "0", "-4096", "65536"] {
            let tampered = state.replacingOccurrences(of: "\"sectorSize\":4096", with: "\"sectorSize\":\(bad)")
            #expect(throws: (any Error).self) { try Kernel.restore(platform: machine, state: Data(tampered.utf8)) }
        }
        // Two 4096-byte sectors fit the disk; three do not.
        #expect(state.components(separatedBy: "\"sectors\":2").count == 2)
        let tooMany = state.replacingOccurrences(of: "\"sectors\":2", with: "\"sectors\":3")
        #expect(throws: (any Error).self) { try Kernel.restore(platform: machine, state: Data(tooMany.utf8)) }
    }

    /// The two ciphers give byte-identical disks with 4 KiB sectors too.
    @Test func bothCiphersWriteIdenticalDiskBytesWithLargeSectors() throws {
        let (machine, kernel) = try cryptKernel()
        let key = (0..<64).map { UInt8(truncatingIfNeeded: $0 &* 29 &+ 3) }
        for name in ["plain", "kl"] {
            try kernel.crypt.create(
                name,
                size: 64 << 10,
                cipher: name == "kl" ? .aesXTSKLPlain64 : .aesXTSPlain64,
                sectorSize: 4096,
                key: secret(key),
                as: shell
            )
            for (offset, length) in [(0, 4096), (7, 1), (1000, 9000), (40_000, 25_536)] {
                let data = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 11 &+ offset) }
                try data.withUnsafeBytes { try kernel.crypt.write(name, offset: UInt64(offset), data: $0, as: shell) }
            }
        }
        let plain = machine.diskBytes("plain", 4096, 64 << 10)
        #expect(plain == machine.diskBytes("kl", 4096, 64 << 10))
        #expect(!plain.allSatisfy { $0 == 0 })
    }

    /// The plain64 IV counts 512-byte units: 4096-byte sector n is one XTS data unit with tweak 8n
    /// (dm-crypt without `iv_large_sectors`), not n.
    @Test func theIVOfA4KSectorCounts512ByteUnits() throws {
        let (machine, kernel) = try cryptKernel()
        try kernel.crypt.create(
            "v",
            size: 16384,
            cipher: .aesXTSPlain64,
            sectorSize: 4096,
            key: secret(countingKey),
            as: shell
        )
        let data = (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 5) }
        try data.withUnsafeBytes { try kernel.crypt.write("v", offset: 8192, data: $0, as: shell) }
        let reference = XTSKey(combined: secret(countingKey))
        func encrypted(sequence: UInt64) -> [UInt8] {
            var out = [UInt8](repeating: 0, count: 4096)
            data.withUnsafeBytes { source in
                out.withUnsafeMutableBytes {
                    reference.encrypt(units: source, into: $0, unitLength: 4096, firstSequence: sequence)
                }
            }
            return out
        }
        let disk = machine.diskBytes("v", 4096 + 8192, 4096)
        #expect(disk == encrypted(sequence: 16))
        #expect(disk != encrypted(sequence: 2))
    }
}
