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

/// What DRAM holds for each kind of KeyID (docs/contract.md §2).
@Suite struct MKTMEDRAMContentTests {
    @Test func keyID0IsEncryptedWithTheTMEKey() throws {
        let machine = try makeMachine()
        let cpu = machine.cpu()
        cpu.store(machine.pa(0x3000), testPattern(128))
        cpu.clflush(machine.pa(0x3000), length: 128)
        let key = try #require(machine.tmeKeyBytes(package: 0))
        #expect(key.count == 32)
        #expect(machine.dramBytes(0x3000, 128) == xtsLines(key, address: 0x3000, testPattern(128), encrypt: true))
    }

    @Test func anAES256PolicyGivesAnAES256TMEKey() throws {
        let machine = try makeMachine { $0.tmePolicy = .aesXTS256 }
        let key = try #require(machine.tmeKeyBytes(package: 0))
        #expect(key.count == 64)
        machine.cpu().store(machine.pa(0x40), testPattern(64))
        machine.cpu().clflush(machine.pa(0x40))
        #expect(machine.dramBytes(0x40, 64) == xtsLines(key, address: 0x40, testPattern(64), encrypt: true))
    }

    @Test func clearKeyDataIsStoredExactlyAsKeyID0WouldStoreIt() throws {
        let machine = try makeMachine()
        let cpu = machine.cpu()
        try cpu.program(keyID: 3, .setKeyRandom)
        try cpu.program(keyID: 3, .clearKey)
        cpu.store(machine.pa(0x5000), testPattern(256))
        cpu.clflush(machine.pa(0x5000), length: 256)
        let viaKeyID0 = machine.dramBytes(0x5000, 256)
        cpu.store(machine.pa(0x5000, keyID: 3), testPattern(256))
        cpu.clflush(machine.pa(0x5000, keyID: 3), length: 256)
        #expect(machine.dramBytes(0x5000, 256) == viaKeyID0)
        #expect(viaKeyID0 != testPattern(256))
        #expect(cpu.load(machine.pa(0x5000), 256) == testPattern(256))
    }

    @Test func unprogrammedAndOutOfRangeKeyIDsBehaveLikeKeyID0() throws {
        let machine = try makeMachine { $0.maxKeys = 10 }
        let cpu = machine.cpu()
        cpu.store(machine.pa(0x6000), testPattern(64))
        cpu.clflush(machine.pa(0x6000))
        let viaKeyID0 = machine.dramBytes(0x6000, 64)
        for keyID: UInt16 in [4, 11, 63] {
            #expect(cpu.load(machine.pa(0x6000, keyID: keyID), 64) == testPattern(64), "KeyID \(keyID)")
        }
        #expect(viaKeyID0 != testPattern(64))
    }

    @Test func noEncryptDataSitsInDRAMAsPlaintext() throws {
        let machine = try makeMachine()
        let cpu = machine.cpu()
        try cpu.program(keyID: 9, .noEncrypt, .aesXTS256)
        let secret =
            Array("NO_ENCRYPT: a bus snooper reads this line as it is.".utf8) + [UInt8](repeating: 0, count: 13)
        cpu.store(machine.pa(0x7000, keyID: 9), secret)
        cpu.clflush(machine.pa(0x7000, keyID: 9))
        #expect(machine.dramBytes(0x7000, 64) == secret)
    }

    @Test func bypassStoresKeyID0AsPlaintextButStillEncryptsOtherKeyIDs() throws {
        let machine = try makeMachine { $0.tmeBypass = true }
        let cpu = machine.cpu()
        cpu.store(machine.pa(0x1000), testPattern(64))
        try cpu.program(keyID: 1, .setKeyRandom)
        try cpu.program(keyID: 2, .clearKey)
        cpu.store(machine.pa(0x2000, keyID: 1), testPattern(64))
        cpu.store(machine.pa(0x3000, keyID: 2), testPattern(64))
        try cpu.wbinvd()
        #expect(machine.dramBytes(0x1000, 64) == testPattern(64))
        #expect(machine.dramBytes(0x2000, 64) != testPattern(64))
        #expect(machine.dramBytes(0x3000, 64) == testPattern(64))  // cleared KeyID: as KeyID 0
    }

