//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommandsTests
//
//===----------------------------------------------------------------------===//

import Foundation
import Testing

@testable import HWKeysCommands

/// A state file written by the phase-1 CLI (Fixtures/golden-2026-12-02.sqlite, made by
/// Scripts/make_golden_state.sh; its outputs then are in golden-2026-12-02.expected.txt) still works:
/// every later hwkeys must read it, show its machines, find their keys, process memory and crypt
/// volumes, and resume its hibernated machine. Checked through CLI words and `--format json` only, so
/// the test outlives rewrites of the layers below.
///
/// Independent references: the texts and bytes the script wrote; the DRAM ciphertexts computed with
/// Python `cryptography` (AES-XTS, tweak = little-endian PA >> 6); the Key Locker handle of fixture
/// a-128-0 (Tests/TestSupport/Fixtures/keylocker/vectors.json, also Python `cryptography`).
@Suite struct GoldenStateFileTests {
    /// A scratch copy of the golden file (the fixture itself is never opened).
    private func golden() throws -> Scratch {
        let scratch = Scratch()
        let fixture = try #require(
            Bundle.module.url(forResource: "golden-2026-12-02", withExtension: "sqlite", subdirectory: "Fixtures")
        )
        try FileManager.default.copyItem(atPath: fixture.path, toPath: scratch.statePath)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: scratch.statePath)
        return scratch
    }

    private func hex(_ text: String) -> String { Array(text.utf8).map { String(format: "%02x", $0) }.joined() }

    @Test func itsThreeMachinesAreListed() throws {
        let scratch = try golden()
        let list = try scratch.json("machine", "list")
        let machines = try #require(list["machines"] as? [[String: Any]])
        #expect(machines.compactMap { $0["name"] as? String } == ["bare", "default", "rfc"])
    }

    @Test func theRunningMachineKeepsItsKeysMemoryAndVolumes() throws {
        let scratch = try golden()
        let show = try scratch.json("machine", "show")
        #expect(show["name"] as? String == "default")
        #expect(show["power_state"] as? String == "running")
        #expect(show["seed"] as? Int == 1)
        #expect(show["memory_bytes"] as? Int == 16 << 20)

        let token = try scratch.json("keyctl", "print", "%user:golden-token")
        #expect(token["serial"] as? Int == 876_442_720)
        #expect(token["bytes"] as? String == hex("correct horse battery staple"))
        let inner = try scratch.json("keyctl", "print", "%user:inner")
        #expect(inner["bytes"] as? String == hex("kept in a keyring"))
        let vault = try scratch.json("keyctl", "list", "%:vault")
        #expect(vault["keyring"] as? Int == 573_136_303)
        let keys = try #require(vault["keys"] as? [[String: Any]])
        #expect(keys.map { $0["serial"] as? Int } == [2_097_546_862])
        #expect(keys.map { $0["description"] as? String } == ["inner"])
        let logon = try scratch.json("keyctl", "describe", "%logon:svc:golden")
        #expect(logon["type"] as? String == "logon")
        #expect(logon["description"] as? String == "svc:golden")
        #expect(try scratch.error("keyctl", "read", "%logon:svc:golden").code == "EOPNOTSUPP")

        let plain = try scratch.json("proc", "read", "101", "0x7effffffe000", "21")
        #expect(plain["bytes"] as? String == hex("plain page of pid 101"))
        let tenant = try scratch.json("proc", "read", "101", "0x7efffffff000", "29")
        #expect(tenant["bytes"] as? String == hex("tenant secret under its KeyID"))
        let translation = try scratch.json("proc", "translate", "101", "0x7efffffff000")
        #expect(translation["keyid"] as? Int == 1)

        let plainVolume = try scratch.json("crypt", "read", "plain", "0", "12")
        #expect(plainVolume["bytes"] as? String == hex("secret notes"))
        let lockedVolume = try scratch.json("crypt", "read", "locked", "512", "7")
        #expect(lockedVolume["bytes"] as? String == hex("kl data"))
        let status = try scratch.json("sysfs", "read", "/sys/kernel/keylocker/status")
        #expect(status["value"] as? String == "valid")
    }

    @Test func theHibernatedMachineResumesFromItsImage() throws {
        let scratch = try golden()
        let show = try scratch.json("machine", "show", "--machine", "rfc")
        #expect(show["power_state"] as? String == "hibernated")
        #expect(try scratch.error("keyctl", "show", "--machine", "rfc").code == "EHOSTDOWN")

        let resume = try scratch.json("power", "resume", "--machine", "rfc")
        #expect(resume["power_state"] as? String == "running")
        let token = try scratch.json("keyctl", "print", "%user:rfc-token", "--machine", "rfc")
        #expect(token["serial"] as? Int == 913_415_666)
        #expect(token["bytes"] as? String == hex("sleeping beauty"))
        let first = try scratch.json("proc", "read", "100", "0x7effffffe000", "22", "--machine", "rfc")
        #expect(first["bytes"] as? String == hex("tenant pepsi before S4"))
        let second = try scratch.json("proc", "read", "100", "0x7efffffff000", "11", "--machine", "rfc")
        #expect(second["bytes"] as? String == hex("second page"))
        let vault = try scratch.json("crypt", "read", "vault", "1024", "10", "--machine", "rfc")
        #expect(vault["bytes"] as? String == hex("hibernated"))
        let notes = try scratch.json("crypt", "read", "notes", "0", "5", "--machine", "rfc")
        #expect(notes["bytes"] as? String == hex("notes"))
        let status = try scratch.json("sysfs", "read", "/sys/kernel/keylocker/status", "--machine", "rfc")
        #expect(status["value"] as? String == "valid")

        // The tenant page went back into DRAM under its user key (rfc-v2: the raw key and tweak the
        // script gave): the first 16 bytes of its line in DRAM are AES-XTS-128 of its first 16 bytes.
        _ = try scratch.json("hw", "wbinvd", "--machine", "rfc")
        let translation = try scratch.json("proc", "translate", "100", "0x7effffffe000", "--machine", "rfc")
        #expect(translation["keyid"] as? Int == 1)
        let pa = try #require(translation["pa"] as? String)
        let dram = try scratch.json("hw", "dram", pa, "16", "--machine", "rfc")
        #expect(pa == "0x107000")
        #expect(dram["bytes"] as? String == "18dd8be4c716a27fce24f3d8d724c43e")
    }

    @Test func theMachineWithoutAKernelKeepsItsKeyTableIWKeyAndBackup() throws {
        let scratch = try golden()
        let line = try scratch.json("hw", "load", "0x5000", "13", "--keyid", "1", "--machine", "bare")
        #expect(line["bytes"] as? String == hex("Hello, MKTME!"))
        let dram = try scratch.json("hw", "dram", "0x5000", "32", "--machine", "bare")
        #expect(dram["bytes"] as? String == "4ef80ba1a6f8425dc118c9e74ff5ddaf00000000000000000000000000000000")
        let backup = try scratch.json("hw", "rdmsr", "0x991", "--machine", "bare")
        #expect(backup["value"] as? String == "0x9")
        let handle = try scratch.json(
            "hw",
            "encodekey128",
            "--key",
            "0f0d93acbf22bc898cc93a3e9df2e9ca",
            "--machine",
            "bare"
        )
        #expect(
            handle["handle"] as? String
                == "00000000000000000000000000000000004a88f27080d59e7a3482b0f4cd37b58b22f7080ff2338ebc2fcdcbfebb302a"
        )
    }
}
