//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommandsTests
//
//===----------------------------------------------------------------------===//

import Foundation
import HWKeysStore
import Testing

@testable import HWKeysCommands

/// The counting key 00 01 … 3f as hex.
private let key = (0..<64).map { String(format: "%02x", $0) }.joined()

private func hexString(_ text: String) -> String { Array(text.utf8).map { String(format: "%02x", $0) }.joined() }

/// A booted machine with one open `aes-xts-plain64` volume `vol` of 64 KiB.
private func machineWithVolume() -> Scratch {
    let scratch = Scratch()
    #expect(scratch.run("machine", "create", "--seed", "7").exitCode == 0)
    let created = scratch.run("crypt", "create", "vol", "--size", "64K", "--cipher", "aes-xts-plain64", "--key", key)
    #expect(created.exitCode == 0, "\(created.stderr)")
    return scratch
}

/// The crypt fixtures committed under Tests/KernelTests/Fixtures/crypt (Scripts/gen_crypt_fixtures.py).
private struct Fixtures: Decodable {
    struct Sectors: Decodable {
        let name: String
        let key: String
        let first_sector: String
        let plaintext: String
        let ciphertext: String
    }
    let sectors: [Sectors]

    static func load(_ file: String = "xts-plain64.json") throws -> Fixtures {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("KernelTests/Fixtures/crypt/\(file)")
        return try JSONDecoder().decode(Fixtures.self, from: Data(contentsOf: url))
    }
}

/// `hwkeys crypt`, verb by verb: no arguments, bad arguments, valid use; errno paths change nothing.
@Suite struct CryptCommandTests {
    // MARK: noargs

    @Test(arguments: [
        ["crypt"], ["crypt", "create"], ["crypt", "create", "v"], ["crypt", "create", "v", "--size", "4K"],
        ["crypt", "create", "v", "--size", "4K", "--cipher", "aes-xts-plain64"], ["crypt", "open"],
        ["crypt", "open", "vol"], ["crypt", "close"], ["crypt", "write"], ["crypt", "write", "vol"],
        ["crypt", "write", "vol", "0"], ["crypt", "read"], ["crypt", "read", "vol", "0"], ["crypt", "status"],
        ["crypt", "list", "extra"], ["crypt", "close", "vol", "extra"], ["hw", "disk"], ["hw", "disk", "swap", "0"],
        ["hw", "poke-disk", "swap", "0"], ["hw", "disks", "extra"],
    ])
    func missingOrExtraArgumentsAreUsageErrors(words: [String]) throws {
        let scratch = machineWithVolume()
        try scratch.expectFailure(words, code: "EINVAL", exit: 2)
    }

    // MARK: bad arguments

    @Test(arguments: [
        ["crypt", "create", "v", "--size", "4K", "--cipher", "aes-cbc-essiv", "--key", key],
        ["crypt", "create", "v", "--size", "4Q", "--cipher", "aes-xts-plain64", "--key", key],
        ["crypt", "create", "v", "--size", "4K", "--cipher", "aes-xts-plain64", "--key", "xyz"],
        ["crypt", "create", "v", "--size", "4K", "--cipher", "aes-xts-plain64", "--key", key, "--key-file", "/k"],
        ["crypt", "open", "vol", "--key", key, "--key-file", "/k"],
        ["crypt", "write", "vol", "0", "not-hex"], ["crypt", "write", "vol", "zero", "00"],
        ["crypt", "write", "vol", "0", ""], ["crypt", "read", "vol", "0", "0"], ["crypt", "read", "vol", "0", "17M"],
        ["crypt", "read", "vol", "-1", "4"], ["crypt", "status", "vol", "--pid", "0"],
        ["hw", "disk", "swap", "0", "0"], ["hw", "disk", "swap", "0", "32M"], ["hw", "poke-disk", "swap", "0", "zz"],
    ])
    func badArgumentsAreUsageErrors(words: [String]) throws {
        let scratch = machineWithVolume()
        try scratch.expectFailure(words, code: "EINVAL", exit: 2)
    }

    // MARK: errno paths (nothing changes)