    @Test func theExclusionRangeAppliesToKeyID0AndClearedKeyIDsOnly() throws {
        // Exclude [1 MiB, 2 MiB).
        let machine = try makeMachine { $0.tmeExclude = TMEExclusion(base: 0x10_0000, mask: 0x3FFF_FFF0_0000) }
        let cpu = machine.cpu()
        try cpu.program(keyID: 1, .setKeyRandom)
        try cpu.program(keyID: 2, .clearKey)
        cpu.store(machine.pa(0x10_0000), testPattern(64, seed: 1))  // inside, KeyID 0
        cpu.store(machine.pa(0x1F_FFC0), testPattern(64, seed: 2))  // inside, last line
        cpu.store(machine.pa(0x20_0000), testPattern(64, seed: 3))  // outside
        cpu.store(machine.pa(0x0F_FFC0), testPattern(64, seed: 4))  // outside, just below
        cpu.store(machine.pa(0x10_1000, keyID: 1), testPattern(64, seed: 5))  // inside, KeyID 1
        cpu.store(machine.pa(0x10_2000, keyID: 2), testPattern(64, seed: 6))  // inside, cleared KeyID
        try cpu.wbinvd()
        #expect(machine.dramBytes(0x10_0000, 64) == testPattern(64, seed: 1))
        #expect(machine.dramBytes(0x1F_FFC0, 64) == testPattern(64, seed: 2))
        #expect(machine.dramBytes(0x20_0000, 64) != testPattern(64, seed: 3))
        #expect(machine.dramBytes(0x0F_FFC0, 64) != testPattern(64, seed: 4))
        #expect(machine.dramBytes(0x10_1000, 64) != testPattern(64, seed: 5))
        #expect(machine.dramBytes(0x10_2000, 64) == testPattern(64, seed: 6))
        #expect(cpu.load(machine.pa(0x20_0000), 64) == testPattern(64, seed: 3))
    }

    @Test func aReadThroughTheWrongKeyIDReturnsGarbageAndNeverFaults() throws {
        let machine = try makeMachine()
        let cpu = machine.cpu()
        try cpu.program(keyID: 1, .setKeyRandom)
        try cpu.program(keyID: 2, .setKeyRandom)
        cpu.store(machine.pa(0x9000, keyID: 1), testPattern(4096))
        try cpu.wbinvd()
        let wrong = cpu.load(machine.pa(0x9000, keyID: 2), 4096)
        let viaKeyID0 = cpu.load(machine.pa(0x9000), 4096)
        #expect(wrong != testPattern(4096))
        #expect(viaKeyID0 != testPattern(4096))
        #expect(wrong != viaKeyID0)
        #expect(cpu.load(machine.pa(0x9000, keyID: 1), 4096) == testPattern(4096))
    }

    @Test func ciphertextCopiedToAnotherAddressDecryptsToGarbage() throws {
        let machine = try makeMachine()
        let cpu = machine.cpu()
        try cpu.program(keyID: 1, .setKeyDirect, key: testPattern(16, seed: 1), tweak: testPattern(16, seed: 2))
        cpu.store(machine.pa(0xA000, keyID: 1), testPattern(64))
        cpu.clflush(machine.pa(0xA000, keyID: 1))
        machine.pokeDRAM(0xB000, machine.dramBytes(0xA000, 64))
        #expect(cpu.load(machine.pa(0xB000, keyID: 1), 64) != testPattern(64))
        #expect(cpu.load(machine.pa(0xA000, keyID: 1), 64) == testPattern(64))
    }

