//===----------------------------------------------------------------------===//
//
// hwkeys: PlatformTests
//
//===----------------------------------------------------------------------===//

import HWCrypto
import TestSupport
import Testing
import X86

@testable import Platform

/// When AES*KL must set ZF = 1 and leave the data unchanged (docs/contract.md §3), and when a handle works.
@Suite struct KeyLockerHandleTests {
    static let enc = testBytes(32, 21)
    static let int = testBytes(16, 22)

    /// A machine whose CPU 0 holds IWKey (enc, int), with a handle for an AES-`bits` key.
    static func setUp(bits: Int = 256, src: UInt32 = 0) throws -> (Machine, LogicalProcessor, [UInt8]) {
        let machine = try keyLockerMachine()
        defer { withExtendedLifetime(machine) {} }
        let cpu = machine.processors[0]
        try cpu.loadIWKey(enc: enc, int: int)
        let handle = try cpu.encode(testBytes(bits / 8, 23), src: src)
        return (machine, cpu, handle)
    }

    /// Runs every operation and form that matches the handle size; all must fail with data unchanged.
    static func expectRejected(
        _ cpu: LogicalProcessor,
        _ handle: [UInt8],
        operations: [AESKLOperation]? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let aes256 = handle.count == 64
        let candidates = operations ?? AESKLOperation.allCases.filter { $0.isAES256 == aes256 }
        for operation in candidates {
            let block = testBytes(16, 77)
            let single = try cpu.aesKL(operation, block, handle: handle)
            #expect(single.zf, "\(operation.rawValue)", sourceLocation: sourceLocation)
            #expect(single.block == block, sourceLocation: sourceLocation)
            let blocks = testBytes(128, 78)
            var before = cpu.allXMM
            before.replaceSubrange(0..<128, with: blocks)
            let wide = try cpu.aesWideKL(operation, blocks, handle: handle)
            #expect(wide.zf, "\(operation.wideMnemonic)", sourceLocation: sourceLocation)
            #expect(wide.blocks == blocks, sourceLocation: sourceLocation)
            #expect(cpu.allXMM == before, sourceLocation: sourceLocation)
        }
    }

    @Test(arguments: [128, 256])
    func aValidHandleWorksForBothDirections(bits: Int) throws {
        let (machine, cpu, handle) = try Self.setUp(bits: bits)
        defer { withExtendedLifetime(machine) {} }
        let operations = AESKLOperation.allCases.filter { $0.isAES256 == (bits == 256) }
        for operation in operations {
            #expect(try cpu.aesKL(operation, testBytes(16, 1), handle: handle).zf == false)
            #expect(try cpu.aesWideKL(operation, testBytes(128, 1), handle: handle).zf == false)
        }
    }

    @Test(arguments: [128, 256])
    func anySingleByteChangeAnywhereInTheHandleSetsZF(bits: Int) throws {
        let (machine, cpu, handle) = try Self.setUp(bits: bits)
        defer { withExtendedLifetime(machine) {} }
        let operation: AESKLOperation = bits == 256 ? .encrypt256 : .encrypt128
        for index in handle.indices {
            for flip: UInt8 in [0x01, 0x80, 0xFF] {
                var tampered = handle
                tampered[index] ^= flip
                let block = testBytes(16, 5)
                let result = try cpu.aesKL(operation, block, handle: tampered)
                #expect(result.zf, "byte \(index) ^ \(flip)")
                #expect(result.block == block)
            }
        }
        #expect(try cpu.handleWorks(handle))
    }

    @Test func reservedAADBitsSetZF() throws {
        let (machine, cpu, handle) = try Self.setUp()
        defer { withExtendedLifetime(machine) {} }
        // Bits 23:3 and 127:28 are reserved (bits 27:24 are the key type).
        let reservedBits = Array(3...23) + Array(28...127)
        for bit in reservedBits {
            var tampered = handle
            tampered[bit / 8] ^= 1 << UInt8(bit % 8)
            try Self.expectRejected(cpu, tampered)
        }
    }

