//===----------------------------------------------------------------------===//
//
// hwkeys: Platform
//
//===----------------------------------------------------------------------===//

import HWCrypto
import X86

extension LogicalProcessor {
    /// ENCODEKEY128 r32, r32 — wrap the AES-128 key in XMM0 into a 384-bit handle (SDM Vol. 2A
    /// "ENCODEKEY128"; Key Locker spec 343965 §1.4 handle format, §3; docs/contract.md §3).
    ///
    /// Writes the handle to XMM0 (AAD), XMM1 (tag), XMM2 (wrapped key); zeroes XMM4–XMM6; leaves XMM3.
    ///
    /// - Parameter src: SRC[2:0], the restrictions (bit 0 CPL0-only, bit 1 no-encrypt, bit 2 no-decrypt).
    /// - Returns: DEST = `IWKey.NoBackup | IWKey.KeySource << 1`.
    /// - Throws: #UD without Key Locker, with CR4.KL = 0 or AESKLE = 0; #GP(0) for SRC[31:3] ≠ 0 or a
    ///   restriction CPUID.19H:EAX does not enumerate. Any CPL may execute it.
    public func encodekey128(src: UInt32) throws(X86Fault) -> UInt32 {
        try encodekey(src: src, aes256: false)
    }

    /// ENCODEKEY256 r32, r32 — wrap the AES-256 key in XMM1:XMM0 (XMM0 = bits 127:0) into a 512-bit handle
    /// (SDM Vol. 2A "ENCODEKEY256"; Key Locker spec 343965 §1.4, §3; docs/contract.md §3).
    ///
    /// Writes the handle to XMM0 (AAD), XMM1 (tag), XMM2–XMM3 (wrapped key); zeroes XMM4–XMM6.
    ///
    /// - Parameter src: SRC[2:0], the restrictions.
    /// - Returns: DEST = `IWKey.NoBackup | IWKey.KeySource << 1`.
    /// - Throws: as ``encodekey128(src:)``.
    public func encodekey256(src: UInt32) throws(X86Fault) -> UInt32 {
        try encodekey(src: src, aes256: true)
    }

    private func encodekey(src: UInt32, aes256: Bool) throws(X86Fault) -> UInt32 {
        let mnemonic = aes256 ? "ENCODEKEY256" : "ENCODEKEY128"
        // #UD: KL, CR4.KL, AESKLE.
        try require(.aesKLE, mnemonic)
        // #GP(0): SRC[31:3] reserved; SRC[2:0] bits are reserved when CPUID.19H:EAX does not enumerate them
        // (SDM ENCODEKEY footnote 2).
        guard src >> 3 == 0 else { throw .gp0("\(mnemonic): reserved bits SRC[31:3] set") }
        let supported = machine.configuration.klRestrictions.rawValue
        guard src & ~supported == 0 else {
            throw .gp0("\(mnemonic): restriction 0x\(String(src & ~supported, radix: 16)) not in CPUID.19H:EAX")
        }

        // Operation: KeyMetadata (the AAD) = restrictions | KeyType << 24, the rest zero.
        let keyType = aes256 ? KeyLockerEncoding.keyTypeAES256 : KeyLockerEncoding.keyTypeAES128
        var aad = [UInt8](repeating: 0, count: 16)
        withUnsafeBytes(of: (src | keyType << KeyLockerEncoding.keyTypeShift).littleEndian) {
            for index in 0..<4 { aad[index] = $0[index] }
        }
        let keyLength = aes256 ? 32 : 16
        let key = xmm.withUnsafeBytes { SecretBytes(copying: UnsafeRawBufferPointer(rebasing: $0[0..<keyLength])) }
        let handle = KeyLockerWrap.wrap(
            key: key,
            aad: aad,
            encryptionKey: keyLocker.encryptionKey,
            integrityKey: keyLocker.integrityKey
        )
        machine.charge(.encodekey)

        // Outputs: XMM0… = the handle; XMM4–6 = 0 (XMM3 kept by ENCODEKEY128); DEST; flags 0.
        xmm.withUnsafeMutableBytes { registers in
            handle.withUnsafeBytes { registers.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            UnsafeMutableRawBufferPointer(rebasing: registers[64..<112]).initializeMemory(as: UInt8.self, repeating: 0)
        }
        return keyLocker.encodeKeyEAX
    }
}
