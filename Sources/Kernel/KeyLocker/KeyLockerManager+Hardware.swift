//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase
import X86

/// `IA32_IWKEYBACKUP_STATUS` (MSR 991H) bits (Key Locker spec 343965 §4.5; docs/contract.md §3).
enum BackupStatus {
    static let valid: UInt64 = 1 << 0
    static let storageError: UInt64 = 1 << 2
}

extension KeyLockerManager {
    /// Runs CPL0 kernel code that cannot fault on correctly enumerated hardware; a fault is a kernel bug
    /// and reported as EIO rather than trapping.
    func hardware<R>(_ body: () throws(X86Fault) -> R) throws(HWKeysError) -> R {
        do {
            return try body()
        } catch {
            throw HWKeysError(.EIO, "unexpected \(error.mnemonic) in the Key Locker manager: \(error.reason)")
        }
    }

    /// Sets or clears CR4.KL (bit 19; SDM Vol. 3A §2.5) on `cpu`.
    func setCR4KL(_ on: Bool, on cpu: any X86Processor) throws(HWKeysError) {
        try hardware { () throws(X86Fault) in
            let cr4 = try cpu.readCR4()
            let value = on ? cr4 | CR4.keyLocker : cr4 & ~CR4.keyLocker
            if value != cr4 { try cpu.writeCR4(value) }
        }
    }

    /// Sets CR4.KL on `cpu` and checks that the AES Key Locker instructions came up with it: CPUID.19H:EBX[0]
    /// (AESKLE) is dynamic and must read 1 once CR4.KL is set (Intel v9 `setup_keylocker()`, which sets CR4.KL
    /// and then disables Key Locker when AESKLE is clear: setting CR4.KL "does not always enable the
    /// feature", docs/research/keylocker-research.md §1.1, §2.2). Used when a mode is first initialized; the
    /// restore paths of resume and hotplug only set CR4.KL, as v9's do.
    ///
    /// - Throws: EOPNOTSUPP when AESKLE stays 0 (the caller clears CR4.KL again and leaves Key Locker
    ///   disabled).
    func enableKeyLocker(on cpu: any X86Processor) throws(HWKeysError) {
        try setCR4KL(true, on: cpu)
        guard cpu.cpuid(leaf: CPUIDLeaf.keyLockerLeaf, subleaf: 0).ebx & CPUIDBit.klAESKLEEBX != 0 else {
            throw HWKeysError(
                .EOPNOTSUPP,
                "AES Key Locker instructions not enabled on CPU\(cpu.cpuNumber) after setting CR4.KL "
                    + "(CPUID.19H:EBX[0] AESKLE = 0)"
            )
        }
    }

    /// 48 bytes of kernel randomness (RDRAND on the current CPU, like the key service's serials and
    /// Linux `get_random_bytes()`): encryption key (32) ‖ integrity key (16).
    func generateKey() throws(HWKeysError) -> SecretBytes {
        let key = SecretBytes(count: 48)
        let cpu = kernel.cpu
        for word in 0..<6 {
            var value: UInt64?
            for _ in 0..<10 where value == nil { value = cpu.rdrand() }
            guard var random = value else {
                key.wipe()
                throw HWKeysError(.EIO, "RDRAND failed 10 times")
            }
            key.withUnsafeMutableBytes { out in
                withUnsafeBytes(of: &random) {
                    out.baseAddress!.advanced(by: 8 * word).copyMemory(from: $0.baseAddress!, byteCount: 8)
                }
            }
            random = 0
        }
        return key
    }

