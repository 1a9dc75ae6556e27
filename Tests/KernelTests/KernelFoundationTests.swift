//===----------------------------------------------------------------------===//
//
// hwkeys: KernelTests
//
//===----------------------------------------------------------------------===//

import Foundation
import HWCrypto
import HWKeysBase
import Platform
import TestSupport
import Testing

@testable import Kernel

/// A seeded machine with a booted kernel.
func bootedKernel(_ configure: (inout MachineConfiguration) -> Void = { _ in }) throws -> (Machine, Kernel) {
    var config = MachineConfiguration()
    config.seed = 42
    configure(&config)
    let machine = try Machine.create(configuration: config)
    return (machine, try Kernel.boot(platform: machine, commandLine: config.effectiveKernelCommandLine))
}

@Suite struct KernelCommandLineTests {
    @Test func parsesKnownParametersAndKeepsUnknownOnes() throws {
        let line = try KernelCommandLine("mktme.api=rfc-v2 mktme_savekeys keylocker.policy=boot quiet")
        #expect(line.mktmeAPI == .rfcV2)
        #expect(line.mktmeSaveKeys)
        #expect(line.keyLockerPolicy == .boot)
        #expect(line.unknown == ["quiet"])
        let defaults = try KernelCommandLine("")
        #expect(defaults.mktmeAPI == .revised)
        #expect(defaults.keyLockerPolicy == .admin)
    }

    @Test(arguments: ["mktme.api=v3", "mktme.api", "keylocker.policy=sometimes"])
    func badValuesAreEINVAL(text: String) {
        #expect(throws: HWKeysError(.EINVAL, "")) { try KernelCommandLine(text) }
    }
}

@Suite struct KernelBootTests {
    @Test func bootStartsInitAndTheRootShell() throws {
        let (_, kernel) = try bootedKernel()
        #expect(kernel.processes[1]?.name == "init")
        #expect(kernel.processes[100]?.credentials == .root)
        #expect(kernel.log.lines.contains { $0.text.contains("Linux version") })
        #expect(kernel.onlineCPUs == [true, true])
    }

    @Test func stateRoundTripsDeterministically() throws {
        let (machine, kernel) = try bootedKernel()
        let child = try kernel.createProcess(parent: 100, uid: 1000, exec: true)
        let encoded = try kernel.encodeState()
        let restored = try Kernel.restore(platform: machine, state: encoded)
        #expect(try restored.encodeState() == encoded)
        #expect(restored.processes[child]?.credentials.uid == 1000)
    }

    @Test func garbageStateIsRefused() throws {
        let (machine, _) = try bootedKernel()
        #expect(throws: (any Error).self) { try Kernel.restore(platform: machine, state: Data("{}".utf8)) }
        #expect(throws: (any Error).self) { try Kernel.restore(platform: machine, state: Data([0xFF, 0x00])) }
    }
}

@Suite struct ProcessTests {
    @Test func spawnForkExitAndReparenting() throws {
        let (_, kernel) = try bootedKernel()
        let parent = try kernel.createProcess(parent: 100, uid: 1000, exec: true)
        let child = try kernel.createProcess(parent: parent, exec: false)
        #expect(kernel.processes[child]?.credentials.uid == 1000)
        #expect(throws: HWKeysError(.EPERM, "")) { try kernel.createProcess(parent: parent, uid: 0, exec: true) }
        try kernel.exitProcess(parent)
        #expect(kernel.processes[child]?.parent == 1)
        #expect(throws: HWKeysError(.ESRCH, "")) { try kernel.exitProcess(parent) }
        #expect(throws: HWKeysError(.EPERM, "")) { try kernel.exitProcess(1) }
        #expect(throws: HWKeysError(.ESRCH, "")) { try kernel.createProcess(parent: 999, exec: true) }
    }
}

