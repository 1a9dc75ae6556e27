//===----------------------------------------------------------------------===//
//
// hwkeys: Platform
//
//===----------------------------------------------------------------------===//

import HWCrypto
import X86

extension LogicalProcessor {
    /// LOADIWKEY xmm1, xmm2 — load the internal wrapping key (SDM Vol. 2A "LOADIWKEY"; Key Locker spec
    /// 343965 §3; docs/contract.md §3).
    ///
    /// `IWKey.EncryptionKey[127:0]` = SRC2 (`src2`, ModRM.r/m), `[255:128]` = SRC1 (`src1`, ModRM.reg),
    /// `IWKey.IntegrityKey` = XMM0; EAX[0] = NoBackup, EAX[4:1] = KeySource. With KeySource 1 the three
    /// inputs are XORed with 384 bits from the on-chip random source (the machine's entropy source, in the
    /// order SRC2, SRC1, XMM0); if that source fails (`hw inject rdseed-fail`), IWKey is unchanged and ZF = 1.
    /// No register is written; OF, SF, AF, PF and CF are cleared (not modelled beyond ZF).
    ///
    /// - Parameters:
    ///   - eax: EAX (only EAX is read; RAX[63:32] is not architecturally involved).
    ///   - src1: the register number of SRC1 (0–15).
    ///   - src2: the register number of SRC2 (0–15).
    /// - Returns: ZF: `true` when a random IWKey could not be generated (IWKey unchanged).
    /// - Throws: #UD without Key Locker or with CR4.KL = 0; #GP(0) above CPL0, for KeySource > 1, for
    ///   EAX[31:5] ≠ 0, for NoBackup without CPUID.19H:ECX[0], for KeySource 1 without CPUID.19H:ECX[1].
    public func loadiwkey(eax: UInt32, src1: Int, src2: Int) throws(X86Fault) -> Bool {
        precondition((0..<16).contains(src1) && (0..<16).contains(src2), "LOADIWKEY operands are XMM0–XMM15")
        // #UD: CPUID.07H:ECX.KL = 0 or CR4.KL = 0.
        try require(.keyLocker, "LOADIWKEY")
        // #GP(0): privilege, then EAX.
        try requireCPL0("LOADIWKEY")
        let noBackup = eax & KeyLockerEncoding.loadNoBackup != 0
        let keySource = (eax & KeyLockerEncoding.loadKeySourceMask) >> KeyLockerEncoding.loadKeySourceShift
        guard keySource <= 1 else { throw .gp0("LOADIWKEY: reserved KeySource \(keySource) (EAX[4:1] > 1)") }
        guard eax >> 5 == 0 else { throw .gp0("LOADIWKEY: reserved bits EAX[31:5] set") }
        let config = machine.configuration
        guard !noBackup || config.klNoBackup else {
            throw .gp0("LOADIWKEY: NoBackup without CPUID.19H:ECX[0] (NoBackup unsupported)")
        }
        guard keySource == 0 || config.klRandom else {
            throw .gp0("LOADIWKEY: KeySource 1 without CPUID.19H:ECX[1] (random IWKey unsupported)")
        }

        // Operation: gather SRC2 ‖ SRC1 and XMM0 into zeroizing temporaries.
        let encryption = SecretBytes(count: 32)
        let integrity = SecretBytes(count: 16)
        xmm.withUnsafeBytes { registers in
            encryption.withUnsafeMutableBytes { out in
                out.baseAddress!.copyMemory(from: registers.baseAddress! + 16 * src2, byteCount: 16)
                (out.baseAddress! + 16).copyMemory(from: registers.baseAddress! + 16 * src1, byteCount: 16)
            }
            integrity.withUnsafeMutableBytes { out in
                out.baseAddress!.copyMemory(from: registers.baseAddress!, byteCount: 16)
            }
        }
        if keySource == 1 {
            machine.charge(.loadiwkeyRandom)
            // The full-entropy source (RDSEED's) may fail to deliver; then nothing is loaded.
            if machine.faults.rdseedFailures > 0 {
                machine.faults.rdseedFailures -= 1
                return true
            }
            let random = machine.entropy.secretBytes(count: 48)
            encryption.formXor(random.slice(0..<32))
            integrity.formXor(random.slice(32..<48))
        } else {
            machine.charge(.loadiwkeySoftware)
        }
        keyLocker.load(
            encryptionKey: encryption,
            integrityKey: integrity,
            keySource: UInt8(keySource),
            noBackup: noBackup
        )
        return false
    }
}
