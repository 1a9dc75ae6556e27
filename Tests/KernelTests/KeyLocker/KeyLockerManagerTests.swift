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

/// docs/contract.md §7, admin policy: modes, preconditions, errors.
@Suite struct KeyLockerModeTests {
    static let nativeModes = [
        "native_random_key", "native_kernel_key_remember", "native_kernel_key_backup",
        "native_kernel_key_norestore",
    ]

    @Test func adminPolicyLeavesKeyLockerOffAtBoot() throws {
        let (_, kernel) = try keyLockerKernel()
        #expect(try kernel.sysfsRead("/sys/kernel/keylocker/mode") == "disabled")
        #expect(try kernel.sysfsRead("/sys/kernel/keylocker/status") == "disabled")
        #expect(
            try kernel.sysfsRead("/sys/kernel/keylocker/modes_supported") == Self.nativeModes.joined(separator: " ")
        )
        #expect(try !kernel.cr4KL(0) && !kernel.cr4KL(1))
        #expect(throws: HWKeysError(.ENODEV, "")) { try kernel.keyLocker?.requireValid() }
        #expect(kernel.keyLocker != nil)
    }

    @Test(arguments: nativeModes)
    func everyNativeModeLoadsOneIWKeyOnEveryCPU(mode: String) throws {
        let (_, kernel) = try keyLockerKernel()
        try kernel.writeKeyLockerMode(mode)
        #expect(try kernel.sysfsRead("/sys/kernel/keylocker/mode") == mode)
        #expect(try kernel.sysfsRead("/sys/kernel/keylocker/status") == "valid")
        try kernel.keyLocker?.requireValid()
        // A handle made on CPU0 works on CPU1: both hold the same IWKey; the result is FIPS 197's.
        let handle = try encodeFIPSHandle(kernel, cpu: 0)
        #expect(try handleWorksEverywhere(kernel, handle))
        let other = try encodeFIPSHandle(kernel, cpu: 1)
        #expect(other == handle)
    }

    @Test func randomKeyIsDifferentOnEveryWrite() throws {
        let (_, kernel) = try keyLockerKernel()
        try kernel.writeKeyLockerMode("native_random_key")
        let first = try encodeFIPSHandle(kernel)
        try kernel.writeKeyLockerMode("native_random_key")
        // Re-keyed (docs/choices.md): the old handle is dead, a new one works.
        #expect(try encryptFIPSBlock(kernel, handle: first, cpu: 0) == nil)
        #expect(try handleWorksEverywhere(kernel, try encodeFIPSHandle(kernel)))
    }

    @Test func machineWithoutRandomOrBackupSupportListsFewerModes() throws {
        let (_, noRandom) = try keyLockerKernel { $0.klRandom = false }
        #expect(
            try noRandom.sysfsRead("/sys/kernel/keylocker/modes_supported")
                == "native_kernel_key_remember native_kernel_key_backup native_kernel_key_norestore"
        )
        let (_, noBackup) = try keyLockerKernel { $0.klBackup = false }
        #expect(
            try noBackup.sysfsRead("/sys/kernel/keylocker/modes_supported")
                == "native_kernel_key_remember native_kernel_key_norestore"
        )
        let (_, noNoBackup) = try keyLockerKernel { $0.klNoBackup = false }
        #expect(
            try noNoBackup.sysfsRead("/sys/kernel/keylocker/modes_supported")
                == "native_random_key native_kernel_key_remember native_kernel_key_backup"
        )
    }

    @Test(arguments: [
        ("native_random_key", "random"), ("native_random_key", "backup"), ("native_kernel_key_backup", "backup"),
        ("native_kernel_key_norestore", "nobackup"), ("paravirt_any", "none"), ("paravirt_random", "none"),
    ])
    func modesWithoutTheirHardwareAreEOPNOTSUPP(mode: String, missing: String) throws {
        let (_, kernel) = try keyLockerKernel { config in
            switch missing {
            case "random": config.klRandom = false
            case "backup": config.klBackup = false
            case "nobackup": config.klNoBackup = false
            default: break
            }
        }
        #expect(throws: HWKeysError(.EOPNOTSUPP, "")) { try kernel.writeKeyLockerMode(mode) }
        #expect(kernel.keyLockerManager.status == .disabled)
        #expect(try !kernel.cr4KL(0))
    }

    @Test(arguments: ["", "native", "boot", "NATIVE_RANDOM_KEY", "native_random_key x"])
    func unknownModesAreEINVAL(text: String) throws {
        let (_, kernel) = try keyLockerKernel()
        #expect(throws: HWKeysError(.EINVAL, "")) { try kernel.writeKeyLockerMode(text) }
        #expect(try kernel.sysfsRead("/sys/kernel/keylocker/mode") == "disabled")
    }

    @Test func onlyRootMayWriteTheMode() throws {
        let (_, kernel) = try keyLockerKernel()
        let user = try kernel.createProcess(parent: 100, uid: 1000, exec: true)
        #expect(throws: HWKeysError(.EACCES, "")) {
            try kernel.sysfsWrite("/sys/kernel/keylocker/mode", "native_kernel_key_backup", as: user)
        }
        #expect(kernel.keyLockerManager.mode == nil)
        #expect(throws: HWKeysError(.EACCES, "")) {
            try kernel.sysfsWrite("/sys/kernel/keylocker/status", "valid", as: ProcessTable.shellPID)
        }
    }

    @Test func changingTheModeWhileUsersHoldHandlesIsEBUSY() throws {
        let (_, kernel) = try keyLockerKernel()
        let user = FakeKeyLockerUser(holding: false)
        kernel.keyLockerUsers.append(user)
        try kernel.writeKeyLockerMode("native_kernel_key_backup")
        let handle = try encodeFIPSHandle(kernel)
        user.holdsKeyLockerHandles = true
        for mode in ["native_kernel_key_remember", "native_kernel_key_backup", "disabled"] {
            #expect(throws: HWKeysError(.EBUSY, "")) { try kernel.writeKeyLockerMode(mode) }
        }
        #expect(kernel.keyLockerManager.mode == .nativeKernelKeyBackup)
        #expect(try handleWorksEverywhere(kernel, handle))
        user.holdsKeyLockerHandles = false
        try kernel.writeKeyLockerMode("native_kernel_key_remember")
        #expect(try encryptFIPSBlock(kernel, handle: handle, cpu: 0) == nil)
    }

    @Test func writingDisabledTurnsKeyLockerOff() throws {
        let (_, kernel) = try keyLockerKernel()
        try kernel.writeKeyLockerMode("native_kernel_key_remember")
        let heap = kernel.heap.bytesInUse
        try kernel.writeKeyLockerMode("disabled")
        #expect(kernel.heap.bytesInUse < heap)
        #expect(kernel.keyLockerManager.rememberedKey == nil)
        #expect(try kernel.sysfsRead("/sys/kernel/keylocker/status") == "disabled")
        #expect(try !kernel.cr4KL(0) && !kernel.cr4KL(1))
    }

    @Test func randomKeyRetriesZFTenTimes() throws {
        let (machine, kernel) = try keyLockerKernel()
        machine.faults.rdseedFailures = 9
        try kernel.writeKeyLockerMode("native_random_key")
        #expect(kernel.keyLockerManager.status == .valid)
        try kernel.writeKeyLockerMode("disabled")
        machine.faults.rdseedFailures = 10
        #expect(throws: HWKeysError(.EIO, "")) { try kernel.writeKeyLockerMode("native_random_key") }
        #expect(kernel.keyLockerManager.status == .disabled)
        #expect(try !kernel.cr4KL(0) && !kernel.cr4KL(1))
        #expect(kernel.log.lines.contains { $0.text.contains("failed 10 times") })
    }

    @Test func backupLatencyIsWaitedForByPolling() throws {
        let (machine, kernel) = try keyLockerKernel { $0.klBackupLatencyNanoseconds = 5_000_000 }
        let before = machine.nanoseconds
        try kernel.writeKeyLockerMode("native_random_key")
        #expect(machine.nanoseconds - before >= 5_000_000)
        #expect(try handleWorksEverywhere(kernel, try encodeFIPSHandle(kernel)))
    }

    @Test func storageErrorRefusesBackupModesBeforeAnythingChanges() throws {
        let (machine, kernel) = try keyLockerKernel()
        try kernel.writeKeyLockerMode("native_kernel_key_remember")
        let handle = try encodeFIPSHandle(kernel)
        machine.faults.iwkeyBackupError = true
        for mode in ["native_kernel_key_backup", "native_random_key"] {
            #expect(throws: HWKeysError(.EIO, "")) { try kernel.writeKeyLockerMode(mode) }
        }
        #expect(kernel.keyLockerManager.mode == .nativeKernelKeyRemember)
        #expect(try handleWorksEverywhere(kernel, handle))
    }

    @Test func stateRoundTripsThroughTheImage() throws {
        let (machine, kernel) = try keyLockerKernel()
        try kernel.writeKeyLockerMode("native_kernel_key_remember")
        let restored = try Kernel.restore(platform: machine, state: try kernel.encodeState())
        #expect(restored.keyLockerManager.mode == .nativeKernelKeyRemember)
        #expect(restored.keyLockerManager.rememberedKey == kernel.keyLockerManager.rememberedKey)
        #expect(try restored.sysfsRead("/sys/kernel/keylocker/status") == "valid")
        #expect(try restored.encodeState() == kernel.encodeState())
    }

    @Test func noKeyLockerHardwareMeansNoManager() throws {
        let (_, kernel) = try keyLockerKernel { $0.keyLocker = false }
        #expect(kernel.keyLocker == nil)
        #expect(throws: HWKeysError(.ENOENT, "")) { try kernel.sysfsRead("/sys/kernel/keylocker/mode") }
    }
}

