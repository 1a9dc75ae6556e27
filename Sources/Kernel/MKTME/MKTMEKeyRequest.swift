//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase
import X86

/// The kind of an `mktme` key (the `type=` token; RFC v2 `enum mktme_type`).
public enum MKTMEKeyKind: String, Codable, Sendable, CaseIterable {
    /// Software-supplied data and tweak keys: SET_KEY_DIRECT.
    case user
    /// CPU-generated keys: SET_KEY_RANDOM (rfc-v2: with optional entropy XORed in).
    case cpu
    /// rfc-v2 only: CLEAR_KEY (the KeyID behaves like KeyID 0).
    case clear
    /// rfc-v2 only: NO_ENCRYPT (the KeyID's memory is stored as plaintext).
    case noEncrypt = "no-encrypt"

    /// The PCONFIG command that programs a KeyID for this kind.
    var command: MKTMEKeyCommand {
        switch self {
        case .user: .setKeyDirect
        case .cpu: .setKeyRandom
        case .clear: .clearKey
        case .noEncrypt: .noEncrypt
        }
    }
}

/// A parsed `mktme` payload (docs/contract.md §6): what `add_key("mktme", desc, payload)` or `keyctl update` asks
/// for. Secret values (key and tweak, or rfc-v2 cpu entropy) stay in ``material``, a zeroizing buffer, and
/// go from there only into kernel memory.
struct MKTMEKeyRequest {
    var kind: MKTMEKeyKind
    /// The algorithm; nil for rfc-v2 `clear` and `no-encrypt` (the control word then names the lowest
    /// activated algorithm, as PCONFIG requires one for every command).
    var algorithm: TMEAlgorithm?
    /// KEY_FIELD_1 ‖ KEY_FIELD_2 (each `algorithm.keyLength` bytes): the data and tweak keys of a user key,
    /// or the entropy of an rfc-v2 cpu key (zero where not given). Nil when there is none.
    var material: SecretBytes?

    /// The payload length limits of both designs (`mktme_preparse_payload`: 1…1024 bytes).
    static let payloadLengths = 1...1024

