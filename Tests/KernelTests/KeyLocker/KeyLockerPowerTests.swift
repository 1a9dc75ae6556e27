//===----------------------------------------------------------------------===//
//
// hwkeys: KernelTests
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase
import KernelInterfaces
import Platform
import TestSupport
import Testing
import X86

@testable import Kernel

/// S3 through the kernel and the hardware.
func suspendAndResume(_ machine: Machine, _ kernel: Kernel) throws {
    try kernel.prepareForSleep(.suspendToRAM)
    try machine.power(.suspend)
    try machine.power(.resume)
    try kernel.resumed(from: .suspendToRAM)
}

/// S4 through the kernel and the hardware, with a stand-in image that restores the remembered key.
func hibernateAndResume(_ machine: Machine, _ kernel: Kernel) throws {
    if kernel.hibernation == nil { kernel.hibernation = KeyMemoryOnlyHibernation(kernel: kernel) }
    try kernel.prepareForSleep(.hibernate)
    try machine.power(.hibernate)
    try machine.power(.resume)
    try kernel.resumed(from: .hibernate)
}

/// docs/contract.md §4, §7: what survives which transition, per mode.
@Suite struct KeyLockerSurvivalTests {
    /// (mode or "boot", survives S3/S4 and onlining).
    static let modes: [(String, Bool)] = [
        ("native_random_key", true), ("native_kernel_key_remember", true), ("native_kernel_key_backup", true),
        ("native_kernel_key_norestore", false), ("boot", true),
    ]

    static func kernel(_ mode: String) throws -> (Machine, Kernel) {
        let (machine, kernel) = try keyLockerKernel(mode == "boot" ? "keylocker.policy=boot" : "")
        if mode != "boot" { try kernel.writeKeyLockerMode(mode) }
        return (machine, kernel)
    }

    @Test(arguments: modes)
    func suspendToRAM(mode: String, survives: Bool) throws {
        let (machine, kernel) = try Self.kernel(mode)
        let handle = try encodeFIPSHandle(kernel)
        try suspendAndResume(machine, kernel)
        #expect(try handleWorksEverywhere(kernel, handle) == survives)
        #expect(kernel.keyLockerManager.status == (survives ? .valid : .invalid))
        if !survives {
            #expect(throws: HWKeysError(.ENODEV, "")) { try kernel.keyLocker?.requireValid() }
            #expect(kernel.log.lines.contains { $0.text.contains("soft-disabled until reboot") })
            #expect(try kernel.sysfsRead("/sys/kernel/keylocker/mode") == mode)
            // Nothing else changes until reboot: not even a new mode.
            #expect(throws: HWKeysError(.ENODEV, "")) { try kernel.writeKeyLockerMode("native_kernel_key_backup") }
        }
    }

    @Test(arguments: modes)
    func hibernation(mode: String, survives: Bool) throws {
        let (machine, kernel) = try Self.kernel(mode)
        let handle = try encodeFIPSHandle(kernel)
        try hibernateAndResume(machine, kernel)
        #expect(try handleWorksEverywhere(kernel, handle) == survives)
        #expect(kernel.keyLockerManager.status == (survives ? .valid : .invalid))
    }

    @Test(arguments: modes)
    func cpuHotplug(mode: String, survives: Bool) throws {
        let (_, kernel) = try Self.kernel(mode)
        let handle = try encodeFIPSHandle(kernel)
        try kernel.setCPU(1, online: false)
        if survives {
            try kernel.setCPU(1, online: true)
            #expect(try encryptFIPSBlock(kernel, handle: handle, cpu: 1) == FIPS197.cipher128)
        } else {
            #expect(throws: HWKeysError(.EBUSY, "")) { try kernel.setCPU(1, online: true) }
            #expect(kernel.onlineCPUs == [true, false])
            #expect(kernel.keyLockerManager.status == .valid)
        }
        #expect(try handleWorksEverywhere(kernel, handle))
    }

    @Test(arguments: modes)
    func cpuOfflineDuringSuspendGetsTheKeyWhenOnlined(mode: String, survives: Bool) throws {
        let (machine, kernel) = try Self.kernel(mode)
        guard survives else { return }
        let handle = try encodeFIPSHandle(kernel)
        try kernel.setCPU(1, online: false)
        try suspendAndResume(machine, kernel)
        #expect(try !kernel.cr4KL(1))
        try kernel.setCPU(1, online: true)
        #expect(try handleWorksEverywhere(kernel, handle))
    }