/// docs/contract.md §7, boot policy (Intel v9).
@Suite struct KeyLockerBootPolicyTests {
    @Test func bootPolicyLoadsABackedUpKeyAtBoot() throws {
        let (machine, kernel) = try keyLockerKernel("keylocker.policy=boot")
        #expect(try kernel.sysfsRead("/sys/kernel/keylocker/mode") == "boot")
        #expect(try kernel.sysfsRead("/sys/kernel/keylocker/status") == "valid")
        #expect(try kernel.sysfsRead("/sys/kernel/keylocker/modes_supported") == "boot")
        #expect(try machine.processors[0].rdmsr(MSR.iwKeyBackupStatus) & 1 == 1)
        #expect(try handleWorksEverywhere(kernel, try encodeFIPSHandle(kernel)))
        #expect(kernel.keyLockerManager.rememberedKey == nil)
        #expect(throws: HWKeysError(.EPERM, "")) { try kernel.writeKeyLockerMode("native_kernel_key_backup") }
    }

    @Test func bootPolicyWithoutBackupStaysDisabled() throws {
        let (_, kernel) = try keyLockerKernel("keylocker.policy=boot") { $0.klBackup = false }
        #expect(try kernel.sysfsRead("/sys/kernel/keylocker/status") == "disabled")
        #expect(try !kernel.cr4KL(0))
        #expect(kernel.log.lines.contains { $0.text.contains("CPUID.19H:EBX[4] = 0") })
    }

