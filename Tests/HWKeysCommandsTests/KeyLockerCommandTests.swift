//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommandsTests
//
//===----------------------------------------------------------------------===//

import Foundation
import HWKeysStore
import Platform
import Testing
import Workspace

@testable import HWKeysCommands

/// Known answers from Tests/TestSupport/Fixtures/keylocker/vectors.json (Python `cryptography`, see its
/// SOURCE.md): IWKey "a", and the cases a-128-0 and a-256-0.
enum KLVector {
    static let enc = "31bd6774440d061e33ee6be4ba4219f2c5f54d75590a50751dae85d31dd2be4e"
    static let int = "85950c8ee369a073ca5da94783f966a3"
    static let key128 = "0f0d93acbf22bc898cc93a3e9df2e9ca"
    static let handle128 =
        "00000000000000000000000000000000004a88f27080d59e7a3482b0f4cd37b58b22f7080ff2338ebc2fcdcbfebb302a"
    static let blocks128 =
        "de46c7d67a8827d1cbffb7436074f13200f5709675033e71855278d8324d3d44f93d0a881de9c454b76c689a501bccec"
        + "d73994342231a4a406d650f4a13c9394cc2cbc6e9ae19a1ad2e49d656f1fa1116e4d39f4cdb95b6d303780eb2654fdc7"
        + "3e1af46c5aae742a5cb4e8f30183944d3fa65eec28a7d3b5e92b5f52b61154a1"
    static let encrypted128 =
        "f24380cfb6c01d33da561a1e2451a8f688dfeb78a6738ded37808dbdd5bae4a5ddb96530f4d81d53ca35e477eaa00923"
        + "2be21eab94d87fd7bdba34d249dab1e600bd55302acac7311817299a7ea9b32a7209c30287d6544eae51fe45034ca669"
        + "2dddff41e4a72083fb0c91f5808f9559b312129341e685a28c00cfb188e4d6dd"
    static let decrypted128 =
        "8e113883c115b67753b8683a02f4cd52b34953f126d62d4c5ddf56080f4f1bdbeae69dc51acdf06bcf84b5e234460702"
        + "4fdfc4b9734f57c1d53a8c2608ea44606bcf71aef2caa4e5af707deb0a4d386f97a738a333896280f0f89cc3bd22a12d"
        + "c0268e5982827bde05c68d17837746228340549febf6d8cbda84de4298601423"
    static let key256 = "5f921899e06d9d4764698f2355ad42e6916ff70d443f3d833d84ed37c0fd4562"
    static let handle256 =
        "000000010000000000000000000000006bd34ab6f5bcec9ce122a0bf4482972e124718b9bff2effad739549d48c38e"
        + "3b520a6337353c2bf254bb076af716f9c5"
    static let blocks256 =
        "74284aa8c3bdc1a7f3d41ca6795cb86ba0e75b072378663fe7695278d9dfb524d15453e8a143c998d008bfa2112dd526"
        + "a11e4115ad96fbafa40f36671e11a764bab3f9bbdc555f7e4b383658981e80460e663adf219242e799a78733b6ba2789"
        + "b3695a6d452d7bccdf25c579465e202cdd1e1ca752a98925e07123913c55248a"
    static let encrypted256 =
        "90dd3557120a92aea6bd15ead4c5d6de5f460d0905b0aa06afa46999d7a58b5e836e2d9b9c6fe385ca3becb8eb54bec2"
        + "109ea2f21f7ff55798c2052424b05ec8f4ec615af1d484b0c641653af67231dc4bd352a92271f14f5dee1508ea560814"
        + "4db57c32acfc2fbc2793bfdae70878211272826782367a2c7c8bd888484f509e"
    static let decrypted256 =
        "6fd18bdd681ca1d2989f677fb68d707cb374adeeb79bb1e2e601bb282efd3aa23f7ef989dae728718e0d5c8fd21115c2"
        + "700b18bce77d96bc6841d8dfabac0e2328afc2ebd5448282f15408c46d92cbc743f77c43e09f73315b17d61dec3e9d98"
        + "33578647926bc16133df5b7937db387aa4b14cfef3d4fe15a4d34883f7243654"
}

