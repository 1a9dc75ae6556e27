//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommandsTests
//
//===----------------------------------------------------------------------===//

import Benchmarking
import Foundation
import Platform
import Testing

@testable import HWKeysCommands
@testable import Kernel

/// The Key Locker policy through the CLI (docs/contract.md §7, docs/keylocker-policy.md): sysfs, `proc kl-*`, power.
/// Expected AES results are the Python `cryptography` fixtures (``KLVector``: AES-ECB of the blocks).
@Suite struct KeyLockerPolicyCommandTests {
    static let block128 = String(KLVector.blocks128.prefix(32))
    static let cipher128 = String(KLVector.encrypted128.prefix(32))
    static let block256 = String(KLVector.blocks256.prefix(32))
    static let cipher256 = String(KLVector.encrypted256.prefix(32))

    static func machine(_ mode: String?, _ extra: String...) -> Scratch {
        let scratch = Scratch()
        scratch.run(["machine", "create", "--seed", "5"] + extra)
        if let mode { scratch.run("sysfs", "write", "/sys/kernel/keylocker/mode", mode) }
        return scratch
    }

    static func handle(_ scratch: Scratch, _ key: String = KLVector.key128, cpu: String = "0") throws -> String {
        try #require(try scratch.json("proc", "kl-encode", "100", "--key", key, "--cpu", cpu)["handle"] as? String)
    }

    @Test func userSpaceEncryptsAndDecryptsLikeAES() throws {
        let scratch = Self.machine("native_kernel_key_backup")
        scratch.run("proc", "spawn", "--uid", "1000")
        let handle = try Self.handle(scratch)
        #expect(handle.count == 96)
        let encrypted = try scratch.json("proc", "kl-encrypt", "101", "--handle", handle, "--block", Self.block128)
        #expect(encrypted["zf"] as? Int == 0)
        #expect(encrypted["block"] as? String == Self.cipher128)
        let decrypted = try scratch.json(
            "proc",
            "kl-decrypt",
            "101",
            "--handle",
            handle,
            "--block",
            Self.cipher128,
            "--cpu",
            "1"
        )
        #expect(decrypted["block"] as? String == Self.block128)
        let handle256 = try Self.handle(scratch, KLVector.key256)
        #expect(handle256.count == 128)
        let encrypted256 = try scratch.json(
            "proc",
            "kl-encrypt",
            "101",
            "--handle",
            handle256,
            "--block",
            Self.block256
        )
        #expect(encrypted256["block"] as? String == Self.cipher256)
        let oneShot = try scratch.json("proc", "kl-encrypt", "101", "--key", KLVector.key256, "--block", Self.block256)
        #expect(oneShot["block"] as? String == Self.cipher256)
        #expect(oneShot["handle"] as? String == handle256)
    }

    @Test func cpl0OnlyHandlesFailInUserSpace() throws {
        let scratch = Self.machine("native_kernel_key_remember")
        let result = try scratch.json(
            "proc",
            "kl-encrypt",
            "100",
            "--key",
            KLVector.key128,
            "--restrict",
            "cpl0",
            "--block",
            Self.block128
        )
        #expect(result["zf"] as? Int == 1)
        #expect(result["block"] as? String == Self.block128)
        let encoded = try scratch.json(
            "proc",
            "kl-encode",
            "100",
            "--key",
            KLVector.key128,
            "--restrict",
            "cpl0,no-decrypt"
        )
        let handle = try #require(encoded["handle"] as? String)
        #expect(handle.hasPrefix("05000000"))
    }