    @Test func ciphertextReplayedAtTheSameAddressDecryptsToTheOldPlaintext() throws {
        let machine = try makeMachine()
        let cpu = machine.cpu()
        try cpu.program(keyID: 1, .setKeyRandom)
        let pa = machine.pa(0xC000, keyID: 1)
        cpu.store(pa, Array("balance: 100".utf8))
        cpu.clflush(pa)
        let old = machine.dramBytes(0xC000, 64)
        cpu.store(pa, Array("balance: 000".utf8))
        cpu.clflush(pa)
        #expect(cpu.load(pa, 12) == Array("balance: 000".utf8))
        cpu.clflush(pa)
        machine.pokeDRAM(0xC000, old)  // the attacker replays the old ciphertext
        #expect(cpu.load(pa, 12) == Array("balance: 100".utf8))
    }

    @Test func loadsBeyondDRAMReadAllOnesAndStoresAreDropped() throws {
        let machine = try makeMachine()
        let cpu = machine.cpu()
        let end = machine.pa(64 << 20)
        cpu.store(end, testPattern(64))
        #expect(cpu.load(end, 64) == [UInt8](repeating: 0xFF, count: 64))
        let straddle = cpu.load(machine.pa((64 << 20) - 32), 64)
        #expect(straddle[32...].allSatisfy { $0 == 0xFF })
    }
}

/// The cache semantics of docs/contract.md §2: fills and write-backs use the key in the table at that time; clean
/// lines are never written back; aliases are different lines.
@Suite struct MKTMECacheTests {
    @Test func storesStayInTheCacheUntilWrittenBack() throws {
        let machine = try makeMachine()
        let cpu = machine.cpu()
        cpu.store(machine.pa(0x1000), testPattern(64))
        #expect(machine.dramBytes(0x1000, 64) == [UInt8](repeating: 0, count: 64))
        #expect(machine.cachedCopies(of: machine.pa(0x1000)).map(\.dirty) == [true])
        cpu.clflush(machine.pa(0x1000))
        #expect(machine.cachedCopies(of: machine.pa(0x1000)).isEmpty)
        #expect(machine.dramBytes(0x1000, 64) != [UInt8](repeating: 0, count: 64))
    }