    @Test func refusalsAreErrnosAndChangeNothing() throws {
        let scratch = machineWithVolume()
        #expect(
            scratch.run("crypt", "create", "shut", "--size", "4K", "--cipher", "aes-xts-plain64", "--key", key).exitCode
                == 0
        )
        #expect(scratch.run("crypt", "close", "shut").exitCode == 0)
        let user = try #require(try scratch.json("proc", "spawn", "--uid", "1000")["pid"] as? Int)
        let create = ["crypt", "create", "new", "--size", "4K", "--cipher", "aes-xts-plain64"]
        let cases: [([String], String)] = [
            (create + ["--key", String(key.prefix(64))], "EINVAL"),
            (["crypt", "create", "new", "--size", "1000", "--cipher", "aes-xts-plain64", "--key", key], "EINVAL"),
            (["crypt", "create", "bad/name", "--size", "4K", "--cipher", "aes-xts-plain64", "--key", key], "EINVAL"),
            (["crypt", "create", "vol", "--size", "4K", "--cipher", "aes-xts-plain64", "--key", key], "EEXIST"),
            (["crypt", "create", "swap", "--size", "4K", "--cipher", "aes-xts-plain64", "--key", key], "EEXIST"),
            (create + ["--key", key, "--pid", "4242"], "ESRCH"),
            (create + ["--key", key, "--pid", "\(user)"], "EACCES"),
            (create + ["--key-file", scratch.directory.appendingPathComponent("missing").path], "ENOENT"),
            (["crypt", "create", "kl", "--size", "4K", "--cipher", "aes-xts-kl-plain64", "--key", key], "ENODEV"),
            (["crypt", "open", "none", "--key", key], "ENOENT"),
            (["crypt", "open", "shut", "--key", "0011"], "EINVAL"),
            (["crypt", "close", "shut"], "ENXIO"),
            (["crypt", "close", "none"], "ENOENT"),
            (["crypt", "read", "shut", "0", "1"], "ENXIO"),
            (["crypt", "write", "shut", "0", "00"], "ENXIO"),
            (["crypt", "read", "vol", "65535", "2"], "EINVAL"),
            (["crypt", "write", "vol", "65535", "0000"], "ENOSPC"),
            (["crypt", "status", "none"], "ENOENT"),
            (["crypt", "list", "--pid", "\(user)"], "EACCES"),
            (["hw", "disk", "nope", "0", "16"], "ENODEV"),
            (["hw", "disk", "vol", "69632", "1"], "EFAULT"),
            (["hw", "poke-disk", "vol", "69632", "00"], "EFAULT"),
        ]
        let disk = try scratch.json("hw", "disk", "vol", "0", "8K")["bytes"] as? String
        for (words, code) in cases {
            try scratch.expectFailure(words, code: code, exit: 1)
        }
        #expect(try scratch.json("hw", "disk", "vol", "0", "8K")["bytes"] as? String == disk)
        let names = try #require(try scratch.json("crypt", "list")["volumes"] as? [[String: Any]]).map {
            $0["name"] as? String
        }
        #expect(names == ["shut", "vol"])
    }

    // MARK: valid

    /// The swap device's name (`resume=`) is reserved even while no disk has it: a volume of that name
    /// would be overwritten by the next image. Without a swap disk there is no `resume=` and no reserved
    /// name. Without WIDE_KL there is no Key Locker cipher. A machine's disk limit is ENOSPC.
    @Test func reservedNamesMissingWideKLAndTheDiskLimit() throws {
        let scratch = Scratch()
        #expect(scratch.run("machine", "create", "--seed", "7", "--swap", "0", "--cmdline", "resume=hib").exitCode == 0)
        #expect(
            try scratch.error("crypt", "create", "hib", "--size", "64K", "--cipher", "aes-xts-plain64", "--key", key)
                .code == "EINVAL"
        )
        #expect(try scratch.error("power", "hibernate").code == "EOPNOTSUPP")
        #expect(
            scratch.run("dmesg").stdout.contains("PM: Cannot find swap device hib (resume=); hibernation unavailable")
        )

        let noSwap = Scratch()
        #expect(noSwap.run("machine", "create", "--seed", "7", "--swap", "0").exitCode == 0)
        #expect(try noSwap.json("sysfs", "read", "/proc/cmdline")["value"] as? String == "")
        let swapNamed = noSwap.run(
            "crypt",
            "create",
            "swap",
            "--size",
            "4K",
            "--cipher",
            "aes-xts-plain64",
            "--key",
            key
        )
        #expect(swapNamed.exitCode == 0, "\(swapNamed.stderr)")
        // A volume named `swap` is not a swap device: hibernation stays EOPNOTSUPP and leaves it alone.
        #expect(try noSwap.error("power", "hibernate").code == "EOPNOTSUPP")
        #expect(noSwap.run("power", "off").exitCode == 0 && noSwap.run("power", "on").exitCode == 0)
        #expect(try noSwap.json("crypt", "status", "swap")["cipher"] as? String == "aes-xts-plain64")

        let narrow = Scratch()
        #expect(narrow.run("machine", "create", "--seed", "7", "--no-wide-kl").exitCode == 0)
        #expect(narrow.run("sysfs", "write", "/sys/kernel/keylocker/mode", "native_kernel_key_backup").exitCode == 0)
        #expect(
            try narrow.error("crypt", "create", "kl", "--size", "64K", "--cipher", "aes-xts-kl-plain64", "--key", key)
                .code == "EOPNOTSUPP"
        )
        #expect((try narrow.json("crypt", "list")["volumes"] as? [Any])?.isEmpty == true)

        let many = Scratch()
        #expect(many.run("machine", "create", "--seed", "7", "--swap", "0").exitCode == 0)
        let script = (0..<65).map { "crypt create v\($0) --size 512 --cipher aes-xts-plain64 --key \(key)" }
        let path = many.write("many.hwk", script.joined(separator: "\n") + "\n")
        let result = many.run("run", path, "--quiet", "--format", "json")
        #expect(result.exitCode == 1)
        #expect(result.stderr.contains("ENOSPC"))
    }

    @Test func createStatusListWriteReadAndTheRawDisk() throws {
        let scratch = machineWithVolume()
        let status = try scratch.json("crypt", "status", "vol")
        #expect(status["cipher"] as? String == "aes-xts-plain64")
        #expect(status["size"] as? Int == 65536)
        #expect(status["sector_size"] as? Int == 512)
        #expect(status["disk"] as? String == "vol")
        #expect(status["payload_offset"] as? Int == 4096)
        #expect(status["open"] as? Bool == true)
        #expect(status["key_held"] as? Bool == true)
        #expect(status["handles_held"] as? Bool == false)
        #expect(!scratch.run("crypt", "status", "vol", "--format", "json").stdout.contains(String(key.prefix(32))))

        let written = try scratch.json("crypt", "write", "vol", "512", hexString("secret volume data"))
        #expect(written["written"] as? Int == 18)
        #expect(
            try scratch.json("crypt", "read", "vol", "512", "18")["bytes"] as? String == hexString("secret volume data")
        )
        let raw = try #require(try scratch.json("hw", "disk", "vol", "4608", "512")["bytes"] as? String)
        #expect(!raw.contains(hexString("secret")))
        let header = try #require(try scratch.json("hw", "disk", "vol", "0", "8")["bytes"] as? String)
        #expect(header == hexString("HWKCRYPT"))

        let disks = try #require(try scratch.json("hw", "disks")["disks"] as? [[String: Any]])
        #expect(disks.map { $0["name"] as? String } == ["swap", "vol"])
        #expect(disks.map { $0["size"] as? Int } == [64 << 20, 4096 + 65536])

        #expect(try scratch.json("crypt", "close", "vol")["key_held"] as? Bool == false)
        let list = try #require(try scratch.json("crypt", "list")["volumes"] as? [[String: Any]])
        #expect(list.count == 1 && list[0]["open"] as? Bool == false)
        let keyFile = scratch.directory.appendingPathComponent("key.bin").path
        _ = FileManager.default.createFile(atPath: keyFile, contents: Data((0..<64).map { UInt8($0) }))
        #expect(try scratch.json("crypt", "open", "vol", "--key-file", keyFile)["open"] as? Bool == true)
        #expect(
            try scratch.json("crypt", "read", "vol", "512", "18")["bytes"] as? String == hexString("secret volume data")
        )
    }

    /// Through the CLI, the disk shows exactly Python `cryptography`'s AES-XTS with plain64 tweaks.
    @Test(arguments: ["aes-xts-plain64", "aes-xts-kl-plain64"])
    func diskBytesMatchTheFixtures(cipher: String) throws {
        let scratch = Scratch()
        scratch.run("machine", "create", "--seed", "3")
        #expect(scratch.run("sysfs", "write", "/sys/kernel/keylocker/mode", "native_kernel_key_backup").exitCode == 0)
        for (index, fixture) in try Fixtures.load().sectors.enumerated() {
            guard let first = UInt64(fixture.first_sector), first < 4096 else { continue }
            let name = "f\(index)"
            #expect(
                scratch.run("crypt", "create", name, "--size", "2M", "--cipher", cipher, "--key", fixture.key).exitCode
                    == 0
            )
            #expect(scratch.run("crypt", "write", name, "\(first * 512)", fixture.plaintext).exitCode == 0)
            let length = fixture.plaintext.count / 2
            let raw = try scratch.json("hw", "disk", name, "\(4096 + first * 512)", "\(length)")
            #expect(raw["bytes"] as? String == fixture.ciphertext, "\(fixture.name)")
            #expect(
                try scratch.json("crypt", "read", name, "\(first * 512)", "\(length)")["bytes"] as? String
                    == fixture.plaintext
            )
        }
    }

    @Test func disksAndVolumeMetadataSurvivePowerOffButTheKeyDoesNot() throws {
        let scratch = machineWithVolume()
        scratch.run("crypt", "write", "vol", "0", hexString("persistent"))
        let raw = try scratch.json("hw", "disk", "vol", "0", "8K")["bytes"] as? String
        #expect(scratch.run("power", "off").exitCode == 0)
        #expect(try scratch.json("hw", "disk", "vol", "0", "8K")["bytes"] as? String == raw)
        #expect(scratch.run("power", "on").exitCode == 0)
        #expect(try scratch.json("hw", "disk", "vol", "0", "8K")["bytes"] as? String == raw)
        let status = try scratch.json("crypt", "status", "vol")
        #expect(status["open"] as? Bool == false && status["key_held"] as? Bool == false)
        try scratch.expectFailure(["crypt", "read", "vol", "0", "10"], code: "ENXIO", exit: 1)
        scratch.run("crypt", "open", "vol", "--key", key)
        #expect(try scratch.json("crypt", "read", "vol", "0", "10")["bytes"] as? String == hexString("persistent"))
    }

    @Test func pokeDiskTampersWithCiphertext() throws {
        let scratch = machineWithVolume()
        scratch.run("crypt", "write", "vol", "0", hexString("integrity?"))
        #expect(try scratch.json("hw", "poke-disk", "vol", "4096", "ff")["written"] as? Int == 1)
        // XTS has no integrity: the sector decrypts to garbage, without an error.
        let read = try #require(try scratch.json("crypt", "read", "vol", "0", "10")["bytes"] as? String)
        #expect(read != hexString("integrity?"))
    }
}

