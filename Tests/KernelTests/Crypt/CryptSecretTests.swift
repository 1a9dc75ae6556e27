//===----------------------------------------------------------------------===//
//
// hwkeys: KernelTests
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase
import Testing
import X86

@testable import Kernel
@testable import Platform

/// What the crypt target leaves behind in host memory (issue 11): a closed Key Locker volume's unwrapped
/// key schedules are dropped from every CPU's unwrap cache, and the tweak work space is wiped after every
/// request, successful or not.
@Suite struct CryptSecretTests {
    /// Cached unwraps of every processor of `machine`.
    private func cachedUnwraps(_ machine: Machine) -> Int {
        machine.processors.reduce(0) { $0 + $1.keyLocker.unwrapCache.count }
    }

    @Test func closingAKeyLockerVolumeDropsItsUnwrappedKeySchedules() throws {
        let (machine, kernel) = try cryptKernel()
        try kernel.crypt.create("kl", size: 8192, cipher: .aesXTSKLPlain64, key: secret(countingKey), as: shell)
        let data = [UInt8](repeating: 0x5A, count: 4096)
        try data.withUnsafeBytes { try kernel.crypt.write("kl", offset: 0, data: $0, as: shell) }
        // The data handle and the tweak handle were unwrapped and are cached (host-side only).
        #expect(cachedUnwraps(machine) == 2)
        try kernel.crypt.close("kl", as: shell)
        #expect(cachedUnwraps(machine) == 0)

        // Replacing the key material of an open volume (`crypt open` on an open volume) drops the old
        // schedules too; the next request unwraps the new handles.
        try kernel.crypt.open("kl", key: secret(countingKey), as: shell)
        #expect(try kernel.crypt.read("kl", offset: 0, count: 4096, as: shell) == data)
        #expect(cachedUnwraps(machine) == 2)
        try kernel.crypt.open("kl", key: secret(countingKey), as: shell)
        #expect(cachedUnwraps(machine) == 0)
        #expect(try kernel.crypt.read("kl", offset: 0, count: 4096, as: shell) == data)
    }

    @Test(arguments: CryptCipher.allCases, [512, 4096])
    func theTweakWorkSpaceIsWipedAfterEveryRequest(cipher: CryptCipher, sectorSize: Int) throws {
        let (_, kernel) = try cryptKernel()
        try kernel.crypt.create(
            "v",
            size: 64 << 10,
            cipher: cipher,
            sectorSize: sectorSize,
            key: secret(countingKey),
            as: shell
        )
        let data = (0..<12_000).map { UInt8(truncatingIfNeeded: $0 &* 3) }
        try data.withUnsafeBytes { try kernel.crypt.write("v", offset: 100, data: $0, as: shell) }
        #expect(try kernel.crypt.read("v", offset: 100, count: data.count, as: shell) == data)
        let region = kernel.crypt.scratch.tweakRegion
        // The plain cipher with 512-byte sectors needs no tweak work space (the engine derives the tweaks).
        if cipher.usesKeyLocker || sectorSize != 512 { #expect(!region.isEmpty) }
        #expect(region.allSatisfy { $0 == 0 })
    }

    @Test func theTweakWorkSpaceIsWipedWhenKeyLockerRejectsTheHandles() throws {
        let (machine, kernel) = try cryptKernel()
        try kernel.crypt.create("kl", size: 8192, cipher: .aesXTSKLPlain64, key: secret(countingKey), as: shell)
        try [UInt8](repeating: 1, count: 4096).withUnsafeBytes {
            try kernel.crypt.write("kl", offset: 0, data: $0, as: shell)
        }
        // Another IWKey on every CPU: the handles no longer unwrap (ZF = 1), the request fails (ENODEV) and
        // nothing reaches the disk.
        try enableKeyLockerByHand(machine, iwKey: 9)
        #expect(throws: HWKeysError(.ENODEV, "")) {
            try [UInt8](repeating: 2, count: 4096).withUnsafeBytes {
                try kernel.crypt.write("kl", offset: 0, data: $0, as: shell)
            }
        }
        #expect(kernel.crypt.scratch.tweakRegion.allSatisfy { $0 == 0 })
    }
}
