//===----------------------------------------------------------------------===//
//
// hwkeys: KernelTests
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase
import Platform
import Testing
import X86

@testable import Kernel

/// spec.md §7, admin policy: modes, preconditions, errors.
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

/// spec.md §7, boot policy (Intel v9).
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

/// The machine seen as a guest: the same processors with the hypervisor bit reported.
final class GuestPlatform: KernelPlatform {
    let machine: Machine
    init(_ machine: Machine) { self.machine = machine }
    var cpus: [any X86Processor] { machine.cpus }
    func package(ofCPU cpu: Int) -> Int { machine.package(ofCPU: cpu) }
    var packageCount: Int { machine.packageCount }
    var memoryMap: [Range<UInt64>] { machine.memoryMap }
    func memoryPackage(ofAddress address: UInt64) -> Int { machine.memoryPackage(ofAddress: address) }
    var nanoseconds: UInt64 { machine.nanoseconds }
    var isVirtualMachine: Bool { true }
}

/// Lutomirski's paravirt modes and v9's hypervisor check (research §3.3, §3.8).
@Suite struct KeyLockerGuestTests {
    static func guest(_ cmdline: String) throws -> Kernel {
        var config = MachineConfiguration()
        config.seed = 3
        config.memoryBytes = 4 << 20
        config.bootKernel = false
        let machine = try Machine.create(configuration: config)
        return try Kernel.boot(platform: GuestPlatform(machine), commandLine: cmdline)
    }

    @Test func paravirtModesAreEOPNOTSUPPEvenInAGuest() throws {
        let kernel = try Self.guest("")
        for mode in ["paravirt_any", "paravirt_random"] {
            #expect(throws: HWKeysError(.EOPNOTSUPP, "")) { try kernel.writeKeyLockerMode(mode) }
        }
        #expect(kernel.keyLockerManager.status == .disabled)
    }

    @Test func bootPolicyStaysOffUnderAHypervisor() throws {
        let kernel = try Self.guest("keylocker.policy=boot")
        #expect(try kernel.sysfsRead("/sys/kernel/keylocker/status") == "disabled")
        #expect(kernel.log.lines.contains { $0.text.contains("hypervisor") })
    }
}
