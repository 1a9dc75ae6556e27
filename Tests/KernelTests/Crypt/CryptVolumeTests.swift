//===----------------------------------------------------------------------===//
//
// hwkeys: KernelTests
//
//===----------------------------------------------------------------------===//

import Foundation
import HWCrypto
import HWKeysBase
import KernelInterfaces
import Platform
import TestSupport
import Testing
import X86

@testable import Kernel

@Suite struct CryptFixtureTests {
    /// Both ciphers and both sector sizes, every whole-sector case, straight through the sector transform
    /// (any sector number, including IVs 2^63 + 1, 2^64 − 1 and 2^64 − 8), both directions.
    @Test(arguments: CryptCipher.allCases, [512, 4096])
    func sectorTransformMatchesPythonCryptography(cipher: CryptCipher, sectorSize: Int) throws {
        let (_, kernel) = try cryptKernel()
        let fixtures = try CryptFixtures.load(sectorSize: sectorSize).sectors
        #expect(fixtures.count >= 6)
        for (index, fixture) in fixtures.enumerated() {
            let name = "v\(index)"
            try kernel.crypt.create(
                name,
                size: 4096,
                cipher: cipher,
                sectorSize: sectorSize,
                key: secret(hexBytes(fixture.key)),
                as: shell
            )
            let volume = try kernel.crypt.volume(name)
            var buffer = hexBytes(fixture.plaintext)
            try buffer.withUnsafeMutableBytes { bytes in
                try kernel.crypt.transform(volume, bytes, firstSector: fixture.firstSector, encrypt: true)
            }
            #expect(buffer == hexBytes(fixture.ciphertext), "\(fixture.name)")
            try buffer.withUnsafeMutableBytes { bytes in
                try kernel.crypt.transform(volume, bytes, firstSector: fixture.firstSector, encrypt: false)
            }
            #expect(buffer == hexBytes(fixture.plaintext), "\(fixture.name)")
        }
    }

    /// Through the volume: writes land on the disk as the fixture's ciphertext at 4096 + sector size ·
    /// sector, and read back as the plaintext.
    @Test(arguments: CryptCipher.allCases, [512, 4096])
    func volumeDiskBytesMatchPythonCryptography(cipher: CryptCipher, sectorSize: Int) throws {
        let (machine, kernel) = try cryptKernel()
        let fixtures = try CryptFixtures.load(sectorSize: sectorSize).sectors.filter { $0.firstSector < 2048 }
        #expect(fixtures.count >= (sectorSize == 512 ? 6 : 3))
        for (index, fixture) in fixtures.enumerated() {
            let name = "d\(index)"
            try kernel.crypt.create(
                name,
                size: 4096 * UInt64(sectorSize),
                cipher: cipher,
                sectorSize: sectorSize,
                key: secret(hexBytes(fixture.key)),
                as: shell
            )
            let plaintext = hexBytes(fixture.plaintext)
            let offset = fixture.firstSector * UInt64(sectorSize)
            try plaintext.withUnsafeBytes { try kernel.crypt.write(name, offset: offset, data: $0, as: shell) }
            #expect(
                machine.diskBytes(name, 4096 + offset, plaintext.count) == hexBytes(fixture.ciphertext),
                "\(fixture.name)"
            )
            #expect(try kernel.crypt.read(name, offset: offset, count: plaintext.count, as: shell) == plaintext)
        }
    }

    /// Unaligned writes are read-modify-write of whole sectors; the result matches the fixture's model of it.
    @Test(arguments: CryptCipher.allCases, [512, 4096])
    func unalignedWritesAreReadModifyWrite(cipher: CryptCipher, sectorSize: Int) throws {
        let (machine, kernel) = try cryptKernel()
        let unit = UInt64(sectorSize)
        for (index, fixture) in try CryptFixtures.load(sectorSize: sectorSize).partial_writes.enumerated() {
            let name = "p\(index)"
            let size = UInt64(fixture.volume_sectors) * unit
            try kernel.crypt.create(
                name,
                size: size,
                cipher: cipher,
                sectorSize: sectorSize,
                key: secret(hexBytes(fixture.key)),
                as: shell
            )
            try hexBytes(fixture.data).withUnsafeBytes {
                try kernel.crypt.write(name, offset: fixture.offset, data: $0, as: shell)
            }
            let expected = hexBytes(fixture.ciphertext)
            #expect(
                machine.diskBytes(name, 4096 + fixture.first_sector * unit, expected.count) == expected,
                "\(fixture.name)"
            )
            let plain = try kernel.crypt.read(
                name,
                offset: fixture.first_sector * unit,
                count: expected.count,
                as: shell
            )
            #expect(plain == hexBytes(fixture.plaintext), "\(fixture.name)")
            // Untouched sectors stay all-zero ciphertext on the disk.
            let after = 4096 + fixture.first_sector * unit + UInt64(expected.count)
            #expect(machine.diskBytes(name, after, Int(4096 + size - after)).allSatisfy { $0 == 0 })
        }
    }

    /// The two ciphers give byte-identical disks for the same key and writes.
    @Test func bothCiphersWriteIdenticalDiskBytes() throws {
        let (machine, kernel) = try cryptKernel()
        let key = (0..<64).map { UInt8(truncatingIfNeeded: $0 &* 29 &+ 3) }
        for name in ["plain", "kl"] {
            try kernel.crypt.create(
                name,
                size: 64 << 10,
                cipher: name == "kl" ? .aesXTSKLPlain64 : .aesXTSPlain64,
                key: secret(key),
                as: shell
            )
            for (offset, length) in [(0, 4096), (7, 1), (1000, 3000), (60_000, 5536)] {
                let data = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 11 &+ offset) }
                try data.withUnsafeBytes { try kernel.crypt.write(name, offset: UInt64(offset), data: $0, as: shell) }
            }
        }
        let plain = machine.diskBytes("plain", 0, 4096 + (64 << 10))
        let kl = machine.diskBytes("kl", 0, 4096 + (64 << 10))
        #expect(Array(plain[4096...]) == Array(kl[4096...]))
        #expect(!plain[4096...].allSatisfy { $0 == 0 })
        // The headers differ only in the cipher name.
        #expect(Array(plain[0..<24]) == Array(kl[0..<24]))
    }
}

