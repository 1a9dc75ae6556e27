//===----------------------------------------------------------------------===//
//
// hwkeys: X86Tests
//
//===----------------------------------------------------------------------===//

import HWKeysBase
import Testing
import X86

/// `MKTME_KEY_PROGRAM_STRUCT` and KEYID_CTRL: docs/contract.md §2 "PCONFIG"; docs/research/mktme-research.md §1.5
/// "MKTME_KEY_PROGRAM_STRUCT" (with Linux's `struct mktme_key_program`).
@Suite struct MKTMEKeyProgramLayoutTests {
    /// KEYID u16 at 0, KEYID_CTRL u32 at 2, KEY_FIELD_1 (64 bytes) at 64, KEY_FIELD_2 (64 bytes) at 128;
    /// 192 bytes used, 256-byte aligned (docs/contract.md §2; docs/research/keylocker-research.md §1.5).
    @Test func offsetsAndSizesFollowTheSpecTable() {
        #expect(MKTMEKeyProgramLayout.keyIDOffset == 0)
        #expect(MKTMEKeyProgramLayout.keyIDControlOffset == 2)
        #expect(MKTMEKeyProgramLayout.keyField1Offset == 64)
        #expect(MKTMEKeyProgramLayout.keyField2Offset == 128)
        #expect(MKTMEKeyProgramLayout.keyFieldSize == 64)
        #expect(MKTMEKeyProgramLayout.size == 192)
        #expect(MKTMEKeyProgramLayout.alignment == 256)
    }

    /// The same offsets follow from Linux's packed struct: `u16 keyid; u32 keyid_ctrl; u8 __rsvd[58];
    /// u8 key_field_1[64]; u8 key_field_2[64];` (docs/research/keylocker-research.md §1.5).
    @Test func offsetsAgreeWithLinuxPackedStruct() {
        let fieldSizes = [2, 4, 58, 64, 64]
        let offsets = fieldSizes.indices.map { fieldSizes[..<$0].reduce(0, +) }
        #expect(offsets[0] == MKTMEKeyProgramLayout.keyIDOffset)
        #expect(offsets[1] == MKTMEKeyProgramLayout.keyIDControlOffset)
        #expect(offsets[3] == MKTMEKeyProgramLayout.keyField1Offset)
        #expect(offsets[4] == MKTMEKeyProgramLayout.keyField2Offset)
        #expect(fieldSizes.reduce(0, +) == MKTMEKeyProgramLayout.size)
    }

    /// KEYID_CTRL = command in bits 7:0 | ENC_ALG one-hot in bits 23:8, bit 8 = AES-XTS-128 and bit 10 =
    /// AES-XTS-256 (docs/contract.md §2).
    @Test(
        arguments: [
            (MKTMEKeyCommand.setKeyDirect, TMEAlgorithm.aesXTS128, 0x0000_0100),
            (.setKeyRandom, .aesXTS128, 0x0000_0101),
            (.clearKey, .aesXTS128, 0x0000_0102),
            (.noEncrypt, .aesXTS128, 0x0000_0103),
            (.setKeyDirect, .aesXTS256, 0x0000_0400),
            (.setKeyRandom, .aesXTS256, 0x0000_0401),
            (.clearKey, .aesXTS256, 0x0000_0402),
            (.noEncrypt, .aesXTS256, 0x0000_0403),
        ] as [(MKTMEKeyCommand, TMEAlgorithm, UInt32)]
    )
    func keyIDControlEncodesCommandAndOneHotAlgorithm(
        command: MKTMEKeyCommand,
        algorithm: TMEAlgorithm,
        control: UInt32
    ) {
        #expect(MKTMEKeyProgramLayout.keyIDControl(command: command, algorithm: algorithm) == control)
        // Decoding gives the fields back, with nothing in the reserved bits 31:24.
        #expect(MKTMEKeyProgramLayout.command(ofControl: control) == command.rawValue)
        #expect(MKTMEKeyProgramLayout.encryptionAlgorithms(ofControl: control) == 1 << algorithm.rawValue)
        #expect(MKTMEKeyProgramLayout.reserved(ofControl: control) == 0)
    }

    /// The decoders split any 32-bit KEYID_CTRL into bits 7:0, 23:8 and 31:24 without trapping: the value
    /// comes from emulated memory.
    @Test(
        arguments: [
            (0x0000_0000, 0x00, 0x0000, 0x00),
            (0xFFFF_FFFF, 0xFF, 0xFFFF, 0xFF),
            (0xFF00_0403, 0x03, 0x0004, 0xFF),
            (0x00FF_FF00, 0x00, 0xFFFF, 0x00),
            (0x0100_0005, 0x05, 0x0000, 0x01),
            (0x0000_0500, 0x00, 0x0005, 0x00),  // two algorithms: not one-hot, still decoded as given
        ] as [(UInt32, UInt8, UInt16, UInt8)]
    )
    func keyIDControlDecodesEveryValue(control: UInt32, command: UInt8, algorithms: UInt16, reserved: UInt8) {
        #expect(MKTMEKeyProgramLayout.command(ofControl: control) == command)
        #expect(MKTMEKeyProgramLayout.encryptionAlgorithms(ofControl: control) == algorithms)
        #expect(MKTMEKeyProgramLayout.reserved(ofControl: control) == reserved)
    }