    /// Parses `payload` for `design` (docs/contract.md §6). Tokens are whitespace-separated `name=value` pairs, each
    /// at most once; an unknown or malformed token is EINVAL.
    ///
    /// - rfc-v2: `type=user|cpu|clear|no-encrypt` (required); `algorithm=aes-xts-128` required for user and
    ///   cpu, forbidden otherwise; `key=`/`tweak=` 32 hex digits, both required for user, optional
    ///   entropy for cpu, forbidden otherwise.
    /// - revised: `type=cpu|user` [cpu]; `algorithm=aes-xts-128|aes-xts-256` [aes-xts-128], which must be
    ///   activated; `key=`/`tweak=` (2 × the algorithm's key length in hex digits) required for user and
    ///   forbidden for cpu (v2-59 removed user entropy). `clear` and `no-encrypt` are not types (EINVAL).
    ///
    /// - Parameter activated: the algorithms `IA32_TME_ACTIVATE[63:48]` enables for KeyIDs ≥ 1.
    /// - Throws: EINVAL.
    static func parse(
        _ payload: SecretBytes,
        design: MKTMEAPIDesign,
        activated: Set<TMEAlgorithm>
    ) throws(HWKeysError) -> MKTMEKeyRequest {
        guard payloadLengths.contains(payload.count) else {
            throw .einval("mktme payloads are \(payloadLengths.lowerBound)…\(payloadLengths.upperBound) bytes")
        }
        // Split into tokens without copying the secret values out of zeroizing storage: only the names
        // and the non-secret values become Strings; key= and tweak= are decoded straight from the bytes.
        var kindText: String?
        var algorithmText: String?
        var keyRange: Range<Int>?
        var tweakRange: Range<Int>?
        try payload.withUnsafeBytes { (bytes) throws(HWKeysError) in
            var index = 0
            while index < bytes.count {
                while index < bytes.count, isSpace(bytes[index]) { index += 1 }
                guard index < bytes.count else { break }
                let start = index
                while index < bytes.count, !isSpace(bytes[index]) { index += 1 }
                guard let equals = (start..<index).first(where: { bytes[$0] == UInt8(ascii: "=") }) else {
                    throw .einval("mktme payload tokens are name=value")
                }
                let name = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<equals]), as: UTF8.self)
                let value = equals + 1..<index
                func text() -> String {
                    String(decoding: UnsafeRawBufferPointer(rebasing: bytes[value]), as: UTF8.self)
                }
                switch name {
                case "type":
                    guard kindText == nil else { throw .einval("type= given twice") }
                    kindText = text()
                case "algorithm":
                    guard algorithmText == nil else { throw .einval("algorithm= given twice") }
                    algorithmText = text()
                case "key":
                    guard keyRange == nil else { throw .einval("key= given twice") }
                    keyRange = value
                case "tweak":
                    guard tweakRange == nil else { throw .einval("tweak= given twice") }
                    tweakRange = value
                default:
                    throw .einval("unknown mktme payload token")
                }
            }
        }
        switch design {
        case .rfcV2:
            return try rfcV2(payload, kindText, algorithmText, keyRange, tweakRange, activated: activated)
        case .revised:
            return try revised(payload, kindText, algorithmText, keyRange, tweakRange, activated: activated)
        }
    }

    private static func rfcV2(
        _ payload: SecretBytes,
        _ kindText: String?,
        _ algorithmText: String?,
        _ keyRange: Range<Int>?,
        _ tweakRange: Range<Int>?,
        activated: Set<TMEAlgorithm>
    ) throws(HWKeysError) -> MKTMEKeyRequest {
        guard let kindText else { throw .einval("rfc-v2 mktme keys need type=user|cpu|clear|no-encrypt") }
        guard let kind = MKTMEKeyKind(rawValue: kindText) else {
            throw .einval("type= must be user, cpu, clear or no-encrypt")
        }
        switch kind {
        case .user, .cpu:
            guard let algorithmText else { throw .einval("type=\(kind.rawValue) needs algorithm=aes-xts-128") }
            // RFC v2 knows only AES-XTS-128 (`MKTME_AES_XTS_128`).
            guard algorithmText == TMEAlgorithm.aesXTS128.name else { throw .einval("algorithm= must be aes-xts-128") }
            guard activated.contains(.aesXTS128) else { throw .einval("aes-xts-128 is not activated for KeyIDs") }
            if kind == .user, keyRange == nil || tweakRange == nil {
                throw .einval("type=user needs key= and tweak=")
            }
            let material =
                keyRange == nil && tweakRange == nil
                ? nil
                : try decodeFields(payload, keyRange, tweakRange, length: TMEAlgorithm.aesXTS128.keyLength)
            return MKTMEKeyRequest(kind: kind, algorithm: .aesXTS128, material: material)
        case .clear, .noEncrypt:
            guard algorithmText == nil else { throw .einval("type=\(kind.rawValue) takes no algorithm=") }
            guard keyRange == nil, tweakRange == nil else {
                throw .einval("type=\(kind.rawValue) takes no key or tweak")
            }
            return MKTMEKeyRequest(kind: kind, algorithm: nil, material: nil)
        }
    }

    private static func revised(
        _ payload: SecretBytes,
        _ kindText: String?,
        _ algorithmText: String?,
        _ keyRange: Range<Int>?,
        _ tweakRange: Range<Int>?,
        activated: Set<TMEAlgorithm>
    ) throws(HWKeysError) -> MKTMEKeyRequest {
        let kind: MKTMEKeyKind
        switch kindText {
        case nil, "cpu": kind = .cpu
        case "user": kind = .user
        case "clear", "no-encrypt":
            throw .einval("the revised API has no \(kindText!) keys: use encrypt_mprotect with serial 0 for cleartext")
        default: throw .einval("type= must be cpu or user")
        }
        var algorithm = TMEAlgorithm.aesXTS128
        if let algorithmText {
            guard let named = TMEAlgorithm(name: algorithmText), named.name == algorithmText else {
                throw .einval("algorithm= must be aes-xts-128 or aes-xts-256")
            }
            algorithm = named
        }
        guard activated.contains(algorithm) else { throw .einval("\(algorithm.name) is not activated for KeyIDs") }
        switch kind {
        case .user:
            guard keyRange != nil, tweakRange != nil else { throw .einval("type=user needs key= and tweak=") }
            let material = try decodeFields(payload, keyRange, tweakRange, length: algorithm.keyLength)
            return MKTMEKeyRequest(kind: .user, algorithm: algorithm, material: material)
        default:
            guard keyRange == nil, tweakRange == nil else {
                throw .einval("type=cpu takes no key= or tweak= (the revised API takes no user entropy)")
            }
            return MKTMEKeyRequest(kind: .cpu, algorithm: algorithm, material: nil)
        }
    }

    /// Decodes `key=` and `tweak=` (each exactly 2 × `length` hex digits) into KEY_FIELD_1 ‖ KEY_FIELD_2;
    /// a missing one stays zero.
    private static func decodeFields(
        _ payload: SecretBytes,
        _ keyRange: Range<Int>?,
        _ tweakRange: Range<Int>?,
        length: Int
    ) throws(HWKeysError) -> SecretBytes {
        let fields = SecretBytes(count: 2 * length)
        try payload.withUnsafeBytes { (source) throws(HWKeysError) in
            try fields.withUnsafeMutableBytes { (out) throws(HWKeysError) in
                for (range, offset) in [(keyRange, 0), (tweakRange, length)] {
                    guard let range else { continue }
                    guard range.count == 2 * length else {
                        throw .einval("key= and tweak= are \(2 * length) hex digits")
                    }
                    for byte in 0..<length {
                        guard let high = hexValue(source[range.lowerBound + 2 * byte]),
                            let low = hexValue(source[range.lowerBound + 2 * byte + 1])
                        else { throw .einval("key= and tweak= are hex digits") }
                        out[offset + byte] = high << 4 | low
                    }
                }
            }
        }
        return fields
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D || byte == 0x0B || byte == 0x0C
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