    @Test func aCPL0OnlyHandleFailsAtCPL3AndWorksAtCPL0() throws {
        let (machine, cpu, handle) = try Self.setUp(src: KeyLockerEncoding.restrictCPL0)
        defer { withExtendedLifetime(machine) {} }
        #expect(try cpu.handleWorks(handle))
        cpu.cpl = 3
        try Self.expectRejected(cpu, handle)
        // User space may still create (but not use) a CPL0-only handle.
        #expect(try cpu.encode(testBytes(32, 23), src: KeyLockerEncoding.restrictCPL0) == handle)
        let unrestricted = try cpu.encode(testBytes(32, 23))
        #expect(try cpu.handleWorks(unrestricted))
    }

    @Test func noEncryptAndNoDecryptHandlesRefuseThatDirectionOnly() throws {
        let (machine, cpu, noEncrypt) = try Self.setUp(src: KeyLockerEncoding.restrictNoEncrypt)
        defer { withExtendedLifetime(machine) {} }
        try Self.expectRejected(cpu, noEncrypt, operations: [.encrypt256])
        #expect(try cpu.aesKL(.decrypt256, testBytes(16, 1), handle: noEncrypt).zf == false)
        let noDecrypt = try cpu.encode(testBytes(32, 23), src: KeyLockerEncoding.restrictNoDecrypt)
        try Self.expectRejected(cpu, noDecrypt, operations: [.decrypt256])
        #expect(try cpu.aesKL(.encrypt256, testBytes(16, 1), handle: noDecrypt).zf == false)
        let neither = try cpu.encode(testBytes(32, 23), src: 6)
        try Self.expectRejected(cpu, neither)
    }

    @Test func aKeyTypeMismatchSetsZF() throws {
        let (machine, cpu, handle256) = try Self.setUp(bits: 256)
        defer { withExtendedLifetime(machine) {} }
        let handle128 = try cpu.encode(testBytes(16, 23))
        // A 256-bit handle's first 48 bytes given to a 128-bit instruction, and a 128-bit handle padded
        // to 64 bytes given to a 256-bit instruction: the key type in the AAD does not match.
        try Self.expectRejected(cpu, Array(handle256[0..<48]))
        try Self.expectRejected(cpu, handle128 + [UInt8](repeating: 0, count: 16))
        // Rewriting the key type makes the type match but breaks authentication.
        var retyped = handle256
        retyped[3] = 0
        try Self.expectRejected(cpu, Array(retyped[0..<48]))
        for keyType: UInt8 in 2...15 {
            var other = handle256
            other[3] = keyType
            try Self.expectRejected(cpu, other)
        }
    }

    @Test func anIWKeyDifferingInAnySingleBitRejectsTheHandle() throws {
        let (machine, cpu, handle) = try Self.setUp()
        defer { withExtendedLifetime(machine) {} }
        for bit in 0..<384 {
            var enc = Self.enc
            var int = Self.int
            if bit < 256 { enc[bit / 8] ^= 1 << UInt8(bit % 8) } else { int[(bit - 256) / 8] ^= 1 << UInt8(bit % 8) }
            try cpu.loadIWKey(enc: enc, int: int)
            #expect(try cpu.handleWorks(handle) == false, "IWKey bit \(bit)")
        }
        try cpu.loadIWKey(enc: Self.enc, int: Self.int)
        #expect(try cpu.handleWorks(handle))
    }

    @Test func swappingTheEncryptionKeyHalvesChangesIWKey() throws {
        let (machine, cpu, handle) = try Self.setUp()
        defer { withExtendedLifetime(machine) {} }
        // SRC1 is the high half: loading with the operands swapped is a different IWKey.
        cpu.setXMM(0, Self.int)
        cpu.setXMM(1, Array(Self.enc[0..<16]))
        cpu.setXMM(2, Array(Self.enc[16..<32]))
        _ = try cpu.loadiwkey(eax: 0, src1: 1, src2: 2)
        #expect(try cpu.handleWorks(handle) == false)
        _ = try cpu.loadiwkey(eax: 0, src1: 2, src2: 1)
        #expect(try cpu.handleWorks(handle))
    }

