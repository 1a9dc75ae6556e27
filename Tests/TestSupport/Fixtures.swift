//===----------------------------------------------------------------------===//
//
// hwkeys: TestSupport
//
//===----------------------------------------------------------------------===//

import Foundation
import Testing

/// One case of `Fixtures/mktme/xts-lines.json` (Scripts/gen_mktme_fixtures.py, Python `cryptography`): the
/// DRAM contents a store through a directly programmed KeyID must leave — AES-XTS(data key ‖ tweak key,
/// sequence = PA >> 6) of the plaintext (docs/contract.md §2).
public struct MKTMELineVector: Decodable, Sendable, CustomTestStringConvertible {
    public let algorithm: String
    public let dataKey: String
    public let tweakKey: String
    public let address: String
    public let package: Int
    public let plaintext: String
    public let ciphertext: String

    enum CodingKeys: String, CodingKey {
        case algorithm, address, package, plaintext, ciphertext
        case dataKey = "data_key"
        case tweakKey = "tweak_key"
    }

    public var testDescription: String { "\(algorithm) at \(address) on package \(package)" }
    public var dramAddress: UInt64 { UInt64(address.dropFirst(2), radix: 16) ?? 0 }

    /// Every case; empty when the file is missing (the tests' count checks then fail).
    public static let all: [MKTMELineVector] = {
        struct File: Decodable { let cases: [MKTMELineVector] }
        return fixture(File.self, "mktme/xts-lines.json")?.cases ?? []
    }()
}

/// A case of `Fixtures/keylocker/vectors.json` (Scripts/gen_keylocker_fixtures.py, see its SOURCE.md): the
/// handle ENCODEKEY must produce under a software IWKey and the AES results AES*KL must give with it.
public struct KeyLockerVector: Decodable, Sendable, CustomTestStringConvertible {
    public let name: String
    public let iwkeyEncryptionKey: String
    public let iwkeyIntegrityKey: String
    public let restrictions: UInt32
    public let key: String
    public let handle: String
    public let blocks: String
    public let encrypted: String
    public let decrypted: String

    public var testDescription: String { name }

    enum CodingKeys: String, CodingKey {
        case name, restrictions, key, handle, blocks, encrypted, decrypted
        case iwkeyEncryptionKey = "iwkey_encryption_key"
        case iwkeyIntegrityKey = "iwkey_integrity_key"
    }

    /// Every case; empty when the file is missing (the tests' count checks then fail).
    public static let all: [KeyLockerVector] = {
        struct File: Decodable { let cases: [KeyLockerVector] }
        return fixture(File.self, "keylocker/vectors.json")?.cases ?? []
    }()
}

/// A JSON file under this target's `Fixtures/`, decoded; nil (with an issue recorded) when it cannot be.
func fixture<T: Decodable>(_ type: T.Type, _ path: String) -> T? {
    guard let url = Bundle.module.resourceURL?.appendingPathComponent("Fixtures/\(path)") else { return nil }
    do {
        return try JSONDecoder().decode(type, from: Data(contentsOf: url))
    } catch {
        Issue.record("cannot load Fixtures/\(path): \(error)")
        return nil
    }
}
