//===----------------------------------------------------------------------===//
//
// hwkeys: KernelTests
//
//===----------------------------------------------------------------------===//

import Foundation
import HWCrypto
import HWKeysBase
import KernelInterfaces
import Platform
import TestSupport
import Testing
import X86

@testable import Kernel

/// Plays the MKTME key type's part on resume: programs KeyID 1 again (the S4 lost the key tables), and
/// records what memory looked like at that moment to check the restore order.
private final class KeyID1Reprogrammer: PowerParticipant {
    let machine: Machine
    let key: [UInt8]
    var sawKernelMemory: [UInt8]?
    var sawEncryptedFrameRestored: Bool?
    let probe: (Kernel) -> ([UInt8], Bool)
    unowned var kernel: Kernel

    init(machine: Machine, kernel: Kernel, key: [UInt8], probe: @escaping (Kernel) -> ([UInt8], Bool)) {
        self.machine = machine
        self.kernel = kernel
        self.key = key
        self.probe = probe
    }

    func prepareForSleep(_ state: SleepState) throws(HWKeysError) {}

    func resumed(from state: SleepState) throws(HWKeysError) {
        (sawKernelMemory, sawEncryptedFrameRestored) = probe(kernel)
        program(machine, keyID: 1, key: key)
    }
}

/// SET_KEY_DIRECT of AES-XTS-128 `key` (K1 ‖ K2, 32 bytes) for `keyID` on package 0.
private func program(_ machine: Machine, keyID: UInt16, key: [UInt8]) {
    var structure = [UInt8](repeating: 0, count: MKTMEKeyProgramLayout.size)
    structure.withUnsafeMutableBytes { out in
        key.withUnsafeBytes { k in
            MKTMEKeyProgramLayout.encode(
                keyID: keyID,
                keyIDControl: MKTMEKeyProgramLayout.keyIDControl(command: .setKeyDirect, algorithm: .aesXTS128),
                keyField1: UnsafeRawBufferPointer(rebasing: k[0..<16]),
                keyField2: UnsafeRawBufferPointer(rebasing: k[16..<32]),
                into: out
            )
        }
    }
    let result = structure.withUnsafeBytes { try? machine.processors[0].pconfig(leaf: 0, structureBytes: $0) }
    #expect(result?.zf == false)
}

/// The boot command line of a machine with a swap disk (``MachineConfiguration/effectiveKernelCommandLine``).
private let resumeSwap = "resume=swap"

@Suite struct HibernationTests {
    /// S4 round trip: kernel memory (a `user` key payload, a plain crypt volume's key) and memory under an
    /// MKTME KeyID come back; kernel memory is restored before the other subsystems resume and encrypted
    /// memory after; the swap disk holds all of it in plaintext, before and after the resume.
    @Test func hibernateAndResumeRestoreMemoryInOrderAndLeavePlaintextOnSwap() throws {
        let (machine, kernel) = try cryptKernel()
        let payload = "hibernation-finding-payload"
        let serial = try kernel.add("user", "secret", payload)
        try kernel.crypt.create("vol", size: 8192, cipher: .aesXTSPlain64, key: secret(countingKey), as: shell)
        try Array("volume data".utf8).withUnsafeBytes { try kernel.crypt.write("vol", offset: 0, data: $0, as: shell) }
        // A page under KeyID 1, as the memory manager would set one up for encrypt_mprotect.
        let mktmeKey = (0..<32).map { UInt8($0 &+ 0xA0) }
        program(machine, keyID: 1, key: mktmeKey)
        let (frame, _) = try kernel.pages.allocate(owner: .user, keyID: 1)
        let pattern = (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 0x5A) }
        pattern.withUnsafeBytes { kernel.physical.write(frame << 12, keyID: 1, from: $0) }
        kernel.physical.flushPage(frame, keyID: 1)
        // DRAM holds ciphertext of all of it (TME and KeyID 1).
        var dram = [UInt8](repeating: 0, count: Int(machine.configuration.memoryBytes))
        dram.withUnsafeMutableBytes { machine.dram.read(0, into: $0) }
        #expect(!contains(dram, Array(payload.utf8)) && !contains(dram, Array(pattern[0..<32])))

        try kernel.prepareForSleep(.hibernate)
        try machine.power(.hibernate)
        let swap = machine.diskBytes("swap", 0, 8 << 20)
        #expect(Array(swap[0..<16]) == Array("HWKEYS-S1SUSPEND".utf8))
        // The finding: the image is plaintext of kernel memory and of MKTME-encrypted memory.
        #expect(contains(swap, Array(payload.utf8)))
        #expect(contains(swap, countingKey))
        #expect(contains(swap, pattern))

