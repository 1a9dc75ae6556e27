//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysBase
//
//===----------------------------------------------------------------------===//

/// PCONFIG's architected status (docs/design.md rule 2: returned, never thrown).
///
/// **Choice (docs/contract.md §2):** the original generation: success RAX = 0 and ZF = 0; failure ZF = 1 and RAX
/// holds the reason. CF, PF, AF, OF and SF are cleared.
///
/// It lives here, not in X86 beside the rest of PCONFIG, because an ``ErrorCode`` can carry it: its
/// ``name`` is then the code the command line prints.
public enum PCONFIGStatus: UInt64, CaseIterable, Sendable, Codable {
    case success = 0
    case invalidProgramCommand = 1
    case entropyError = 2
    case invalidKeyID = 3
    case invalidEncryptionAlgorithm = 4
    case deviceBusy = 5

    /// The name the MKTME spec and Linux use (`PROG_SUCCESS`, `INVALID_PROG_CMD`, …).
    public var name: String {
        switch self {
        case .success: "PROG_SUCCESS"
        case .invalidProgramCommand: "INVALID_PROG_CMD"
        case .entropyError: "ENTROPY_ERROR"
        case .invalidKeyID: "INVALID_KEYID"
        case .invalidEncryptionAlgorithm: "INVALID_ENC_ALG"
        case .deviceBusy: "DEVICE_BUSY"
        }
    }
}
