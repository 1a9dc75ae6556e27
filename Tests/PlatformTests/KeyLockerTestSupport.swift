//===----------------------------------------------------------------------===//
//
// hwkeys: PlatformTests
//
//===----------------------------------------------------------------------===//

import Foundation
import HWCrypto
import Testing
import X86

@testable import Platform

/// A seeded machine with Key Locker enabled (CR4.KL = 1) on every processor.
func keyLockerMachine(
    seed: UInt64 = 1,
    cpus: Int = 2,
    enable: Bool = true,
    _ configure: (inout MachineConfiguration) -> Void = { _ in }
) throws -> Machine {
    var config = MachineConfiguration()
    config.seed = seed
    config.cpusPerPackage = cpus
    config.bootKernel = false
    configure(&config)
    let machine = try Machine.create(configuration: config)
    if enable {
        for cpu in machine.processors { try cpu.writeCR4(CR4.keyLocker) }
    }
    return machine
}

/// Deterministic test bytes.
func testBytes(_ count: Int, _ label: UInt8) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ Int(label) &* 101 &+ 11) }
}

extension LogicalProcessor {
    func setXMM(_ register: Int, _ bytes: [UInt8]) {
        precondition(16 * register + bytes.count <= 256)
        withXMMRegisters { file in
            for (offset, byte) in bytes.enumerated() { file[16 * register + offset] = byte }
        }
    }

    func xmmBytes(_ register: Int, count: Int = 16) -> [UInt8] {
        withXMMRegisters { Array($0[16 * register..<16 * register + count]) }
    }

    var allXMM: [UInt8] { withXMMRegisters { Array($0) } }

    /// LOADIWKEY the way Linux does: XMM0 = integrity key, XMM1 = encryption key bits 127:0 (SRC2),
    /// XMM2 = bits 255:128 (SRC1), `loadiwkey %xmm1, %xmm2` (F3 0F 38 DC D1). `enc` is low half first.
    @discardableResult
    func loadIWKey(enc: [UInt8], int: [UInt8], eax: UInt32 = 0) throws(X86Fault) -> Bool {
        setXMM(0, int)
        setXMM(1, Array(enc[0..<16]))
        setXMM(2, Array(enc[16..<32]))
        return try loadiwkey(eax: eax, src1: 2, src2: 1)
    }

    /// ENCODEKEY128/256 of `key` (16 or 32 bytes) with `src`; returns the handle read back from XMM0–2/3.
    func encode(_ key: [UInt8], src: UInt32 = 0) throws(X86Fault) -> [UInt8] {
        setXMM(0, key)
        if key.count == 16 {
            _ = try encodekey128(src: src)
            return xmmBytes(0, count: 48)
        } else {
            _ = try encodekey256(src: src)
            return xmmBytes(0, count: 64)
        }
    }

    /// One AES*KL on XMM`register`; returns ZF and the register afterwards.
    func aesKL(
        _ operation: AESKLOperation,
        _ block: [UInt8],
        handle: [UInt8],
        register: Int = 5
    ) throws(X86Fault)
        -> (zf: Bool, block: [UInt8])
    {
        setXMM(register, block)
        let zf = try withHandle(handle) { (h) throws(X86Fault) in try aeskl(operation, xmm: register, handle: h) }
        return (zf, xmmBytes(register))
    }

    /// One WIDE AES*KL on XMM0–7; returns ZF and XMM0–7 afterwards.
    func aesWideKL(
        _ operation: AESKLOperation,
        _ blocks: [UInt8],
        handle: [UInt8]
    ) throws(X86Fault)
        -> (zf: Bool, blocks: [UInt8])
    {
        setXMM(0, blocks)
        let zf = try withHandle(handle) { (h) throws(X86Fault) in try aeswidekl(operation, handle: h) }
        return (zf, xmmBytes(0, count: 128))
    }

    /// Calls `body` with the handle bytes as the loaded memory operand.
    private func withHandle(
        _ handle: [UInt8],
        _ body: (UnsafeRawBufferPointer) throws(X86Fault) -> Bool
    ) throws(X86Fault) -> Bool {
        var result: Result<Bool, X86Fault> = .success(false)
        handle.withUnsafeBytes { bytes in
            do throws(X86Fault) { result = .success(try body(bytes)) } catch { result = .failure(error) }
        }
        return try result.get()
    }

    /// Whether `handle` works here: AESENC*KL (or AESDEC*KL for no-encrypt handles) sets ZF = 0.
    func handleWorks(_ handle: [UInt8]) throws(X86Fault) -> Bool {
        let aes256 = handle.count == 64
        let noEncrypt = handle[0] & 2 != 0
        let operation: AESKLOperation =
            noEncrypt ? (aes256 ? .decrypt256 : .decrypt128) : (aes256 ? .encrypt256 : .encrypt128)
        return try !aesKL(operation, testBytes(16, 9), handle: handle).zf
    }
}