        try machine.power(.resume)
        let rawBefore = machine.dramBytes(frame << 12, 4096)
        let state = try #require(Kernel.hibernationImageState(on: machine, commandLine: resumeSwap))
        let resumed = try Kernel.restore(platform: machine, state: state)
        let participant = KeyID1Reprogrammer(machine: machine, kernel: resumed, key: mktmeKey) { kernel in
            // What a subsystem sees when its resume runs: kernel memory is back (the volume key reads
            // correctly), the KeyID-1 frame is not yet (flushing its alias writes nothing back).
            let key = kernel.readKernelMemory(try! kernel.crypt.volume("vol").key!).revealedBytes()
            kernel.physical.flushPage(frame, keyID: 1)
            return (key, machine.dramBytes(frame << 12, 4096) != rawBefore)
        }
        resumed.powerParticipants.append(participant)
        try resumed.resumed(from: .hibernate)
        #expect(participant.sawKernelMemory == countingKey)
        #expect(participant.sawEncryptedFrameRestored == false)

        #expect(try resumed.keys.read(serial, pid: shell).text == payload)
        #expect(try resumed.crypt.read("vol", offset: 0, count: 11, as: shell) == Array("volume data".utf8))
        var back = [UInt8](repeating: 0, count: 4096)
        back.withUnsafeMutableBytes { resumed.physical.read(frame << 12, keyID: 1, into: $0) }
        #expect(back == pattern)
        #expect(resumed.log.lines.contains { $0.text.contains("Creating hibernation image") })
        // The image is released, but its plaintext stays on the swap disk until overwritten.
        #expect(Kernel.hibernationImageState(on: machine, commandLine: resumeSwap) == nil)
        #expect(contains(machine.diskBytes("swap", 0, 8 << 20), Array(payload.utf8)))
    }

    @Test func resumeFromHibernationRunsTheWholeSequence() throws {
        let (machine, kernel) = try bootedKernel()
        let serial = try kernel.add("user", "k", "payload")
        try kernel.prepareForSleep(.hibernate)
        try machine.power(.hibernate)
        try machine.power(.off)
        try machine.power(.on)
        let resumed = try #require(try Kernel.resumeFromHibernation(platform: machine, commandLine: resumeSwap))
        #expect(try resumed.keys.read(serial, pid: shell).text == "payload")
        #expect(try Kernel.resumeFromHibernation(platform: machine, commandLine: resumeSwap) == nil)
    }

    @Test func noSwapDiskIsEOPNOTSUPP() throws {
        let (machine, kernel) = try bootedKernel { $0.swapBytes = 0 }
        #expect(machine.disks.isEmpty)
        #expect(kernel.hibernation == nil)
        #expect(throws: HWKeysError(.EOPNOTSUPP, "")) { try kernel.prepareForSleep(.hibernate) }
    }

    @Test func aSwapDiskTooSmallIsENOSPCAndLeavesNoImage() throws {
        let (machine, kernel) = try bootedKernel { $0.swapBytes = 8192 }
        try kernel.add("user", "k", String(repeating: "x", count: 3000))
        #expect(throws: HWKeysError(.ENOSPC, "")) { try kernel.prepareForSleep(.hibernate) }
        #expect(Kernel.hibernationImageState(on: machine, commandLine: resumeSwap) == nil)
    }

    @Test func anImageThatDoesNotMatchItsKernelIsEIO() throws {
        let (machine, kernel) = try bootedKernel()
        try kernel.add("user", "k", "payload")
        try kernel.prepareForSleep(.hibernate)
        try machine.power(.hibernate)
        try machine.power(.resume)
        let header = SwapHibernation.header(on: machine.disk(named: "swap")!)!
        // Change the first frame number in the table.
        [0xFF].withUnsafeBytes { machine.disk(named: "swap")!.write(header.tableBlock * 4096 + 1, from: $0) }
        let state = try #require(Kernel.hibernationImageState(on: machine, commandLine: resumeSwap))
        let resumed = try Kernel.restore(platform: machine, state: state)
        #expect(throws: HWKeysError(.EIO, "")) { try resumed.resumed(from: .hibernate) }
    }

    @Test func headerParsingRejectsDamage() {
        let header = SwapHibernation.Header(stateBytes: 5000, frameCount: 3)
        #expect(header.tableBlock == 3 && header.dataBlock == 4 && header.blocksUsed == 7)
        let bytes = header.encoded()
        #expect(SwapHibernation.Header(bytes, diskBlocks: 7) == header)
        #expect(SwapHibernation.Header(bytes, diskBlocks: 6) == nil)
        for position in [0, 16, 20, 25, 32, 40, 48, 56, 64, 100] {
            var bad = bytes
            bad[position] ^= 0x40
            #expect(SwapHibernation.Header(bad, diskBlocks: 100) == nil, "byte \(position)")
        }
    }
}