/// The Key Locker cipher with the kernel's Key Locker manager (docs/contract.md §7): what survives which mode.
@Suite struct CryptKeyLockerCommandTests {
    static let mode = "/sys/kernel/keylocker/mode"

    @Test func klVolumeMatchesPlainAndSurvivesS3AndS4InBackupMode() throws {
        let scratch = Scratch()
        scratch.run("machine", "create", "--seed", "9")
        // Key Locker not initialized (admin policy): ENODEV, nothing created.
        let kl = ["crypt", "create", "kl", "--size", "16K", "--cipher", "aes-xts-kl-plain64", "--key", key]
        try scratch.expectFailure(kl, code: "ENODEV", exit: 1)
        #expect(scratch.run("sysfs", "write", Self.mode, "native_kernel_key_backup").exitCode == 0)
        #expect(scratch.run(kl).exitCode == 0)
        scratch.run("crypt", "create", "plain", "--size", "16K", "--cipher", "aes-xts-plain64", "--key", key)
        let status = try scratch.json("crypt", "status", "kl")
        #expect(status["handles_held"] as? Bool == true && status["key_held"] as? Bool == false)
        for (offset, data) in [("0", "0011223344"), ("700", String(repeating: "ab", count: 3000))] {
            scratch.run("crypt", "write", "kl", offset, data)
            scratch.run("crypt", "write", "plain", offset, data)
        }
        let klDisk = try scratch.json("hw", "disk", "kl", "4096", "16K")["bytes"] as? String
        #expect(klDisk == (try scratch.json("hw", "disk", "plain", "4096", "16K")["bytes"] as? String))
        // The mode cannot change while the volume holds handles.
        try scratch.expectFailure(["sysfs", "write", Self.mode, "native_random_key"], code: "EBUSY", exit: 1)

        let expected = try scratch.json("crypt", "read", "kl", "0", "16K")["bytes"] as? String
        for (sleep, wake) in [("suspend", "resume"), ("hibernate", "resume"), ("hibernate", "on")] {
            #expect(scratch.run("power", sleep).exitCode == 0)
            #expect(scratch.run("power", wake).exitCode == 0)
            #expect(try scratch.json("crypt", "read", "kl", "0", "16K")["bytes"] as? String == expected, "\(sleep)")
        }
        // S5: the volume is found again, closed; a new mode and the key recover it.
        scratch.run("power", "off")
        scratch.run("power", "on")
        #expect(try scratch.json("crypt", "status", "kl")["open"] as? Bool == false)
        try scratch.expectFailure(["crypt", "open", "kl", "--key", key], code: "ENODEV", exit: 1)
        scratch.run("sysfs", "write", Self.mode, "native_random_key")
        scratch.run("crypt", "open", "kl", "--key", key)
        #expect(try scratch.json("crypt", "read", "kl", "0", "16K")["bytes"] as? String == expected)
        scratch.run("crypt", "close", "kl")
        #expect(scratch.run("sysfs", "write", Self.mode, "native_kernel_key_remember").exitCode == 0)
    }

