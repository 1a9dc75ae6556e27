//===----------------------------------------------------------------------===//
//
// hwkeys: HWCrypto
//
//===----------------------------------------------------------------------===//

import CAESNI

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An implementation of the AES kernels. All paths give identical results.
public enum AESPath: String, CaseIterable, Sendable, Codable {
    /// Swift over swift-crypto's `AES.permute`; works on every CPU, slowly.
    case portable
    /// AES-NI on 128-bit XMM registers (CAESNI).
    case aesni
    /// VAES on 256-bit YMM registers (CAESNI).
    case vaes

    var cPath: UInt32 {
        switch self {
        case .portable: 0
        case .aesni: UInt32(HWK_PATH_AESNI)
        case .vaes: UInt32(HWK_PATH_VAES)
        }
    }
}

/// Selection of the AES path at run time.
public enum AESEngine {
    /// Every path this CPU supports, slowest first. Always contains ``AESPath/portable``.
    public static let availablePaths: [AESPath] = {
        let mask = hwk_supported_paths()
        var paths: [AESPath] = [.portable]
        if mask & UInt32(HWK_PATH_AESNI) != 0 { paths.append(.aesni) }
        if mask & UInt32(HWK_PATH_VAES) != 0 { paths.append(.vaes) }
        return paths
    }()

    /// The path used when a caller does not name one: the environment variable `HWKEYS_AES`
    /// (`portable`, `aesni`, `vaes` or `auto`) if it names an available path, otherwise the fastest.
    public static let defaultPath: AESPath = {
        if let raw = getenv("HWKEYS_AES").map({ String(cString: $0) }),
            let requested = AESPath(rawValue: raw.lowercased()),
            availablePaths.contains(requested)
        {
            return requested
        }
        return availablePaths.last!
    }()
}