    @Test(arguments: modes)
    func warmResetAndPowerCycleLoseEverything(mode: String, survives: Bool) throws {
        for action in [PowerAction.reset, .off] {
            let (machine, kernel) = try Self.kernel(mode)
            let handle = try encodeFIPSHandle(kernel)
            if action == .off {
                try machine.power(.off)
                try machine.power(.on)
            } else {
                try machine.power(.reset)
            }
            let rebooted = try Kernel.boot(platform: machine, commandLine: kernel.commandLine.raw)
            if mode == "boot" {
                // A fresh key at boot: the old handle is dead, new ones work.
                #expect(rebooted.keyLockerManager.status == .valid)
                #expect(try encryptFIPSBlock(rebooted, handle: handle, cpu: 0) == nil)
            } else {
                #expect(try rebooted.sysfsRead("/sys/kernel/keylocker/mode") == "disabled")
                #expect(try !rebooted.cr4KL(0) && !rebooted.cr4KL(1))
                #expect(throws: X86Fault.ud("")) { try encryptFIPSBlock(rebooted, handle: handle, cpu: 0) }
                try rebooted.writeKeyLockerMode(mode)
                #expect(try encryptFIPSBlock(rebooted, handle: handle, cpu: 0) == nil)
            }
        }
    }
}

/// docs/contract.md §7: a failed restore soft-disables.
@Suite struct KeyLockerSoftDisableTests {
    @Test(arguments: ["native_kernel_key_backup", "native_random_key", "boot"])
    func backupStorageErrorOnResumeSoftDisables(mode: String) throws {
        let (machine, kernel) = try KeyLockerSurvivalTests.kernel(mode)
        machine.faults.iwkeyBackupError = true
        try suspendAndResume(machine, kernel)
        #expect(try kernel.sysfsRead("/sys/kernel/keylocker/status") == "invalid")
        #expect(throws: HWKeysError(.ENODEV, "")) { try kernel.keyLocker?.requireValid() }
        #expect(
            kernel.log.lines.contains { $0.text.contains("storage read error") && $0.text.contains("soft-disabled") }
        )
        // Nothing else changes until reboot: clearing the fault does not bring it back.
        machine.faults.iwkeyBackupError = false
        try suspendAndResume(machine, kernel)
        #expect(kernel.keyLockerManager.status == .invalid)
        try kernel.setCPU(1, online: false)
        try kernel.setCPU(1, online: true)
        #expect(kernel.keyLockerManager.status == .invalid)
    }

    @Test func rememberModeDoesNotNeedTheBackup() throws {
        let (machine, kernel) = try KeyLockerSurvivalTests.kernel("native_kernel_key_remember")
        let handle = try encodeFIPSHandle(kernel)
        machine.faults.iwkeyBackupError = true
        try suspendAndResume(machine, kernel)
        #expect(try handleWorksEverywhere(kernel, handle))
    }

    @Test func storageErrorWhileOnliningSoftDisablesButOnlinesTheCPU() throws {
        let (machine, kernel) = try KeyLockerSurvivalTests.kernel("native_kernel_key_backup")
        try kernel.setCPU(1, online: false)
        machine.faults.iwkeyBackupError = true
        try kernel.setCPU(1, online: true)
        #expect(kernel.onlineCPUs == [true, true])
        #expect(kernel.keyLockerManager.status == .invalid)
    }

    @Test func lostBackupAfterPowerCycleOfTheStorageSoftDisables() throws {
        // A restore with no valid backup: back up a NoBackup key is refused, so remove the backup by
        // making the platform lose it (S5) while the kernel's state is kept in a saved image.
        let (machine, kernel) = try KeyLockerSurvivalTests.kernel("native_kernel_key_backup")
        let state = try kernel.encodeState()
        try machine.power(.off)
        try machine.power(.on)
        let stale = try Kernel.restore(platform: machine, state: state)
        try stale.setCPU(1, online: false)
        try stale.setCPU(1, online: true)
        #expect(stale.keyLockerManager.status == .invalid)
        #expect(stale.log.lines.contains { $0.text.contains("no valid IWKey backup") })
    }
}

