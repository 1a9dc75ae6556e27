//===----------------------------------------------------------------------===//
//
// hwkeys: Platform
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase
import X86

extension Machine {
    /// MKTME_KEY_PROGRAM, PCONFIG leaf 0, on `package`'s key table (MKTME spec 336907 §6.2; SDM Vol. 2B
    /// PCONFIG, original generation; docs/contract.md §2). `structure` holds the 192 bytes of
    /// `MKTME_KEY_PROGRAM_STRUCT`; the instruction's #UD/#GP guards have already run.
    ///
    /// Order, as in the SDM pseudocode:
    /// 1. KEYID_CTRL bits 31:24 set → #GP(0) (both SDM generations fault here; hwkeys choice, docs/mktme.md);
    /// 2. COMMAND > 3 → INVALID_PROG_CMD;
    /// 3. KEYID = 0, > MK_TME_MAX_KEYS, or ≥ 2^k → INVALID_KEYID;
    /// 4. ENC_ALG not exactly one bit, or not enabled in `IA32_TME_ACTIVATE[63:48]` → INVALID_ENC_ALG, for
    ///    every command, CLEAR_KEY and NO_ENCRYPT included;
    /// 5. the key table cannot be locked → DEVICE_BUSY (only when injected: `faults.pconfigBusy[package]`);
    /// 6. the command: SET_KEY_DIRECT (data key = KEY_FIELD_1, tweak key = KEY_FIELD_2), SET_KEY_RANDOM
    ///    (each key = fresh random bytes from the machine's entropy XOR its field; an injected RNG failure,
    ///    `faults.pconfigEntropy[package]`, gives ENTROPY_ERROR and only this command consumes it),
    ///    CLEAR_KEY (the KeyID then behaves as KeyID 0), NO_ENCRYPT (plaintext). Only the first 16 (AES-128)
    ///    or 32 (AES-256) bytes of each key field are used; bytes 6–63 and the rest of the fields are ignored.
    ///
    /// Success: RAX = 0, ZF = 0. Failure: ZF = 1, RAX = the status. CF, PF, AF, OF and SF are cleared either
    /// way. Lines still cached with this KeyID are **not** flushed: a later write-back uses the new key.
    func mktmeKeyProgram(_ structure: UnsafeRawBufferPointer, package: Int) throws(X86Fault) -> PCONFIGResult {
        precondition(structure.count >= MKTMEKeyProgramLayout.size, "MKTME_KEY_PROGRAM_STRUCT is 192 bytes")
        let keyID = Int(
            UInt16(
                littleEndian: structure.loadUnaligned(
                    fromByteOffset: MKTMEKeyProgramLayout.keyIDOffset,
                    as: UInt16.self
                )
            )
        )
        let control = UInt32(
            littleEndian: structure.loadUnaligned(
                fromByteOffset: MKTMEKeyProgramLayout.keyIDControlOffset,
                as: UInt32.self
            )
        )
        guard MKTMEKeyProgramLayout.reserved(ofControl: control) == 0 else {
            throw .gp0("KEYID_CTRL reserved bits 31:24 set (0x\(String(control, radix: 16)))")
        }
        guard let command = MKTMEKeyCommand(rawValue: MKTMEKeyProgramLayout.command(ofControl: control)) else {
            return PCONFIGResult(status: .invalidProgramCommand)
        }
        guard keyID != 0, keyID <= tme.maxKeys, keyID < tme.keyIDLayout.keyIDCount else {
            return PCONFIGResult(status: .invalidKeyID)
        }
        let requested = MKTMEKeyProgramLayout.encryptionAlgorithms(ofControl: control)
        guard requested.nonzeroBitCount == 1, requested & tme.enabledAlgorithms != 0,
            let algorithm = TMEAlgorithm(rawValue: requested.trailingZeroBitCount)
        else {
            return PCONFIGResult(status: .invalidEncryptionAlgorithm)
        }
        if faults.pconfigBusy[package] > 0 {
            faults.pconfigBusy[package] -= 1
            return PCONFIGResult(status: .deviceBusy)
        }

        let table = memory.controllers[package].keyTable
        let length = algorithm.keyLength
        let field1 = UnsafeRawBufferPointer(
            rebasing: structure[MKTMEKeyProgramLayout.keyField1Offset...].prefix(length)
        )
        let field2 = UnsafeRawBufferPointer(
            rebasing: structure[MKTMEKeyProgramLayout.keyField2Offset...].prefix(length)
        )
        switch command {
        case .setKeyDirect:
            let key = SecretBytes(count: 2 * length)
            key.withUnsafeMutableBytes { out in
                out.baseAddress!.copyMemory(from: field1.baseAddress!, byteCount: length)
                (out.baseAddress! + length).copyMemory(from: field2.baseAddress!, byteCount: length)
            }
            table.program(keyID, .keyed(.direct, algorithm, key: key))
        case .setKeyRandom:
            if faults.pconfigEntropy[package] > 0 {
                faults.pconfigEntropy[package] -= 1
                return PCONFIGResult(status: .entropyError)
            }
            let key = entropy.secretBytes(count: 2 * length)
            key.withUnsafeMutableBytes { out in
                for index in 0..<length {
                    out[index] ^= field1[index]
                    out[length + index] ^= field2[index]
                }
            }
            table.program(keyID, .keyed(.random, algorithm, key: key))
        case .clearKey:
            table.program(keyID, KeyTableEntry(state: .clear, algorithm: algorithm))
        case .noEncrypt:
            table.program(keyID, KeyTableEntry(state: .noEncrypt, algorithm: algorithm))
        }
        return PCONFIGResult(status: .success)
    }
}