    @Test(arguments: [PowerAction.suspend, .hibernate, .off, .reset])
    func iwKeyLostByAPowerEventAndNotRestoredRejectsTheHandle(action: PowerAction) throws {
        let (machine, cpu, handle) = try Self.setUp()
        defer { withExtendedLifetime(machine) {} }
        try machine.power(action)
        if machine.powerState != .running { try machine.power(action == .off ? .on : .resume) }
        // CR4 was cleared too; a kernel sets it again but does not restore IWKey.
        #expect(try cpu.readCR4() == 0)
        try cpu.writeCR4(CR4.keyLocker)
        try Self.expectRejected(cpu, handle)
        // The lost IWKey is zero: handles made under an all-zero IWKey work again.
        let zeroMachine = try keyLockerMachine(seed: 9)
        defer { withExtendedLifetime(zeroMachine) {} }
        try zeroMachine.processors[0].loadIWKey(
            enc: [UInt8](repeating: 0, count: 32),
            int: [UInt8](repeating: 0, count: 16)
        )
        let zeroHandle = try zeroMachine.processors[0].encode(testBytes(32, 8))
        #expect(try cpu.handleWorks(zeroHandle))
    }

    @Test func aHandleFromAnotherMachineIsRejected() throws {
        let (machine, cpu, _) = try Self.setUp()
        defer { withExtendedLifetime(machine) {} }
        let other = try keyLockerMachine(seed: 2)
        defer { withExtendedLifetime(other) {} }
        // Another machine: its own random IWKey (KeySource 1) on its CPU 0.
        #expect(try other.processors[0].loadIWKey(enc: Self.enc, int: Self.int, eax: 2) == false)
        let foreign = try other.processors[0].encode(testBytes(32, 23))
        #expect(try other.processors[0].handleWorks(foreign))
        try Self.expectRejected(cpu, foreign)
    }

    @Test func aHandleMadeOnCPU0WorksOnCPU1OnlyWithTheSameIWKey() throws {
        let (machine, cpu0, handle) = try Self.setUp()
        defer { withExtendedLifetime(machine) {} }
        let cpu1 = machine.processors[1]
        // CPU 1 still has the power-on (zero) IWKey.
        try Self.expectRejected(cpu1, handle)
        // Loaded: the same software key.
        try cpu1.loadIWKey(enc: Self.enc, int: Self.int)
        #expect(try cpu1.handleWorks(handle))
        // Restored: a random key that only CPU 0 ever had, copied through the platform backup.
        #expect(try cpu0.loadIWKey(enc: Self.enc, int: Self.int, eax: 2) == false)
        let random = try cpu0.encode(testBytes(32, 24))
        #expect(try cpu0.handleWorks(random))
        try Self.expectRejected(cpu1, random)
        try cpu0.wrmsr(MSR.copyLocalToPlatform, 1)
        try cpu1.wrmsr(MSR.copyPlatformToLocal, 1)
        #expect(try cpu1.rdmsr(MSR.copyStatus) == 1)
        #expect(try cpu1.handleWorks(random))
        #expect(try cpu1.encode(testBytes(32, 24)) == random)
    }

    @Test func encodekeyReportsKeySourceAndNoBackupInEAX() throws {
        let machine = try keyLockerMachine()
        defer { withExtendedLifetime(machine) {} }
        let cpu = machine.processors[0]
        for eax: UInt32 in [0, 1, 2, 3] {
            try cpu.loadIWKey(enc: Self.enc, int: Self.int, eax: eax)
            cpu.setXMM(0, testBytes(16, 1))
            #expect(try cpu.encodekey128(src: 0) == eax)
            #expect(try cpu.encodekey256(src: 0) == eax)
        }
    }