extension Scratch {
    /// A seeded machine with CR4.KL set on every CPU (`extra` are `machine create` options).
    func keyLockerMachine(_ extra: String...) {
        let created = run(["machine", "create", "--seed", "1", "--no-kernel"] + extra)
        #expect(created.exitCode == 0, "\(created.stderr)")
        for cpu in ["0", "1"] { run("hw", "wrcr4", "0x80000", "--cpu", cpu) }
    }

    /// Loads IWKey "a" on `cpu`.
    func loadVectorIWKey(cpu: String = "0") {
        let result = run("hw", "loadiwkey", "--enc", KLVector.enc, "--int", KLVector.int, "--cpu", cpu)
        #expect(result.exitCode == 0, "\(result.stderr)")
    }

    /// The stored machine state (both platform components and the revision-independent bytes).
    func storedState() throws -> [String: Data] {
        try StateStore.open(atPath: statePath, createIfMissing: false).loadMachine(named: "default").components
    }

    /// Runs `words`, expects failure with `code` and `exit`, and checks that nothing in the state file changed.
    func expectFailure(
        _ words: [String],
        code: String,
        exit: Int32,
        sourceLocation: SourceLocation = #_sourceLocation
    )
        throws
    {
        let before = try storedState()
        let result = run(words + ["--format", "json"])
        #expect(result.exitCode == exit, "\(words): \(result.stderr)", sourceLocation: sourceLocation)
        #expect(
            result.stderr.contains("\"error\":\"\(code)\""),
            "\(words): \(result.stderr)",
            sourceLocation: sourceLocation
        )
        #expect(result.stdout.isEmpty, sourceLocation: sourceLocation)
        #expect(try storedState() == before, "\(words) changed the state", sourceLocation: sourceLocation)
    }

    /// The XMM registers of `cpu` as stored in the state file.
    func storedXMM(cpu: Int) throws -> [UInt8] {
        let record = try StateStore.open(atPath: statePath, createIfMissing: false).loadMachine(named: "default")
        let configuration = try JSONDecoder().decode(MachineConfiguration.self, from: record.configuration)
        let image = PlatformImage(
            volatile: Array(try #require(record.components["platform.volatile"])),
            nonVolatile: Array(try #require(record.components["platform.nonvolatile"]))
        )
        let machine = try Machine.restore(configuration: configuration, image: image, pageSource: nil)
        return withExtendedLifetime(machine) { machine.processors[cpu].withXMMRegisters { Array($0) } }
    }
}

@Suite struct CR4CommandTests {
    @Test func rdcr4AndWrcr4ShowAndSetCR4KLPerCPU() throws {
        let scratch = Scratch()
        scratch.run("machine", "create", "--seed", "1")
        #expect(try scratch.json("hw", "rdcr4")["value"] as? String == "0x0")
        #expect(try scratch.json("hw", "wrcr4", "0x80000")["value"] as? String == "0x80000")
        #expect(try scratch.json("hw", "rdcr4")["value"] as? String == "0x80000")
        #expect(try scratch.json("hw", "rdcr4", "--cpu", "1")["value"] as? String == "0x0")
        #expect(scratch.run("hw", "rdcr4").stdout == "CR4 = 0x80000 (KL=1)")
        // AESKLE follows CR4.KL.
        #expect(try scratch.json("hw", "cpuid", "0x19")["ebx"] as? String == "0x15")
        #expect(try scratch.json("hw", "cpuid", "0x19", "--cpu", "1")["ebx"] as? String == "0x14")
    }

    @Test func cr4ErrorsHaveTheirCodesAndChangeNothing() throws {
        let scratch = Scratch()
        scratch.run("machine", "create", "--seed", "1", "--no-keylocker")
        try scratch.expectFailure(["hw", "wrcr4"], code: "EINVAL", exit: 2)
        try scratch.expectFailure(["hw", "wrcr4", "banana"], code: "EINVAL", exit: 2)
        try scratch.expectFailure(["hw", "wrcr4", "0x80000"], code: "#GP(0)", exit: 1)
        try scratch.expectFailure(["hw", "wrcr4", "0x100000"], code: "#GP(0)", exit: 1)
        try scratch.expectFailure(["hw", "rdcr4", "--cpl", "3"], code: "#GP(0)", exit: 1)
        try scratch.expectFailure(["hw", "wrcr4", "0", "--cpl", "3"], code: "#GP(0)", exit: 1)
        try scratch.expectFailure(["hw", "rdcr4", "--cpu", "2"], code: "EINVAL", exit: 2)
        try scratch.expectFailure(["hw", "rdcr4", "--cpl", "1"], code: "EINVAL", exit: 2)
        #expect(try scratch.json("hw", "cpuid", "0x19")["ebx"] as? String == "0x0")
    }
}

@Suite struct LoadIWKeyCommandTests {
    @Test func validLoadGivesZFZeroAndZeroesTheRegistersItUsed() throws {
        let scratch = Scratch()
        scratch.keyLockerMachine()
        let result = try scratch.json("hw", "loadiwkey", "--enc", KLVector.enc, "--int", KLVector.int)
        #expect(result.count == 1)
        #expect(result["zf"] as? Int == 0)
        #expect(try scratch.storedXMM(cpu: 0)[0..<48].allSatisfy { $0 == 0 })
        #expect(scratch.run("hw", "loadiwkey", "--enc", KLVector.enc, "--int", KLVector.int).stdout == "zf=0")
        // KeySource 1 and NoBackup show in ENCODEKEY's EAX.
        #expect(
            try scratch.json(
                "hw",
                "loadiwkey",
                "--enc",
                KLVector.enc,
                "--int",
                KLVector.int,
                "--key-source",
                "1",
                "--no-backup"
            )["zf"] as? Int == 0
        )
        #expect(try scratch.json("hw", "encodekey128", "--key", KLVector.key128)["eax"] as? String == "0x3")
        #expect(
            try scratch.json("hw", "loadiwkey", "--enc", KLVector.enc, "--int", KLVector.int, "--eax", "2")["zf"]
                as? Int == 0
        )
        #expect(try scratch.json("hw", "encodekey128", "--key", KLVector.key128)["eax"] as? String == "0x2")
    }

    @Test func anRNGFailureGivesZFOneAndKeepsTheIWKey() throws {
        let scratch = Scratch()
        scratch.keyLockerMachine()
        scratch.loadVectorIWKey()
        scratch.run("hw", "inject", "rdseed-fail", "1")
        #expect(
            try scratch.json("hw", "loadiwkey", "--enc", KLVector.enc, "--int", KLVector.int, "--key-source", "1")["zf"]
                as? Int == 1
        )
        #expect(
            try scratch.json("hw", "encodekey128", "--key", KLVector.key128)["handle"] as? String == KLVector.handle128
        )
        #expect(
            try scratch.json("hw", "loadiwkey", "--enc", KLVector.enc, "--int", KLVector.int, "--key-source", "1")["zf"]
                as? Int == 0
        )
        #expect(
            try scratch.json("hw", "encodekey128", "--key", KLVector.key128)["handle"] as? String != KLVector.handle128
        )
    }

    static let usageErrors: [[String]] = [
        ["hw", "loadiwkey"],
        ["hw", "loadiwkey", "--enc", KLVector.enc],
        ["hw", "loadiwkey", "--int", KLVector.int],
        ["hw", "loadiwkey", "--enc", "00", "--int", KLVector.int],
        ["hw", "loadiwkey", "--enc", KLVector.enc, "--int", KLVector.enc],
        ["hw", "loadiwkey", "--enc", "xyz", "--int", KLVector.int],
        ["hw", "loadiwkey", "--enc", KLVector.enc, "--int", KLVector.int, "--key-source", "16"],
        ["hw", "loadiwkey", "--enc", KLVector.enc, "--int", KLVector.int, "--eax", "0", "--no-backup"],
        ["hw", "loadiwkey", "--enc", KLVector.enc, "--int", KLVector.int, "--eax", "0", "--key-source", "0"],
        ["hw", "loadiwkey", "--enc", KLVector.enc, "--int", KLVector.int, "--eax", "0x100000000"],
    ]

    @Test(arguments: usageErrors)
    func badArgumentsAreUsageErrorsAndChangeNothing(words: [String]) throws {
        let scratch = Scratch()
        scratch.keyLockerMachine()
        try scratch.expectFailure(words, code: "EINVAL", exit: 2)
    }

    @Test func faultsHaveTheirCodesAndChangeNothing() throws {
        let scratch = Scratch()
        scratch.keyLockerMachine("--no-kl-random", "--no-kl-nobackup")
        scratch.loadVectorIWKey()
        let load = ["hw", "loadiwkey", "--enc", KLVector.enc, "--int", KLVector.int]
        try scratch.expectFailure(load + ["--cpl", "3"], code: "#GP(0)", exit: 1)
        try scratch.expectFailure(load + ["--key-source", "2"], code: "#GP(0)", exit: 1)
        try scratch.expectFailure(load + ["--eax", "0x20"], code: "#GP(0)", exit: 1)
        try scratch.expectFailure(load + ["--key-source", "1"], code: "#GP(0)", exit: 1)
        try scratch.expectFailure(load + ["--no-backup"], code: "#GP(0)", exit: 1)
        scratch.run("hw", "wrcr4", "0")
        try scratch.expectFailure(load, code: "#UD", exit: 1)
        let absent = Scratch()
        absent.run("machine", "create", "--seed", "1", "--no-keylocker")
        try absent.expectFailure(load, code: "#UD", exit: 1)
        scratch.run("power", "suspend")
        try scratch.expectFailure(load, code: "EHOSTDOWN", exit: 1)
    }
}

