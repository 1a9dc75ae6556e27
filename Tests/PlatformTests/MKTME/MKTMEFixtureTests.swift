//===----------------------------------------------------------------------===//
//
// hwkeys: PlatformTests
//
//===----------------------------------------------------------------------===//

import Foundation
import HWKeysBase
import TestSupport
import Testing
import X86

@testable import Platform

/// A line stored through a directly programmed KeyID sits in DRAM as exactly AES-XTS(data key ‖ tweak key,
/// sequence = PA >> 6) of the plaintext, computed independently (docs/contract.md §2).
@Suite struct MKTMEFixtureTests {
    @Test func theFixturesLoadAndCoverBothAlgorithmsAndBothPackages() {
        let cases = MKTMELineVector.all
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

    func program(_ machine: Machine, _ fixture: MKTMELineVector, keyID: UInt16) throws {
        let algorithm = try #require(TMEAlgorithm(name: fixture.algorithm))
        #expect(machine.configuration.homePackage(ofDRAMAddress: fixture.dramAddress) == fixture.package)
        let cpu = machine.processors(ofPackage: fixture.package).first!
        let result = try cpu.program(
            keyID: keyID,
            .setKeyDirect,
            algorithm,
            key: hexBytes(fixture.dataKey),
            tweak: hexBytes(fixture.tweakKey)
        )
        #expect(result.status == .success)
    }

    @Test(arguments: MKTMELineVector.all)
    func storeThenFlushLeavesTheIndependentCiphertextInDRAM(fixture: MKTMELineVector) throws {
        let machine = try machine()
        try program(machine, fixture, keyID: 7)
        let plaintext = hexBytes(fixture.plaintext)
        let cpu = machine.processors(ofPackage: fixture.package).first!
        let pa = machine.pa(fixture.dramAddress, keyID: 7)
        cpu.store(pa, plaintext)
        cpu.clflush(pa, length: plaintext.count)
        #expect(machine.dramBytes(fixture.dramAddress, plaintext.count) == hexBytes(fixture.ciphertext))
        #expect(cpu.load(pa, plaintext.count) == plaintext)
    }

    @Test(arguments: MKTMELineVector.all)
    func theSameHoldsWithoutACacheAndFromTheOtherPackage(fixture: MKTMELineVector) throws {
        let machine = try makeMachine {
            $0.packages = 2
            $0.cacheLines = 0
        }
        try program(machine, fixture, keyID: 63)
        // A CPU of the *other* package stores: the home controller's key still applies.
        let other = machine.processors(ofPackage: 1 - fixture.package).first!
        let plaintext = hexBytes(fixture.plaintext)
        other.store(machine.pa(fixture.dramAddress, keyID: 63), plaintext)
        #expect(machine.dramBytes(fixture.dramAddress, plaintext.count) == hexBytes(fixture.ciphertext))
    }

    @Test(arguments: MKTMELineVector.all)
    func loadingPlantedCiphertextDecryptsToThePlaintext(fixture: MKTMELineVector) throws {
        let machine = try machine()
        try program(machine, fixture, keyID: 1)
        machine.pokeDRAM(fixture.dramAddress, hexBytes(fixture.ciphertext))
        let plaintext = hexBytes(fixture.plaintext)
        let cpu = machine.processors(ofPackage: fixture.package).last!
        #expect(cpu.load(machine.pa(fixture.dramAddress, keyID: 1), plaintext.count) == plaintext)
    }
}
