//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysBase
//
//===----------------------------------------------------------------------===//

/// What went wrong, as a program tests it and the command line prints it (``name``): an errno, a PCONFIG
/// status, or an architectural fault.
///
/// Each kind takes its names from one table: ``Errno`` its case names, ``PCONFIGStatus/name`` the MKTME
/// spec's status names, and the fault mnemonics the SDM's exception table (below).
public enum ErrorCode: Hashable, Sendable, CustomStringConvertible {
    /// A Linux errno: kernel results, the state file, the command line. Name: `ENOKEY`.
    case errno(Errno)
    /// A PCONFIG status, where a failed programming is reported as an error rather than returned. Name:
    /// `INVALID_KEYID`.
    case pconfig(PCONFIGStatus)
    /// An architectural exception: its vector (SDM Vol. 3A, Table 6-1) and the error code pushed with
    /// it (0 for vectors that push none). Name: `#UD`, `#GP(0)`.
    case fault(vector: UInt8, errorCode: UInt32)

    /// The code as the command line prints it (`"error"` in JSON): `ENOKEY`, `INVALID_KEYID`, `#GP(0)`.
    public var name: String {
        switch self {
        case .errno(let errno): errno.name
        case .pconfig(let status): status.name
        case .fault(let vector, let errorCode): Self.faultName(vector: vector, errorCode: errorCode)
        }
    }

    public var description: String { name }

    /// The SDM's mnemonic for exception `vector` (SDM Vol. 3A, Table 6-1 "Protected-Mode Exceptions and
    /// Interrupts"), followed by the error code in parentheses for the vectors that push one: `#UD`, `#NM`,
    /// `#GP(0)`. Vectors without a mnemonic (NMI, reserved, external interrupts) are `VECTOR_n`.
    private static func faultName(vector: UInt8, errorCode: UInt32) -> String {
        let (mnemonic, pushesErrorCode): (String, Bool) =
            switch vector {
            case 0: ("#DE", false)
            case 1: ("#DB", false)
            case 3: ("#BP", false)
            case 4: ("#OF", false)
            case 5: ("#BR", false)
            case 6: ("#UD", false)
            case 7: ("#NM", false)
            case 8: ("#DF", true)
            case 10: ("#TS", true)
            case 11: ("#NP", true)
            case 12: ("#SS", true)
            case 13: ("#GP", true)
            case 14: ("#PF", true)
            case 16: ("#MF", false)
            case 17: ("#AC", true)
            case 18: ("#MC", false)
            case 19: ("#XM", false)
            case 20: ("#VE", false)
            case 21: ("#CP", true)
            default: ("VECTOR_\(vector)", false)
            }
        return pushesErrorCode ? "\(mnemonic)(\(errorCode))" : mnemonic
    }
}