    /// `encode` writes KEYID and KEYID_CTRL little-endian at 0 and 2, zeroes the reserved bytes 6–63, copies
    /// each key field to 64 / 128 and zero-pads it to 64 bytes (docs/contract.md §2; docs/research/keylocker-research.md §1.5). Every byte of
    /// the 192 is checked against offsets written out here; bytes after 192 are left alone.
    @Test(arguments: [(0, 0), (16, 16), (32, 32), (64, 64), (32, 0), (1, 63)])
    func encodePlacesEveryFieldAtItsOffset(field1Length: Int, field2Length: Int) {
        let field1 = (0..<field1Length).map { UInt8(0x10 &+ $0) }
        let field2 = (0..<field2Length).map { UInt8(0x80 &+ $0) }
        var buffer = [UInt8](repeating: 0xA5, count: 256)
        field1.withUnsafeBytes { one in
            field2.withUnsafeBytes { two in
                buffer.withUnsafeMutableBytes { out in
                    MKTMEKeyProgramLayout.encode(
                        keyID: 0x1234,
                        keyIDControl: 0x0000_0401,
                        keyField1: one,
                        keyField2: two,
                        into: out
                    )
                }
            }
        }
        var expected = [UInt8](repeating: 0, count: 192)
        expected[0] = 0x34  // KEYID, little-endian
        expected[1] = 0x12
        expected[2] = 0x01  // KEYID_CTRL = 0x00000401, little-endian
        expected[3] = 0x04
        expected.replaceSubrange(64..<64 + field1Length, with: field1)
        expected.replaceSubrange(128..<128 + field2Length, with: field2)
        expected += [UInt8](repeating: 0xA5, count: 64)
        #expect(buffer == expected)
    }

    /// Decoding what `encode` wrote (reading the fields at their spec offsets) gives back KEYID, KEYID_CTRL
    /// and the key fields, for the edge KeyIDs and every command and algorithm.
    @Test(arguments: [0, 1, 63, 0x7FFF, 0xFFFF] as [UInt16], MKTMEKeyCommand.allCases)
    func encodeThenReadBackRoundTrips(keyID: UInt16, command: MKTMEKeyCommand) {
        let key = (0..<32).map { UInt8($0 * 7 & 0xFF) }
        let tweak = (0..<32).map { UInt8(0xFF - $0) }
        for algorithm in TMEAlgorithm.allCases {
            let control = MKTMEKeyProgramLayout.keyIDControl(command: command, algorithm: algorithm)
            var buffer = [UInt8](repeating: 0xFF, count: MKTMEKeyProgramLayout.size)
            key.withUnsafeBytes { one in
                tweak.withUnsafeBytes { two in
                    buffer.withUnsafeMutableBytes {
                        MKTMEKeyProgramLayout.encode(
                            keyID: keyID,
                            keyIDControl: control,
                            keyField1: one,
                            keyField2: two,
                            into: $0
                        )
                    }
                }
            }
            #expect(UInt16(buffer[0]) | UInt16(buffer[1]) << 8 == keyID)
            let readControl = (2..<6).reduce(UInt32(0)) { $0 | UInt32(buffer[$1]) << (8 * UInt32($1 - 2)) }
            #expect(readControl == control)
            #expect(MKTMEKeyProgramLayout.command(ofControl: readControl) == command.rawValue)
            #expect(MKTMEKeyCommand(rawValue: MKTMEKeyProgramLayout.command(ofControl: readControl)) == command)
            let algorithms = MKTMEKeyProgramLayout.encryptionAlgorithms(ofControl: readControl)
            #expect(TMEAlgorithm(rawValue: algorithms.trailingZeroBitCount) == algorithm)
            #expect(algorithms.nonzeroBitCount == 1)
            #expect(Array(buffer[64..<96]) == key)
            #expect(Array(buffer[128..<160]) == tweak)
        }
    }

    /// A buffer shorter than 192 bytes is host misuse (the documented requirement of `encode`).
    @Test func encodingIntoAShortBufferIsAPreconditionFailure() async {
        await #expect(processExitsWith: .failure) {
            var buffer = [UInt8](repeating: 0, count: 191)
            buffer.withUnsafeMutableBytes {
                MKTMEKeyProgramLayout.encode(
                    keyID: 1,
                    keyIDControl: 0x100,
                    keyField1: UnsafeRawBufferPointer(start: nil, count: 0),
                    keyField2: UnsafeRawBufferPointer(start: nil, count: 0),
                    into: $0
                )
            }
        }
    }

    /// A key field longer than 64 bytes is host misuse (the documented requirement of `encode`).
    @Test func encodingAKeyFieldOver64BytesIsAPreconditionFailure() async {
        await #expect(processExitsWith: .failure) {
            var buffer = [UInt8](repeating: 0, count: 256)
            let long = [UInt8](repeating: 1, count: 65)
            long.withUnsafeBytes { field in
                buffer.withUnsafeMutableBytes {
                    MKTMEKeyProgramLayout.encode(
                        keyID: 1,
                        keyIDControl: 0x100,
                        keyField1: UnsafeRawBufferPointer(start: nil, count: 0),
                        keyField2: field,
                        into: $0
                    )
                }
            }
        }
    }
}

