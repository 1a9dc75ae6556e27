//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommandsTests
//
//===----------------------------------------------------------------------===//

import Foundation
import Testing

@testable import HWKeysCommands

/// `machine create --no-tme`: a CPU without the TME feature (docs/contract.md §1), distinct from `--tme off`.
@Suite struct NoTMECommandTests {
    func machine(_ extra: String...) -> Scratch {
        let scratch = Scratch()
        let result = scratch.run(["machine", "create", "--seed", "4", "--memory", "16M", "--no-tme"] + extra)
        #expect(result.exitCode == 0, "\(result.stderr)")
        return scratch
    }

    @Test func theHardwareHasNoTME() throws {
        let scratch = machine()
        let show = try scratch.json("machine", "show")
        let configuration = try #require(show["configuration"] as? [String: Any])
        #expect(configuration["tme_present"] as? Bool == false)
        #expect(configuration["tme"] as? Bool == false)
        #expect(configuration["keyid_bits"] as? Int == 0)
        #expect(configuration["pconfig"] as? Bool == false)
        let cpuid = try scratch.json("hw", "cpuid", "7")
        let ecx = try #require(UInt64((cpuid["ecx"] as? String ?? "").dropFirst(2), radix: 16))
        #expect(ecx & (1 << 13) == 0)
        for msr in ["0x981", "0x982", "0x983", "0x984"] {
            #expect(try scratch.error("hw", "rdmsr", msr).code == "#GP(0)", "\(msr)")
        }
        #expect(try scratch.error("hw", "pconfig", "--keyid", "1", "--command", "set-key-random").code == "#UD")
    }

    @Test func theKernelHasNoMKTMEKeyType() throws {
        let scratch = machine()
        #expect(try scratch.error("keyctl", "add", "mktme", "tenant", "type=cpu", "@s").code == "ENODEV")
        #expect(try scratch.error("sysfs", "read", "/sys/kernel/mm/mktme/api").code == "ENOENT")
        let dmesg = scratch.run("dmesg").stdout
        #expect(dmesg.contains("x86/tme: not supported by the CPU"), "\(dmesg)")
        // Nothing is encrypted with a TME key, so S3 loses nothing even without the standby save.
        let noSave = machine("--save-key-for-standby", "off", "--force")
        #expect(noSave.run("power", "suspend").exitCode == 0)
        #expect(noSave.run("power", "resume").exitCode == 0)
    }

    @Test func optionsThatNeedTMEAreUsageErrors() throws {
        for extra in [["--tme", "on"], ["--keyid-bits", "6"], ["--tme-bypass"], ["--tme-exclude", "0:0"]] {
            let scratch = Scratch()
            let result = scratch.run(["machine", "create", "--no-tme"] + extra)
            #expect(result.exitCode == 2, "\(extra): \(result.stderr)")
            #expect(result.stderr.contains("no-tme"), "\(extra): \(result.stderr)")
        }
    }
}