/// docs/design.md rule 3 and docs/contract.md §7: where the IWKey is in memory, per mode.
@Suite struct KeyLockerMemoryTests {
    /// The remembered key as the kernel reads it (tests may read kernel memory).
    static func rememberedKey(_ kernel: Kernel) throws -> [UInt8] {
        try #require(kernel.keyLockerManager.rememberedKey.map { kernel.readKernelMemory($0).revealedBytes() })
    }

    @Test func rememberModeKeepsTheIWKeyInKernelMemory() throws {
        let (_, kernel) = try keyLockerKernel()
        try kernel.writeKeyLockerMode("native_kernel_key_remember")
        let key = try Self.rememberedKey(kernel)
        #expect(key.count == 48 && key != [UInt8](repeating: 0, count: 48))
        #expect(contains(kernelView(kernel), key))
        // It is the IWKey: loading it by hand on a bare CPU reproduces the kernel's handles.
        let handle = try encodeFIPSHandle(kernel)
        let (_, bare) = try keyLockerKernel(seed: 99)
        let cpu = bare.platform.cpus[0]
        try cpu.writeCR4(CR4.keyLocker)
        cpu.withXMMRegisters { registers in
            registers.copyBytes(from: Array(key[32..<48]) + Array(key[0..<16]) + Array(key[16..<32]))
        }
        #expect(try !cpu.loadiwkey(eax: 0, src1: 2, src2: 1))
        #expect(try encodeFIPSHandle(bare) == handle)
    }

    @Test func otherModesLeaveNoKeyInMemory() throws {
        // Same seed, same boot: the kernel draws the same random key for either mode.
        let (_, remember) = try keyLockerKernel(seed: 11)
        try remember.writeKeyLockerMode("native_kernel_key_remember")
        let key = try Self.rememberedKey(remember)
        let handle = try encodeFIPSHandle(remember)
        for mode in ["native_kernel_key_backup", "native_kernel_key_norestore"] {
            let (machine, kernel) = try keyLockerKernel(seed: 11)
            try kernel.writeKeyLockerMode(mode)
            #expect(try encodeFIPSHandle(kernel) == handle)  // the same IWKey was loaded
            #expect(!contains(kernelView(kernel), key))
            #expect(!contains(try rawDRAM(machine, kernel), key))
            #expect(kernel.keyLockerManager.rememberedKey == nil)
        }
    }

    @Test func tmeHidesTheRememberedKeyFromTheDIMMsOnly() throws {
        let (machine, kernel) = try keyLockerKernel(seed: 12)
        try kernel.writeKeyLockerMode("native_kernel_key_remember")
        let key = try Self.rememberedKey(kernel)
        #expect(!contains(try rawDRAM(machine, kernel), key))
        let (plainMachine, plain) = try keyLockerKernel(seed: 12) {
            $0.tmeEnabled = false
            $0.keyIDBits = 0
        }
        try plain.writeKeyLockerMode("native_kernel_key_remember")
        let plainKey = try Self.rememberedKey(plain)
        #expect(contains(try rawDRAM(plainMachine, plain), plainKey))
    }

    @Test func changingModeWipesTheRememberedKey() throws {
        let (machine, kernel) = try keyLockerKernel(seed: 13) {
            $0.tmeEnabled = false
            $0.keyIDBits = 0
        }
        try kernel.writeKeyLockerMode("native_kernel_key_remember")
        let key = try Self.rememberedKey(kernel)
        try kernel.writeKeyLockerMode("native_kernel_key_backup")
        #expect(!contains(kernelView(kernel), key))
        #expect(!contains(try rawDRAM(machine, kernel), key))
    }
}

