//===----------------------------------------------------------------------===//
//
// hwkeys: KernelTests
//
//===----------------------------------------------------------------------===//

import Foundation
import HWKeysBase
import KernelInterfaces
import Platform
import TestSupport
import Testing
import X86

@testable import Kernel

/// The kernel needs only KernelInterfaces (docs/design.md rule 1): it boots, runs its subsystems, hibernates
/// and resumes on a platform that is not a `Machine`, with disks that are not Platform's.
@Suite struct KernelPlatformTests {
    @Test func theKernelRunsOnAPlatformThatIsNotAMachine() throws {
        var config = MachineConfiguration()
        config.seed = 9
        config.memoryBytes = 8 << 20
        config.swapBytes = 0
        config.bootKernel = false
        let machine = try Machine.create(configuration: config)
        let swap = RAMDisk(name: "ram0", size: 8 << 20)
        let platform = InterfaceOnlyPlatform(machine, disks: [swap])
        let kernel = try Kernel.boot(platform: platform, commandLine: "resume=ram0")
        #expect(kernel.platform === platform)
        #expect(kernel.resumeDevice == "ram0" && kernel.hibernation != nil)

        let serial = try kernel.add("user", "k", "payload on a RAM disk")
        try kernel.crypt.create("vol", size: 8192, cipher: .aesXTSPlain64, key: secret(countingKey), as: shell)
        let data = Array("through the interfaces only".utf8)
        try data.withUnsafeBytes { try kernel.crypt.write("vol", offset: 512, data: $0, as: shell) }
        // The volume's disk is the platform's: a RAM disk, holding ciphertext; Platform has no disks.
        let volume = try #require(platform.disk(named: "vol") as? RAMDisk)
        #expect(!contains(volume.bytes, data))
        #expect(machine.emulatedDisks.isEmpty)

        try kernel.prepareForSleep(.hibernate)
        try machine.power(.hibernate)
        #expect(Array(swap.bytes[0..<16]) == Array("HWKEYS-S1SUSPEND".utf8))
        #expect(contains(swap.bytes, Array("payload on a RAM disk".utf8)))
        try machine.power(.on)
        let resumed = try #require(try Kernel.resumeFromHibernation(platform: platform, commandLine: "resume=ram0"))
        #expect(try resumed.keys.read(serial, pid: shell).text == "payload on a RAM disk")
        #expect(try resumed.crypt.read("vol", offset: 512, count: data.count, as: shell) == data)
        #expect(Kernel.hibernationImageState(on: platform, commandLine: "resume=ram0") == nil)
    }

    @Test func aPlatformWithoutStorageHasNoDisksToGive() throws {
        final class Diskless: KernelPlatform {
            let machine: Machine
            init(_ machine: Machine) { self.machine = machine }
            var cpus: [any X86Processor] { machine.cpus }
            func package(ofCPU cpu: Int) -> Int { 0 }
            var packageCount: Int { 1 }
            var memoryMap: [Range<UInt64>] { [0..<machine.configuration.memoryBytes] }
            func memoryPackage(ofAddress address: UInt64) -> Int { 0 }
            var nanoseconds: UInt64 { machine.nanoseconds }
        }
        var config = MachineConfiguration()
        config.seed = 9
        config.memoryBytes = 4 << 20
        config.cpusPerPackage = 1
        let kernel = try Kernel.boot(platform: Diskless(try Machine.create(configuration: config)), commandLine: "")
        #expect(kernel.hibernation == nil)
        #expect(throws: HWKeysError(.EOPNOTSUPP, "")) { try kernel.prepareForSleep(.hibernate) }
        #expect(throws: HWKeysError(.ENOSPC, "")) {
            try kernel.crypt.create("vol", size: 4096, cipher: .aesXTSPlain64, key: secret(countingKey), as: shell)
        }
        #expect(try kernel.crypt.list(as: shell).isEmpty)
    }
}