    @Test func norestoreLosesTheHandlesAtS3UntilReboot() throws {
        let scratch = Scratch()
        scratch.run("machine", "create", "--seed", "10")
        scratch.run("sysfs", "write", Self.mode, "native_kernel_key_norestore")
        scratch.run("crypt", "create", "kl", "--size", "4K", "--cipher", "aes-xts-kl-plain64", "--key", key)
        scratch.run("crypt", "write", "kl", "0", hexString("gone at S3"))
        scratch.run("power", "suspend")
        scratch.run("power", "resume")
        #expect(try scratch.json("sysfs", "read", "/sys/kernel/keylocker/status")["value"] as? String == "invalid")
        try scratch.expectFailure(["crypt", "read", "kl", "0", "10"], code: "ENODEV", exit: 1)
        try scratch.expectFailure(["crypt", "write", "kl", "0", "00"], code: "ENODEV", exit: 1)
        try scratch.expectFailure(["crypt", "open", "kl", "--key", key], code: "ENODEV", exit: 1)
        scratch.run("power", "reset")
        scratch.run("sysfs", "write", Self.mode, "native_kernel_key_remember")
        scratch.run("crypt", "open", "kl", "--key", key)
        #expect(try scratch.json("crypt", "read", "kl", "0", "10")["bytes"] as? String == hexString("gone at S3"))
    }
}

