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
import Testing
import X86

@testable import Kernel

/// A stand-in Key Locker service that says "valid" whatever the hardware does, for the paths the real
/// manager cannot reach (a valid manager with CR4.KL clear).
final class TestKeyLocker: KeyLockerService {
    var valid = true
    func requireValid() throws(HWKeysError) {
        guard valid else { throw HWKeysError(.ENODEV, "Key Locker is invalid (test double)") }
    }
}

/// Sets CR4.KL and loads the same software IWKey (KeySource 0) on every CPU, as a kernel would, and
/// clears the IWKey inputs from XMM0–2 afterwards.
func enableKeyLockerByHand(_ machine: Machine, iwKey seed: UInt8 = 1) throws {
    let enc = (0..<32).map { UInt8(truncatingIfNeeded: Int($0) &* 7 &+ Int(seed)) }
    let int = (0..<16).map { UInt8(truncatingIfNeeded: Int($0) &* 13 &+ Int(seed)) }
    for cpu in machine.processors {
        try cpu.writeCR4(try cpu.readCR4() | CR4.keyLocker)
        cpu.withXMMRegisters { xmm in
            xmm.copyBytes(from: int + Array(enc[0..<16]) + Array(enc[16..<32]))
        }
        let zf = try cpu.loadiwkey(eax: 0, src1: 2, src2: 1)
        #expect(!zf)
        cpu.withXMMRegisters { xmm in _ = xmm.baseAddress!.initializeMemory(as: UInt8.self, repeating: 0, count: 48) }
    }
}

/// A seeded machine with a booted kernel whose Key Locker manager is initialized in `mode` (docs/contract.md §7,
/// admin policy), or left disabled when `mode` is nil.
func cryptKernel(
    mode: String? = "native_kernel_key_backup",
    _ configure: (inout MachineConfiguration) -> Void = { _ in }
) throws -> (Machine, Kernel) {
    let (machine, kernel) = try bootedKernel(configure)
    if let mode { try kernel.keyLockerManager.setMode(mode) }
    return (machine, kernel)
}

/// The independent fixtures (Fixtures/crypt/SOURCE.md).
struct CryptFixtures: Decodable {
    struct Sectors: Decodable {
        let name: String
        let key: String
        let first_sector: String
        let plaintext: String
        let ciphertext: String
        var firstSector: UInt64 { UInt64(first_sector)! }
    }
    struct PartialWrite: Decodable {
        let name: String
        let key: String
        let volume_sectors: Int
        let offset: UInt64
        let data: String
        let first_sector: UInt64
        let plaintext: String
        let ciphertext: String
    }
    let sectors: [Sectors]
    let partial_writes: [PartialWrite]

    /// The fixtures for volumes with `sectorSize`-byte sectors (512: `xts-plain64.json`, 4096:
    /// `xts-plain64-4k.json`).
    static func load(sectorSize: Int = 512) throws -> CryptFixtures {
        let root = try #require(
            Bundle.module.url(forResource: "Fixtures", withExtension: nil),
            "Fixtures folder missing"
        )
        let url = root.appendingPathComponent(
            sectorSize == 512 ? "crypt/xts-plain64.json" : "crypt/xts-plain64-4k.json"
        )
        return try JSONDecoder().decode(CryptFixtures.self, from: Data(contentsOf: url))
    }
}

func secret(_ bytes: [UInt8]) -> SecretBytes { SecretBytes(bytes) }

/// The counting key 00 01 … 3f.
let countingKey = (0..<64).map { UInt8($0) }

extension Machine {
    /// Raw disk bytes (the stolen-disk view).
    func diskBytes(_ name: String, _ offset: UInt64, _ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        bytes.withUnsafeMutableBytes { disk(named: name)!.read(offset, into: $0) }
        return bytes
    }
}

extension Kernel {
    /// Every byte of every allocated frame, read through its KeyID alias (what the kernel can see).
    func allocatedMemory() -> [UInt8] {
        var out: [UInt8] = []
        for (frame, info) in pages.allocated.sorted {
            var page = [UInt8](repeating: 0, count: 4096)
            page.withUnsafeMutableBytes { physical.read(frame << 12, keyID: info.keyID, into: $0) }
            out += page
        }
        return out
    }
}
