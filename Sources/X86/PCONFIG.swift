//===----------------------------------------------------------------------===//
//
// hwkeys: X86, the SDM vocabulary
//
//===----------------------------------------------------------------------===//

import HWKeysBase

/// PCONFIG leaves (SDM Vol. 2B, "PCONFIG—Platform Configuration"; EAX selects the leaf).
public enum PCONFIGLeaf {
    /// Leaf 0: MKTME_KEY_PROGRAM.
    public static let mktmeKeyProgram: UInt32 = 0
}

/// The command in `KEYID_CTRL[7:0]` of `MKTME_KEY_PROGRAM_STRUCT` (MKTME spec §6.2.1).
public enum MKTMEKeyCommand: UInt8, CaseIterable, Sendable, Codable {
    /// KEYID_SET_KEY_DIRECT: data key = KEY_FIELD_1, tweak key = KEY_FIELD_2.
    case setKeyDirect = 0
    /// KEYID_SET_KEY_RANDOM: each key = fresh random bits XOR its key field.
    case setKeyRandom = 1
    /// KEYID_CLEAR_KEY: the KeyID behaves like KeyID 0 afterwards.
    case clearKey = 2
    /// KEYID_NO_ENCRYPT: the KeyID's traffic is stored as plaintext.
    case noEncrypt = 3

    /// The command-line spelling (`set-key-direct`, …).
    public var name: String {
        switch self {
        case .setKeyDirect: "set-key-direct"
        case .setKeyRandom: "set-key-random"
        case .clearKey: "clear-key"
        case .noEncrypt: "no-encrypt"
        }
    }

    public init?(name: String) {
        guard let match = Self.allCases.first(where: { $0.name == name.lowercased() }) else { return nil }
        self = match
    }
}

/// `MKTME_KEY_PROGRAM_STRUCT` (MKTME spec §6.2.1; SDM Vol. 2B PCONFIG): 256-byte aligned in memory,
/// 192 bytes used.
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 2 | KEYID |
/// | 2 | 4 | KEYID_CTRL (bits 7:0 command, bits 23:8 ENC_ALG one-hot, bits 31:24 reserved) |
/// | 6 | 58 | reserved (ignored) |
/// | 64 | 64 | KEY_FIELD_1 (data key or entropy; first 16/32 bytes used) |
/// | 128 | 64 | KEY_FIELD_2 (tweak key or entropy; first 16/32 bytes used) |
public enum MKTMEKeyProgramLayout {
    public static let size = 192
    public static let alignment: UInt64 = 256
    public static let keyIDOffset = 0
    public static let keyIDControlOffset = 2
    public static let keyField1Offset = 64
    public static let keyField2Offset = 128
    public static let keyFieldSize = 64

    /// Builds `KEYID_CTRL` from a command and an algorithm (ENC_ALG bit 8+n).
    public static func keyIDControl(command: MKTMEKeyCommand, algorithm: TMEAlgorithm) -> UInt32 {
        UInt32(command.rawValue) | (UInt32(1) << UInt32(8 + algorithm.rawValue))
    }
}

/// The outputs of one PCONFIG execution.
public struct PCONFIGResult: Hashable, Sendable {
    /// RAX after the instruction.
    public var rax: UInt64
    /// RFLAGS.ZF after the instruction.
    public var zf: Bool

    public init(status: PCONFIGStatus) {
        rax = status.rawValue
        zf = status != .success
    }

    /// The status RAX encodes.
    public var status: PCONFIGStatus { PCONFIGStatus(rawValue: rax) ?? .invalidProgramCommand }
}
