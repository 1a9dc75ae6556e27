//===----------------------------------------------------------------------===//
//
// hwkeys: PlatformTests
//
//===----------------------------------------------------------------------===//

import HWCrypto
import Testing
import X86

@testable import Platform

/// `aeswidekl(_:handle:groups:)` runs a sequence of WIDE instructions in bulk; it must be exactly the
/// sequence (X86Processor's contract): same data, ZF, XMM0–7, cycle counters and emulated time as the
/// MOVDQU / AES*WIDE*KL / MOVDQU loop run one instruction at a time on an identical machine.
@Suite struct KeyLockerWideRunTests {
    /// The reference: the loop software would run, one instruction at a time.
    static func sequence(
        _ cpu: LogicalProcessor,
        _ operation: AESKLOperation,
        handle: [UInt8],
        data: inout [UInt8]
    ) throws(X86Fault) -> Bool {
        var offset = 0
        while offset < data.count {
            let (zf, out) = try cpu.aesWideKL(operation, Array(data[offset..<offset + 128]), handle: handle)
            if zf { return true }
            data.replaceSubrange(offset..<offset + 128, with: out)
            offset += 128
        }
        return false
    }

    static func bulk(
        _ cpu: LogicalProcessor,
        _ operation: AESKLOperation,
        handle: [UInt8],
        data: inout [UInt8]
    ) throws(X86Fault) -> Bool {
        var result: Result<Bool, X86Fault> = .success(false)
        handle.withUnsafeBytes { h in
            data.withUnsafeMutableBytes { d in
                do throws(X86Fault) { result = .success(try cpu.aeswidekl(operation, handle: h, groups: d)) } catch {
                    result = .failure(error)
                }
            }
        }
        return try result.get()
    }

    @Test func bulkRunEqualsTheInstructionSequence() throws {
        let machines = try (0..<2).map { _ in try keyLockerMachine(seed: 21) }
        defer { withExtendedLifetime(machines) {} }
        let cpus = machines.map { $0.processors[0] }
        for cpu in cpus { try cpu.loadIWKey(enc: testBytes(32, 61), int: testBytes(16, 62)) }
        var handles: [[UInt8]] = []
        for size in [16, 32] {
            for src: UInt32 in [0, 1, 2, 4] {
                let made = try cpus.map { (cpu) throws(X86Fault) in
                    try cpu.encode(testBytes(size, UInt8(size)), src: src)
                }
                #expect(made[0] == made[1])
                handles.append(made[0])
            }
        }
        var tampered = handles[5]
        tampered[40] ^= 1
        handles.append(tampered)
        var checked = 0
        for handle in handles {
            for operation in AESKLOperation.allCases where (handle.count == 64) == (operation.handleSize == 64) {
                for cpl in [0, 3] {
                    for groups in [0, 1, 4, 32] {
                        for cpu in cpus { cpu.cpl = cpl }
                        let plain = testBytes(128 * groups, UInt8(groups &+ cpl))
                        var viaSequence = plain
                        var viaBulk = plain
                        let zfSequence = try Self.sequence(cpus[0], operation, handle: handle, data: &viaSequence)
                        let zfBulk = try Self.bulk(cpus[1], operation, handle: handle, data: &viaBulk)
                        #expect(zfBulk == zfSequence)
                        #expect(viaBulk == viaSequence)
                        #expect(cpus[1].allXMM == cpus[0].allXMM)
                        #expect(machines[1].counters == machines[0].counters)
                        #expect(machines[1].nanoseconds == machines[0].nanoseconds)
                        if zfBulk { #expect(viaBulk == plain) }
                        checked += zfBulk ? 0 : 1
                    }
                }
            }
        }
        #expect(checked > 20)
    }

    @Test func bulkRunFaultsLikeTheFirstInstruction() throws {
        let machine = try keyLockerMachine(seed: 22, enable: false)
        defer { withExtendedLifetime(machine) {} }
        var data = testBytes(256, 1)
        #expect(throws: X86Fault.self) {
            try Self.bulk(machine.processors[0], .encrypt256, handle: testBytes(64, 2), data: &data)
        }
        #expect(data == testBytes(256, 1))
        #expect(Array(machine.processors[0].allXMM[0..<128]) == testBytes(128, 1))
    }
}
