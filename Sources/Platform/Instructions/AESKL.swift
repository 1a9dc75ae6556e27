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
    /// (SDM Vol. 2A "AESENC128KL" … "AESDEC256KL"; Key Locker spec 343965 §3; docs/contract.md §3).
    ///
    /// A bad handle never faults: it sets ZF and leaves the register unchanged (see ``withHandleKey(_:_:_:)``).
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
    /// XMM0–XMM7 independently (SDM Vol. 2A "AESENCWIDE128KL" … "AESDECWIDE256KL"; docs/contract.md §3).
    ///
    /// - Parameters:
    ///   - operation: which AES*KL operation the WIDE form performs.
    ///   - handle: the 48 or 64 bytes of the memory operand.
    /// - Returns: ZF: `true` when the handle is illegal or does not authenticate (XMM0–7 unchanged).
    /// - Throws: #UD without Key Locker, with CR4.KL = 0, AESKLE = 0 or WIDE_KL = 0.
    public func aeswidekl(_ operation: AESKLOperation, handle: UnsafeRawBufferPointer) throws(X86Fault) -> Bool {
        precondition(handle.count == Self.handleSize(operation), "AES*KL reads a 48- or 64-byte handle")
        // #UD: KL, CR4.KL, AESKLE, WIDE_KL.
        try require(.wideKL, operation.wideMnemonic)
        return run(operation, handle: handle, registers: 0..<128)
    }

    /// ``X86Processor/aeswidekl(_:handle:groups:)`` in bulk: the sequence of WIDE instructions over
    /// `groups` in one engine call (the VAES kernel from 512 bytes). The handle checks and the unwrap
    /// depend only on the handle, CPL and IWKey, none of which the sequence changes, so the first
    /// instruction's outcome is every instruction's; each instruction is charged as if run alone
    /// (``Machine/chargeEach(_:times:)``), and XMM0–7 end as the sequence leaves them.
    public func aeswidekl(
        _ operation: AESKLOperation,
        handle: UnsafeRawBufferPointer,
        groups: UnsafeMutableRawBufferPointer
    ) throws(X86Fault) -> Bool {
        precondition(handle.count == Self.handleSize(operation), "AES*KL reads a 48- or 64-byte handle")
        precondition(groups.count % 128 == 0, "WIDE Key Locker instructions work on 128-byte groups")
        let count = groups.count / 128
        guard count > 0 else { return false }
        // The first MOVDQU loads group 0; then the first instruction checks #UD: KL, CR4.KL, AESKLE, WIDE_KL.
        let registers = UnsafeMutableRawBufferPointer(rebasing: keyLocker.registers(xmm)[0..<128])
        registers.copyMemory(from: UnsafeRawBufferPointer(rebasing: groups[0..<128]))
        try require(.wideKL, operation.wideMnemonic)
        let encrypts = operation == .encrypt128 || operation == .encrypt256
        let failed = withHandleKey(operation, handle) { cipher in
            if encrypts { cipher.encrypt(groups) } else { cipher.decrypt(groups) }
        }
        if failed {
            // The first instruction set ZF (XMM0–7 still hold group 0) and the loop stopped.
            machine.charge(.aesklWide)
            return true
        }
        registers.copyMemory(from: UnsafeRawBufferPointer(rebasing: groups[(count - 1) * 128..<count * 128]))
        machine.chargeEach(.aesklWide, times: UInt64(count))
        return false
    }

    /// ``X86Processor/discardUnwrappedKeys()``: empties this processor's ``UnwrapCache`` (each key schedule
    /// is zeroized as it is released). Nothing architectural changes: the next AES*KL unwraps its handle
    /// again, with the same result and the same charge.
    public func discardUnwrappedKeys() {
        keyLocker.unwrapCache.removeAll()
    }

    /// The common body: handle → key (or ZF = 1), then AES on the registers in place.
    @inline(__always)
    private func run(_ operation: AESKLOperation, handle: UnsafeRawBufferPointer, registers: Range<Int>) -> Bool {
        // Every execution loads and unwraps the handle on silicon, so it is charged whether or not the
        // host-side cache holds the key, and whatever ZF: emulated time never depends on the cache.
        machine.charge(registers.count == 16 ? .aesklBlock : .aesklWide)
        let encrypts = operation == .encrypt128 || operation == .encrypt256
        let data = UnsafeMutableRawBufferPointer(rebasing: keyLocker.registers(xmm)[registers])
        return withHandleKey(operation, handle) { cipher in
            if encrypts { cipher.encrypt(data) } else { cipher.decrypt(data) }
        }
    }

    /// m384 or m512 (local, so the hot path makes no cross-module call).
    @inline(__always)
    private static func handleSize(_ operation: AESKLOperation) -> Int {
        operation == .encrypt256 || operation == .decrypt256 ? 64 : 48
    }

    /// The SDM's `Illegal` check, then `UnwrapKeyAndAuthenticate384/512` against the current IWKey; calls
    /// `body` with the expanded key on success.
    ///
    /// The handle is illegal when a reserved AAD bit is set (bits 23:3 and 127:28), bit 0 (CPL0-only) is
    /// set and CPL > 0, bit 1 (no-encrypt) is set for an encrypt form, bit 2 (no-decrypt) for a decrypt
    /// form, or the key type (bits 27:24) is not the instruction's (0 = AES-128, 1 = AES-256). Otherwise
    /// it is unwrapped with the docs/contract.md §3 AES-256-GCM-SIV construction, which fails on any change to the
    /// handle or to IWKey. Successful unwraps are remembered in the ``UnwrapCache`` for this IWKey.
    ///
    /// - Returns: ZF: `true` when the handle is illegal or does not authenticate (`body` not called).
    @inline(__always)
    func withHandleKey(
        _ operation: AESKLOperation,
        _ handle: UnsafeRawBufferPointer,
        _ body: (AESBlockCipher) -> Void
    ) -> Bool {
        let word0 = UInt32(littleEndian: handle.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        let word1 = UInt32(littleEndian: handle.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        let words23 = handle.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
        let reserved: UInt32 = 0xF0FF_FFF8  // bits 31:28 and 23:3 of the first dword
        guard word0 & reserved == 0, word1 == 0, words23 == 0 else { return true }
        let (aes256, encrypts): (Bool, Bool) =
            switch operation {
            case .encrypt128: (false, true)
            case .decrypt128: (false, false)
            case .encrypt256: (true, true)
            case .decrypt256: (true, false)
            }
        let keyType = word0 >> KeyLockerEncoding.keyTypeShift & 0xF
        let expected = aes256 ? KeyLockerEncoding.keyTypeAES256 : KeyLockerEncoding.keyTypeAES128
        guard keyType == expected else { return true }
        if word0 & KeyLockerEncoding.restrictCPL0 != 0, cpl > 0 { return true }
        if encrypts, word0 & KeyLockerEncoding.restrictNoEncrypt != 0 { return true }
        if !encrypts, word0 & KeyLockerEncoding.restrictNoDecrypt != 0 { return true }

        let unit = keyLocker
        if let cached = unit.unwrapCache.lookup(handle, generation: unit.generation) {
            cached._withUnsafeGuaranteedRef(body)
            return false
        }
        unit.unwrapCache.recordMiss()
        guard
            let key = KeyLockerWrap.unwrap(
                handle: handle,
                encryptionKey: unit.encryptionKey,
                integrityKey: unit.integrityKey
            )
        else { return true }
        let cipher = AESBlockCipher(key: key)
        unit.unwrapCache.insert(handle, generation: unit.generation, cipher: cipher)
        body(cipher)
        return false
    }
}