@Suite struct CryptKeyLockerTests {
    @Test func klVolumesHoldHandlesNotTheKey() throws {
        let (_, kernel) = try cryptKernel()
        #expect(kernel.keyLockerUsers.contains { $0 === kernel.crypt })
        #expect(!kernel.crypt.holdsKeyLockerHandles)
        try kernel.crypt.create("plain", size: 4096, cipher: .aesXTSPlain64, key: secret(countingKey), as: shell)
        #expect(!kernel.crypt.holdsKeyLockerHandles)
        // The plain volume's key is in kernel memory, in the clear (through the direct map).
        #expect(contains(kernel.allocatedMemory(), countingKey))
        try kernel.crypt.close("plain", as: shell)
        #expect(!contains(kernel.allocatedMemory(), Array(countingKey[0..<32])))

        try kernel.crypt.create("kl", size: 4096, cipher: .aesXTSKLPlain64, key: secret(countingKey), as: shell)
        #expect(kernel.crypt.holdsKeyLockerHandles)
        let status = try kernel.crypt.status("kl", as: shell)
        #expect(status.holdsHandles && !status.holdsKey && status.isOpen)
        // Neither half of the key is left anywhere in kernel memory, nor in the XMM registers.
        let memory = kernel.allocatedMemory()
        #expect(!contains(memory, Array(countingKey[0..<16])))
        #expect(!contains(memory, Array(countingKey[32..<48])))
        let xmm = kernel.cpu.withXMMRegisters { Array($0) }
        #expect(!contains(xmm, Array(countingKey[0..<16])) && !contains(xmm, Array(countingKey[32..<48])))
        // The handles are: two 64-byte AES-256 handles with the CPL0-only restriction (AAD byte 0 = 1,
        // key type 1 in bits 27:24).
        let handles = kernel.readKernelMemory(try #require(kernel.crypt.volume("kl").handles)).revealedBytes()
        #expect(handles.count == 128)
        for half in 0..<2 {
            #expect(handles[64 * half] == 0x01 && handles[64 * half + 3] == 0x01)
        }
        try kernel.crypt.close("kl", as: shell)
        #expect(!kernel.crypt.holdsKeyLockerHandles)
        #expect(!contains(kernel.allocatedMemory(), Array(handles[16..<48])))
    }

    @Test func klLossIsENODEVAndOpenWithTheKeyRecovers() throws {
        let (machine, kernel) = try cryptKernel()
        try kernel.crypt.create("kl", size: 8192, cipher: .aesXTSKLPlain64, key: secret(countingKey), as: shell)
        let data = Array("survives".utf8)
        try data.withUnsafeBytes { try kernel.crypt.write("kl", offset: 100, data: $0, as: shell) }
        let disk = machine.diskBytes("kl", 0, 4096 + 8192)

        // IWKey changed under the handles: AES*KL sets ZF, the volume reports ENODEV, nothing is written.
        try enableKeyLockerByHand(machine, iwKey: 99)
        #expect(throws: HWKeysError(.ENODEV, "")) { try kernel.crypt.read("kl", offset: 100, count: 8, as: shell) }
        #expect(throws: HWKeysError(.ENODEV, "")) {
            try data.withUnsafeBytes { try kernel.crypt.write("kl", offset: 0, data: $0, as: shell) }
        }
        #expect(machine.diskBytes("kl", 0, 4096 + 8192) == disk)
        // Opening again with the key makes new handles under the new IWKey.
        try kernel.crypt.open("kl", key: secret(countingKey), as: shell)
        #expect(try kernel.crypt.read("kl", offset: 100, count: 8, as: shell) == data)

        // CR4.KL cleared under a running volume: the #UD becomes ENODEV.
        for cpu in machine.processors { try cpu.writeCR4(try cpu.readCR4() & ~CR4.keyLocker) }
        #expect(throws: HWKeysError(.ENODEV, "")) { try kernel.crypt.read("kl", offset: 100, count: 8, as: shell) }
        for cpu in machine.processors { try cpu.writeCR4(try cpu.readCR4() | CR4.keyLocker) }
        #expect(try kernel.crypt.read("kl", offset: 100, count: 8, as: shell) == data)

        // Soft-disabled Key Locker (a failed restore): every I/O and open is ENODEV, nothing changes.
        kernel.keyLockerManager.softDisable("test: restore failed")
        #expect(throws: HWKeysError(.ENODEV, "")) { try kernel.crypt.read("kl", offset: 0, count: 8, as: shell) }
        #expect(throws: HWKeysError(.ENODEV, "")) {
            try data.withUnsafeBytes { try kernel.crypt.write("kl", offset: 0, data: $0, as: shell) }
        }
        #expect(throws: HWKeysError(.ENODEV, "")) { try kernel.crypt.open("kl", key: secret(countingKey), as: shell) }
        #expect(machine.diskBytes("kl", 0, 4096 + 8192) == disk)
        // The plain cipher does not care.
        try kernel.crypt.create("plain", size: 4096, cipher: .aesXTSPlain64, key: secret(countingKey), as: shell)
    }

    /// The real manager and the volumes together: the mode cannot change while a KL volume is open (EBUSY);
    /// norestore loses the handles at S3 (ENODEV until reboot); after a reboot and a new mode, `crypt open`
    /// with the key recovers the data.
    @Test func theManagerKeepsOrLosesVolumesPerMode() throws {
        let (machine, kernel) = try cryptKernel(mode: "native_kernel_key_norestore")
        try kernel.crypt.create("kl", size: 4096, cipher: .aesXTSKLPlain64, key: secret(countingKey), as: shell)
        try Array("norestore".utf8).withUnsafeBytes { try kernel.crypt.write("kl", offset: 0, data: $0, as: shell) }
        #expect(throws: HWKeysError(.EBUSY, "")) { try kernel.keyLockerManager.setMode("native_kernel_key_backup") }
        try kernel.prepareForSleep(.suspendToRAM)
        try machine.power(.suspend)
        try machine.power(.resume)
        try kernel.resumed(from: .suspendToRAM)
        #expect(kernel.keyLockerManager.status == .invalid)
        #expect(throws: HWKeysError(.ENODEV, "")) { try kernel.crypt.read("kl", offset: 0, count: 9, as: shell) }

        try machine.power(.off)
        try machine.power(.on)
        let fresh = try Kernel.boot(platform: machine, commandLine: "")
        #expect(try fresh.crypt.status("kl", as: shell).isOpen == false)
        #expect(throws: HWKeysError(.ENODEV, "")) { try fresh.crypt.open("kl", key: secret(countingKey), as: shell) }
        try fresh.keyLockerManager.setMode("native_random_key")
        try fresh.crypt.open("kl", key: secret(countingKey), as: shell)
        #expect(try fresh.crypt.read("kl", offset: 0, count: 9, as: shell) == Array("norestore".utf8))
        try fresh.crypt.close("kl", as: shell)
        try fresh.keyLockerManager.setMode("native_kernel_key_backup")
    }

    @Test func klCipherNeedsKeyLocker() throws {
        // Key Locker not initialized (admin policy, no mode written).
        let (machine, kernel) = try cryptKernel(mode: nil)
        let heap = kernel.heap.bytesInUse
        #expect(throws: HWKeysError(.ENODEV, "")) {
            try kernel.crypt.create("kl", size: 4096, cipher: .aesXTSKLPlain64, key: secret(countingKey), as: shell)
        }
        // A service that says valid while CR4.KL is clear: ENCODEKEY256 is #UD, reported as ENODEV.
        kernel.keyLocker = TestKeyLocker()
        #expect(throws: HWKeysError(.ENODEV, "")) {
            try kernel.crypt.create("kl", size: 4096, cipher: .aesXTSKLPlain64, key: secret(countingKey), as: shell)
        }
        #expect(machine.disk(named: "kl") == nil)
        #expect(try kernel.crypt.list(as: shell).isEmpty)
        #expect(kernel.heap.bytesInUse == heap)
        // No Key Locker hardware at all: no service.
        let (_, without) = try cryptKernel(mode: nil) { $0.keyLocker = false }
        #expect(without.keyLocker == nil)
        #expect(throws: HWKeysError(.ENODEV, "")) {
            try without.crypt.create("kl", size: 4096, cipher: .aesXTSKLPlain64, key: secret(countingKey), as: shell)
        }
    }

    @Test func cpl0OnlyUnsupportedIsEOPNOTSUPP() throws {
        let (machine, kernel) = try cryptKernel(mode: "native_kernel_key_remember") { $0.klRestrictions = [] }
        #expect(throws: HWKeysError(.EOPNOTSUPP, "")) {
            try kernel.crypt.create("kl", size: 4096, cipher: .aesXTSKLPlain64, key: secret(countingKey), as: shell)
        }
        #expect(machine.disk(named: "kl") == nil)
    }
}

