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

/// FIPS 197 Appendix C known answers (independent of hwkeys): C.1 AES-128 and C.3 AES-256 with the same
/// plaintext.
enum FIPS197 {
    static let plaintext = bytes("00112233445566778899aabbccddeeff")
    static let key128 = bytes("000102030405060708090a0b0c0d0e0f")
    static let cipher128 = bytes("69c4e0d86a7b0430d8cdb78070b4c55a")
    static let key256 = bytes("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
    static let cipher256 = bytes("8ea2b7ca516745bfeafc49904b496089")

    static func bytes(_ hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            out.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return out
    }
}

/// A kernel user holding handles or not (the crypt volumes stand-in).
final class FakeKeyLockerUser: KeyLockerUser {
    var holdsKeyLockerHandles: Bool
    init(holding: Bool) { holdsKeyLockerHandles = holding }
}

/// A hibernation image that keeps nothing but the remembered key's bytes (the part of kernel memory the
/// Key Locker manager needs), standing in for the swap-device image being built elsewhere.
final class KeyMemoryOnlyHibernation: HibernationImage {
    unowned let kernel: Kernel
    var saved: [UInt8]?
    init(kernel: Kernel) { self.kernel = kernel }
    func write() throws(HWKeysError) {
        saved = kernel.keyLockerManager.rememberedKey.map { kernel.readKernelMemory($0).revealedBytes() }
    }
    func restoreKernelMemory() throws(HWKeysError) {
        if let saved, let allocation = kernel.keyLockerManager.rememberedKey {
            kernel.writeKernelMemory(allocation, SecretBytes(saved))
        }
    }
    func restoreEncryptedMemory() throws(HWKeysError) {}
}

/// A machine and kernel with `cmdline`, seeded.
func keyLockerKernel(
    _ cmdline: String = "",
    seed: UInt64 = 7,
    _ configure: (inout MachineConfiguration) -> Void = { _ in }
) throws -> (Machine, Kernel) {
    try bootedKernel { config in
        config.seed = seed
        config.kernelCommandLine = cmdline
        config.memoryBytes = 4 << 20
        configure(&config)
    }
}

extension Kernel {
    /// Writes the mode as the root shell.
    func writeKeyLockerMode(_ mode: String) throws(HWKeysError) {
        try sysfsWrite("/sys/kernel/keylocker/mode", mode, as: ProcessTable.shellPID)
    }

    /// CR4.KL on `cpu`.
    func cr4KL(_ cpu: Int) throws -> Bool { try platform.cpus[cpu].readCR4() & CR4.keyLocker != 0 }
}

/// ENCODEKEY128 of the FIPS key on `cpu` at CPL0 (unrestricted handle).
func encodeFIPSHandle(_ kernel: Kernel, cpu: Int = 0) throws -> [UInt8] {
    let processor = kernel.platform.cpus[cpu]
    processor.withXMMRegisters { $0.copyBytes(from: FIPS197.key128) }
    _ = try processor.encodekey128(src: 0)
    return processor.withXMMRegisters { Array($0[0..<48]) }
}

/// AESENC128KL of the FIPS plaintext with `handle` on `cpu` at CPL0: nil when ZF = 1.
func encryptFIPSBlock(_ kernel: Kernel, handle: [UInt8], cpu: Int) throws -> [UInt8]? {
    let processor = kernel.platform.cpus[cpu]
    processor.withXMMRegisters { $0.copyBytes(from: FIPS197.plaintext) }
    let zf = try handle.withUnsafeBytes { try processor.aeskl(.encrypt128, xmm: 0, handle: $0) }
    return zf ? nil : processor.withXMMRegisters { Array($0[0..<16]) }
}

/// Whether `handle` gives the FIPS ciphertext on every online CPU.
func handleWorksEverywhere(_ kernel: Kernel, _ handle: [UInt8]) throws -> Bool {
    for cpu in kernel.onlineCPUs.indices where kernel.onlineCPUs[cpu] {
        guard try kernel.cr4KL(cpu), try encryptFIPSBlock(kernel, handle: handle, cpu: cpu) == FIPS197.cipher128 else {
            return false
        }
    }
    return true
}

/// Every byte of RAM as the kernel's direct map reads it (KeyID 0, through the memory encryption engine).
func kernelView(_ kernel: Kernel) -> [UInt8] {
    let size = Int(kernel.platform.memoryMap.last!.upperBound)
    var bytes = [UInt8](repeating: 0, count: size)
    bytes.withUnsafeMutableBytes { kernel.physical.read(0, into: $0) }
    return bytes
}

/// The raw DIMM contents (what a cold-boot or DMA-on-the-bus attacker reads), after writing caches back.
func rawDRAM(_ machine: Machine, _ kernel: Kernel) throws -> [UInt8] {
    for cpu in kernel.platform.cpus { try cpu.wbinvd() }
    var bytes = [UInt8](repeating: 0, count: Int(machine.configuration.memoryBytes))
    bytes.withUnsafeMutableBytes { machine.dram.read(0, into: $0) }
    return bytes
}