@Suite struct EncodeKeyCommandTests {
    @Test func encodekeyGivesTheFixtureHandlesAndEAX() throws {
        let scratch = Scratch()
        scratch.keyLockerMachine()
        scratch.loadVectorIWKey()
        let h128 = try scratch.json("hw", "encodekey128", "--key", KLVector.key128)
        #expect(h128.count == 2)
        #expect(h128["eax"] as? String == "0x0")
        #expect(h128["handle"] as? String == KLVector.handle128)
        let h256 = try scratch.json("hw", "encodekey256", "--key", KLVector.key256)
        #expect(h256["handle"] as? String == KLVector.handle256)
        // Restrictions, by name or raw; ENCODEKEY runs at any CPL.
        let restricted = try scratch.json(
            "hw",
            "encodekey256",
            "--key",
            KLVector.key256,
            "--restrict",
            "cpl0,no-decrypt",
            "--cpl",
            "3"
        )
        #expect((restricted["handle"] as? String)?.hasPrefix("05000001") == true)
        let raw = try scratch.json("hw", "encodekey256", "--key", KLVector.key256, "--src", "5")
        #expect(raw["handle"] as? String == restricted["handle"] as? String)
        #expect(
            scratch.run("hw", "encodekey128", "--key", KLVector.key128).stdout == "eax=0x0 handle=\(KLVector.handle128)"
        )
        // The key the instruction consumed is gone from the registers: XMM0–2 hold the handle.
        scratch.run("hw", "encodekey128", "--key", KLVector.key128)
        #expect(hexString(try scratch.storedXMM(cpu: 0)[0..<48]) == KLVector.handle128)
    }

    static let usageErrors: [[String]] = [
        ["hw", "encodekey128"],
        ["hw", "encodekey256"],
        ["hw", "encodekey128", "--key", KLVector.key256],
        ["hw", "encodekey256", "--key", KLVector.key128],
        ["hw", "encodekey128", "--key", KLVector.key128, "--restrict", "cpl3"],
        ["hw", "encodekey128", "--key", KLVector.key128, "--restrict", "cpl0", "--src", "1"],
        ["hw", "encodekey128", "--key", KLVector.key128, "--src", "-1"],
    ]

    @Test(arguments: usageErrors)
    func badArgumentsAreUsageErrorsAndChangeNothing(words: [String]) throws {
        let scratch = Scratch()
        scratch.keyLockerMachine()
        try scratch.expectFailure(words, code: "EINVAL", exit: 2)
    }

    @Test func faultsHaveTheirCodesAndChangeNothing() throws {
        let scratch = Scratch()
        scratch.keyLockerMachine("--kl-restrictions", "cpl0")
        for verb in ["encodekey128", "encodekey256"] {
            let key = verb == "encodekey128" ? KLVector.key128 : KLVector.key256
            try scratch.expectFailure(["hw", verb, "--key", key, "--src", "8"], code: "#GP(0)", exit: 1)
            try scratch.expectFailure(["hw", verb, "--key", key, "--restrict", "no-encrypt"], code: "#GP(0)", exit: 1)
            try scratch.expectFailure(
                ["hw", verb, "--key", key, "--cpu", "1", "--src", "0x80000000"],
                code: "#GP(0)",
                exit: 1
            )
            #expect(scratch.run("hw", verb, "--key", key, "--restrict", "cpl0").exitCode == 0)
        }
        scratch.run("hw", "wrcr4", "0")
        try scratch.expectFailure(["hw", "encodekey128", "--key", KLVector.key128], code: "#UD", exit: 1)
    }
}

