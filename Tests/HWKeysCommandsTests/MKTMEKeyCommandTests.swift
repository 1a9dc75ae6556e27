//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommandsTests
//
//===----------------------------------------------------------------------===//

import Foundation
import Testing

@testable import HWKeysCommands

/// `keyctl … mktme …`, `hw keytable`, `cpu online|offline` and `/sys/kernel/mm/mktme` from the command
/// line, in both designs (docs/contract.md §6).
@Suite struct MKTMEKeyCommandTests {
    /// A 3-KeyID machine (`--keyid-bits 2`) booted with `mktme.api=api`.
    func machine(_ api: String, _ extra: [String] = []) -> Scratch {
        let scratch = Scratch()
        let result = scratch.run(
            ["machine", "create", "--seed", "7", "--keyid-bits", "2", "--cmdline", "mktme.api=\(api)"] + extra
        )
        #expect(result.exitCode == 0, "\(result.stderr)")
        return scratch
    }

    func add(_ scratch: Scratch, _ name: String, _ payload: String, _ extra: [String] = []) throws -> Int32 {
        let result = scratch.run(["keyctl", "add", "mktme", name, payload, "@s"] + extra)
        #expect(result.exitCode == 0, "\(name): \(result.stderr)")
        return try #require(Int32(result.stdout))
    }

    /// KeyID states of package `package` from `hw keytable --format json`.
    func slots(_ scratch: Scratch, package: Int = 0) throws -> [Int: String] {
        let table = try scratch.json("hw", "keytable", "--package", "\(package)")
        let entries = try #require(table["keyids"] as? [[String: Any]])
        var slots: [Int: String] = [:]
        for entry in entries {
            slots[try #require(entry["keyid"] as? Int)] = try #require(entry["state"] as? String)
        }
        return slots
    }

    func sysfs(_ scratch: Scratch, _ name: String) throws -> String {
        try #require(scratch.json("sysfs", "read", "/sys/kernel/mm/mktme/\(name)")["value"] as? String)
    }

    /// `proc encrypt-mprotect` takes `%mktme:DESC` as keyctl(1) names keys: found from the process's
    /// keyrings; a missing key is ENOKEY and a malformed name a usage error, with nothing changed.
    @Test func encryptMprotectFindsKeysByName() throws {
        let scratch = machine("revised")
        let serial = try add(scratch, "tenant", "type=cpu")
        let addr = try #require(scratch.json("proc", "mmap", "100", "8K", "--prot", "none")["addr"] as? String)
        #expect(
            try scratch.error("proc", "encrypt-mprotect", "100", addr, "4K", "rw", "%mktme:missing").code == "ENOKEY"
        )
        #expect(scratch.run("proc", "encrypt-mprotect", "100", addr, "4K", "rw", "%mktme").exitCode == 2)
        #expect(try sysfs(scratch, "keyids_used") == "0")
        #expect(scratch.run("proc", "encrypt-mprotect", "100", addr, "4K", "rw", "%mktme:tenant").exitCode == 0)
        #expect(scratch.run("proc", "write", "100", addr, "--text", "x").exitCode == 0)
        let keyID = try #require(scratch.json("proc", "translate", "100", addr)["keyid"] as? Int)
        #expect(keyID != 0)
        #expect(try slots(scratch)[keyID] != "clear")
        // The same key by serial lands on the same KeyID.
        let next = "0x" + String(UInt64(addr.dropFirst(2), radix: 16)! + 4096, radix: 16)
        #expect(scratch.run("proc", "encrypt-mprotect", "100", next, "4K", "rw", "\(serial)").exitCode == 0)
        #expect(scratch.run("proc", "write", "100", next, "--text", "y").exitCode == 0)
        #expect(try scratch.json("proc", "translate", "100", next)["keyid"] as? Int == keyID)
    }

    /// The key gc runs when emulated time passes it (docs/contract.md §5 `gc_delay`), not only at the next key
    /// operation: a revoked rfc-v2 key's KeyID is free after `clock advance`, as sysfs shows at once.
    @Test func garbageCollectionFollowsEmulatedTime() throws {
        let scratch = machine("rfc-v2")
        let serial = try add(scratch, "t1", "type=cpu algorithm=aes-xts-128")
        #expect(scratch.run("keyctl", "revoke", "\(serial)").exitCode == 0)
        #expect(scratch.run("clock", "advance", "299").exitCode == 0)
        #expect(try sysfs(scratch, "keyids_used") == "1")
        #expect(scratch.run("clock", "advance", "2").exitCode == 0)
        #expect(try sysfs(scratch, "keyids_used") == "0")
    }

    // MARK: rfc-v2