@Suite struct SysfsTests {
    @Test func readWriteListAndPermissions() throws {
        let (_, kernel) = try bootedKernel()
        #expect(try kernel.sysfsList("/sys/devices/system/cpu").contains("cpu0/"))
        #expect(try kernel.sysfsRead("/sys/devices/system/cpu/cpu1/online") == "1")
        let user = try kernel.createProcess(parent: 100, uid: 1000, exec: true)
        #expect(throws: HWKeysError(.EACCES, "")) {
            try kernel.sysfsWrite("/sys/devices/system/cpu/cpu1/online", "0", as: user)
        }
        try kernel.sysfsWrite("/sys/devices/system/cpu/cpu1/online", "0\n", as: 100)
        #expect(try kernel.sysfsRead("/sys/devices/system/cpu/online") == "0")
        #expect(throws: HWKeysError(.EINVAL, "")) {
            try kernel.sysfsWrite("/sys/devices/system/cpu/cpu1/online", "2", as: 100)
        }
        #expect(throws: HWKeysError(.EACCES, "")) {
            try kernel.sysfsWrite("/sys/devices/system/cpu/online", "0", as: 100)
        }
        #expect(throws: HWKeysError(.ENOENT, "")) { try kernel.sysfsRead("/sys/nothing") }
        #expect(throws: HWKeysError(.EISDIR, "")) { try kernel.sysfsRead("/sys/devices") }
        #expect(throws: HWKeysError(.ENOTDIR, "")) { try kernel.sysfsList("/proc/cmdline") }
    }

    @Test func theLastOnlineCPUCannotGoOffline() throws {
        let (_, kernel) = try bootedKernel()
        try kernel.setCPU(1, online: false)
        #expect(throws: HWKeysError(.EBUSY, "")) { try kernel.setCPU(0, online: false) }
        #expect(throws: HWKeysError(.ENODEV, "")) { try kernel.setCPU(7, online: true) }
        #expect(Kernel.cpuList([true, true, false, true]) == "0-1,3")
    }
}

@Suite struct KernelMemoryTests {
    @Test func secretsLiveInDRAMAndAreZeroedOnFree() throws {
        let (_, kernel) = try bootedKernel()
        let secret = SecretBytes(Array(repeating: UInt8(0xA5), count: 40))
        let allocation = try kernel.storeInKernelMemory(secret)
        #expect(kernel.readKernelMemory(allocation) == secret)
        let address = allocation.segments[0].address
        kernel.freeKernelMemory(allocation)
        #expect(kernel.physical.readSecret(address, count: 40).isZero)
    }

    @Test func largeAllocationsSpanPagesAndRoundTrip() throws {
        let (_, kernel) = try bootedKernel()
        let secret = SecretBytes((0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 13) })
        let allocation = try kernel.storeInKernelMemory(secret)
        #expect(allocation.segments.count == 3)
        #expect(kernel.readKernelMemory(allocation) == secret)
        let free = kernel.pages.freeFrames
        kernel.freeKernelMemory(allocation)
        #expect(kernel.pages.freeFrames == free + 3)
    }

    @Test func freedFramesAreReusedLastInFirstOutAndRememberTheirKeyID() throws {
        var pages = PageAllocator(memoryBytes: 4 << 20)
        let (a, _) = try pages.allocate(owner: .user, keyID: 5)
        let (b, _) = try pages.allocate(owner: .user, keyID: 0)
        pages.free(a)
        pages.free(b)
        #expect(try pages.allocate(owner: .user, keyID: 0).frame == b)
        let again = try pages.allocate(owner: .user, keyID: 3)
        #expect(again.frame == a)
        #expect(again.previousKeyID == 5)
    }

    @Test func exhaustionIsENOMEM() throws {
        var pages = PageAllocator(memoryBytes: (1 << 20) + 2 * 4096)
        _ = try pages.allocate(owner: .user, keyID: 0)
        _ = try pages.allocate(owner: .user, keyID: 0)
        #expect(throws: HWKeysError(.ENOMEM, "")) { try pages.allocate(owner: .user, keyID: 0) }
    }
}