    @Test func aDirtyLineReprogrammedBeforeWriteBackIsWrittenWithTheNewKey() throws {
        let machine = try makeMachine()
        let cpu = machine.cpu()
        let oldKey = testPattern(16, seed: 1)
        let newKey = testPattern(16, seed: 2)
        let tweak = testPattern(16, seed: 3)
        try cpu.program(keyID: 5, .setKeyDirect, key: oldKey, tweak: tweak)
        let pa = machine.pa(0x4000, keyID: 5)
        cpu.store(pa, testPattern(64))
        try cpu.program(keyID: 5, .setKeyDirect, key: newKey, tweak: tweak)  // no flush first
        cpu.clflush(pa)
        #expect(
            machine.dramBytes(0x4000, 64) == xtsLines(newKey + tweak, address: 0x4000, testPattern(64), encrypt: true)
        )
        // The owner, back on the old key, reloads garbage.
        try cpu.program(keyID: 5, .setKeyDirect, key: oldKey, tweak: tweak)
        #expect(cpu.load(pa, 64) != testPattern(64))
    }

    @Test func aFillDecryptsWithTheKeyAtFillTime() throws {
        let machine = try makeMachine()
        let cpu = machine.cpu()
        try cpu.program(keyID: 5, .setKeyDirect, key: testPattern(16, seed: 1), tweak: testPattern(16, seed: 3))
        let pa = machine.pa(0x4000, keyID: 5)
        cpu.store(pa, testPattern(64))
        cpu.clflush(pa)
        #expect(cpu.load(pa, 64) == testPattern(64))  // filled, clean, under the old key
        try cpu.program(keyID: 5, .setKeyDirect, key: testPattern(16, seed: 2), tweak: testPattern(16, seed: 3))
        #expect(cpu.load(pa, 64) == testPattern(64))  // still the cached plaintext
        cpu.clflush(pa)  // clean: dropped, not written back
        #expect(cpu.load(pa, 64) != testPattern(64))  // refilled under the new key
    }

    @Test func writingThroughANewAliasWithoutFlushingTheOldDirtyAliasCorruptsIt() throws {
        let machine = try makeMachine()
        let cpu = machine.cpu()
        try cpu.program(keyID: 1, .setKeyRandom)
        try cpu.program(keyID: 2, .setKeyRandom)
        let old = machine.pa(0x8000, keyID: 1)
        let new = machine.pa(0x8000, keyID: 2)
        cpu.store(old, testPattern(64, seed: 1))  // dirty under KeyID 1, never flushed
        cpu.store(new, testPattern(64, seed: 2))  // the page changes KeyID: a different line
        #expect(machine.cachedCopies(of: old).map(\.dirty) == [true])
        #expect(machine.cachedCopies(of: new).map(\.dirty) == [true])
        cpu.clflush(new)  // the new owner's data reaches DRAM …
        #expect(cpu.load(new, 64) == testPattern(64, seed: 2))
        cpu.clflush(new)
        cpu.clflush(old)  // … then the stale alias is evicted over it
        #expect(cpu.load(new, 64) != testPattern(64, seed: 2))
        #expect(cpu.load(old, 64) == testPattern(64, seed: 1))
    }

    @Test func flushingTheOldAliasFirstKeepsTheNewData() throws {
        let machine = try makeMachine()
        let cpu = machine.cpu()
        try cpu.program(keyID: 1, .setKeyRandom)
        try cpu.program(keyID: 2, .setKeyRandom)
        cpu.store(machine.pa(0x8000, keyID: 1), testPattern(64, seed: 1))
        cpu.clflush(machine.pa(0x8000, keyID: 1))
        cpu.store(machine.pa(0x8000, keyID: 2), testPattern(64, seed: 2))
        try cpu.wbinvd()
        #expect(cpu.load(machine.pa(0x8000, keyID: 2), 64) == testPattern(64, seed: 2))
    }

    @Test func cleanLinesAreNeverWrittenBack() throws {
        let machine = try makeMachine()
        let cpu = machine.cpu()
        #expect(cpu.load(machine.pa(0x2000), 64) == cpu.load(machine.pa(0x2000), 64))
        #expect(machine.cachedCopies(of: machine.pa(0x2000)).map(\.dirty) == [false])
        machine.pokeDRAM(0x2000, testPattern(64))  // DRAM changes behind the cache
        try cpu.wbinvd()
        cpu.clflush(machine.pa(0x2000))
        #expect(machine.dramBytes(0x2000, 64) == testPattern(64))
        #expect(machine.counters.counts[.lineWriteback] == nil)
        #expect(machine.counters.counts[.wbinvdPerDirtyLine] == nil)
    }

    @Test func aStaleCleanLineOfTheNewAliasIsInconsistentUntilOverwritten() throws {
        let machine = try makeMachine()
        let cpu = machine.cpu()
        try cpu.program(keyID: 2, .setKeyRandom)
        let new = machine.pa(0x8000, keyID: 2)
        let stale = cpu.load(new, 64)  // speculative-style fill before the page changed hands
        cpu.store(machine.pa(0x8000), testPattern(64))
        cpu.clflush(machine.pa(0x8000))
        #expect(cpu.load(new, 64) == stale)  // the clean stale line still answers
        cpu.store(new, [UInt8](repeating: 0, count: 64))  // zeroing through the new alias fixes it
        #expect(cpu.load(new, 64) == [UInt8](repeating: 0, count: 64))
    }

    @Test func evictionsWriteBackWithTheirOwnKeysAndDataSurvives() throws {
        let machine = try makeMachine { $0.cacheLines = 16 }  // 1 set of 16 ways
        let cpu = machine.cpu()
        try cpu.program(keyID: 1, .setKeyRandom)
        try cpu.program(keyID: 2, .noEncrypt)
        let data = testPattern(8192, seed: 5)
        cpu.store(machine.pa(0x10000, keyID: 1), data)
        cpu.store(machine.pa(0x20000, keyID: 2), data)
        #expect(machine.counters.counts[.lineWriteback] == 256 - 16)
        #expect(machine.dirtyLineCount(package: 0) == 16)
        #expect(machine.dramBytes(0x20000, 4096) == Array(data[0..<4096]))  // evicted NO_ENCRYPT lines: plaintext
        #expect(machine.dramBytes(0x10000, 64) != Array(data[0..<64]))
        #expect(cpu.load(machine.pa(0x10000, keyID: 1), 8192) == data)
        #expect(cpu.load(machine.pa(0x20000, keyID: 2), 8192) == data)
    }

    @Test(arguments: [0, 1, 3, 16, 48, 1000, 16384])
    func anyGeometryGivesTheSameDRAM(cacheLines: Int) throws {
        func run(_ lines: Int) throws -> [UInt8] {
            let machine = try makeMachine { $0.cacheLines = lines }
            let cpu = machine.cpu()
            try cpu.program(keyID: 1, .setKeyRandom)
            cpu.store(machine.pa(0x1010, keyID: 1), testPattern(9000, seed: 2))
            cpu.store(machine.pa(0x1020, keyID: 1), testPattern(10, seed: 3))  // partial line
            cpu.store(machine.pa(0x5000), testPattern(100, seed: 4))
            #expect(cpu.load(machine.pa(0x1010, keyID: 1), 16) == Array(testPattern(9000, seed: 2)[0..<16]))
            #expect(cpu.load(machine.pa(0x1020, keyID: 1), 10) == testPattern(10, seed: 3))
            try cpu.wbinvd()
            return machine.dramBytes(0, 0x6000)
        }
        #expect(try run(cacheLines) == run(0))
    }

    @Test func wbinvdWritesBackOnlyTheExecutingPackage() throws {
        let machine = try makeMachine { $0.packages = 2 }
        machine.cpu(0).store(machine.pa(0x1000), testPattern(64))
        machine.cpu(2).store(machine.pa(0x2000), testPattern(64))
        try machine.cpu(2).wbinvd()
        #expect(machine.dirtyLineCount(package: 0) == 1)
        #expect(machine.dirtyLineCount(package: 1) == 0)
        #expect(machine.counters.counts[.wbinvdPerDirtyLine] == 1)
        #expect(machine.counters.counts[.wbinvd] == 1)
    }

    @Test func wbinvdNeedsCPL0ButClflushDoesNot() throws {
        let machine = try makeMachine()
        let cpu = machine.cpu()
        cpu.store(machine.pa(0x1000), testPattern(64))
        cpu.cpl = 3
        #expect(throws: X86Fault.gp0("")) { try cpu.wbinvd() }
        cpu.clflush(machine.pa(0x1000))
        #expect(machine.dirtyLineCount(package: 0) == 0)
    }

    @Test func theSameAliasIsCoherentAcrossPackages() throws {
        let machine = try makeMachine { $0.packages = 2 }
        let p0 = machine.cpu(0)
        let p1 = machine.cpu(2)
        try p0.program(keyID: 1, .setKeyRandom)
        try p1.program(keyID: 1, .setKeyRandom)
        let pa = machine.pa(0x3000, keyID: 1)
        p0.store(pa, testPattern(64, seed: 1))
        #expect(p1.load(pa, 64) == testPattern(64, seed: 1))  // the dirty line moves to package 1
        #expect(machine.cachedCopies(of: pa).map(\.package) == [1])
        #expect(machine.dramBytes(0x3000, 64) == [UInt8](repeating: 0, count: 64))
        p0.store(pa, testPattern(64, seed: 2))
        #expect(p1.load(pa, 64) == testPattern(64, seed: 2))
        #expect(p0.load(pa, 64) == testPattern(64, seed: 2))
        try p1.wbinvd()
        try p0.wbinvd()
        #expect(p1.load(pa, 64) == testPattern(64, seed: 2))
        // Two clean copies; a store on one side drops the other.
        p1.store(pa, testPattern(64, seed: 3))
        #expect(machine.cachedCopies(of: pa).map(\.package) == [1])
        #expect(p0.load(pa, 64) == testPattern(64, seed: 3))
    }

    @Test func differentAliasesAreNeverCoherent() throws {
        let machine = try makeMachine { $0.packages = 2 }
        let p0 = machine.cpu(0)
        let p1 = machine.cpu(2)
        p0.store(machine.pa(0x3000), testPattern(64))
        try p1.program(keyID: 3, .clearKey)  // KeyID 3 on package 1 behaves as KeyID 0 …
        try p0.program(keyID: 3, .clearKey)
        // … but its line is another line: package 1 reads DRAM, not package 0's dirty KeyID-0 line.
        #expect(p1.load(machine.pa(0x3000, keyID: 3), 64) != testPattern(64))
        p0.clflush(machine.pa(0x3000))
        p1.clflush(machine.pa(0x3000, keyID: 3))
        #expect(p1.load(machine.pa(0x3000, keyID: 3), 64) == testPattern(64))
    }

    @Test func memoryIsEncryptedByItsHomeControllerWhoeverStores() throws {
        let machine = try makeMachine { $0.packages = 2 }
        try machine.cpu(0).program(keyID: 1, .setKeyRandom)
        try machine.cpu(2).program(keyID: 1, .setKeyRandom)
        let high = UInt64(48 << 20)  // owned by package 1
        machine.cpu(0).store(machine.pa(high, keyID: 1), testPattern(64))
        try machine.cpu(0).wbinvd()
        let key = try #require(machine.keyBytes(1, package: 1))
        #expect(machine.dramBytes(high, 64) == xtsLines(key, address: high, testPattern(64), encrypt: true))
    }

    @Test func costsAreChargedPerLine() throws {
        let machine = try makeMachine()
        let cpu = machine.cpu()
        _ = cpu.load(machine.pa(0x1000), 4096)
        #expect(machine.counters.counts[.lineFill] == 64)
        cpu.store(machine.pa(0x1000), testPattern(4096))  // hits
        #expect(machine.counters.counts[.lineFill] == 64)
        cpu.store(machine.pa(0x3000), testPattern(4096))  // whole-line stores: no fills
        #expect(machine.counters.counts[.lineFill] == 64)
        cpu.store(machine.pa(0x5008), [1])  // a partial line is filled first
        #expect(machine.counters.counts[.lineFill] == 65)
        cpu.clflush(machine.pa(0x1000), length: 4096)
        #expect(machine.counters.counts[.clflush] == 64)
        #expect(machine.counters.counts[.lineWriteback] == 64)
        try cpu.wbinvd()
        #expect(machine.counters.counts[.wbinvdPerDirtyLine] == 65)
        #expect(machine.counters.cycles[.wbinvdPerDirtyLine] == 65 * CostItem.wbinvdPerDirtyLine.cycles)
    }

    @Test func withoutACachePartialStoresAreReadModifyWrite() throws {
        let machine = try makeMachine { $0.cacheLines = 0 }
        let cpu = machine.cpu()
        cpu.store(machine.pa(0x1000), testPattern(64))
        cpu.store(machine.pa(0x1010), [0xAA, 0xBB])
        var expected = testPattern(64)
        expected[16] = 0xAA
        expected[17] = 0xBB
        #expect(cpu.load(machine.pa(0x1000), 64) == expected)
        #expect(machine.dramBytes(0x1000, 64) != expected)
        #expect(machine.counters.counts[.lineFill] == 2)
        #expect(machine.counters.counts[.lineWriteback] == 2)
    }
}