    /// LOADIWKEY with a software key (KeySource 0, Intel v9 `load_keylocker()`): XMM0 = integrity key,
    /// XMM1 = encryption key bits 127:0 (SRC2), XMM2 = bits 255:128 (SRC1); the registers are zeroed after.
    func loadSoftwareKey(_ key: SecretBytes, eax: UInt32, on cpu: any X86Processor) throws(HWKeysError) {
        cpu.withXMMRegisters { registers in
            key.withUnsafeBytes { bytes in
                let base = registers.baseAddress!
                base.copyMemory(from: bytes.baseAddress! + 32, byteCount: 16)
                (base + 16).copyMemory(from: bytes.baseAddress!, byteCount: 16)
                (base + 32).copyMemory(from: bytes.baseAddress! + 16, byteCount: 16)
            }
        }
        defer { zeroOperands(cpu) }
        let zf = try hardware { () throws(X86Fault) in try cpu.loadiwkey(eax: eax, src1: 2, src2: 1) }
        // KeySource 0 cannot fail (docs/contract.md §3).
        guard !zf else { throw HWKeysError(.EIO, "LOADIWKEY with a software key reported ZF = 1") }
    }

    /// LOADIWKEY KeySource 1 with zero inputs (the key is the hardware's random bits alone), retrying ZF.
    func loadRandomKey(on cpu: any X86Processor) throws(HWKeysError) {
        let eax = UInt32(1) << KeyLockerEncoding.loadKeySourceShift
        for _ in 0..<Self.randomRetries {
            zeroOperands(cpu)
            let zf = try hardware { () throws(X86Fault) in try cpu.loadiwkey(eax: eax, src1: 2, src2: 1) }
            if !zf { return }
        }
        throw HWKeysError(.EIO, "LOADIWKEY KeySource 1 failed \(Self.randomRetries) times (no hardware randomness)")
    }

    private func zeroOperands(_ cpu: any X86Processor) {
        cpu.withXMMRegisters { registers in
            _ = registers.baseAddress!.initializeMemory(as: UInt8.self, repeating: 0, count: 48)
        }
    }

    /// `IA32_COPY_LOCAL_TO_PLATFORM` from `cpu`, then polls `IA32_IWKEYBACKUP_STATUS` until the backup is
    /// valid (every RDMSR costs emulated time, so a backup latency completes while the kernel polls).
    func backUp(from cpu: any X86Processor) throws(HWKeysError) {
        let copied = try hardware { () throws(X86Fault) in
            try cpu.wrmsr(MSR.copyLocalToPlatform, 1)
            return try cpu.rdmsr(MSR.copyStatus) & 1 != 0
        }
        guard copied else { throw HWKeysError(.EIO, "IWKey backup failed (IA32_COPY_STATUS = 0)") }
        try waitForValidBackup(on: cpu)
    }

    /// Polls MSR 991H: bit 0 → done; bit 2 → EIO; past the timeout → EIO.
    func waitForValidBackup(on cpu: any X86Processor) throws(HWKeysError) {
        let deadline = kernel.now &+ Self.backupTimeoutNanoseconds
        while true {
            let status = try hardware { () throws(X86Fault) in try cpu.rdmsr(MSR.iwKeyBackupStatus) }
            if status & BackupStatus.valid != 0 { return }
            if status & BackupStatus.storageError != 0 {
                throw HWKeysError(.EIO, "IWKey backup storage read/write error (IA32_IWKEYBACKUP_STATUS bit 2)")
            }
            if kernel.now >= deadline {
                throw HWKeysError(.EIO, "IWKey backup not valid after \(Self.backupTimeoutNanoseconds / 1_000_000) ms")
            }
        }
    }

    /// `IA32_COPY_PLATFORM_TO_LOCAL` on `cpu`, checking `IA32_COPY_STATUS` (Intel v9 `copy_keylocker()`).
    func restoreFromBackup(on cpu: any X86Processor) throws(HWKeysError) {
        let copied = try hardware { () throws(X86Fault) in
            try cpu.wrmsr(MSR.copyPlatformToLocal, 1)
            return try cpu.rdmsr(MSR.copyStatus) & 1 != 0
        }
        guard copied else {
            throw HWKeysError(
                .EIO,
                "IWKey restore from the backup failed on CPU\(cpu.cpuNumber) (IA32_COPY_STATUS = 0)"
            )
        }
    }
}
