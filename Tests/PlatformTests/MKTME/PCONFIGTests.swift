//===----------------------------------------------------------------------===//
//
// hwkeys: PlatformTests
//
//===----------------------------------------------------------------------===//

import HWKeysBase
import TestSupport
import Testing
import X86

@testable import Platform

/// PCONFIG leaf 0, MKTME_KEY_PROGRAM (docs/contract.md §2, original generation: RAX code + ZF).
@Suite struct PCONFIGTests {
    static let key16 = testPattern(16, seed: 3)
    static let tweak16 = testPattern(16, seed: 4)

    @Test(arguments: MKTMEKeyCommand.allCases)
    func everyCommandSucceedsWithRAX0AndZF0(command: MKTMEKeyCommand) throws {
        let machine = try makeMachine()
        let result = try machine.cpu().program(keyID: 5, command, key: Self.key16, tweak: Self.tweak16)
        #expect(result == PCONFIGResult(status: .success))
        #expect(result.rax == 0 && !result.zf)
        let expected: KeyIDState = [.direct, .random, .clear, .noEncrypt][Int(command.rawValue)]
        #expect(
            machine.keyTableStatus(package: 0)[4] == MKTMEKeyIDStatus(keyID: 5, state: expected, algorithm: .aesXTS128)
        )
    }

    @Test func setKeyDirectLoadsKeyField1AndKeyField2() throws {
        let machine = try makeMachine()
        try machine.cpu().program(
            keyID: 1,
            .setKeyDirect,
            .aesXTS256,
            key: testPattern(32, seed: 1),
            tweak: testPattern(32, seed: 2)
        )
        #expect(machine.keyBytes(1, package: 0) == testPattern(32, seed: 1) + testPattern(32, seed: 2))
    }

    @Test func onlyTheFirst16Or32BytesOfEachFieldAreUsed() throws {
        let machine = try makeMachine()
        try machine.cpu().program(
            keyID: 1,
            .setKeyDirect,
            key: testPattern(64, seed: 1),
            tweak: testPattern(64, seed: 2)
        )
        #expect(
            machine.keyBytes(1, package: 0) == Array(testPattern(64, seed: 1)[0..<16])
                + Array(testPattern(64, seed: 2)[0..<16])
        )
    }

    @Test func setKeyRandomXORsFreshRandomnessIntoEachField() throws {
        // Same seed, same entropy position: the random part is the same, so the XOR is visible.
        let zero = try makeMachine()
        try zero.cpu().program(keyID: 1, .setKeyRandom)
        let mixed = try makeMachine()
        let key = testPattern(16, seed: 9)
        let tweak = testPattern(16, seed: 8)
        try mixed.cpu().program(keyID: 1, .setKeyRandom, key: key, tweak: tweak)
        let random = try #require(zero.keyBytes(1, package: 0))
        #expect(random != [UInt8](repeating: 0, count: 32))
        let expected = zip(random, key + tweak).map { $0 ^ $1 }
        #expect(mixed.keyBytes(1, package: 0) == expected)
    }

    @Test func setKeyRandomDrawsANewKeyEachTime() throws {
        let machine = try makeMachine()
        try machine.cpu().program(keyID: 1, .setKeyRandom)
        let first = machine.keyBytes(1, package: 0)
        try machine.cpu().program(keyID: 1, .setKeyRandom)
        #expect(machine.keyBytes(1, package: 0) != first)
    }

    @Test(arguments: [UInt32(4), 5, 0x7F, 0xFF])
    func unknownCommandsReturnInvalidProgCmd(command: UInt32) throws {
        let machine = try makeMachine()
        let result = try machine.cpu().program(keyID: 1, .setKeyDirect, control: command | 1 << 8)
        #expect(result.rax == 1 && result.zf)
        #expect(result.status == .invalidProgramCommand)
    }

    @Test(arguments: [UInt16(0), 64, 65, 0xFFFF])
    func keyIDsOutsideTheRangeReturnInvalidKeyID(keyID: UInt16) throws {
        let machine = try makeMachine()
        let result = try machine.cpu().program(keyID: keyID, .setKeyRandom)
        #expect(result == PCONFIGResult(status: .invalidKeyID))
        #expect(result.rax == 3 && result.zf)
    }

    @Test func keyIDsAboveMaxKeysAreInvalidEvenBelow2PowerK() throws {
        let machine = try makeMachine { $0.maxKeys = 10 }
        #expect(try machine.cpu().program(keyID: 10, .setKeyRandom).status == .success)
        #expect(try machine.cpu().program(keyID: 11, .setKeyRandom).status == .invalidKeyID)
    }

    @Test func keyIDsAtOrAbove2PowerKAreInvalidEvenBelowMaxKeys() throws {
        let machine = try makeMachine { $0.keyIDBits = 3 }
        #expect(try machine.cpu().program(keyID: 7, .setKeyRandom).status == .success)
        #expect(try machine.cpu().program(keyID: 8, .setKeyRandom).status == .invalidKeyID)
    }

    /// ENC_ALG must be one-hot and activated for every command, CLEAR_KEY and NO_ENCRYPT included.
    @Test(arguments: MKTMEKeyCommand.allCases, [UInt32(0), 0b11, 0b101, 0b10, 0b1000, 0x8000])
    func badEncAlgReturnsInvalidEncAlgForEveryCommand(command: MKTMEKeyCommand, encAlg: UInt32) throws {
        let machine = try makeMachine()
        let result = try machine.cpu().program(keyID: 2, command, control: UInt32(command.rawValue) | encAlg << 8)
        #expect(result == PCONFIGResult(status: .invalidEncryptionAlgorithm))
        #expect(result.rax == 4)
        #expect(machine.keyTableStatus(package: 0)[1].state == .unprogrammed)
    }

    @Test(arguments: MKTMEKeyCommand.allCases)
    func anAlgorithmNotActivatedIsRejectedForEveryCommand(command: MKTMEKeyCommand) throws {
        let machine = try makeMachine { $0.mkAlgorithms = [.aesXTS128] }
        #expect(try machine.cpu().program(keyID: 2, command, .aesXTS256).status == .invalidEncryptionAlgorithm)
        #expect(try machine.cpu().program(keyID: 2, command, .aesXTS128).status == .success)
    }

    @Test func injectedBusyReturnsDeviceBusyAndCountsDown() throws {
        let machine = try makeMachine()
        machine.faults.pconfigBusy[0] = 2
        #expect(try machine.cpu().program(keyID: 1, .setKeyDirect) == PCONFIGResult(status: .deviceBusy))
        #expect(try machine.cpu().program(keyID: 1, .clearKey).rax == 5)
        #expect(machine.faults.pconfigBusy[0] == 0)
        #expect(machine.keyTableStatus(package: 0)[0].state == .unprogrammed)
        #expect(try machine.cpu().program(keyID: 1, .clearKey).status == .success)
    }

    @Test func invalidCommandsDoNotConsumeInjectedBusy() throws {
        let machine = try makeMachine()
        machine.faults.pconfigBusy[0] = 1
        #expect(try machine.cpu().program(keyID: 0, .setKeyDirect).status == .invalidKeyID)
        #expect(machine.faults.pconfigBusy[0] == 1)
    }

    @Test func injectedEntropyFailureHitsOnlySetKeyRandom() throws {
        let machine = try makeMachine()
        machine.faults.pconfigEntropy[0] = 1
        #expect(try machine.cpu().program(keyID: 1, .setKeyDirect).status == .success)
        #expect(try machine.cpu().program(keyID: 2, .clearKey).status == .success)
        #expect(machine.faults.pconfigEntropy[0] == 1)
        #expect(try machine.cpu().program(keyID: 3, .setKeyRandom) == PCONFIGResult(status: .entropyError))
        #expect(machine.faults.pconfigEntropy[0] == 0)
        #expect(machine.keyTableStatus(package: 0)[2].state == .unprogrammed)
        #expect(try machine.cpu().program(keyID: 3, .setKeyRandom).rax == 0)
    }

    @Test func injectedFailuresArePerPackage() throws {
        let machine = try makeMachine { $0.packages = 2 }
        machine.faults.pconfigBusy[1] = 1
        #expect(try machine.cpu(0).program(keyID: 1, .setKeyRandom).status == .success)
        #expect(try machine.cpu(2).program(keyID: 1, .setKeyRandom).status == .deviceBusy)
    }

    @Test func reservedKeyIDCtrlBitsFault() throws {
        let machine = try makeMachine()
        #expect(throws: X86Fault.gp0("")) {
            try machine.cpu().program(keyID: 1, .setKeyDirect, control: 1 << 8 | 1 << 24)
        }
    }

    @Test func cpl3IsInvalidOpcode() throws {
        let machine = try makeMachine()
        machine.cpu().cpl = 3
        #expect(throws: X86Fault.ud("")) { try machine.cpu().program(keyID: 1, .setKeyRandom) }
    }

    @Test func withoutPCONFIGItIsInvalidOpcode() throws {
        let machine = try makeMachine { $0.pconfig = false }
        #expect(throws: X86Fault.ud("")) { try machine.cpu().program(keyID: 1, .setKeyRandom) }
    }

    @Test(arguments: [UInt32(1), 2, 0xFFFF_FFFF])
    func otherLeavesFault(leaf: UInt32) throws {
        let machine = try makeMachine()
        #expect(throws: X86Fault.gp0("")) { try machine.cpu().program(keyID: 1, .setKeyRandom, leaf: leaf) }
    }

    @Test func tmeNotActiveOrNoKeyIDBitsFaults() throws {
        let off = try makeMachine {
            $0.tmeEnabled = false
            $0.keyIDBits = 0
        }
        #expect(throws: X86Fault.gp0("")) { try off.cpu().program(keyID: 1, .setKeyRandom) }
        let tmeOnly = try makeMachine { $0.keyIDBits = 0 }
        #expect(throws: X86Fault.gp0("")) { try tmeOnly.cpu().program(keyID: 1, .setKeyRandom) }
    }

    @Test func programmingOnePackageLeavesTheOtherUntouched() throws {
        let machine = try makeMachine { $0.packages = 2 }
        try machine.cpu(3).program(keyID: 4, .noEncrypt)
        #expect(machine.keyTableStatus(package: 1)[3].state == .noEncrypt)
        #expect(machine.keyTableStatus(package: 0).allSatisfy { $0.state == .unprogrammed })
    }

    @Test func randomKeysDifferBetweenPackages() throws {
        let machine = try makeMachine { $0.packages = 2 }
        try machine.cpu(0).program(keyID: 1, .setKeyRandom)
        try machine.cpu(2).program(keyID: 1, .setKeyRandom)
        let zero = try #require(machine.keyBytes(1, package: 0))
        #expect(zero != machine.keyBytes(1, package: 1))
        #expect(machine.tmeKeyBytes(package: 0) != machine.tmeKeyBytes(package: 1))
    }

    @Test func costsPCONFIGCycles() throws {
        let machine = try makeMachine()
        try machine.cpu().program(keyID: 1, .setKeyRandom)
        #expect(machine.counters.counts[.pconfig] == 1)
        #expect(machine.counters.cycles[.pconfig] == CostItem.pconfig.cycles)
    }
}