/// `machine create --swap` and hibernation through the CLI (docs/hibernation.md).
@Suite struct HibernationCommandTests {
    @Test func swapDefaultsToTheDRAMSizeAndCanBeSizedOrLeftOut() throws {
        let scratch = Scratch()
        scratch.run("machine", "create", "--memory", "32M")
        #expect(try scratch.json("machine", "show")["disks"] as? [[String: Any]] != nil)
        #expect((try scratch.json("hw", "disks")["disks"] as? [[String: Any]])?.first?["size"] as? Int == 32 << 20)
        scratch.run("machine", "create", "--force", "--swap", "1M")
        #expect((try scratch.json("hw", "disks")["disks"] as? [[String: Any]])?.first?["size"] as? Int == 1 << 20)
        scratch.run("machine", "create", "--force", "--swap", "0")
        #expect((try scratch.json("hw", "disks")["disks"] as? [[String: Any]])?.isEmpty == true)
        try scratch.expectFailure(["power", "hibernate"], code: "EOPNOTSUPP", exit: 1)
        let bad = scratch.run("machine", "create", "--force", "--swap", "1000", "--format", "json")
        #expect(bad.exitCode == 2 && bad.stderr.contains("EINVAL"))
    }

    @Test(arguments: [["power", "resume"], ["power", "on"], ["power", "off", "power", "on"]])
    func hibernateThenWakeResumesTheKernelWithItsMemory(wake: [String]) throws {
        let scratch = machineWithVolume()
        let serial = try #require(Int(scratch.run("keyctl", "add", "user", "k", "swap-finding-payload", "@u").stdout))
        scratch.run("crypt", "write", "vol", "0", hexString("before S4"))
        #expect(scratch.run("power", "hibernate").exitCode == 0)
        #expect(try scratch.json("machine", "show")["power_state"] as? String == "hibernated")
        // The swap disk holds the image in plaintext: the user key's payload and the volume key.
        let swap = try #require(try scratch.json("hw", "disk", "swap", "0", "1M")["bytes"] as? String)
        #expect(swap.hasPrefix(hexString("HWKEYS-S1SUSPEND")))
        #expect(swap.contains(hexString("swap-finding-payload")))
        #expect(swap.contains(key))
        var words = wake
        while !words.isEmpty {
            #expect(scratch.run(Array(words.prefix(2))).exitCode == 0)
            words.removeFirst(2)
        }
        #expect(scratch.run("keyctl", "print", "\(serial)").stdout == "swap-finding-payload")
        #expect(try scratch.json("crypt", "read", "vol", "0", "9")["bytes"] as? String == hexString("before S4"))
        let dmesg = scratch.run("dmesg").stdout
        #expect(dmesg.contains("PM: resume from S4"))
        #expect(dmesg.contains("Creating hibernation image"))
        // The image is invalidated; the next power cycle boots fresh.
        scratch.run("power", "off")
        scratch.run("power", "on")
        try scratch.expectFailure(["keyctl", "print", "\(serial)"], code: "ENOKEY", exit: 1)
    }