    @Test func keySourceOneGivesDifferentIWKeysAndAnRNGFailureKeepsTheOldOne() throws {
        let (machine, cpu, _) = try Self.setUp()
        defer { withExtendedLifetime(machine) {} }
        #expect(try cpu.loadIWKey(enc: Self.enc, int: Self.int, eax: 2) == false)
        let first = try cpu.encode(testBytes(32, 30))
        #expect(try cpu.loadIWKey(enc: Self.enc, int: Self.int, eax: 2) == false)
        let second = try cpu.encode(testBytes(32, 30))
        #expect(first != second)
        #expect(try cpu.handleWorks(first) == false)
        // Same inputs with KeySource 0 give neither.
        try cpu.loadIWKey(enc: Self.enc, int: Self.int)
        let software = try cpu.encode(testBytes(32, 30))
        #expect(software != first && software != second)
        // The RNG fails twice: ZF = 1 and the software IWKey stays; the third attempt succeeds.
        machine.faults.rdseedFailures = 2
        #expect(try cpu.loadIWKey(enc: Self.enc, int: Self.int, eax: 2))
        #expect(try cpu.loadIWKey(enc: Self.enc, int: Self.int, eax: 3))
        #expect(try cpu.handleWorks(software))
        cpu.setXMM(0, testBytes(16, 1))
        #expect(try cpu.encodekey128(src: 0) == 0)
        #expect(try cpu.loadIWKey(enc: Self.enc, int: Self.int, eax: 2) == false)
        #expect(machine.faults.rdseedFailures == 0)
        #expect(try cpu.handleWorks(software) == false)
        // KeySource 0 loads never consume RNG failures.
        machine.faults.rdseedFailures = 1
        #expect(try cpu.loadIWKey(enc: Self.enc, int: Self.int) == false)
        #expect(machine.faults.rdseedFailures == 1)
    }

    @Test func randomIWKeysAreReproducibleFromTheSeed() throws {
        func handle(seed: UInt64) throws -> [UInt8] {
            let machine = try keyLockerMachine(seed: seed)
            defer { withExtendedLifetime(machine) {} }
            let cpu = machine.processors[0]
            _ = try cpu.loadIWKey(enc: Self.enc, int: Self.int, eax: 2)
            return try cpu.encode(testBytes(32, 31))
        }
        #expect(try handle(seed: 5) == handle(seed: 5))
        #expect(try handle(seed: 5) != handle(seed: 6))
    }

    @Test func instructionsChargeTheCostTable() throws {
        let (machine, cpu, handle) = try Self.setUp()
        defer { withExtendedLifetime(machine) {} }
        let before = machine.counters
        _ = try cpu.aesWideKL(.encrypt256, testBytes(128, 1), handle: handle)
        _ = try cpu.aesKL(.decrypt256, testBytes(16, 1), handle: handle)
        var bad = handle
        bad[40] ^= 1
        _ = try cpu.aesKL(.decrypt256, testBytes(16, 1), handle: bad)
        let after = machine.counters
        // One charge per instruction, whatever ZF: one WIDE, two single-block (one of them rejected).
        #expect(after.counts[.aesklWide, default: 0] - before.counts[.aesklWide, default: 0] == 1)
        #expect(after.counts[.aesklBlock, default: 0] - before.counts[.aesklBlock, default: 0] == 2)
        #expect(after.total - before.total == CostItem.aesklWide.cycles + 2 * CostItem.aesklBlock.cycles)
        #expect(before.counts[.loadiwkeySoftware] == 1)
        #expect(before.counts[.encodekey] == 1)
        _ = try cpu.loadIWKey(enc: Self.enc, int: Self.int, eax: 2)
        #expect(machine.counters.counts[.loadiwkeyRandom] == 1)
    }
}

/// The host-side unwrap cache changes nothing architectural.
@Suite struct UnwrapCacheTests {
    /// Runs a mixed script of Key Locker operations and returns everything observable.
    static func transcript(
        caching: Bool
    ) throws -> (results: [String], image: PlatformImage, cycles: UInt64, ns: UInt64) {
        let machine = try keyLockerMachine(seed: 3)
        defer { withExtendedLifetime(machine) {} }
        let cpu = machine.processors[0]
        for unit in machine.processors.map(\.keyLocker) { unit.unwrapCache.isEnabled = caching }
        var results: [String] = []
        func record(_ zf: Bool, _ bytes: [UInt8]) { results.append("\(zf) \(bytes)") }
        try cpu.loadIWKey(enc: testBytes(32, 1), int: testBytes(16, 2))
        var handles = [
            try cpu.encode(testBytes(32, 3)), try cpu.encode(testBytes(16, 4)),
            try cpu.encode(testBytes(32, 5), src: 1),
        ]
        for round in 0..<40 {
            for (index, handle) in handles.enumerated() {
                let aes256 = handle.count == 64
                let operation: AESKLOperation =
                    round % 2 == 0 ? (aes256 ? .encrypt256 : .encrypt128) : (aes256 ? .decrypt256 : .decrypt128)
                var used = handle
                if round % 7 == index { used[20 + round % 20] ^= 0x10 }
                cpu.cpl = round % 5 == 4 ? 3 : 0
                let r = try cpu.aesWideKL(operation, testBytes(128, UInt8(round)), handle: used)
                record(r.zf, r.blocks)
                let s = try cpu.aesKL(operation, testBytes(16, UInt8(round)), handle: used)
                record(s.zf, s.block)
                cpu.cpl = 0
            }
            if round == 13 { try cpu.loadIWKey(enc: testBytes(32, 9), int: testBytes(16, 2)) }
            if round == 20 { try cpu.loadIWKey(enc: testBytes(32, 1), int: testBytes(16, 2)) }
            if round == 25 { _ = try cpu.loadIWKey(enc: testBytes(32, 1), int: testBytes(16, 2), eax: 2) }
            if round == 30 {
                handles.append(try cpu.encode(testBytes(32, 6)))
            }
        }
        return (results, machine.makeImage(), machine.counters.total, machine.nanoseconds)
    }