/// The swap device is the disk `resume=` names (Linux's `resume_setup`, kernel/power/hibernate.c); the
/// bootloader adds `resume=swap` for a machine with a swap disk (``MachineConfiguration/effectiveKernelCommandLine``).
@Suite struct ResumeDeviceTests {
    @Test func resumeIsParsedLikeLinux() throws {
        #expect(try KernelCommandLine("resume=hib").resumeDevice == "hib")
        #expect(try KernelCommandLine("quiet resume=/dev/hib").resumeDevice == "hib")
        #expect(try KernelCommandLine("resume=a resume=b").resumeDevice == "b")
        #expect(try KernelCommandLine("resume=").resumeDevice == nil)
        #expect(try KernelCommandLine("").resumeDevice == nil)
        let bare = try KernelCommandLine("resume")
        #expect(bare.resumeDevice == nil && bare.unknown == ["resume"])
    }

    @Test func aMachineWithASwapDiskBootsWithResumeSwap() throws {
        let (_, kernel) = try bootedKernel { $0.kernelCommandLine = "quiet" }
        #expect(kernel.commandLine.raw == "quiet resume=swap")
        #expect(try kernel.sysfsRead("/proc/cmdline") == "quiet resume=swap")
        #expect(kernel.resumeDevice == "swap")
        #expect(kernel.hibernation != nil)
        #expect(kernel.commandLine.unknown == ["quiet"])
    }

    @Test func anExplicitResumeNamesAnotherDisk() throws {
        var config = MachineConfiguration()
        config.seed = 5
        config.memoryBytes = 4 << 20
        config.swapBytes = 0
        config.kernelCommandLine = "resume=/dev/hib"
        let machine = try Machine.create(configuration: config)
        _ = try machine.attachDisk(named: "hib", size: 4 << 20)
        let kernel = try Kernel.boot(platform: machine, commandLine: config.effectiveKernelCommandLine)
        #expect(kernel.resumeDevice == "hib")
        let serial = try kernel.add("user", "k", "payload on hib")
        try kernel.prepareForSleep(.hibernate)
        try machine.power(.hibernate)
        #expect(machine.diskBytes("hib", 0, 16) == Array("HWKEYS-S1SUSPEND".utf8))
        try machine.power(.on)
        #expect(Kernel.hibernationImageState(on: machine, commandLine: "") == nil)
        #expect(Kernel.hibernationImageState(on: machine, commandLine: "resume=swap") == nil)
        let resumed = try #require(try Kernel.resumeFromHibernation(platform: machine, commandLine: "resume=hib"))
        #expect(try resumed.keys.read(serial, pid: shell).text == "payload on hib")
        #expect(resumed.resumeDevice == "hib")
    }

