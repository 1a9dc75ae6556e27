//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommands
//
//===----------------------------------------------------------------------===//

import ArgumentParser
import Benchmarking
import HWKeysBase
import Workspace

/// `hwkeys benchmark`: host throughput of the hot paths, each beside a reference measured in the same run
/// (``Benchmarking/BenchmarkSuite``). Parses the options and prints the report; the measurements live in the
/// `Benchmarking` module. Needs no machine; builds its own in memory.
public struct BenchmarkCommand: CLICommand {
    public static let configuration = CommandConfiguration(
        commandName: "benchmark",
        abstract:
            "Measure throughput of the AES engine, the memory path, Key Locker XTS, crypt volumes and the key service, beside OpenSSL.",
        discussion: """
            Groups: crypto (line engine and 4 KiB XTS vs OpenSSL), memory (64 MiB write-back and fill through an \
            encrypted KeyID, and a process's encrypted mapping first touched, written and read through the kernel, \
            vs the raw line engine), keylocker (AES-XTS-256 from AESENCWIDE256KL vs OpenSSL), keys \
            (keyctl add/revoke with 100,000 keys), klpower (emulated cycles to restore IWKey after S3 and on CPU online, \
            per Key Locker mode: LOADIWKEY from the remembered key vs the platform backup), crypt (4 KiB writes and \
            reads of a crypt volume through the kernel, aes-xts-plain64 and aes-xts-kl-plain64, with 512- and \
            4096-byte sectors, vs OpenSSL AES-256-XTS on the same sector size). A workload that fails makes the \
            command fail with its error; a row the hardware cannot run says why. Use a release build: \
            swift run -c release hwkeys benchmark.
            """
    )

    @OptionGroup public var global: GlobalOptions
    @Option(help: "Measured seconds per side of each comparison.") var seconds: Double = 1
    @Option(help: "Comma-separated groups to run: crypto, memory, keylocker, keys, klpower, crypt (default: all).")
    var only: String?
    public init() {}

    public func execute(in cli: CLIEnvironment) throws(HWKeysError) -> any CommandResult {
        try suite().run()
    }

    /// The measurements these arguments ask for.
    func suite() throws(HWKeysError) -> BenchmarkSuite {
        var suite = try BenchmarkSuite(seconds: seconds)
        if let only {
            suite.groups = []
            for word in only.split(separator: ",") {
                guard let group = BenchmarkGroup(rawValue: String(word)) else {
                    throw HWKeysError.usage("unknown group '\(word)' (crypto, memory, keylocker, keys, klpower, crypt)")
                }
                suite.groups.append(group)
            }
        }
        return suite
    }
}