    @Test func bootPolicyWithABrokenBackupStaysDisabled() throws {
        var config = MachineConfiguration()
        config.seed = 4
        config.memoryBytes = 4 << 20
        let machine = try Machine.create(configuration: config)
        machine.faults.iwkeyBackupError = true
        let kernel = try Kernel.boot(platform: machine, commandLine: "keylocker.policy=boot")
        #expect(kernel.keyLockerManager.status == .disabled)
        #expect(try !kernel.cr4KL(0) && !kernel.cr4KL(1))
        #expect(kernel.log.lines.contains { $0.text.contains("disabled: IWKey backup failed") })
    }

    @Test func bootPolicyWithoutCPL0RestrictionStaysDisabled() throws {
        let (_, kernel) = try keyLockerKernel("keylocker.policy=boot") { $0.klRestrictions = [.noEncrypt] }
        #expect(try kernel.sysfsRead("/sys/kernel/keylocker/status") == "disabled")
    }
}

/// Lutomirski's paravirt modes and v9's hypervisor check (docs/research/keylocker-research.md §3.3, §3.8). The kernel learns that it
/// is a guest from CPUID.1:ECX[31] on its boot CPU, nothing else: a platform whose processors set that bit.
@Suite struct KeyLockerGuestTests {
    static func machine() throws -> Machine {
        var config = MachineConfiguration()
        config.seed = 3
        config.memoryBytes = 4 << 20
        config.bootKernel = false
        return try Machine.create(configuration: config)
    }