@Suite struct AESKLCommandTests {
    struct Verb: Sendable, CustomTestStringConvertible {
        let name: String
        let handle: String
        let input: String
        let output: String
        var testDescription: String { name }
    }

    static let single: [Verb] = [
        Verb(name: "aesenc128kl", handle: KLVector.handle128, input: KLVector.blocks128, output: KLVector.encrypted128),
        Verb(name: "aesdec128kl", handle: KLVector.handle128, input: KLVector.blocks128, output: KLVector.decrypted128),
        Verb(name: "aesenc256kl", handle: KLVector.handle256, input: KLVector.blocks256, output: KLVector.encrypted256),
        Verb(name: "aesdec256kl", handle: KLVector.handle256, input: KLVector.blocks256, output: KLVector.decrypted256),
    ]

    @Test(arguments: single)
    func singleBlockVerbs(verb: Verb) throws {
        let scratch = Scratch()
        scratch.keyLockerMachine()
        scratch.loadVectorIWKey()
        let block = String(verb.input.prefix(32))
        let result = try scratch.json("hw", verb.name, "--handle", verb.handle, "--block", block)
        #expect(result.count == 2)
        #expect(result["zf"] as? Int == 0)
        #expect(result["block"] as? String == String(verb.output.prefix(32)))
        // A tampered handle: ZF = 1, the block comes back unchanged (exit 0: status, not an error).
        var tampered = Array(verb.handle)
        tampered[70] = tampered[70] == "0" ? "1" : "0"
        let failed = try scratch.json("hw", verb.name, "--handle", String(tampered), "--block", block)
        #expect(failed["zf"] as? Int == 1)
        #expect(failed["block"] as? String == block)
        // IWKey "a" is only on CPU 0.
        #expect(
            try scratch.json("hw", verb.name, "--handle", verb.handle, "--block", block, "--cpu", "1")["zf"] as? Int
                == 1
        )
        // Usage and faults.
        try scratch.expectFailure(["hw", verb.name], code: "EINVAL", exit: 2)
        try scratch.expectFailure(["hw", verb.name, "--handle", verb.handle], code: "EINVAL", exit: 2)
        try scratch.expectFailure(
            ["hw", verb.name, "--handle", String(verb.handle.dropLast(2)), "--block", block],
            code: "EINVAL",
            exit: 2
        )
        try scratch.expectFailure(
            ["hw", verb.name, "--handle", verb.handle, "--block", block + "00"],
            code: "EINVAL",
            exit: 2
        )
        scratch.run("hw", "wrcr4", "0")
        try scratch.expectFailure(["hw", verb.name, "--handle", verb.handle, "--block", block], code: "#UD", exit: 1)
    }

    @Test(arguments: single)
    func wideVerbs(verb: Verb) throws {
        let name = verb.name.replacingOccurrences(of: "128kl", with: "wide128kl").replacingOccurrences(
            of: "256kl",
            with: "wide256kl"
        )
        let scratch = Scratch()
        scratch.keyLockerMachine()
        scratch.loadVectorIWKey()
        let result = try scratch.json("hw", name, "--handle", verb.handle, "--blocks", verb.input)
        #expect(result.count == 2)
        #expect(result["zf"] as? Int == 0)
        #expect(result["blocks"] as? String == verb.output)
        let other = try scratch.json("hw", name, "--handle", verb.handle, "--blocks", verb.input, "--cpu", "1")
        #expect(other["zf"] as? Int == 1)
        #expect(other["blocks"] as? String == verb.input)
        try scratch.expectFailure(["hw", name], code: "EINVAL", exit: 2)
        try scratch.expectFailure(
            ["hw", name, "--handle", verb.handle, "--blocks", String(verb.input.prefix(32))],
            code: "EINVAL",
            exit: 2
        )
        try scratch.expectFailure(
            ["hw", name, "--handle", verb.handle + "00", "--blocks", verb.input],
            code: "EINVAL",
            exit: 2
        )
        let noWide = Scratch()
        noWide.keyLockerMachine("--no-wide-kl")
        noWide.loadVectorIWKey()
        try noWide.expectFailure(["hw", name, "--handle", verb.handle, "--blocks", verb.input], code: "#UD", exit: 1)
    }

    @Test func aCPL0OnlyHandleFailsAtCPL3() throws {
        let scratch = Scratch()
        scratch.keyLockerMachine()
        scratch.loadVectorIWKey()
        let handle = try #require(
            try scratch.json("hw", "encodekey128", "--key", KLVector.key128, "--restrict", "cpl0")["handle"] as? String
        )
        let block = String(KLVector.blocks128.prefix(32))
        #expect(try scratch.json("hw", "aesenc128kl", "--handle", handle, "--block", block)["zf"] as? Int == 0)
        #expect(
            try scratch.json("hw", "aesenc128kl", "--handle", handle, "--block", block, "--cpl", "3")["zf"] as? Int == 1
        )
    }
}