/// User space at CPL3 (docs/contract.md §3; Lutomirski: the kernel cannot stop it once CR4.KL is set).
@Suite struct UserKeyLockerTests {
    @Test func userSpaceEncodesAndEncryptsAtCPL3() throws {
        let (_, kernel) = try keyLockerKernel()
        try kernel.writeKeyLockerMode("native_kernel_key_backup")
        let pid = try kernel.createProcess(parent: 100, uid: 1000, exec: true)
        let (eax, handle) = try kernel.userEncodeKey(pid: pid, key: SecretBytes(FIPS197.key128), restrictions: [])
        #expect(eax == 0 && handle.count == 48)
        let encrypted = try kernel.userAESKL(pid: pid, cpu: 1, encrypt: true, handle: handle, block: FIPS197.plaintext)
        #expect(!encrypted.zf && encrypted.block == FIPS197.cipher128)
        let decrypted = try kernel.userAESKL(pid: pid, encrypt: false, handle: handle, block: FIPS197.cipher128)
        #expect(!decrypted.zf && decrypted.block == FIPS197.plaintext)
        let (_, handle256) = try kernel.userEncodeKey(pid: pid, key: SecretBytes(FIPS197.key256), restrictions: [])
        #expect(handle256.count == 64)
        let encrypted256 = try kernel.userAESKL(pid: pid, encrypt: true, handle: handle256, block: FIPS197.plaintext)
        #expect(!encrypted256.zf && encrypted256.block == FIPS197.cipher256)
        // The operands do not stay in the register file.
        #expect(kernel.platform.cpus[0].withXMMRegisters { $0.allSatisfy { $0 == 0 } })
    }

    @Test func restrictedHandlesFailAtCPL3WithZF() throws {
        let (_, kernel) = try keyLockerKernel()
        try kernel.writeKeyLockerMode("native_kernel_key_remember")
        let pid = ProcessTable.shellPID
        let key = SecretBytes(FIPS197.key128)
        let (_, cpl0) = try kernel.userEncodeKey(pid: pid, key: key, restrictions: .cpl0Only)
        let refused = try kernel.userAESKL(pid: pid, encrypt: true, handle: cpl0, block: FIPS197.plaintext)
        #expect(refused.zf && refused.block == FIPS197.plaintext)
        // The kernel at CPL0 can use it.
        #expect(try encryptFIPSBlock(kernel, handle: cpl0, cpu: 0) == FIPS197.cipher128)
        let (_, noEncrypt) = try kernel.userEncodeKey(pid: pid, key: key, restrictions: .noEncrypt)
        #expect(try kernel.userAESKL(pid: pid, encrypt: true, handle: noEncrypt, block: FIPS197.plaintext).zf)
        #expect(try !kernel.userAESKL(pid: pid, encrypt: false, handle: noEncrypt, block: FIPS197.cipher128).zf)
        let (_, noDecrypt) = try kernel.userEncodeKey(pid: pid, key: key, restrictions: .noDecrypt)
        #expect(try kernel.userAESKL(pid: pid, encrypt: false, handle: noDecrypt, block: FIPS197.cipher128).zf)
    }

    @Test func withoutCR4KLUserSpaceGetsUD() throws {
        let (_, kernel) = try keyLockerKernel()
        #expect(throws: X86Fault.ud("")) {
            try kernel.userEncodeKey(pid: 100, key: SecretBytes(FIPS197.key128), restrictions: [])
        }
        #expect(throws: X86Fault.ud("")) {
            try kernel.userAESKL(
                pid: 100,
                encrypt: true,
                handle: [UInt8](repeating: 0, count: 48),
                block: FIPS197.plaintext
            )
        }
    }

    @Test func badArgumentsAreErrnos() throws {
        let (_, kernel) = try keyLockerKernel()
        try kernel.writeKeyLockerMode("native_kernel_key_backup")
        #expect(throws: HWKeysError(.ESRCH, "")) {
            try kernel.userEncodeKey(pid: 4242, key: SecretBytes(FIPS197.key128), restrictions: [])
        }
        #expect(throws: HWKeysError(.EINVAL, "")) {
            try kernel.userEncodeKey(pid: 100, key: SecretBytes(count: 24), restrictions: [])
        }
        #expect(throws: HWKeysError(.EINVAL, "")) {
            try kernel.userAESKL(
                pid: 100,
                encrypt: true,
                handle: [UInt8](repeating: 0, count: 40),
                block: FIPS197.plaintext
            )
        }
        try kernel.setCPU(1, online: false)
        #expect(throws: HWKeysError(.EINVAL, "")) {
            try kernel.userAESKL(
                pid: 100,
                cpu: 1,
                encrypt: true,
                handle: [UInt8](repeating: 0, count: 48),
                block: FIPS197.plaintext
            )
        }
    }
}