    @Test func processMemorySurvivesS4AndLiesInTheClearOnSwap() throws {
        let scratch = Scratch()
        scratch.run("machine", "create", "--seed", "4")
        let pid = try #require(try scratch.json("proc", "spawn", "--uid", "1000")["pid"] as? Int)
        let addr = try #require(try scratch.json("proc", "mmap", "\(pid)", "8192", "--prot", "rw")["addr"] as? String)
        #expect(scratch.run("proc", "write", "\(pid)", addr, "--text", "process secret across S4").exitCode == 0)
        #expect(scratch.run("power", "hibernate").exitCode == 0)
        let swap = try #require(try scratch.json("hw", "disk", "swap", "0", "1M")["bytes"] as? String)
        #expect(swap.contains(hexString("process secret across S4")))
        #expect(scratch.run("power", "resume").exitCode == 0)
        let read = try scratch.json("proc", "read", "\(pid)", addr, "24")
        #expect(read["bytes"] as? String == hexString("process secret across S4"))
    }

    /// MKTME protects DRAM, not the image: memory under a `cpu` key's KeyID goes to swap in the clear and
    /// comes back through the reprogrammed KeyID (kernel memory first, then the mktme type, then the page).
    @Test func mktmeEncryptedMemorySurvivesS4InTheClearOnSwap() throws {
        let scratch = Scratch()
        scratch.run("machine", "create", "--seed", "4")
        let pid = try #require(try scratch.json("proc", "spawn", "--uid", "1000")["pid"] as? Int)
        #expect(scratch.run("keyctl", "add", "mktme", "tenant", "type=cpu", "@u", "--pid", "\(pid)").exitCode == 0)
        let addr = try #require(try scratch.json("proc", "mmap", "\(pid)", "8192", "--prot", "rw")["addr"] as? String)
        #expect(scratch.run("proc", "encrypt-mprotect", "\(pid)", addr, "8192", "rw", "%mktme:tenant").exitCode == 0)
        #expect(scratch.run("proc", "write", "\(pid)", addr, "--text", "tenant secret under KeyID").exitCode == 0)
        let translated = try scratch.json("proc", "translate", "\(pid)", addr)
        #expect((translated["keyid"] as? Int ?? 0) > 0)
        #expect(scratch.run("power", "hibernate").exitCode == 0)
        let swap = try #require(try scratch.json("hw", "disk", "swap", "0", "1M")["bytes"] as? String)
        #expect(swap.contains(hexString("tenant secret under KeyID")))
        #expect(scratch.run("power", "resume").exitCode == 0)
        let read = try scratch.json("proc", "read", "\(pid)", addr, "25")
        #expect(read["bytes"] as? String == hexString("tenant secret under KeyID"))
        let dmesg = scratch.run("dmesg").stdout
        let order = ["Restored kernel memory", "programmed again after S4", "Image restored"].compactMap {
            dmesg.range(of: $0)?.lowerBound
        }
        #expect(order.count == 3 && order == order.sorted())
    }