    @Test func withoutKeyLockerEnabledTheInstructionIsUD() throws {
        let scratch = Self.machine(nil)
        #expect(try scratch.error("proc", "kl-encode", "100", "--key", KLVector.key128).code == "#UD")
        #expect(
            try scratch.error("proc", "kl-encrypt", "100", "--key", KLVector.key128, "--block", Self.block128).code
                == "#UD"
        )
    }

    @Test func badArgumentsAreRefused() throws {
        let scratch = Self.machine("native_kernel_key_backup")
        #expect(scratch.run("proc", "kl-encode").exitCode != 0)
        #expect(try scratch.error("proc", "kl-encode", "100", "--key", "00").code == "EINVAL")
        #expect(
            try scratch.error("proc", "kl-encode", "100", "--key", KLVector.key128, "--restrict", "cpl3").code
                == "EINVAL"
        )
        #expect(try scratch.error("proc", "kl-encode", "4242", "--key", KLVector.key128).code == "ESRCH")
        #expect(try scratch.error("proc", "kl-encrypt", "100", "--block", Self.block128).code == "EINVAL")
        #expect(
            try scratch.error("proc", "kl-encrypt", "100", "--handle", "00", "--block", Self.block128).code == "EINVAL"
        )
        #expect(
            try scratch.error(
                "proc",
                "kl-encrypt",
                "100",
                "--handle",
                String(repeating: "0", count: 96),
                "--key",
                KLVector.key128,
                "--block",
                Self.block128
            ).code == "EINVAL"
        )
        #expect(try scratch.error("proc", "kl-encode", "100", "--key", KLVector.key128, "--cpu", "7").code == "EINVAL")
    }

    @Test func sysfsModeErrors() throws {
        let scratch = Self.machine(nil, "--no-kl-random")
        #expect(
            try scratch.error("sysfs", "write", "/sys/kernel/keylocker/mode", "native_random_key").code == "EOPNOTSUPP"
        )
        #expect(try scratch.error("sysfs", "write", "/sys/kernel/keylocker/mode", "paravirt_any").code == "EOPNOTSUPP")
        #expect(try scratch.error("sysfs", "write", "/sys/kernel/keylocker/mode", "bogus").code == "EINVAL")
        scratch.run("proc", "spawn", "--uid", "1000")
        #expect(
            try scratch.error(
                "sysfs",
                "write",
                "/sys/kernel/keylocker/mode",
                "native_kernel_key_backup",
                "--pid",
                "101"
            )
            .code == "EACCES"
        )
        #expect(scratch.run("sysfs", "read", "/sys/kernel/keylocker/mode").stdout == "disabled")
    }

    @Test(arguments: ["native_random_key", "native_kernel_key_remember", "native_kernel_key_backup"])
    func handlesSurviveSuspendAndHotplugButNotPowerOff(mode: String) throws {
        let scratch = Self.machine(mode)
        let before = try Self.handle(scratch)
        scratch.run("power", "suspend")
        scratch.run("power", "resume")
        #expect(scratch.run("sysfs", "read", "/sys/kernel/keylocker/status").stdout == "valid")
        #expect(try Self.handle(scratch) == before)
        #expect(try Self.handle(scratch, cpu: "1") == before)
        scratch.run("cpu", "offline", "1")
        scratch.run("cpu", "online", "1")
        #expect(try Self.handle(scratch, cpu: "1") == before)
        for action in ["off", "reset"] {
            if action == "off" {
                scratch.run("power", "off")
                scratch.run("power", "on")
            } else {
                scratch.run("power", "reset")
            }
            #expect(scratch.run("sysfs", "read", "/sys/kernel/keylocker/mode").stdout == "disabled")
            #expect(try scratch.error("proc", "kl-encode", "100", "--key", KLVector.key128).code == "#UD")
            scratch.run("sysfs", "write", "/sys/kernel/keylocker/mode", mode)
            let after = try Self.handle(scratch)
            #expect(after != before)
            let stale = try scratch.json("proc", "kl-encrypt", "100", "--handle", before, "--block", Self.block128)
            #expect(stale["zf"] as? Int == 1)
        }
    }

    @Test func norestoreLosesTheKeyOnSuspend() throws {
        let scratch = Self.machine("native_kernel_key_norestore")
        scratch.run("cpu", "offline", "1")
        #expect(try scratch.error("cpu", "online", "1").code == "EBUSY")
        scratch.run("power", "suspend")
        scratch.run("power", "resume")
        #expect(scratch.run("sysfs", "read", "/sys/kernel/keylocker/status").stdout == "invalid")
        #expect(
            try scratch.error("sysfs", "write", "/sys/kernel/keylocker/mode", "native_kernel_key_backup").code
                == "ENODEV"
        )
        #expect(scratch.run("dmesg").stdout.contains("soft-disabled until reboot"))
    }

    @Test func injectedBackupErrorSoftDisablesAtResume() throws {
        let scratch = Self.machine("native_kernel_key_backup")
        scratch.run("hw", "inject", "iwkey-backup-error")
        scratch.run("power", "suspend")
        scratch.run("power", "resume")
        #expect(scratch.run("sysfs", "read", "/sys/kernel/keylocker/status").stdout == "invalid")
        #expect(scratch.run("dmesg").stdout.contains("storage read error"))
    }

    @Test func bootPolicyReadsBootAndSurvivesSuspend() throws {
        let scratch = Self.machine(nil, "--cmdline", "keylocker.policy=boot")
        #expect(scratch.run("sysfs", "read", "/sys/kernel/keylocker/mode").stdout == "boot")
        #expect(
            try scratch.error("sysfs", "write", "/sys/kernel/keylocker/mode", "native_kernel_key_backup").code
                == "EPERM"
        )
        let before = try Self.handle(scratch)
        scratch.run("power", "suspend")
        scratch.run("power", "resume")
        #expect(try Self.handle(scratch) == before)
        scratch.run("power", "reset")
        #expect(scratch.run("sysfs", "read", "/sys/kernel/keylocker/status").stdout == "valid")
        #expect(try Self.handle(scratch) != before)
    }

    /// The klpower rows equal the cost table summed over the kernel's sequence (4 CPUs). Resume: per CPU a
    /// CR4 write and LOADIWKEY, plus one line fill to read the remembered key from DRAM (caches are lost in
    /// S3) — or one RDMSR of 991H plus per CPU a CR4 write, WRMSR D92H with the restore, and RDMSR 990H.
    /// Onlining one CPU: the same for one CPU without the CR4 write (an offline CPU is parked, not reset,
    /// so CR4.KL is still set) and without the line fill (the key is cached by then).
    @Test func klpowerBenchmarkMatchesTheCostTable() throws {
        let restore = 2 * CostItem.msrAccess.cycles + CostItem.iwkeyRestore.cycles
        let reload = CostItem.loadiwkeySoftware.cycles
        let cr4 = CostItem.cr4Write.cycles
        for mode in KeyLockerPowerBenchmarks.modes {
            let result = try KeyLockerPowerBenchmarks.measure(mode, cpus: 4)
            if mode == .nativeKernelKeyRemember {
                #expect(result.resumeCycles == CostItem.lineFill.cycles + 4 * (cr4 + reload))
                #expect(result.onlineCycles == reload)
            } else {
                #expect(result.resumeCycles == CostItem.msrAccess.cycles + 4 * (cr4 + restore))
                #expect(result.onlineCycles == CostItem.msrAccess.cycles + restore)
            }
        }
        let output = try Scratch().json("benchmark", "--only", "klpower")
        let rows = try #require(output["results"] as? [[String: Any]])
        #expect(rows.map { $0["mode"] as? String } == KeyLockerPowerBenchmarks.modes.map(\.rawValue))
        #expect(
            rows.map { $0["name"] as? String } == KeyLockerPowerBenchmarks.modes.map(KeyLockerPowerBenchmarks.rowName)
        )
    }
}