/// Machine images carry caches and key tables exactly.
@Suite struct MKTMEImageTests {
    func save(_ machine: Machine) -> (PlatformImage, DictionaryPageSource) {
        let source = DictionaryPageSource()
        for frame in machine.dram.dirtyFrames {
            machine.dram.withPage(frame) { source.pages[frame] = Array($0) }
        }
        return (machine.makeImage(), source)
    }

    @Test func cachesAndKeyTablesSaveAndReloadByteIdentically() throws {
        let machine = try makeMachine {
            $0.packages = 2
            $0.tmeExclude = TMEExclusion(base: 0, mask: 0x3FFF_FFF0_0000)
        }
        let cpu = machine.cpu()
        try cpu.program(keyID: 1, .setKeyDirect, .aesXTS256, key: testPattern(32), tweak: testPattern(32, seed: 2))
        try cpu.program(keyID: 2, .setKeyRandom)
        try cpu.program(keyID: 3, .clearKey)
        try machine.cpu(2).program(keyID: 4, .noEncrypt)
        cpu.store(machine.pa(0x20_0000, keyID: 1), testPattern(5000))
        _ = machine.cpu(3).load(machine.pa(0x300_0000, keyID: 2), 300)
        cpu.store(machine.pa(0x40, keyID: 3), [1, 2, 3])
        cpu.clflush(machine.pa(0x20_0000, keyID: 1), length: 128)
        let (image, pages) = save(machine)

        let reloaded = try Machine.restore(configuration: machine.configuration, image: image, pageSource: pages)
        let again = reloaded.makeImage()
        #expect(again.volatile == image.volatile)
        #expect(again.nonVolatile == image.nonVolatile)
        #expect(reloaded.keyTableStatus(package: 0) == machine.keyTableStatus(package: 0))
        #expect(reloaded.keyTableStatus(package: 1) == machine.keyTableStatus(package: 1))
        #expect(reloaded.tmeStatus == machine.tmeStatus)

        // Both continue identically: write everything back and compare DRAM.
        try machine.cpu().wbinvd()
        try reloaded.cpu().wbinvd()
        #expect(reloaded.dramBytes(0x20_0000, 8192) == machine.dramBytes(0x20_0000, 8192))
        #expect(reloaded.dramBytes(0, 64) == machine.dramBytes(0, 64))
        #expect(reloaded.cpu().load(reloaded.pa(0x20_0000, keyID: 1), 5000) == testPattern(5000))
    }