    /// A state file written before `resume=` existed: its configuration has no `resume=` (stored ones never
    /// do; the bootloader adds it) and its saved kernel is image version 1. The kernel keeps its command
    /// line and its swap disk; hibernation round-trips.
    @Test func aStateFileFromBeforeResumeKeepsHibernating() throws {
        let scratch = Scratch()
        #expect(scratch.run("machine", "create", "--seed", "4", "--cmdline", "quiet").exitCode == 0)
        let serial = try #require(Int(scratch.run("keyctl", "add", "user", "k", "old-state-payload", "@u").stdout))
        // Rewrite the saved kernel the way the old hwkeys saved it: version 1, no `resume=`, no device.
        let store = try StateStore.open(atPath: scratch.statePath, createIfMissing: false)
        let record = try store.loadMachine(named: "default")
        let stored = String(decoding: try #require(record.components["kernel"]), as: UTF8.self)
        #expect(stored.contains("\"commandLine\":\"quiet resume=swap\"") && stored.hasSuffix(",\"version\":2}"))
        let old =
            stored.dropLast(",\"version\":2}".count)
            .replacingOccurrences(of: "\"commandLine\":\"quiet resume=swap\"", with: "\"commandLine\":\"quiet\"")
            .replacingOccurrences(of: "\"resumeDevice\":\"swap\",", with: "") + ",\"version\":1}"
        var update = MachineUpdate.modify("default", expecting: record.revision)
        update.setComponent("kernel", to: Data(old.utf8))
        _ = try store.commit(update)

        #expect(try scratch.json("sysfs", "read", "/proc/cmdline")["value"] as? String == "quiet")
        #expect(scratch.run("power", "hibernate").exitCode == 0)
        let swap = try #require(try scratch.json("hw", "disk", "swap", "0", "4K")["bytes"] as? String)
        #expect(swap.hasPrefix(hexString("HWKEYS-S1SUSPEND")))
        #expect(scratch.run("power", "on").exitCode == 0)
        #expect(scratch.run("keyctl", "print", "\(serial)").stdout == "old-state-payload")
        #expect(scratch.run("dmesg").stdout.contains("PM: resume from S4"))
        #expect(try scratch.json("sysfs", "read", "/proc/cmdline")["value"] as? String == "quiet")
    }

    @Test func aDamagedImageFallsBackToAFreshBoot() throws {
        let scratch = machineWithVolume()
        scratch.run("power", "hibernate")
        // Corrupt the kernel state in block 1 of the image.
        #expect(scratch.run("hw", "poke-disk", "swap", "4096", "00").exitCode == 0)
        #expect(scratch.run("power", "resume").exitCode == 0)
        #expect(scratch.run("dmesg").stdout.contains("Failed to load the hibernation image"))
        #expect(try scratch.json("crypt", "status", "vol")["open"] as? Bool == false)
    }
}

/// `crypt create --sector-size 512|4096` (cryptsetup's option): bad values, and a 4 KiB-sector volume whose
/// disk bytes are the Python `cryptography` fixtures (Tests/KernelTests/Fixtures/crypt/xts-plain64-4k.json).
@Suite struct CryptSectorSizeCommandTests {
    @Test(arguments: [["--sector-size", "1024"], ["--sector-size", "4k"], ["--sector-size", "0"], ["--sector-size"]])
    func badSectorSizesAreUsageErrors(arguments: [String]) throws {
        let scratch = machineWithVolume()
        try scratch.expectFailure(
            ["crypt", "create", "v", "--size", "64K", "--cipher", "aes-xts-plain64", "--key", key] + arguments,
            code: "EINVAL",
            exit: 2
        )
    }

