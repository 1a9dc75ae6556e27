//===----------------------------------------------------------------------===//
//
// hwkeys: KernelTests
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase
import KernelInterfaces
import Platform
import Testing
import X86

@testable import Kernel

/// A stand-in for the `mktme` key type: serials map to KeyIDs that the test programs itself with PCONFIG
/// SET_KEY_DIRECT (a known key, so tests can compute the DRAM ciphertext), through the processor interface
/// exactly as the kernel would — the structure is built in kernel memory and every package's lead CPU runs
/// PCONFIG. It counts the references the memory manager takes and drops.
final class DirectKeyIDs: MemoryEncryptionKeys {
    unowned let kernel: Kernel
    /// serial → KeyID.
    var serials: [Int32: UInt16] = [:]
    /// References per KeyID, as the memory manager reported them.
    var references: [UInt16: Int] = [:]
    /// Lookups by encrypt_mprotect.
    var lookups = 0
    /// Every release that would have gone below zero.
    var underflows: [UInt16] = []

    init(_ kernel: Kernel) {
        self.kernel = kernel
        kernel.memoryEncryption = self
    }

    /// Programs `keyID` with SET_KEY_DIRECT (`key` is data key ‖ tweak key) on every package and names it `serial`.
    func program(serial: Int32, keyID: UInt16, key: [UInt8], algorithm: TMEAlgorithm = .aesXTS128) throws {
        try programRaw(keyID: keyID, command: .setKeyDirect, key: key, algorithm: algorithm)
        serials[serial] = keyID
    }

    /// PCONFIG on every package's lead CPU with the structure in kernel memory.
    func programRaw(keyID: UInt16, command: MKTMEKeyCommand, key: [UInt8], algorithm: TMEAlgorithm = .aesXTS128) throws
    {
        var structure = [UInt8](repeating: 0, count: MKTMEKeyProgramLayout.size)
        let half = key.count / 2
        structure.withUnsafeMutableBytes { out in
            key.withUnsafeBytes { raw in
                MKTMEKeyProgramLayout.encode(
                    keyID: keyID,
                    keyIDControl: MKTMEKeyProgramLayout.keyIDControl(command: command, algorithm: algorithm),
                    keyField1: UnsafeRawBufferPointer(rebasing: raw[0..<half]),
                    keyField2: UnsafeRawBufferPointer(rebasing: raw[half...]),
                    into: out
                )
            }
        }
        let allocation = try kernel.storeInKernelMemory(SecretBytes(structure))
        defer { kernel.freeKernelMemory(allocation) }
        let address = allocation.segments[0].address
        #expect(address % MKTMEKeyProgramLayout.alignment == 0)
        for package in 0..<kernel.platform.packageCount {
            let cpu = try #require(kernel.leadCPU(ofPackage: package))
            let result = try cpu.pconfig(leaf: PCONFIGLeaf.mktmeKeyProgram, structure: PhysicalAddress(address))
            #expect(result.status == .success)
        }
    }

    func keyIDForEncryptMprotect(serial: Int32, pid: Int32) throws(HWKeysError) -> UInt16 {
        lookups += 1
        guard let keyID = serials[serial] else { throw HWKeysError(.ENOKEY, "no key \(serial)") }
        references[keyID, default: 0] += 1
        return keyID
    }

    func retainKeyID(_ keyID: UInt16, count: Int) {
        #expect(keyID != 0 && count > 0)
        references[keyID, default: 0] += count
    }

    func releaseKeyID(_ keyID: UInt16, count: Int) {
        #expect(keyID != 0 && count > 0)
        references[keyID, default: 0] -= count
        if references[keyID]! < 0 { underflows.append(keyID) }
        if references[keyID] == 0 { references[keyID] = nil }
    }
}

/// A seeded machine with a booted kernel and the direct-KeyID double installed.
func memoryKernel(
    _ configure: (inout MachineConfiguration) -> Void = { _ in }
) throws -> (Machine, Kernel, DirectKeyIDs) {
    let (machine, kernel) = try bootedKernel(configure)
    return (machine, kernel, DirectKeyIDs(kernel))
}

/// Fixed test keys (data ‖ tweak).
let keyA = (0..<32).map { UInt8($0) }
let keyB = (0..<32).map { UInt8(0xA0 &+ $0) }

extension Kernel {
    /// `writeMemory` of bytes.
    func write(_ pid: Int32, _ address: UInt64, _ bytes: [UInt8]) throws(HWKeysError) {
        try writeMemory(pid: pid, address: address, SecretBytes(bytes))
    }

    /// `writeMemory` of UTF-8 text.
    func write(_ pid: Int32, _ address: UInt64, text: String) throws(HWKeysError) {
        try write(pid, address, Array(text.utf8))
    }

    /// `readMemory` as bytes.
    func read(_ pid: Int32, _ address: UInt64, _ count: Int) throws(HWKeysError) -> [UInt8] {
        try readMemory(pid: pid, address: address, count: count).revealedBytes()
    }

    /// The VMAs of `pid`.
    func vmas(_ pid: Int32) -> [VMA] { memoryManager.spaces[pid]?.vmas ?? [] }

    /// Everything a failed call must leave alone: VMAs, free frames, references.
    func memorySnapshot() -> String {
        "\(memoryManager.spaces.sorted.map { ($0.key, $0.value) })|\(pages.freeFrames)|"
            + "\(memoryManager.keyIDUse.sorted.map { ($0.key, $0.value) })|"
            + "\(memoryManager.sharedObjects.sorted.map { ($0.key, $0.value) })"
    }
}

extension Machine {
    /// Raw DRAM bytes (the bus / DIMM view).
    func dramBytes(_ address: UInt64, _ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        bytes.withUnsafeMutableBytes { dram.read(address, into: $0) }
        return bytes
    }
}