    @Test func theImageHoldsValidLinesOnly() throws {
        let empty = try makeMachine().makeImage().volatile.count
        let machine = try makeMachine()
        machine.cpu().store(machine.pa(0x1000), testPattern(64))
        #expect(machine.makeImage().volatile.count < empty + 200)
    }

    @Test func corruptMemorySectionsThrow() throws {
        let machine = try makeMachine()
        try machine.cpu().program(keyID: 1, .setKeyRandom)
        machine.cpu().store(machine.pa(0x1000), testPattern(64))
        let (image, _) = save(machine)
        for cut in stride(from: 0, to: image.volatile.count, by: 7) {
            let truncated = PlatformImage(volatile: Array(image.volatile[0..<cut]), nonVolatile: image.nonVolatile)
            #expect(throws: HWKeysError(.EIO, "")) {
                try Machine.restore(configuration: machine.configuration, image: truncated, pageSource: nil)
            }
        }
    }

    @Test func sameSeedSameCommandsSameDRAM() throws {
        func run() throws -> [UInt8] {
            let machine = try makeMachine { $0.seed = 42 }
            let cpu = machine.cpu()
            try cpu.program(keyID: 1, .setKeyRandom)
            cpu.store(machine.pa(0x1000, keyID: 1), testPattern(4096))
            cpu.store(machine.pa(0x3000), testPattern(4096))
            try cpu.wbinvd()
            return machine.dramBytes(0x1000, 0x3000)
        }
        #expect(try run() == run())
    }
}