    @Test func aSizeThatIsNotWhole4KSectorsIsEINVAL() throws {
        let scratch = machineWithVolume()
        try scratch.expectFailure(
            [
                "crypt", "create", "v", "--size", "6K", "--cipher", "aes-xts-plain64", "--sector-size", "4096", "--key",
                key,
            ],
            code: "EINVAL",
            exit: 1
        )
        #expect(try scratch.error("crypt", "status", "v").code == "ENOENT")
    }

    @Test(arguments: ["aes-xts-plain64", "aes-xts-kl-plain64"])
    func a4KSectorVolumeWritesThePythonCryptographyBytes(cipher: String) throws {
        let scratch = Scratch()
        #expect(scratch.run("machine", "create", "--seed", "7").exitCode == 0)
        #expect(scratch.run("sysfs", "write", "/sys/kernel/keylocker/mode", "native_kernel_key_backup").exitCode == 0)
        let fixture = try #require(
            try Fixtures.load("xts-plain64-4k.json").sectors.first { $0.name == "4k-counting-key-sectors-1-2" }
        )
        #expect(fixture.key == key)
        let created = try scratch.json(
            "crypt",
            "create",
            "big",
            "--size",
            "64K",
            "--cipher",
            cipher,
            "--sector-size",
            "4096",
            "--key",
            key
        )
        #expect(created["sector_size"] as? Int == 4096)
        #expect(created["size"] as? Int == 65536)
        let text = scratch.run("crypt", "status", "big").stdout
        #expect(text.contains("(AES-256-XTS, 4096-byte sectors)") && text.contains("(16 sectors)"))
        #expect(try scratch.json("crypt", "write", "big", "4096", fixture.plaintext)["written"] as? Int == 8192)
        #expect(try scratch.json("hw", "disk", "big", "8192", "8K")["bytes"] as? String == fixture.ciphertext)
        #expect(try scratch.json("crypt", "read", "big", "4096", "8K")["bytes"] as? String == fixture.plaintext)
        // Reads and writes at any offset: read-modify-write of the 4 KiB sectors they touch.
        #expect(scratch.run("crypt", "write", "big", "8190", hexString("across")).exitCode == 0)
        #expect(try scratch.json("crypt", "read", "big", "8190", "6")["bytes"] as? String == hexString("across"))
    }
}

/// `hwkeys benchmark --only crypt`: shapes only, never numbers (host wall time).
@Suite struct CryptBenchmarkTests {
    @Test func cryptGroupReportsBothSectorSizesBesideOpenSSL() throws {
        let result = HWKeysCLI.run(["benchmark", "--only", "crypt", "--seconds", "0.01", "--format", "json"])
        #expect(result.exitCode == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let rows = try #require(object["results"] as? [[String: Any]])
        #expect(
            rows.compactMap { $0["name"] as? String }
                == [
                    "crypt-write-plain", "crypt-read-plain", "crypt-write-kl", "crypt-read-kl",
                    "crypt-write-plain-4k", "crypt-read-plain-4k", "crypt-write-kl-4k", "crypt-read-kl-4k",
                ]
        )
        #expect(rows.map { $0["sector_size"] as? Int } == [512, 512, 512, 512, 4096, 4096, 4096, 4096])
        for row in rows {
            #expect(row.keys.contains("openssl_gbps") && row.keys.contains("ratio"))
            // Every row ran on this machine (it has Key Locker): a throughput, never an "unavailable".
            #expect(row["unavailable"] is NSNull)
            let gbps = try #require(row["gbps"] as? Double)
            #expect(gbps > 0)
            if object["openssl"] is String { #expect((row["openssl_gbps"] as? Double ?? 0) > 0) }
        }
        // Only the 512-byte rows carry OpenSSL's 4 KiB-unit yardstick (for 4 KiB sectors it is the reference).
        if object["openssl"] is String {
            #expect(
                rows.map { $0["openssl_4k_unit_gbps"] != nil } == [true, true, true, true, false, false, false, false]
            )
        }
    }
}
