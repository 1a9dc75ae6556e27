//===----------------------------------------------------------------------===//
//
// hwkeys: KernelTests
//
//===----------------------------------------------------------------------===//

import HWKeysBase
import KernelInterfaces
import Platform
import TestSupport
import Testing
import X86

@testable import Kernel

/// The kernel on a CPU without TME (CPUID.(7,0):ECX[13] = 0; `machine create --no-tme`): it boots without
/// memory encryption, reads no TME MSR, and — as the RFC's `mktme` type registers only when there are
/// KeyIDs (docs/research/mktme-research.md §2.3) — the key type does not exist: `add_key("mktme", …)` is
/// ENODEV (unknown type) and `/sys/kernel/mm/mktme` is absent. `--tme off` (TME present, not enabled) keeps
/// the hwkeys choice of a registered type with no KeyIDs.
@Suite struct TMEAbsentKernelTests {
    func kernel(_ configure: (inout MachineConfiguration) -> Void = { _ in }) throws -> (Machine, Kernel) {
        try bootedKernel { config in
            config.tmePresent = false
            config.tmeEnabled = false
            config.keyIDBits = 0
            config.pconfig = false
            configure(&config)
        }
    }

    @Test func bootsWithoutMemoryEncryptionAndSaysSo() throws {
        let (_, kernel) = try kernel()
        #expect(!kernel.tmeActive && kernel.keyIDLayout.keyIDBits == 0)
        #expect(kernel.log.lines.contains { $0.facility == "x86/tme" && $0.text.contains("not supported") })
        #expect(kernel.log.lines.contains { $0.facility == "mktme" && $0.text.contains("not registered") })
        #expect(kernel.mktme == nil && kernel.memoryEncryption == nil)
    }

    @Test func theMKTMEKeyTypeDoesNotExist() throws {
        let (_, kernel) = try kernel()
        expectErrno(.ENODEV) { try kernel.addMKTME("tenant", "type=cpu") }
        expectErrno(.ENOENT) { _ = try kernel.sysfsRead("/sys/kernel/mm/mktme/keyids_total") }
        let base = try kernel.mmap(pid: shell, length: 0x1000, protection: .rw, shared: false)
        expectErrno(.EOPNOTSUPP) {
            try kernel.encryptMprotect(pid: shell, address: base, length: 0x1000, protection: .rw, serial: 1)
        }
        // TME present but off: the type registers with no KeyIDs (docs/choices.md "No TME-MK").
        let (_, off) = try bootedKernel {
            $0.tmeEnabled = false
            $0.keyIDBits = 0
        }
        #expect(try off.sysfsRead("/sys/kernel/mm/mktme/keyids_total") == "0")
    }

    @Test func processMemoryKeysAndS3WorkWithoutTME() throws {
        let (machine, kernel) = try kernel { $0.saveKeyForStandby = false }
        let base = try kernel.mmap(pid: shell, length: 0x1000, protection: .rw, shared: false)
        try kernel.write(shell, base, text: "plain memory")
        let serial = try kernel.add("user", "token", "payload")
        try kernel.prepareForSleep(.suspendToRAM)
        try machine.power(.suspend)
        try machine.power(.resume)
        try kernel.resumed(from: .suspendToRAM)
        #expect(try kernel.read(shell, base, 12) == Array("plain memory".utf8))
        #expect(try kernel.print(serial) == "payload")
    }

    @Test func aSavedKernelRestores() throws {
        let (machine, kernel) = try kernel()
        let state = try kernel.encodeState()
        let restored = try Kernel.restore(platform: machine, state: state)
        #expect(try restored.encodeState() == state)
        #expect(restored.mktme == nil)
    }

    /// CPUID.80000008H is software-controlled on a virtual CPU: a MAXPHYADDR above 52 (SDM Vol. 3A §4.1.4) is
    /// EINVAL at boot instead of a trap; below 36 the kernel assumes 36, as Linux does.
    @Test(arguments: [(53, false), (60, false), (255, false), (20, true), (0, true), (52, true)])
    func maxPhysAddrFromCPUIDIsValidated(reported: UInt32, boots: Bool) throws {
        var config = MachineConfiguration()
        config.seed = 2
        config.memoryBytes = 4 << 20
        config.bootKernel = false
        let platform = RecordingPlatform(try Machine.create(configuration: config)) { cpu in
            cpu.cpuidFilter = { leaf, _, result in
                leaf == CPUIDLeaf.addressSizes ? CPUIDResult(eax: result.eax & ~0xFF | reported) : result
            }
        }
        if boots {
            let kernel = try Kernel.boot(platform: platform, commandLine: "")
            #expect(kernel.keyIDLayout.maxPhysAddr == max(Int(reported), 36))
        } else {
            expectErrno(.EINVAL) { _ = try Kernel.boot(platform: platform, commandLine: "") }
        }
    }
}
