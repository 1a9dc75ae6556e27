//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommandsTests
//
//===----------------------------------------------------------------------===//

import Foundation
import Testing

@testable import HWKeysCommands

/// `proc mmap|munmap|mprotect|encrypt-mprotect|write|read|smaps|translate`, per verb: no arguments, bad
/// arguments, valid use — and state kept between commands.
@Suite struct ProcMemoryCommandTests {
    func machine() -> Scratch {
        let scratch = Scratch()
        scratch.run("machine", "create", "--seed", "11")
        return scratch
    }

    @Test(arguments: [
        ["proc", "mmap"], ["proc", "munmap", "100"], ["proc", "mprotect", "100", "0x1000", "4096"],
        ["proc", "encrypt-mprotect", "100", "0x1000", "4096", "rw"], ["proc", "write", "100"], ["proc", "read", "100"],
        ["proc", "smaps"], ["proc", "translate", "100"],
    ])
    func missingArgumentsAreUsageErrors(words: [String]) throws {
        let scratch = machine()
        #expect(scratch.run(words).exitCode == 2)
    }

    @Test func badArguments() throws {
        let scratch = machine()
        #expect(scratch.run("proc", "mmap", "100", "4K", "--prot", "wx").exitCode == 2)
        #expect(scratch.run("proc", "mmap", "100", "lots").exitCode == 2)
        #expect(scratch.run("proc", "mmap", "0", "4K").exitCode == 2)
        #expect(scratch.run("proc", "write", "100", "0x1000", "abc").exitCode == 2)
        #expect(scratch.run("proc", "write", "100", "0x1000", "abcd", "--text", "x").exitCode == 2)
        #expect(scratch.run("proc", "encrypt-mprotect", "100", "0x1000", "4K", "rw", "-3").exitCode == 2)
        #expect(scratch.run("proc", "read", "100", "0x1000", "2M").exitCode == 2)
        #expect(try scratch.error("proc", "mmap", "100", "0").code == "EINVAL")
        #expect(try scratch.error("proc", "mmap", "555", "4K").code == "ESRCH")
    }

    @Test func mapWriteReadTranslateAndSmapsAcrossCommands() throws {
        let scratch = machine()
        let address = try #require(try scratch.json("proc", "mmap", "100", "64K")["addr"] as? String)
        #expect(address == "0x7effffff0000")  // top-down below mmap_base 0x7f0000000000
        let base = try #require(ValueParser.number(address))
        #expect(try scratch.json("proc", "write", "100", address, "--text", "hello, page")["written"] as? Int == 11)
        #expect(try scratch.json("proc", "read", "100", address, "11")["bytes"] as? String == "68656c6c6f2c2070616765")
        let hexAddress = "0x" + String(base + 0x1000, radix: 16)
        #expect(scratch.run("proc", "write", "100", hexAddress, "de ad be ef").exitCode == 0)
        #expect(try scratch.json("proc", "read", "100", hexAddress, "4")["bytes"] as? String == "deadbeef")
        let translation = try scratch.json("proc", "translate", "100", address)
        #expect(translation["keyid"] as? Int == 0)
        let pa = try #require(translation["pa"] as? String)
        // The bus view after a write-back: TME ciphertext, not the text.
        #expect(scratch.run("hw", "wbinvd").exitCode == 0)
        let dram = try #require(try scratch.json("hw", "dram", pa, "11")["bytes"] as? String)
        #expect(dram != "68656c6c6f2c2070616765")
        let vmas = try #require(try scratch.json("proc", "smaps", "100")["vmas"] as? [[String: Any]])
        #expect(vmas.count == 1)
        #expect(vmas[0]["start"] as? String == address && vmas[0]["keyid"] as? Int == 0)
        #expect(vmas[0]["rss"] as? Int == 8192 && vmas[0]["size"] as? Int == 65536)
        #expect(scratch.run("proc", "smaps", "100").stdout.contains("KeyID:                 0"))
        #expect(try scratch.json("sysfs", "read", "/proc/100/smaps")["value"] as? String != nil)
    }

    @Test func munmapAndMprotect() throws {
        let scratch = machine()
        let address = try #require(try scratch.json("proc", "mmap", "100", "0x3000")["addr"] as? String)
        let base = try #require(ValueParser.number(address))
        let middle = "0x" + String(base + 0x1000, radix: 16)
        #expect(try scratch.json("proc", "mprotect", "100", middle, "4K", "r")["prot"] as? String == "r")
        #expect(try scratch.error("proc", "write", "100", middle, "00").code == "EFAULT")
        #expect(try scratch.error("proc", "mprotect", "100", "0x10000", "4K", "r").code == "ENOMEM")
        #expect(try scratch.error("proc", "mprotect", "100", "0x10001", "4K", "r").code == "EINVAL")
        let prots = try #require(try scratch.json("proc", "smaps", "100")["vmas"] as? [[String: Any]]).map {
            $0["prot"] as? String
        }
        #expect(prots == ["rw", "r", "rw"])
        #expect(scratch.run("proc", "munmap", "100", middle, "4K").exitCode == 0)
        #expect(try scratch.error("proc", "read", "100", middle, "1").code == "EFAULT")
        #expect(try scratch.error("proc", "munmap", "100", "0x10001", "4K").code == "EINVAL")
        #expect(try scratch.error("proc", "translate", "100", address).code == "ENOENT")
        #expect(try scratch.error("proc", "translate", "100", "0x10000").code == "EFAULT")
    }

    @Test func encryptMprotectChecksAlignmentFirst() throws {
        let scratch = machine()
        let address = try #require(try scratch.json("proc", "mmap", "100", "8K")["addr"] as? String)
        #expect(try scratch.error("proc", "encrypt-mprotect", "100", address, "100", "rw", "5").code == "EINVAL")
        #expect(try scratch.error("proc", "encrypt-mprotect", "100", "0x10010", "4K", "rw", "5").code == "EINVAL")
    }

    @Test func forkCopiesAndExitFreesThroughTheCLI() throws {
        let scratch = machine()
        let address = try #require(try scratch.json("proc", "mmap", "100", "4K")["addr"] as? String)
        scratch.run("proc", "write", "100", address, "--text", "inherited")
        let child = try #require(try scratch.json("proc", "fork", "100")["pid"] as? Int)
        #expect(try scratch.json("proc", "read", "\(child)", address, "9")["bytes"] as? String == "696e68657269746564")
        #expect(scratch.run("proc", "exit", "\(child)").exitCode == 0)
        #expect(try scratch.error("proc", "smaps", "\(child)").code == "ESRCH")
    }
}
