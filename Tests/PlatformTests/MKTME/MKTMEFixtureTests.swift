//===----------------------------------------------------------------------===//
//
// hwkeys: PlatformTests
//
//===----------------------------------------------------------------------===//

import Foundation
import HWKeysBase
import Testing
import X86

@testable import Platform

/// One case of `Fixtures/mktme/xts-lines.json` (Scripts/gen_mktme_fixtures.py, Python `cryptography`).
struct MKTMEFixtureCase: Decodable, CustomTestStringConvertible, Sendable {
    let algorithm: String
    let dataKey: String
    let tweakKey: String
    let address: String
    let package: Int
    let plaintext: String
    let ciphertext: String

    enum CodingKeys: String, CodingKey {
        case algorithm, address, package, plaintext, ciphertext
        case dataKey = "data_key"
        case tweakKey = "tweak_key"
    }

    var testDescription: String { "\(algorithm) at \(address) on package \(package)" }

    static func bytes(_ hex: String) -> [UInt8] {
        stride(from: 0, to: hex.count, by: 2).map {
            let start = hex.index(hex.startIndex, offsetBy: $0)
            return UInt8(hex[start..<hex.index(start, offsetBy: 2)], radix: 16)!
        }
    }

    var dramAddress: UInt64 { UInt64(address.dropFirst(2), radix: 16)! }

    static let all: [MKTMEFixtureCase] = {
        struct File: Decodable { let cases: [MKTMEFixtureCase] }
        guard
            let url = Bundle.module.url(
                forResource: "xts-lines",
                withExtension: "json",
                subdirectory: "Fixtures/mktme"
            ),
            let data = try? Data(contentsOf: url),
            let file = try? JSONDecoder().decode(File.self, from: data)
        else { return [] }
        return file.cases
    }()
}

/// A line stored through a directly programmed KeyID sits in DRAM as exactly AES-XTS(data key ‖ tweak key,
/// sequence = PA >> 6) of the plaintext, computed independently (docs/contract.md §2).
@Suite struct MKTMEFixtureTests {
    @Test func theFixturesLoadAndCoverBothAlgorithmsAndBothPackages() {
        let cases = MKTMEFixtureCase.all
        #expect(cases.count >= 8)
        #expect(Set(cases.map(\.algorithm)) == ["aes-xts-128", "aes-xts-256"])
        #expect(Set(cases.map(\.package)) == [0, 1])
    }

    func machine() throws -> Machine {
        try makeMachine {
            $0.packages = 2
            $0.memoryBytes = 64 << 20
        }
    }

    func program(_ machine: Machine, _ fixture: MKTMEFixtureCase, keyID: UInt16) throws {
        let algorithm = try #require(TMEAlgorithm(name: fixture.algorithm))
        #expect(machine.configuration.homePackage(ofDRAMAddress: fixture.dramAddress) == fixture.package)
        let cpu = machine.processors(ofPackage: fixture.package).first!
        let result = try cpu.program(
            keyID: keyID,
            .setKeyDirect,
            algorithm,
            key: MKTMEFixtureCase.bytes(fixture.dataKey),
            tweak: MKTMEFixtureCase.bytes(fixture.tweakKey)
        )
        #expect(result.status == .success)
    }

    @Test(arguments: MKTMEFixtureCase.all)
    func storeThenFlushLeavesTheIndependentCiphertextInDRAM(fixture: MKTMEFixtureCase) throws {
        let machine = try machine()
        try program(machine, fixture, keyID: 7)
        let plaintext = MKTMEFixtureCase.bytes(fixture.plaintext)
        let cpu = machine.processors(ofPackage: fixture.package).first!
        let pa = machine.pa(fixture.dramAddress, keyID: 7)
        cpu.store(pa, plaintext)
        cpu.clflush(pa, length: plaintext.count)
        #expect(machine.dramBytes(fixture.dramAddress, plaintext.count) == MKTMEFixtureCase.bytes(fixture.ciphertext))
        #expect(cpu.load(pa, plaintext.count) == plaintext)
    }

    @Test(arguments: MKTMEFixtureCase.all)
    func theSameHoldsWithoutACacheAndFromTheOtherPackage(fixture: MKTMEFixtureCase) throws {
        let machine = try makeMachine {
            $0.packages = 2
            $0.cacheLines = 0
        }
        try program(machine, fixture, keyID: 63)
        // A CPU of the *other* package stores: the home controller's key still applies.
        let other = machine.processors(ofPackage: 1 - fixture.package).first!
        let plaintext = MKTMEFixtureCase.bytes(fixture.plaintext)
        other.store(machine.pa(fixture.dramAddress, keyID: 63), plaintext)
        #expect(machine.dramBytes(fixture.dramAddress, plaintext.count) == MKTMEFixtureCase.bytes(fixture.ciphertext))
    }

    @Test(arguments: MKTMEFixtureCase.all)
    func loadingPlantedCiphertextDecryptsToThePlaintext(fixture: MKTMEFixtureCase) throws {
        let machine = try machine()
        try program(machine, fixture, keyID: 1)
        machine.pokeDRAM(fixture.dramAddress, MKTMEFixtureCase.bytes(fixture.ciphertext))
        let plaintext = MKTMEFixtureCase.bytes(fixture.plaintext)
        let cpu = machine.processors(ofPackage: fixture.package).last!
        #expect(cpu.load(machine.pa(fixture.dramAddress, keyID: 1), plaintext.count) == plaintext)
    }
}
