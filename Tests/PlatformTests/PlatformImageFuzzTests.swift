//===----------------------------------------------------------------------===//
//
// hwkeys: PlatformTests
//
//===----------------------------------------------------------------------===//

import Foundation
import HWCrypto
import HWKeysBase
import TestSupport
import Testing
import X86

@testable import Platform

/// Stored machine images are attacker-writable (docs/robustness.md; docs/contract.md §12): a platform image
/// with bytes changed anywhere either fails to restore with EIO or restores a machine whose every
/// instruction and power transition still works — never a trap. Deterministic; each case mutates a few bytes
/// of a prepared image (both parts: processors, caches, key tables, TME registers, counters, faults, the
/// IWKey backup, the disk list) and drives the result.
@Suite struct PlatformImageFuzzTests {
    static let cases = Int(ProcessInfo.processInfo.environment["HWKEYS_FUZZ_CASES"] ?? "") ?? 3_000

    /// A machine with state in every part of its image.
    static func prepared() throws -> Machine {
        let machine = try makeMachine {
            $0.packages = 2
            $0.cacheLines = 256
            $0.memoryBytes = 4 << 20
        }
        let cpu = machine.cpu()
        try cpu.writeCR4(CR4.keyLocker)
        cpu.withXMMRegisters { $0.initializeMemory(as: UInt8.self, repeating: 0x5A) }
        _ = try cpu.loadiwkey(eax: 0, src1: 2, src2: 1)
        try cpu.wrmsr(MSR.copyLocalToPlatform, 1)
        var structure = [UInt8](repeating: 0, count: MKTMEKeyProgramLayout.size)
        structure.withUnsafeMutableBytes { out in
            MKTMEKeyProgramLayout.encode(
                keyID: 1,
                keyIDControl: MKTMEKeyProgramLayout.keyIDControl(command: .setKeyRandom, algorithm: .aesXTS128),
                keyField1: UnsafeRawBufferPointer(start: nil, count: 0),
                keyField2: UnsafeRawBufferPointer(start: nil, count: 0),
                into: out
            )
        }
        _ = try structure.withUnsafeBytes { try cpu.pconfig(leaf: 0, structureBytes: $0) }
        let data = [UInt8](repeating: 0xC3, count: 4096)
        data.withUnsafeBytes { cpu.store(PhysicalAddress(0x3000), from: $0) }
        data.withUnsafeBytes { cpu.store(machine.keyIDLayout.address(PhysicalAddress(0x5000), withKeyID: 1), from: $0) }
        machine.faults.pconfigBusy[1] = 2
        return machine
    }

    @Test func mutatedImagesRestoreOrFailWithEIONeverTrap() throws {
        let machine = try Self.prepared()
        let image = machine.makeImage()
        var rng = SplitMix64(seed: 0x1AA6E)
        var restored = 0
        var refused = 0
        for _ in 0..<Self.cases {
            var volatile = image.volatile
            var nonVolatile = image.nonVolatile
            for _ in 0..<(1 + Int(rng.next() % 3)) {
                if rng.next() % 4 == 0 {
                    Self.mutate(&nonVolatile, &rng)
                } else {
                    Self.mutate(&volatile, &rng)
                }
            }
            do {
                let copy = try Machine.restore(
                    configuration: machine.configuration,
                    image: PlatformImage(volatile: volatile, nonVolatile: nonVolatile),
                    pageSource: nil
                )
                restored += 1
                Self.drive(copy, &rng)
            } catch {
                #expect(error.errno == .EIO, "\(error)")
                refused += 1
            }
        }
        #expect(restored > 0 && refused > 0, "restored \(restored), refused \(refused)")
    }