@Suite struct KeyLockerBackupCommandTests {
    @Test func backupAndRestoreThroughTheMSRsAcrossPowerEvents() throws {
        let scratch = Scratch()
        scratch.keyLockerMachine()
        scratch.loadVectorIWKey()
        let block = String(KLVector.blocks128.prefix(32))
        let use = ["hw", "aesenc128kl", "--handle", KLVector.handle128, "--block", block]
        #expect(scratch.run("hw", "wrmsr", "0xd91", "1").exitCode == 0)
        #expect(try scratch.json("hw", "rdmsr", "0x990")["value"] as? String == "0x1")
        #expect(try scratch.json("hw", "rdmsr", "0x991")["value"] as? String == "0x9")
        for action in ["suspend", "hibernate"] {
            scratch.run("power", action)
            scratch.run("power", "resume")
            scratch.run("hw", "wrcr4", "0x80000")
            #expect(try scratch.json(use)["zf"] as? Int == 1)
            scratch.run("hw", "wrmsr", "0xd92", "1")
            #expect(try scratch.json("hw", "rdmsr", "0x990")["value"] as? String == "0x1")
            #expect(try scratch.json(use)["zf"] as? Int == 0)
        }
        scratch.run("hw", "inject", "iwkey-backup-error")
        #expect(try scratch.json("hw", "rdmsr", "0x991")["value"] as? String == "0x4")
        scratch.run("hw", "inject", "iwkey-backup-error", "clear")
        scratch.run("power", "off")
        scratch.run("power", "on")
        scratch.run("hw", "wrcr4", "0x80000")
        #expect(try scratch.json("hw", "rdmsr", "0x991")["value"] as? String == "0x0")
        scratch.run("hw", "wrmsr", "0xd92", "1")
        #expect(try scratch.json("hw", "rdmsr", "0x990")["value"] as? String == "0x0")
        try scratch.expectFailure(["hw", "rdmsr", "0xd91"], code: "#GP(0)", exit: 1)
        try scratch.expectFailure(["hw", "wrmsr", "0x991", "0"], code: "#GP(0)", exit: 1)
        try scratch.expectFailure(["hw", "wrmsr", "0xd91", "3"], code: "#GP(0)", exit: 1)
    }
}