    /// `resume=` naming no disk: no hibernation (EOPNOTSUPP), logged at boot and at the attempt with
    /// Linux's swsusp message; the machine's `swap` disk is not used, and the name stays reserved.
    @Test func aMissingResumeDeviceMeansNoHibernation() throws {
        let (machine, kernel) = try bootedKernel { $0.kernelCommandLine = "resume=later" }
        #expect(kernel.commandLine.raw == "resume=later")
        #expect(kernel.hibernation == nil)
        #expect(
            kernel.log.lines.contains {
                $0.facility == "PM" && $0.text == "Cannot find swap device later (resume=); hibernation unavailable"
            }
        )
        #expect(throws: HWKeysError(.EOPNOTSUPP, "")) { try kernel.prepareForSleep(.hibernate) }
        #expect(
            kernel.log.lines.contains { $0.facility == "PM" && $0.text == "Cannot find swap device, try swapon -a" }
        )
        #expect(machine.diskBytes("swap", 0, 4096).allSatisfy { $0 == 0 })
        #expect(throws: HWKeysError(.EINVAL, "")) {
            try kernel.crypt.create("later", size: 4096, cipher: .aesXTSPlain64, key: secret(countingKey), as: shell)
        }
        #expect(machine.disk(named: "later") == nil)
    }

    @Test func noResumeIsEOPNOTSUPPEvenWithASwapDisk() throws {
        let (machine, kernel) = try bootedKernel { $0.kernelCommandLine = "resume=" }
        #expect(machine.disk(named: "swap") != nil)
        #expect(kernel.resumeDevice == nil && kernel.hibernation == nil)
        #expect(throws: HWKeysError(.EOPNOTSUPP, "")) { try kernel.prepareForSleep(.hibernate) }
        #expect(machine.diskBytes("swap", 0, 4096).allSatisfy { $0 == 0 })
    }

    /// An image whose kernel uses another swap device than the one it was found on is refused.
    @Test func anImageFoundOnAnotherDeviceThanItsKernelsIsEINVAL() throws {
        let (machine, kernel) = try bootedKernel { $0.memoryBytes = 4 << 20 }
        try kernel.prepareForSleep(.hibernate)
        try machine.power(.hibernate)
        let copy = try machine.attachDisk(named: "copy", size: 4 << 20)
        machine.diskBytes("swap", 0, 4 << 20).withUnsafeBytes { copy.write(0, from: $0) }
        try machine.power(.on)
        #expect(throws: HWKeysError(.EINVAL, "")) {
            try Kernel.resumeFromHibernation(platform: machine, commandLine: "resume=copy")
        }
    }

    /// A state file from before `resume=`: the configured line has no `resume=`, the saved kernel (image
    /// version 1) none either, and the machine has its `swap` disk. The saved kernel keeps its command line
    /// and hibernates to `swap`; an image in the old format is found through the default `resume=swap`.
    @Test func aKernelSavedBeforeResumeExistedKeepsHibernatingToSwap() throws {
        let (machine, booted) = try bootedKernel { $0.kernelCommandLine = "quiet" }
        let serial = try booted.add("user", "k", "old payload")
        let old = try Kernel.restore(platform: machine, state: try legacyKernelState(try booted.encodeState()))
        #expect(old.commandLine.raw == "quiet")
        #expect(try old.sysfsRead("/proc/cmdline") == "quiet")
        #expect(old.resumeDevice == "swap" && old.hibernation != nil)

        try old.prepareForSleep(.hibernate)
        try machine.power(.hibernate)
        // Turn the image into one the old hwkeys wrote: its kernel state in the version-1 form.
        let disk = try #require(machine.disk(named: "swap"))
        let header = try #require(SwapHibernation.header(on: disk))
        var state = Data(count: Int(header.stateBytes))
        state.withUnsafeMutableBytes { disk.read(header.stateBlock * 4096, into: $0) }
        try legacyKernelState(state).withUnsafeBytes { disk.write(header.stateBlock * 4096, from: $0) }

        try machine.power(.on)
        let commandLine = machine.configuration.effectiveKernelCommandLine
        #expect(commandLine == "quiet resume=swap")
        let resumed = try #require(try Kernel.resumeFromHibernation(platform: machine, commandLine: commandLine))
        #expect(resumed.commandLine.raw == "quiet")
        #expect(resumed.resumeDevice == "swap")
        #expect(try resumed.keys.read(serial, pid: shell).text == "old payload")
        // Saved again, it stays on `swap` (version 2 records the device).
        let again = try Kernel.restore(platform: machine, state: try resumed.encodeState())
        #expect(again.resumeDevice == "swap" && again.hibernation != nil)
    }

    /// The old kernel reserved `swap` even on a machine without a swap disk; restored, it still does.
    @Test func aKernelSavedBeforeResumeExistedStillReservesSwap() throws {
        let (machine, booted) = try bootedKernel { $0.swapBytes = 0 }
        let old = try Kernel.restore(platform: machine, state: try legacyKernelState(try booted.encodeState()))
        #expect(old.resumeDevice == "swap" && old.hibernation == nil)
        #expect(throws: HWKeysError(.EINVAL, "")) {
            try old.crypt.create("swap", size: 4096, cipher: .aesXTSPlain64, key: secret(countingKey), as: shell)
        }
        #expect(throws: HWKeysError(.EOPNOTSUPP, "")) { try old.prepareForSleep(.hibernate) }
        // A kernel booted now has no swap device, so the name is free.
        #expect(booted.resumeDevice == nil)
        try booted.crypt.create("swap", size: 4096, cipher: .aesXTSPlain64, key: secret(countingKey), as: shell)
    }
}