/// PCONFIG leaf and KEYID_CTRL commands: docs/contract.md §2 "PCONFIG"; docs/research/mktme-research.md §1.5 "Commands".
@Suite struct MKTMEKeyCommandTests {
    /// EAX = 0 selects MKTME_KEY_PROGRAM (docs/contract.md §2).
    @Test func mktmeKeyProgramIsLeaf0() {
        #expect(PCONFIGLeaf.mktmeKeyProgram == 0)
    }

    /// 0 SET_KEY_DIRECT, 1 SET_KEY_RANDOM, 2 CLEAR_KEY, 3 NO_ENCRYPT (docs/contract.md §2), spelled on the command line
    /// as docs/mktme.md "The debug monitor" lists them (`hw pconfig --command …`).
    @Test(
        arguments: [
            (MKTMEKeyCommand.setKeyDirect, 0, "set-key-direct"),
            (.setKeyRandom, 1, "set-key-random"),
            (.clearKey, 2, "clear-key"),
            (.noEncrypt, 3, "no-encrypt"),
        ] as [(MKTMEKeyCommand, UInt8, String)]
    )
    func commandsHaveTheSpecNumbersAndCLINames(command: MKTMEKeyCommand, value: UInt8, name: String) {
        #expect(command.rawValue == value)
        #expect(MKTMEKeyCommand(rawValue: value) == command)
        #expect(command.name == name)
        #expect(MKTMEKeyCommand(name: name) == command)
        #expect(MKTMEKeyCommand(name: name.uppercased()) == command)
    }

    /// Only commands 0–3 exist; anything else (INVALID_PROG_CMD on hardware) has no case and no name.
    @Test func otherCommandsAndNamesAreRefused() {
        #expect(MKTMEKeyCommand.allCases.count == 4)
        for value in UInt8(4)...UInt8(255) { #expect(MKTMEKeyCommand(rawValue: value) == nil) }
        for name in ["", "set_key_direct", "KEYID_SET_KEY_DIRECT", "clear", "set-key-direct "] {
            #expect(MKTMEKeyCommand(name: name) == nil)
        }
    }
}

/// PCONFIG's architected result (docs/contract.md §2, original generation; docs/research/mktme-research.md §1.5 "Result reporting").
@Suite struct PCONFIGStatusTests {
    /// RAX codes and the MKTME spec / Linux names (`MKTME_` prefix dropped): docs/contract.md §2 and docs/research/keylocker-research.md §1.5.
    @Test(
        arguments: [
            (PCONFIGStatus.success, 0, "PROG_SUCCESS"),
            (.invalidProgramCommand, 1, "INVALID_PROG_CMD"),
            (.entropyError, 2, "ENTROPY_ERROR"),
            (.invalidKeyID, 3, "INVALID_KEYID"),
            (.invalidEncryptionAlgorithm, 4, "INVALID_ENC_ALG"),
            (.deviceBusy, 5, "DEVICE_BUSY"),
        ] as [(PCONFIGStatus, UInt64, String)]
    )
    func statusCodesAndNamesMatchTheSpec(status: PCONFIGStatus, rax: UInt64, name: String) {
        #expect(status.rawValue == rax)
        #expect(PCONFIGStatus(rawValue: rax) == status)
        #expect(status.name == name)
    }

    /// There are exactly six codes, 0–5.
    @Test func thereAreSixCodes() {
        #expect(PCONFIGStatus.allCases.map(\.rawValue) == [0, 1, 2, 3, 4, 5])
        #expect(PCONFIGStatus(rawValue: 6) == nil)
        #expect(PCONFIGStatus(rawValue: .max) == nil)
    }

    /// Success: RAX = 0 and ZF = 0. Failure: ZF = 1 and RAX = the reason (docs/contract.md §2).
    @Test(arguments: PCONFIGStatus.allCases)
    func resultEncodesStatusInRAXAndZF(status: PCONFIGStatus) {
        let result = PCONFIGResult(status: status)
        #expect(result.rax == status.rawValue)
        #expect(result.zf == (status != .success))
        #expect(result.status == status)
    }

    /// A RAX no status owns (only reachable by editing the result) reads as a failure, never as success and
    /// never as a trap.
    @Test(arguments: [6, 0x100, .max] as [UInt64])
    func unknownRAXReadsAsAFailure(rax: UInt64) {
        var result = PCONFIGResult(status: .success)
        result.rax = rax
        #expect(result.status != .success)
    }
}