/// The sectored geometry: blocks of up to 64 lines with per-line valid and dirty bits.
@Suite struct MKTMECacheGeometryTests {
    @Test(arguments: [
        (16384, 64, 16, 16), (1024, 64, 16, 1), (512, 32, 16, 1), (16, 1, 16, 1), (3, 1, 1, 3), (48, 2, 8, 3),
        (1000, 8, 1, 125),
    ])
    func geometryFollowsTheLineCount(lines: Int, blockLines: Int, ways: Int, sets: Int) {
        let blocks = PackageCache(lines: lines).blocks
        #expect(blocks.blockLines == blockLines)
        #expect(blocks.ways == ways)
        #expect(blocks.sets == sets)
    }

    @Test func clflushOfOneLineLeavesTheBlocksOtherDirtyLinesDirty() throws {
        let machine = try makeMachine()
        let cpu = machine.cpu()
        cpu.store(machine.pa(0x1000), testPattern(4096))
        #expect(machine.dirtyLineCount(package: 0) == 64)
        cpu.clflush(machine.pa(0x1040))
        #expect(machine.dirtyLineCount(package: 0) == 63)
        #expect(machine.cachedCopies(of: machine.pa(0x1040)).isEmpty)
        #expect(machine.cachedCopies(of: machine.pa(0x1000)).map(\.dirty) == [true])
        #expect(machine.counters.counts[.lineWriteback] == 1)
        #expect(cpu.load(machine.pa(0x1000), 4096) == testPattern(4096))  // the flushed line is refilled
        #expect(machine.counters.counts[.lineFill] == 1)
    }

