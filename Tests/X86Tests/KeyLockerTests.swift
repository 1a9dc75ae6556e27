//===----------------------------------------------------------------------===//
//
// hwkeys: X86Tests
//
//===----------------------------------------------------------------------===//

import Testing
import X86

/// Key Locker encodings: docs/contract.md §3; docs/research/keylocker-research.md §1.4 (LOADIWKEY), §1.5 (ENCODEKEY), §1.6 (handle
/// layout).
@Suite struct KeyLockerEncodingTests {
    /// Handle AAD bits 2:0 / ENCODEKEY SRC[2:0]: bit 0 CPL0-only, bit 1 no-encrypt, bit 2 no-decrypt
    /// (docs/research/keylocker-research.md §1.6 table).
    @Test func restrictionBitsAre0To2() {
        #expect(KeyLockerEncoding.restrictCPL0 == 0b001)
        #expect(KeyLockerEncoding.restrictNoEncrypt == 0b010)
        #expect(KeyLockerEncoding.restrictNoDecrypt == 0b100)
        #expect(KeyLockerRestrictions.cpl0Only.rawValue == 0b001)
        #expect(KeyLockerRestrictions.noEncrypt.rawValue == 0b010)
        #expect(KeyLockerRestrictions.noDecrypt.rawValue == 0b100)
        #expect(KeyLockerRestrictions([.cpl0Only, .noEncrypt, .noDecrypt]).rawValue == 0b111)
    }

    /// Handle AAD bits 27:24 hold the key type, 0 = AES-128 and 1 = AES-256 (docs/contract.md §3; docs/research/keylocker-research.md §1.6).
    @Test func keyTypeIsBits27To24() {
        #expect(KeyLockerEncoding.keyTypeShift == 24)
        #expect(KeyLockerEncoding.keyTypeAES128 == 0)
        #expect(KeyLockerEncoding.keyTypeAES256 == 1)
    }

    /// The first AAD dword ENCODEKEY writes (docs/research/keylocker-research.md §1.5 pseudocode: KeyMetadata[2:0] = SRC[2:0],
    /// [27:24] = key type, every other bit 0), assembled from X86's constants and compared with the value
    /// written out from the spec. None of them touches the bits AES*KL treats as reserved (23:3 and 31:28).
    @Test(
        arguments: [
            ([], false, 0x0000_0000),
            ([], true, 0x0100_0000),
            ([.cpl0Only], false, 0x0000_0001),
            ([.cpl0Only], true, 0x0100_0001),
            ([.noEncrypt, .noDecrypt], false, 0x0000_0006),
            ([.cpl0Only, .noEncrypt, .noDecrypt], true, 0x0100_0007),
        ] as [(KeyLockerRestrictions, Bool, UInt32)]
    )
    func handleAADWordCarriesRestrictionsAndKeyType(restrictions: KeyLockerRestrictions, aes256: Bool, word: UInt32) {
        let keyType = aes256 ? KeyLockerEncoding.keyTypeAES256 : KeyLockerEncoding.keyTypeAES128
        let composed = restrictions.rawValue | keyType << KeyLockerEncoding.keyTypeShift
        #expect(composed == word)
        #expect(composed & 0xF0FF_FFF8 == 0)
    }

    /// Handles are 384 bits (AES-128) and 512 bits (AES-256): AAD 16 bytes ‖ tag 16 ‖ wrapped key 16 or 32
    /// (docs/contract.md §3; docs/research/keylocker-research.md §1.6).
    @Test func handlesAre48And64Bytes() {
        #expect(KeyLockerEncoding.handle128Size == 384 / 8)
        #expect(KeyLockerEncoding.handle256Size == 512 / 8)
        #expect(KeyLockerEncoding.handle128Size == 16 + 16 + 16)
        #expect(KeyLockerEncoding.handle256Size == 16 + 16 + 32)
    }

    /// LOADIWKEY EAX: bit 0 NoBackup, bits 4:1 KeySource, bits 31:5 reserved (docs/research/keylocker-research.md §1.4).
    @Test func loadiwkeyEAXFields() {
        #expect(KeyLockerEncoding.loadNoBackup == 0x1)
        #expect(KeyLockerEncoding.loadKeySourceShift == 1)
        #expect(KeyLockerEncoding.loadKeySourceMask == 0x1E)
        #expect(~(KeyLockerEncoding.loadNoBackup | KeyLockerEncoding.loadKeySourceMask) == 0xFFFF_FFE0)
    }

    /// The same layout is ENCODEKEY's result: DEST = NoBackup | KeySource << 1, bits 31:5 zero (docs/contract.md §3;
    /// docs/research/keylocker-research.md §1.5). Values written out from the spec for each NoBackup / KeySource pair, and split back.
    @Test(arguments: [(false, 0, 0b00), (true, 0, 0b01), (false, 1, 0b10), (true, 1, 0b11), (true, 15, 0x1F)])
    func noBackupAndKeySourceShareTheEAXLayout(noBackup: Bool, keySource: UInt32, eax: UInt32) {
        let composed =
            (noBackup ? KeyLockerEncoding.loadNoBackup : 0) | keySource << KeyLockerEncoding.loadKeySourceShift
        #expect(composed == eax)
        #expect((composed & KeyLockerEncoding.loadNoBackup != 0) == noBackup)
        #expect((composed & KeyLockerEncoding.loadKeySourceMask) >> KeyLockerEncoding.loadKeySourceShift == keySource)
    }
}

/// The handle restrictions as the command line spells them (docs/keylocker.md "The debug monitor":
/// `--restrict cpl0,no-encrypt,no-decrypt`).
@Suite struct KeyLockerRestrictionsTests {
    @Test func namesMapToTheRestrictionBits() {
        let names = KeyLockerRestrictions.names.map(\.0)
        let values = KeyLockerRestrictions.names.map(\.1.rawValue)
        #expect(names == ["cpl0", "no-encrypt", "no-decrypt"])
        #expect(values == [0b001, 0b010, 0b100])
    }
}