/// PCONFIG reading `MKTME_KEY_PROGRAM_STRUCT` from memory at RBX.
@Suite struct PCONFIGStructureTests {
    func structure(keyID: UInt16, _ command: MKTMEKeyCommand, key: [UInt8] = [], tweak: [UInt8] = []) -> [UInt8] {
        var bytes = [UInt8](repeating: 0xEE, count: 192)
        bytes.withUnsafeMutableBytes { out in
            key.withUnsafeBytes { k in
                tweak.withUnsafeBytes { t in
                    MKTMEKeyProgramLayout.encode(
                        keyID: keyID,
                        keyIDControl: MKTMEKeyProgramLayout.keyIDControl(command: command, algorithm: .aesXTS128),
                        keyField1: k,
                        keyField2: t,
                        into: out
                    )
                }
            }
        }
        return bytes
    }

    @Test func theStructureIsReadThroughTheCache() throws {
        let machine = try makeMachine()
        let cpu = machine.cpu()
        let rbx = machine.pa(0x8000)
        cpu.store(
            rbx,
            structure(keyID: 9, .setKeyDirect, key: testPattern(16, seed: 5), tweak: testPattern(16, seed: 6))
        )
        // Still only in the cache: DRAM holds nothing of it.
        #expect(machine.dramBytes(0x8000, 192) == [UInt8](repeating: 0, count: 192))
        #expect(try cpu.pconfig(leaf: 0, structure: rbx) == PCONFIGResult(status: .success))
        #expect(machine.keyBytes(9, package: 0) == testPattern(16, seed: 5) + testPattern(16, seed: 6))
    }

