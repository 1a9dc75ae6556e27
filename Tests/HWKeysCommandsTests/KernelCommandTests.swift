//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommandsTests
//
//===----------------------------------------------------------------------===//

import Foundation
import Testing

@testable import HWKeysCommands

@Suite struct KernelCommandTests {
    @Test func dmesgSysfsClockAndCPUCommands() throws {
        let scratch = Scratch()
        scratch.run("machine", "create", "--seed", "3", "--cmdline", "mktme.api=rfc-v2 quiet")
        let log = try #require(try scratch.json("dmesg")["lines"] as? [[String: Any]])
        #expect(
            log.contains {
                ($0["text"] as? String)?.contains("Unknown kernel command line parameter \"quiet\"") == true
            }
        )
        // The bootloader adds the swap disk's `resume=` (MachineConfiguration.effectiveKernelCommandLine).
        #expect(
            try scratch.json("sysfs", "read", "/proc/cmdline")["value"] as? String
                == "mktme.api=rfc-v2 quiet resume=swap"
        )
        #expect(scratch.run("cpu", "offline", "1").exitCode == 0)
        #expect(try scratch.json("sysfs", "read", "/sys/devices/system/cpu/online")["value"] as? String == "0")
        #expect(try scratch.error("cpu", "offline", "0").code == "EBUSY")
        let before = try scratch.json("clock", "show")["emulated_ns"] as? Int ?? 0
        #expect(try scratch.json("clock", "advance", "2.5")["advanced_ns"] as? Int == 2_500_000_000)
        // Advancing time enters the kernel to run its due timers (the key gc), which costs a few
        // modelled microseconds on top.
        let after = try #require(try scratch.json("clock", "show")["emulated_ns"] as? Int)
        #expect(after >= before + 2_500_000_000 && after < before + 2_501_000_000)
        #expect(try scratch.error("clock", "advance", "-1").code == "EINVAL")
        #expect(try scratch.error("sysfs", "read", "/nope").code == "ENOENT")
    }

    @Test func badCommandLineRefusesToCreate() throws {
        let scratch = Scratch()
        #expect(try scratch.error("machine", "create", "--cmdline", "mktme.api=v9").code == "EINVAL")
        #expect(try scratch.error("machine", "show").code == "ENOENT")
    }

    @Test func processesPersistAcrossCommandsAndPowerCyclesResetThem() throws {
        let scratch = Scratch()
        scratch.run("machine", "create", "--seed", "3")
        #expect(try scratch.json("proc", "spawn", "--uid", "1000")["pid"] as? Int == 101)
        #expect(try scratch.error("proc", "spawn", "--uid", "5", "--parent", "101").code == "EPERM")
        #expect(try scratch.json("proc", "fork", "101")["pid"] as? Int == 102)
        let listed = try #require(try scratch.json("proc", "list")["processes"] as? [[String: Any]])
        #expect(listed.map { $0["pid"] as? Int } == [1, 100, 101, 102])
        #expect(scratch.run("power", "off").exitCode == 0)
        #expect(try scratch.error("proc", "list").code == "EHOSTDOWN")
        #expect(scratch.run("power", "on").exitCode == 0)
        let after = try #require(try scratch.json("proc", "list")["processes"] as? [[String: Any]])
        #expect(after.map { $0["pid"] as? Int } == [1, 100])
    }

    @Test func machinesWithoutAKernelRefuseKernelCommands() throws {
        let scratch = Scratch()
        scratch.run("machine", "create", "--seed", "3", "--no-kernel")
        #expect(try scratch.error("dmesg").code == "ENOSYS")
        #expect(scratch.run("hw", "cpuid", "0").exitCode == 0)
    }
}
