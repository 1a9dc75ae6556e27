//===----------------------------------------------------------------------===//
//
// hwkeys: Platform
//
//===----------------------------------------------------------------------===//

import HWCrypto
import X86

extension LogicalProcessor {
    /// AESENC128KL / AESDEC128KL / AESENC256KL / AESDEC256KL xmm, m384/m512 — one full AES-128 (10 rounds)
    /// or AES-256 (14 rounds) encryption or decryption of XMM`xmm` under the key wrapped in the handle
    /// (SDM Vol. 2A "AESENC128KL" … "AESDEC256KL"; Key Locker spec 343965 §3; spec.md §3).
    ///
    /// A bad handle never faults: it sets ZF and leaves the register unchanged (see ``handleKey(_:_:)``).
    ///
    /// - Parameters:
    ///   - operation: which of the four instructions.
    ///   - xmm: the register operand (0–15), read and written.
    ///   - handle: the 48 (m384) or 64 (m512) bytes of the memory operand, as loaded.
    /// - Returns: ZF: `true` when the handle is illegal or does not authenticate (data unchanged).
    /// - Throws: #UD without Key Locker, with CR4.KL = 0 or AESKLE = 0.
    public func aeskl(
        _ operation: AESKLOperation,
        xmm index: Int,
        handle: UnsafeRawBufferPointer
    ) throws(X86Fault)
        -> Bool
    {
        precondition((0..<16).contains(index), "AES*KL register operand is XMM0–XMM15")
        precondition(
            handle.count == operation.handleSize,
            "\(operation.rawValue) reads a \(operation.handleSize)-byte handle"
        )
        // #UD: KL, CR4.KL, AESKLE.
        try require(.aesKLE, operation.rawValue)
        return run(operation, handle: handle, registers: 16 * index..<16 * index + 16)
    }

    /// AESENCWIDE128KL / AESDECWIDE128KL / AESENCWIDE256KL / AESDECWIDE256KL m384/m512 — the same on each of
    /// XMM0–XMM7 independently (SDM Vol. 2A "AESENCWIDE128KL" … "AESDECWIDE256KL"; spec.md §3).
    ///
    /// - Parameters:
    ///   - operation: which AES*KL operation the WIDE form performs.
    ///   - handle: the 48 or 64 bytes of the memory operand.
    /// - Returns: ZF: `true` when the handle is illegal or does not authenticate (XMM0–7 unchanged).
    /// - Throws: #UD without Key Locker, with CR4.KL = 0, AESKLE = 0 or WIDE_KL = 0.
    public func aeswidekl(_ operation: AESKLOperation, handle: UnsafeRawBufferPointer) throws(X86Fault) -> Bool {
        precondition(
            handle.count == operation.handleSize,
            "\(operation.wideMnemonic) reads a \(operation.handleSize)-byte handle"
        )
        // #UD: KL, CR4.KL, AESKLE, WIDE_KL.
        try require(.wideKL, operation.wideMnemonic)
        return run(operation, handle: handle, registers: 0..<128)
    }

    /// The common body: handle → key (or ZF = 1), then AES on the registers in place.
    private func run(_ operation: AESKLOperation, handle: UnsafeRawBufferPointer, registers: Range<Int>) -> Bool {
        // Every execution loads and unwraps the handle on silicon, so it is charged whether or not the
        // host-side cache already holds the key: emulated time never depends on the cache.
        machine.charge(.aesklHandle)
        guard let cipher = handleKey(operation, handle) else { return true }
        xmm.withUnsafeMutableBytes { file in
            let data = UnsafeMutableRawBufferPointer(rebasing: file[registers])
            if operation.encrypts { cipher.encrypt(data) } else { cipher.decrypt(data) }
        }
        machine.charge(.aesklBlock, count: UInt64(registers.count / 16))
        return false
    }

    /// The SDM's `Illegal` check, then `UnwrapKeyAndAuthenticate384/512` against the current IWKey.
    ///
    /// The handle is illegal when a reserved AAD bit is set (bits 23:3 and 127:28), bit 0 (CPL0-only) is
    /// set and CPL > 0, bit 1 (no-encrypt) is set for an encrypt form, bit 2 (no-decrypt) for a decrypt
    /// form, or the key type (bits 27:24) is not the instruction's (0 = AES-128, 1 = AES-256). Otherwise
    /// it is unwrapped with the spec.md §3 AES-256-GCM-SIV construction, which fails on any change to the
    /// handle or to IWKey. Successful unwraps are remembered in the ``UnwrapCache`` for this IWKey.
    ///
    /// - Returns: the expanded key, or nil (ZF = 1).
    func handleKey(_ operation: AESKLOperation, _ handle: UnsafeRawBufferPointer) -> AESBlockCipher? {
        let word0 = UInt32(littleEndian: handle.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        let word1 = UInt32(littleEndian: handle.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        let words23 = handle.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
        let reserved: UInt32 = 0xF0FF_FFF8  // bits 31:28 and 23:3 of the first dword
        guard word0 & reserved == 0, word1 == 0, words23 == 0 else { return nil }
        let keyType = word0 >> KeyLockerEncoding.keyTypeShift & 0xF
        let expected = operation.isAES256 ? KeyLockerEncoding.keyTypeAES256 : KeyLockerEncoding.keyTypeAES128
        guard keyType == expected else { return nil }
        if word0 & KeyLockerEncoding.restrictCPL0 != 0, cpl > 0 { return nil }
        if operation.encrypts, word0 & KeyLockerEncoding.restrictNoEncrypt != 0 { return nil }
        if !operation.encrypts, word0 & KeyLockerEncoding.restrictNoDecrypt != 0 { return nil }

        if let cached = keyLocker.unwrapCache.lookup(handle, generation: keyLocker.generation) { return cached }
        guard
            let key = KeyLockerWrap.unwrap(
                handle: handle,
                encryptionKey: keyLocker.encryptionKey,
                integrityKey: keyLocker.integrityKey
            )
        else { return nil }
        let cipher = AESBlockCipher(key: key)
        keyLocker.unwrapCache.insert(handle, generation: keyLocker.generation, cipher: cipher)
        return cipher
    }
}