@Suite struct CryptErrorTests {
    /// Every refusal leaves the volumes, the disks and kernel memory as they were.
    @Test func refusalsChangeNothing() throws {
        let (machine, kernel) = try cryptKernel()
        try kernel.crypt.create("vol", size: 4096, cipher: .aesXTSPlain64, key: secret(countingKey), as: shell)
        try kernel.crypt.create("shut", size: 4096, cipher: .aesXTSPlain64, key: secret(countingKey), as: shell)
        try kernel.crypt.close("shut", as: shell)
        let user = try kernel.createProcess(parent: shell, uid: 1000, exec: true)
        let before = try kernel.encodeState()
        let disks = machine.disks.map { ($0.name, machine.diskBytes($0.name, 0, 8192)) }
        let cases: [(Errno, () throws -> Void)] = [
            (
                .EINVAL,
                {
                    try kernel.crypt.create(
                        "a",
                        size: 4096,
                        cipher: .aesXTSPlain64,
                        key: secret(Array(countingKey[0..<32])),
                        as: shell
                    )
                }
            ),
            (
                .EINVAL,
                {
                    try kernel.crypt.create(
                        "a",
                        size: 1000,
                        cipher: .aesXTSPlain64,
                        key: secret(countingKey),
                        as: shell
                    )
                }
            ),
            (
                .EINVAL,
                { try kernel.crypt.create("a", size: 0, cipher: .aesXTSPlain64, key: secret(countingKey), as: shell) }
            ),
            (
                .EINVAL,
                {
                    try kernel.crypt.create(
                        "a",
                        size: 128 << 30,
                        cipher: .aesXTSPlain64,
                        key: secret(countingKey),
                        as: shell
                    )
                }
            ),
            (
                .EINVAL,
                {
                    try kernel.crypt.create(
                        "bad/name",
                        size: 4096,
                        cipher: .aesXTSPlain64,
                        key: secret(countingKey),
                        as: shell
                    )
                }
            ),
            (
                .EEXIST,
                {
                    try kernel.crypt.create(
                        "vol",
                        size: 4096,
                        cipher: .aesXTSPlain64,
                        key: secret(countingKey),
                        as: shell
                    )
                }
            ),
            (
                .EEXIST,
                {
                    try kernel.crypt.create(
                        "swap",
                        size: 4096,
                        cipher: .aesXTSPlain64,
                        key: secret(countingKey),
                        as: shell
                    )
                }
            ),
            (
                .EACCES,
                { try kernel.crypt.create("a", size: 4096, cipher: .aesXTSPlain64, key: secret(countingKey), as: user) }
            ),
            (
                .ESRCH,
                { try kernel.crypt.create("a", size: 4096, cipher: .aesXTSPlain64, key: secret(countingKey), as: 4242) }
            ),
            (.ENOENT, { try kernel.crypt.open("none", key: secret(countingKey), as: shell) }),
            (.EINVAL, { try kernel.crypt.open("shut", key: secret([1, 2, 3]), as: shell) }),
            (.EACCES, { try kernel.crypt.open("shut", key: secret(countingKey), as: user) }),
            (.ENXIO, { try kernel.crypt.close("shut", as: shell) }),
            (.ENOENT, { try kernel.crypt.close("none", as: shell) }),
            (.EACCES, { try kernel.crypt.close("vol", as: user) }),
            (.ENXIO, { _ = try kernel.crypt.read("shut", offset: 0, count: 1, as: shell) }),
            (.EINVAL, { _ = try kernel.crypt.read("vol", offset: 4000, count: 97, as: shell) }),
            (.EINVAL, { _ = try kernel.crypt.read("vol", offset: 0, count: 0, as: shell) }),
            (.EINVAL, { _ = try kernel.crypt.read("vol", offset: UInt64.max, count: 1, as: shell) }),
            (.EACCES, { _ = try kernel.crypt.read("vol", offset: 0, count: 1, as: user) }),
            (
                .ENOSPC,
                {
                    try [1, 2].withUnsafeBytes { data in
                        try kernel.crypt.write("vol", offset: 4095, data: data, as: shell)
                    }
                }
            ),
            (
                .ENXIO,
                { try [1].withUnsafeBytes { data in try kernel.crypt.write("shut", offset: 0, data: data, as: shell) } }
            ),
            (
                .EINVAL,
                {
                    try [UInt8]().withUnsafeBytes { data in
                        try kernel.crypt.write("vol", offset: 0, data: data, as: shell)
                    }
                }
            ),
            (.ENOENT, { _ = try kernel.crypt.status("none", as: shell) }),
            (.EACCES, { _ = try kernel.crypt.list(as: user) }),
        ]
        for (index, (errno, body)) in cases.enumerated() {
            #expect(throws: HWKeysError(errno, ""), "case \(index)") { try body() }
        }
        #expect(try kernel.encodeState() == before)
        #expect(machine.disks.map { ($0.name) } == disks.map(\.0))
        for (name, bytes) in disks { #expect(machine.diskBytes(name, 0, 8192) == bytes) }
    }

    @Test func aWrongKeyOpensAndReadsGarbage() throws {
        let (_, kernel) = try cryptKernel()
        try kernel.crypt.create("vol", size: 4096, cipher: .aesXTSPlain64, key: secret(countingKey), as: shell)
        let data = Array("plaintext".utf8)
        try data.withUnsafeBytes { try kernel.crypt.write("vol", offset: 0, data: $0, as: shell) }
        try kernel.crypt.close("vol", as: shell)
        var wrong = countingKey
        wrong[63] ^= 1
        try kernel.crypt.open("vol", key: secret(wrong), as: shell)
        #expect(try kernel.crypt.read("vol", offset: 0, count: data.count, as: shell) != data)
        try kernel.crypt.open("vol", key: secret(countingKey), as: shell)
        #expect(try kernel.crypt.read("vol", offset: 0, count: data.count, as: shell) == data)
    }
}

@Suite struct CryptPersistenceTests {
    @Test func openVolumesSurviveSaveAndRestore() throws {
        let (machine, kernel) = try cryptKernel()
        try kernel.crypt.create("vol", size: 4096, cipher: .aesXTSPlain64, key: secret(countingKey), as: shell)
        try Array("kept".utf8).withUnsafeBytes { try kernel.crypt.write("vol", offset: 0, data: $0, as: shell) }
        let state = try kernel.encodeState()
        let restored = try Kernel.restore(platform: machine, state: state)
        #expect(try restored.encodeState() == state)
        #expect(try restored.crypt.read("vol", offset: 0, count: 4, as: shell) == Array("kept".utf8))
    }