    @Test func resultsCyclesAndStateAreIdenticalWithAndWithoutTheCache() throws {
        let cached = try Self.transcript(caching: true)
        let uncached = try Self.transcript(caching: false)
        #expect(cached.results == uncached.results)
        #expect(cached.results.contains { $0.hasPrefix("true") } && cached.results.contains { $0.hasPrefix("false") })
        #expect(cached.cycles == uncached.cycles)
        #expect(cached.ns == uncached.ns)
        #expect(cached.image.volatile == uncached.image.volatile)
        #expect(cached.image.nonVolatile == uncached.image.nonVolatile)
    }

    @Test func aReusedHandleHitsTheCacheAndAnIWKeyChangeEmptiesIt() throws {
        let machine = try keyLockerMachine()
        defer { withExtendedLifetime(machine) {} }
        let cpu = machine.processors[0]
        try cpu.loadIWKey(enc: testBytes(32, 1), int: testBytes(16, 2))
        let handle = try cpu.encode(testBytes(32, 3))
        #expect(cpu.keyLocker.unwrapCache.count == 0)
        #expect(try cpu.handleWorks(handle))
        #expect(cpu.keyLocker.unwrapCache.count == 1)
        #expect(cpu.keyLocker.unwrapCache.misses == 1)
        let generation = cpu.keyLocker.generation
        let cached = try #require(
            handle.withUnsafeBytes { cpu.keyLocker.unwrapCache.lookup($0, generation: generation) }
        ).takeUnretainedValue()
        // Second and third uses take the very same expanded key: no unwrap.
        #expect(try cpu.handleWorks(handle))
        #expect(try cpu.aesWideKL(.decrypt256, testBytes(128, 3), handle: handle).zf == false)
        #expect(cpu.keyLocker.unwrapCache.misses == 1)
        var used: AESBlockCipher?
        #expect(handle.withUnsafeBytes { cpu.withHandleKey(.encrypt256, $0) { used = $0 } } == false)
        #expect(used === cached)
        // The same handle under another generation (IWKey) is a miss.
        #expect(handle.withUnsafeBytes { cpu.keyLocker.unwrapCache.lookup($0, generation: generation &+ 1) } == nil)
        // Failures are not cached.
        var bad = handle
        bad[60] ^= 1
        #expect(try cpu.handleWorks(bad) == false)
        #expect(try cpu.handleWorks(bad) == false)
        #expect(cpu.keyLocker.unwrapCache.count == 1)
        #expect(cpu.keyLocker.unwrapCache.misses == 3)
        try cpu.loadIWKey(enc: testBytes(32, 1), int: testBytes(16, 2))
        #expect(cpu.keyLocker.generation != generation)
        #expect(cpu.keyLocker.unwrapCache.count == 0)
        // More handles than entries: still correct.
        let many = try (0..<20).map { try cpu.encode(testBytes(16, UInt8($0))) }
        for _ in 0..<3 { for h in many { #expect(try cpu.handleWorks(h)) } }
        #expect(cpu.keyLocker.unwrapCache.count == UnwrapCache.capacity)
    }
}