    /// Keys saved for standby that firmware could not restore under the configured policy (key select = 1
    /// would #GP) used to trap at the next resume; such an image is refused.
    @Test func standbyKeysFirmwareCannotRestoreAreEIO() throws {
        let machine = try makeMachine()
        try machine.power(.suspend)
        let image = machine.makeImage()
        var other = machine.configuration
        other.tmePolicy = .aesXTS256
        #expect(throws: HWKeysError(.EIO, "")) {
            _ = try Machine.restore(configuration: other, image: image, pageSource: nil)
        }
        let same = try Machine.restore(configuration: machine.configuration, image: image, pageSource: nil)
        try same.power(.resume)
        #expect(same.tmeStatus.active)
    }

    /// Changes one byte, one bit, or one aligned 8-byte word of `bytes`.
    static func mutate(_ bytes: inout [UInt8], _ rng: inout SplitMix64) {
        guard !bytes.isEmpty else { return }
        let index = Int(rng.next() % UInt64(bytes.count))
        switch rng.next() % 4 {
        case 0: bytes[index] = UInt8(truncatingIfNeeded: rng.next())
        case 1: bytes[index] ^= 1 << (rng.next() % 8)
        case 2: bytes[index] = rng.next() % 2 == 0 ? 0 : 0xFF
        default:
            let start = index & ~7
            for offset in start..<min(start + 8, bytes.count) { bytes[offset] = UInt8(truncatingIfNeeded: rng.next()) }
        }
    }

    /// Everything a restored machine must survive: power transitions, memory through every KeyID, the TME
    /// and Key Locker MSRs, PCONFIG, Key Locker instructions, a new image.
    static func drive(_ machine: Machine, _ rng: inout SplitMix64) {
        for _ in 0..<3 {
            let cpu = machine.processors[Int(rng.next() % UInt64(machine.processors.count))]
            switch rng.next() % 9 {
            case 0:
                let action = PowerAction.allCases[Int(rng.next() % UInt64(PowerAction.allCases.count))]
                _ = try? machine.power(action)
            case 1, 2:
                guard machine.powerState == .running else { continue }
                let keyID = UInt16(rng.next() % UInt64(machine.keyIDLayout.keyIDCount))
                let address = machine.keyIDLayout.address(
                    PhysicalAddress(rng.next() % (4 << 20) & ~63),
                    withKeyID: keyID
                )
                var buffer = [UInt8](repeating: 0, count: 256)
                buffer.withUnsafeMutableBytes { cpu.load(address, into: $0) }
                buffer.withUnsafeBytes { cpu.store(address, from: $0) }
                cpu.clflush(address)
            case 3:
                for msr in [MSR.tmeActivate, MSR.tmeCapability, MSR.copyStatus, MSR.iwKeyBackupStatus] {
                    _ = try? cpu.rdmsr(msr)
                }
                _ = try? cpu.wrmsr(MSR.copyPlatformToLocal, 1)
            case 4:
                _ = try? cpu.wbinvd()
            case 5:
                var structure = [UInt8](repeating: 0, count: MKTMEKeyProgramLayout.size)
                structure[0] = UInt8(rng.next() % 8)
                structure[2] = UInt8(rng.next() % 4)
                structure[3] = 1
                _ = try? structure.withUnsafeBytes { try cpu.pconfig(leaf: 0, structureBytes: $0) }
            case 6:
                _ = try? cpu.encodekey128(src: 0)
                var handle = [UInt8](repeating: 0, count: 48)
                cpu.withXMMRegisters { registers in
                    handle.withUnsafeMutableBytes {
                        $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: registers[0..<48]))
                    }
                }
                _ = try? handle.withUnsafeBytes { try cpu.aeskl(.encrypt128, xmm: 3, handle: $0) }
            case 7:
                _ = try? cpu.writeCR4(rng.next() % 2 == 0 ? CR4.keyLocker : 0)
                _ = try? cpu.loadiwkey(eax: UInt32(rng.next() % 4), src1: 2, src2: 1)
            default:
                machine.advance(nanoseconds: rng.next() % 1_000_000_000)
            }
        }
        var image = machine.makeImage()
        image.wipe()
        _ = machine.tmeStatus
        for package in 0..<machine.configuration.packages { _ = machine.keyTableStatus(package: package) }
    }
}