    /// Saved state can come from an attacker-writable disk (the hibernation image): a sector count that
    /// does not fit the disk is refused (EINVAL), never an arithmetic trap.
    @Test func aTamperedSectorCountIsRefusedOnRestore() throws {
        let (machine, kernel) = try cryptKernel()
        try kernel.crypt.create("vol", size: 4096, cipher: .aesXTSPlain64, key: secret(countingKey), as: shell)
        let state = String(decoding: try kernel.encodeState(), as: UTF8.self)
        #expect(state.contains("\"sectors\":8"))
        for sectors in ["72057594037927936", "18446744073709551615", "9", "0"] {
            let tampered = Data(state.replacingOccurrences(of: "\"sectors\":8", with: "\"sectors\":\(sectors)").utf8)
            #expect(throws: (any Error).self) { try Kernel.restore(platform: machine, state: tampered) }
        }
    }

    @Test func metadataSurvivesPowerOffButKeysDoNot() throws {
        let (machine, kernel) = try cryptKernel()
        try kernel.crypt.create("vol", size: 8192, cipher: .aesXTSPlain64, key: secret(countingKey), as: shell)
        try kernel.crypt.create("klv", size: 4096, cipher: .aesXTSKLPlain64, key: secret(countingKey), as: shell)
        try Array("disk data".utf8).withUnsafeBytes { try kernel.crypt.write("vol", offset: 512, data: $0, as: shell) }
        try machine.power(.off)
        try machine.power(.on)
        let fresh = try Kernel.boot(platform: machine, commandLine: "")
        let volumes = try fresh.crypt.list(as: shell)
        #expect(volumes.map(\.name) == ["klv", "vol"])
        #expect(volumes.map(\.cipher) == [.aesXTSKLPlain64, .aesXTSPlain64])
        #expect(volumes.map(\.size) == [4096, 8192])
        #expect(volumes.allSatisfy { !$0.isOpen && !$0.holdsKey && !$0.holdsHandles })
        #expect(fresh.log.lines.contains { $0.text.contains("found volume vol") })
        #expect(throws: HWKeysError(.ENXIO, "")) { try fresh.crypt.read("vol", offset: 512, count: 9, as: shell) }
        try fresh.crypt.open("vol", key: secret(countingKey), as: shell)
        #expect(try fresh.crypt.read("vol", offset: 512, count: 9, as: shell) == Array("disk data".utf8))
    }

    @Test func aDamagedHeaderIsIgnoredAtBoot() throws {
        let (machine, kernel) = try cryptKernel()
        try kernel.crypt.create("vol", size: 4096, cipher: .aesXTSPlain64, key: secret(countingKey), as: shell)
        [UInt8](repeating: 0xFF, count: 8).withUnsafeBytes { machine.disk(named: "vol")!.write(16, from: $0) }
        let fresh = try Kernel.boot(platform: machine, commandLine: "")
        #expect(try fresh.crypt.list(as: shell).isEmpty)
    }

    @Test func headerRoundTripsAndRejectsGarbage() {
        let header = CryptHeader(cipher: .aesXTSKLPlain64, sectors: 123)
        let bytes = header.encoded()
        #expect(bytes.count == 4096)
        #expect(CryptHeader(bytes) == header)
        #expect(Array(bytes[0..<8]) == Array("HWKCRYPT".utf8))
        for position in [0, 8, 10, 12, 16, 24, 40, 100] {
            var bad = bytes
            bad[position] ^= 0x40
            if position == 16 { bad[16...23] = [0, 0, 0, 0, 0, 0, 0, 0] }
            #expect(CryptHeader(bad) == nil, "byte \(position)")
        }
    }
}