    static func guest(_ cmdline: String) throws -> Kernel {
        try Kernel.boot(platform: InterfaceOnlyPlatform(try machine(), guest: true), commandLine: cmdline)
    }

    @Test func theHypervisorBitOnTheBootCPUDecides() throws {
        let machine = try Self.machine()
        // Bare metal: CPUID.1:ECX[31] reads 0 on every logical processor (SDM: "not used, always returns 0").
        #expect(machine.processors.allSatisfy { $0.cpuid(leaf: 1, subleaf: 0).ecx & (1 << 31) == 0 })
        #expect(try !Kernel.boot(platform: machine, commandLine: "").runsUnderHypervisor)
        #expect(try !Kernel.boot(platform: InterfaceOnlyPlatform(machine), commandLine: "").runsUnderHypervisor)
        let guest = try Kernel.boot(platform: InterfaceOnlyPlatform(machine, guest: true), commandLine: "")
        #expect(guest.runsUnderHypervisor)
        // A restored kernel reads the bit again from the hardware it runs on.
        #expect(
            try Kernel.restore(platform: InterfaceOnlyPlatform(machine, guest: true), state: guest.encodeState())
                .runsUnderHypervisor
        )
        #expect(try !Kernel.restore(platform: machine, state: guest.encodeState()).runsUnderHypervisor)
    }

    /// On bare metal the paravirt modes are refused because there is no hypervisor; in a guest only
    /// because no paravirtual interface exists. Either way EOPNOTSUPP, and nothing changes.
    @Test func paravirtModesAreEOPNOTSUPPForADifferentReasonInAGuest() throws {
        let guest = try Self.guest("")
        let (_, bare) = try keyLockerKernel()
        for mode in ["paravirt_any", "paravirt_random"] {
            let inGuest = #expect(throws: HWKeysError.self) { try guest.writeKeyLockerMode(mode) }
            #expect(inGuest?.errno == .EOPNOTSUPP)
            #expect(inGuest?.message.contains("no paravirtual Key Locker interface") == true)
            let onBareMetal = #expect(throws: HWKeysError.self) { try bare.writeKeyLockerMode(mode) }
            #expect(onBareMetal?.errno == .EOPNOTSUPP)
            #expect(onBareMetal?.message.contains("need a hypervisor (bare metal)") == true)
        }
        #expect(guest.keyLockerManager.status == .disabled)
        #expect(bare.keyLockerManager.status == .disabled)
    }

    @Test func bootPolicyStaysOffUnderAHypervisor() throws {
        let kernel = try Self.guest("keylocker.policy=boot")
        #expect(try kernel.sysfsRead("/sys/kernel/keylocker/status") == "disabled")
        #expect(kernel.log.lines.contains { $0.text.contains("disabled: running under a hypervisor") })
        // The same hardware without the hypervisor bit loads the key.
        let bare = try Kernel.boot(
            platform: InterfaceOnlyPlatform(try Self.machine()),
            commandLine: "keylocker.policy=boot"
        )
        #expect(try bare.sysfsRead("/sys/kernel/keylocker/status") == "valid")
    }
}