    @Test func theStructureIsReadThroughItsKeyIDAlias() throws {
        let machine = try makeMachine()
        let cpu = machine.cpu()
        try cpu.program(keyID: 3, .setKeyRandom)
        let rbx = machine.pa(0x4000, keyID: 3)
        cpu.store(rbx, structure(keyID: 2, .noEncrypt))
        cpu.clflush(rbx, length: 192)
        #expect(try cpu.pconfig(leaf: 0, structure: rbx).status == .success)
        #expect(machine.keyTableStatus(package: 0)[1].state == .noEncrypt)
        // Through the KeyID-0 alias the same bytes are ciphertext: garbage that never programs KeyID 2.
        let garbage = Result { () throws(X86Fault) in try cpu.pconfig(leaf: 0, structure: machine.pa(0x4000)) }
        if case .success(let result) = garbage { #expect(result.status != .success) }
    }

    @Test(arguments: [UInt64(0x8010), 0x8080, 0x80C0, 0x8001])
    func unalignedStructuresFault(address: UInt64) throws {
        let machine = try makeMachine()
        #expect(throws: X86Fault.gp0("")) { try machine.cpu().pconfig(leaf: 0, structure: PhysicalAddress(address)) }
        #expect(machine.counters.counts[.pconfig] == nil)
    }

    @Test func structuresOutsideDRAMFault() throws {
        let machine = try makeMachine()
        #expect(throws: X86Fault.gp0("")) { try machine.cpu().pconfig(leaf: 0, structure: PhysicalAddress(64 << 20)) }
        #expect(throws: X86Fault.gp0("")) {
            try machine.cpu().pconfig(leaf: 0, structure: PhysicalAddress((64 << 20) - 128))
        }
    }

    @Test func guardsComeBeforeTheStructure() throws {
        let machine = try makeMachine()
        machine.cpu().cpl = 3
        #expect(throws: X86Fault.ud("")) { try machine.cpu().pconfig(leaf: 0, structure: PhysicalAddress(0x8010)) }
    }
}