    @Test func rfcV2TheFourthKeyIsENOKEYAndReleasedSlotsStayProgrammed() throws {
        let scratch = machine("rfc-v2")
        let first = try add(scratch, "t1", "type=cpu algorithm=aes-xts-128")
        _ = try add(
            scratch,
            "t2",
            "type=user algorithm=aes-xts-128 key=\(String(repeating: "ab", count: 16)) tweak=\(String(repeating: "cd", count: 16))"
        )
        _ = try add(scratch, "t3", "type=no-encrypt")
        #expect(try slots(scratch)[1] == "random")
        #expect(try slots(scratch)[2] == "direct")
        #expect(try slots(scratch)[3] == "no-encrypt")
        #expect(try sysfs(scratch, "keyids_used") == "3")
        #expect(
            try scratch.error("keyctl", "add", "mktme", "t4", "type=cpu algorithm=aes-xts-128", "@s").code == "ENOKEY"
        )
        #expect(scratch.run("keyctl", "invalidate", "\(first)").exitCode == 0)
        #expect(try sysfs(scratch, "keyids_used") == "2")
        #expect(try slots(scratch)[1] == "random")  // stale: released without CLEAR_KEY
        let fourth = try add(scratch, "t4", "type=cpu algorithm=aes-xts-128")
        #expect(scratch.run("keyctl", "update", "\(fourth)", "type=clear").exitCode == 0)
        #expect(try slots(scratch)[1] == "clear")
    }

    @Test func rfcV2ErrorsCarryTheirErrno() throws {
        let scratch = machine("rfc-v2")
        #expect(try scratch.error("keyctl", "add", "mktme", "t", "type=cpu", "@s").code == "EINVAL")
        #expect(
            try scratch.error("keyctl", "add", "mktme", "t", "type=clear algorithm=aes-xts-128", "@s").code == "EINVAL"
        )
        #expect(
            try scratch.error("keyctl", "add", "mktme", "t", "type=cpu algorithm=aes-xts-128 x=y", "@s").code
                == "EINVAL"
        )
        let serial = try add(scratch, "t", "type=cpu algorithm=aes-xts-128")
        #expect(try scratch.error("keyctl", "read", "\(serial)").code == "EOPNOTSUPP")
        let spawned = try scratch.json("proc", "spawn", "--uid", "1000")
        let pid = try #require(spawned["pid"] as? Int)
        #expect(
            try scratch.error("keyctl", "add", "mktme", "u", "type=cpu algorithm=aes-xts-128", "@s", "--pid", "\(pid)")
                .code == "EACCES"
        )
    }

    @Test func pconfigRetriesInjectedFaultsThenFailsWithENOKEY() throws {
        let scratch = machine("rfc-v2")
        #expect(scratch.run("hw", "inject", "pconfig-busy", "10").exitCode == 0)
        _ = try add(scratch, "t1", "type=cpu algorithm=aes-xts-128")
        #expect(scratch.run("hw", "inject", "pconfig-entropy", "11").exitCode == 0)
        #expect(
            try scratch.error("keyctl", "add", "mktme", "t2", "type=cpu algorithm=aes-xts-128", "@s").code == "ENOKEY"
        )
        #expect(try slots(scratch)[2] == "unprogrammed")
        #expect(try sysfs(scratch, "keyids_used") == "1")
    }

    @Test func hotplugRefusesThePackagesLastCPUWhileKeysAreProgrammed() throws {
        let scratch = machine("rfc-v2")
        _ = try add(scratch, "t1", "type=cpu algorithm=aes-xts-128")
        #expect(scratch.run("cpu", "offline", "1").exitCode == 0)
        let two = machine("rfc-v2", ["--packages", "2"])
        #expect(two.run("cpu", "offline", "2").exitCode == 0)
        #expect(two.run("cpu", "offline", "3").exitCode == 0)
        // No KeyID is taken while package 1 has no CPU to program it (nothing changes) ...
        #expect(
            try two.error("keyctl", "add", "mktme", "t1", "type=cpu algorithm=aes-xts-128", "@s").code == "ENOKEY"
        )
        #expect(try slots(two, package: 1)[1] == "unprogrammed")
        #expect(try slots(two, package: 0)[1] == "unprogrammed")
        // ... and once one is back, the key is programmed on both packages.
        #expect(two.run("cpu", "online", "3").exitCode == 0)
        _ = try add(two, "t1", "type=cpu algorithm=aes-xts-128")
        #expect(try slots(two, package: 1)[1] == "random")
        #expect(two.run("cpu", "offline", "3").exitCode == 1)
        #expect(try two.error("cpu", "offline", "3").code == "EBUSY")
    }

    // MARK: revised

    @Test func revisedKeysTakeNoKeyIDUntilUsed() throws {
        let scratch = machine("revised")
        for index in 0..<5 { _ = try add(scratch, "t\(index)", "type=cpu") }
        #expect(try sysfs(scratch, "keyids_used") == "0")
        #expect(try sysfs(scratch, "keyids_total") == "3")
        #expect(try sysfs(scratch, "api") == "revised")
        #expect(try scratch.error("keyctl", "add", "mktme", "c", "type=clear", "@s").code == "EINVAL")
        #expect(try scratch.error("keyctl", "add", "mktme", "n", "type=no-encrypt", "@s").code == "EINVAL")
        #expect(try slots(scratch).values.allSatisfy { $0 == "unprogrammed" })
    }

    @Test func keyidsMaxPerUIDIsRootOnlyAndBounded() throws {
        let scratch = machine("revised")
        let path = "/sys/kernel/mm/mktme/keyids_max_per_uid"
        #expect(try sysfs(scratch, "keyids_max_per_uid") == "3")
        #expect(try scratch.error("sysfs", "write", path, "9").code == "EINVAL")
        #expect(try scratch.error("sysfs", "write", path, "0").code == "EINVAL")
        let spawned = try scratch.json("proc", "spawn", "--uid", "1000")
        let pid = try #require(spawned["pid"] as? Int)
        #expect(try scratch.error("sysfs", "write", path, "1", "--pid", "\(pid)").code == "EACCES")
        #expect(scratch.run("sysfs", "write", path, "2").exitCode == 0)
        #expect(try sysfs(scratch, "keyids_max_per_uid") == "2")
        #expect(try scratch.error("sysfs", "write", "/sys/kernel/mm/mktme/keyids_total", "2").code == "EACCES")
    }

    // MARK: with the memory manager

    /// `proc mmap` + `proc encrypt-mprotect`; returns the address.
    func encryptedPage(_ scratch: Scratch, serial: String) throws -> String {
        let addr = try #require(scratch.json("proc", "mmap", "100", "4K", "--prot", "none")["addr"] as? String)
        _ = try scratch.json("proc", "encrypt-mprotect", "100", addr, "4K", "rw", serial)
        return addr
    }

    @Test func revisedTheFourthConcurrentMappingIsENOKEYAndAReleasedKeyIDReadsClear() throws {
        let scratch = machine("revised")
        let serials = try (0..<4).map { try add(scratch, "t\($0)", "type=cpu") }
        let pages = try serials.prefix(3).map { try encryptedPage(scratch, serial: "\($0)") }
        let spare = try #require(scratch.json("proc", "mmap", "100", "4K")["addr"] as? String)
        #expect(
            try scratch.error("proc", "encrypt-mprotect", "100", spare, "4K", "rw", "\(serials[3])").code == "ENOKEY"
        )
        #expect(try slots(scratch)[2] == "random")
        #expect(scratch.run("proc", "munmap", "100", pages[1], "4K").exitCode == 0)
        #expect(try slots(scratch)[2] == "clear")
        let again = try scratch.json("proc", "encrypt-mprotect", "100", spare, "4K", "rw", "\(serials[3])")
        #expect(again["keyid"] as? Int == 2)
        let smaps = try #require(scratch.json("proc", "smaps", "100")["vmas"] as? [[String: Any]])
        #expect(Set(smaps.compactMap { $0["keyid"] as? Int }) == [1, 2, 3])
    }

    @Test func serialZeroPagesSitInDRAMAsPlaintextAndKeyedPagesDoNot() throws {
        let scratch = machine("revised")
        let serial = try add(scratch, "t", "type=cpu")
        let text = "sixteen bytes!!!"
        let hex = text.utf8.map { String(format: "%02x", $0) }.joined()
        var dram: [String] = []
        for key in ["\(serial)", "0"] {
            let addr = try encryptedPage(scratch, serial: key)
            #expect(scratch.run("proc", "write", "100", addr, "--text", text).exitCode == 0)
            let pa = try #require(scratch.json("proc", "translate", "100", addr)["pa"] as? String)
            #expect(scratch.run("hw", "wbinvd").exitCode == 0)
            dram.append(try #require(scratch.json("hw", "dram", pa, "16")["bytes"] as? String))
            #expect(try scratch.json("proc", "read", "100", addr, "16")["bytes"] as? String == hex)
        }
        #expect(dram[0] != hex)
        #expect(dram[1] == hex)
    }

    @Test func rfcV2UpdateOfAMappedKeyIsEBUSYAndRevisedRotates() throws {
        let rfc = machine("rfc-v2")
        let key = try add(rfc, "t", "type=cpu algorithm=aes-xts-128")
        let page = try encryptedPage(rfc, serial: "\(key)")
        #expect(try rfc.error("keyctl", "update", "\(key)", "type=clear").code == "EBUSY")
        #expect(rfc.run("proc", "munmap", "100", page, "4K").exitCode == 0)
        #expect(rfc.run("keyctl", "update", "\(key)", "type=clear").exitCode == 0)

        let revised = machine("revised")
        let cpu = try add(revised, "t", "type=cpu")
        let addr = try encryptedPage(revised, serial: "\(cpu)")
        #expect(revised.run("proc", "write", "100", addr, "--text", "kept").exitCode == 0)
        #expect(revised.run("keyctl", "update", "\(cpu)", "type=cpu").exitCode == 0)
        #expect(try revised.json("proc", "translate", "100", addr)["keyid"] as? Int == 2)
        #expect(try slots(revised)[1] == "clear")
        #expect(try revised.json("proc", "read", "100", addr, "4")["bytes"] as? String == "6b657074")
    }
}
