//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase
import X86

/// User space using Key Locker directly (docs/research/keylocker-research.md §1.5, §3.5: Lutomirski's "lets userspace
/// use KL"). ENCODEKEY* and AES*KL run at any CPL once CR4.KL is set, so the kernel cannot stop a process
/// from using Key Locker after it is enabled; it only decides which IWKey the handles are bound to. With
/// CR4.KL clear the instructions raise #UD (a process would get SIGILL); the fault is thrown as is.
///
/// These entry points stand for a process running the instruction on `cpu` at CPL3: the kernel schedules
/// it there, drops to CPL3, runs it, and clears the operand registers when it switches back (so no key
/// bytes stay in the saved register file).
extension Kernel {
    /// The result of a user-space AES*KL instruction.
    public struct UserKeyLockerBlock: Sendable, Hashable {
        /// ZF: true when the handle was refused (block unchanged).
        public let zf: Bool
        /// XMM0 after the instruction.
        public let block: [UInt8]
    }

    /// ENCODEKEY128 (16-byte key) or ENCODEKEY256 (32-byte key) by process `pid` on `cpu` at CPL3.
    ///
    /// - Returns: EAX (NoBackup | KeySource << 1) and the 48- or 64-byte handle.
    /// - Throws: `HWKeysError` ESRCH (no such process), EINVAL (bad key length, CPU not online); `X86Fault`
    ///   #UD when CR4.KL = 0 on that CPU, #GP(0) for an unsupported restriction.
    public func userEncodeKey(
        pid: Int32,
        cpu: Int? = nil,
        key: SecretBytes,
        restrictions: KeyLockerRestrictions
    ) throws -> (eax: UInt32, handle: [UInt8]) {
        guard key.count == 16 || key.count == 32 else {
            throw HWKeysError.einval("a Key Locker key is 16 (AES-128) or 32 (AES-256) bytes")
        }
        let processor = try userCPU(pid: pid, cpu: cpu)
        let handleSize = key.count == 32 ? KeyLockerEncoding.handle256Size : KeyLockerEncoding.handle128Size
        return try runAtCPL3(processor) { () throws(X86Fault) in
            processor.withXMMRegisters { registers in
                key.withUnsafeBytes { registers.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: key.count) }
            }
            let eax =
                key.count == 32
                ? try processor.encodekey256(src: restrictions.rawValue)
                : try processor.encodekey128(src: restrictions.rawValue)
            return (eax, processor.withXMMRegisters { Array($0[0..<handleSize]) })
        }
    }

    /// AESENC128KL/AESENC256KL (`encrypt`) or the decrypt forms, chosen by the handle's size (48 or 64
    /// bytes), on one block by process `pid` on `cpu` at CPL3.
    ///
    /// - Throws: `HWKeysError` ESRCH, EINVAL (handle or block size, CPU not online); `X86Fault` #UD when
    ///   CR4.KL = 0 (AESKLE = 0) on that CPU. A refused handle is not a fault: ZF = 1.
    public func userAESKL(
        pid: Int32,
        cpu: Int? = nil,
        encrypt: Bool,
        handle: [UInt8],
        block: [UInt8]
    ) throws -> UserKeyLockerBlock {
        let operation: AESKLOperation
        switch (handle.count, encrypt) {
        case (KeyLockerEncoding.handle128Size, true): operation = .encrypt128
        case (KeyLockerEncoding.handle128Size, false): operation = .decrypt128
        case (KeyLockerEncoding.handle256Size, true): operation = .encrypt256
        case (KeyLockerEncoding.handle256Size, false): operation = .decrypt256
        default: throw HWKeysError.einval("a handle is 48 (AES-128) or 64 (AES-256) bytes, not \(handle.count)")
        }
        guard block.count == 16 else { throw HWKeysError.einval("a block is 16 bytes, not \(block.count)") }
        let processor = try userCPU(pid: pid, cpu: cpu)
        return try runAtCPL3(processor) { () throws(X86Fault) in
            processor.withXMMRegisters { $0.copyBytes(from: block) }
            var outcome: Result<Bool, X86Fault> = .success(true)
            handle.withUnsafeBytes { operand in
                outcome = Result { () throws(X86Fault) in try processor.aeskl(operation, xmm: 0, handle: operand) }
            }
            let zf = try outcome.get()
            return UserKeyLockerBlock(zf: zf, block: processor.withXMMRegisters { Array($0[0..<16]) })
        }
    }

    /// The processor `pid` runs on: `cpu` if given (it must be online, like `sched_setaffinity`), else
    /// the kernel's current CPU.
    private func userCPU(pid: Int32, cpu: Int?) throws(HWKeysError) -> any X86Processor {
        _ = try processes.process(pid)
        guard let cpu else { return self.cpu }
        guard onlineCPUs.indices.contains(cpu), onlineCPUs[cpu] else {
            throw .einval("CPU \(cpu) is not online")
        }
        return processors[cpu]
    }

    /// Runs `body` at CPL3 on `processor`, then returns to CPL0 and clears the XMM operands.
    private func runAtCPL3<R>(_ processor: any X86Processor, _ body: () throws(X86Fault) -> R) throws(X86Fault) -> R {
        processor.cpl = 3
        defer {
            processor.cpl = 0
            processor.withXMMRegisters { _ = $0.initializeMemory(as: UInt8.self, repeating: 0) }
        }
        return try body()
    }
}