    @Test func evictingABlockWritesBackOnlyItsDirtyLines() throws {
        let machine = try makeMachine { $0.cacheLines = 1024 }  // 16 blocks of 64 lines, one set
        let cpu = machine.cpu()
        _ = cpu.load(machine.pa(0x0), 4096)  // 64 clean lines
        cpu.store(machine.pa(0x80), [1])  // line 2 dirty
        machine.pokeDRAM(0x0, testPattern(64))  // DRAM changes under a clean line
        for page in 1...16 { _ = cpu.load(machine.pa(UInt64(page) * 4096), 1) }  // evict block 0
        #expect(machine.cachedCopies(of: machine.pa(0x0)).isEmpty)
        #expect(machine.counters.counts[.lineWriteback] == 1)
        #expect(machine.dramBytes(0x0, 64) == testPattern(64))  // the clean line was dropped, not written
        #expect(machine.dramBytes(0x80, 64) != [UInt8](repeating: 0, count: 64))
    }

    @Test func scatteredDirtyLinesWriteBackLikeTheUncachedPath() throws {
        func run(_ lines: Int) throws -> [UInt8] {
            let machine = try makeMachine { $0.cacheLines = lines }
            let cpu = machine.cpu()
            try cpu.program(keyID: 2, .setKeyRandom)
            for line in stride(from: 0, to: 128, by: 3) {
                cpu.store(machine.pa(0x4000 + UInt64(line) * 64, keyID: 2), testPattern(64, seed: UInt8(line)))
            }
            cpu.store(machine.pa(0x4FC0, keyID: 2), testPattern(100, seed: 7))  // crosses into the next page
            try cpu.wbinvd()
            return machine.dramBytes(0x4000, 0x3000)
        }
        #expect(try run(16384) == run(0))
    }

    @Test func aPartialBlockMovesBetweenPackagesLineByLine() throws {
        let machine = try makeMachine { $0.packages = 2 }
        let p0 = machine.cpu(0)
        let p1 = machine.cpu(2)
        p0.store(machine.pa(0x1000), testPattern(128, seed: 1))  // lines 0-1 dirty in package 0
        _ = p1.load(machine.pa(0x1080), 64)  // line 2 clean in package 1
        #expect(p1.load(machine.pa(0x1040), 64) == Array(testPattern(128, seed: 1)[64...]))  // line 1 moves
        #expect(machine.cachedCopies(of: machine.pa(0x1040)).map(\.package) == [1])
        #expect(machine.cachedCopies(of: machine.pa(0x1000)).map(\.package) == [0])
        p0.store(machine.pa(0x1080), [9])  // drops package 1's clean line 2
        #expect(machine.cachedCopies(of: machine.pa(0x1080)).map(\.package) == [0])
        try p0.wbinvd()
        try p1.wbinvd()
        #expect(p0.load(machine.pa(0x1000), 129) == testPattern(128, seed: 1) + [9])
    }
}
