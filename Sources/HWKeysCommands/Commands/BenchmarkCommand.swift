//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommands
//
//===----------------------------------------------------------------------===//

import ArgumentParser
import Foundation
import HWCrypto
import HWKeysBase
import Kernel
import Workspace
import X86

/// `hwkeys benchmark`: host throughput of the hot paths, each beside a reference measured in the same run
/// (OpenSSL's EVP AES-XTS, or the raw line engine for the memory path), the way `openssl speed` and
/// `cryptsetup benchmark` report. Emulated cycles, where reported, are the modelled costs (`hwkeys costs`),
/// kept apart from host time. Needs no machine; builds its own in memory.
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
            reads of a crypt volume through the kernel, aes-xts-plain64 and aes-xts-kl-plain64, vs OpenSSL \
            AES-256-XTS on 512-byte sectors). Use a release build: swift run -c release hwkeys benchmark.
            """
    )

    /// A group of measurements.
    enum Group: String, CaseIterable, ExpressibleByArgument {
        case crypto, memory, keylocker, keys, klpower, crypt
    }

    @OptionGroup public var global: GlobalOptions
    @Option(help: "Measured seconds per side of each comparison.") var seconds: Double = 1
    @Option(help: "Comma-separated groups to run: crypto, memory, keylocker, keys, klpower, crypt (default: all).")
    var only: String?
    public init() {}

    public func execute(in cli: CLIEnvironment) throws(HWKeysError) -> any CommandResult {
        do {
            return LegacyResult(output: try measure())
        } catch {
            throw HWKeysError(mapping: error)
        }
    }

    /// Runs the selected groups.
    private func measure() throws -> CommandOutput {
        guard seconds > 0, seconds <= 600 else { throw HWKeysError.usage("--seconds must be in (0, 600]") }
        var groups = Group.allCases
        if let only {
            groups = try only.split(separator: ",").map { word in
                guard let group = Group(rawValue: String(word)) else {
                    throw HWKeysError.usage(
                        "unknown group '\(word)' (crypto, memory, keylocker, keys, klpower, crypt)"
                    )
                }
                return group
            }
        }
        let openssl = OpenSSLReference.load()
        var rows: [Row] = []
        for group in groups {
            switch group {
            case .crypto: rows += cryptoRows()
            case .memory: rows += try memoryRows()
            case .keylocker: rows += try keyLockerRows(openssl)
            case .keys: rows += try keyServiceRows()
            case .klpower: rows += try keyLockerPowerRows()
            case .crypt: rows += cryptRows(openssl)
            }
        }
        let header =
            "hwkeys benchmark (host wall time, AES path \(AESEngine.defaultPath.rawValue); "
            + (openssl.map { "reference \($0.version)" } ?? "OpenSSL unavailable") + ")"
        return CommandOutput(
            json: .object([
                ("aes_path", .string(AESEngine.defaultPath.rawValue)),
                ("openssl", openssl.map { .string($0.version) } ?? .null),
                ("results", .array(rows.map(\.json))),
            ]),
            text: ([header] + rows.map(\.text)).joined(separator: "\n")
        )
    }

    // MARK: Groups

    private func cryptoRows() -> [Row] {
        runCryptoBenchmarks(seconds: seconds).map { result in
            Row(
                name: result.name,
                gbps: result.gbps,
                reference: result.opensslGBps.map { ("openssl_gbps", $0) },
                note: result.name.contains("-line-")
                    ? "64-byte units, each its own tweak, vs OpenSSL on 16 KiB"
                    : result.name.hasPrefix("openssl-")
                        ? "OpenSSL called once per 64-byte line" : "4 KiB units vs OpenSSL on 4 KiB"
            )
        }
    }

    private func memoryRows() throws -> [Row] {
        let line = MemoryBenchmarks.lineEngine()
        let hardware = try [MemoryBenchmarks.writeback(), MemoryBenchmarks.fill()]
        return try (hardware + ProcessMemoryBenchmarks.run()).map { result in
            var row = Row(
                name: result.name,
                gbps: result.gigabytesPerSecond,
                reference: ("line_engine_gbps", line.gigabytesPerSecond),
                note: result.name.hasPrefix("memory-")
                    ? "64 MiB through KeyID 1 (AES-XTS-128) vs the raw line engine"
                    : "64 MiB process mapping under KeyID 1 (AES-XTS-128) through the kernel vs the raw line engine"
            )
            row.extra.append(("emulated_cycles_per_page", .double(result.emulatedCyclesPerPage ?? 0)))
            return row
        }
    }

    private func keyLockerRows(_ openssl: OpenSSLReference?) throws -> [Row] {
        try [true, false].map { encrypt in
            let workload = try KeyLockerXTSWorkload(encrypt: encrypt)
            let reference = openssl?.session(keyBits: 256, encrypt: encrypt, bufferSize: 16384)
            let (ours, theirs) = alternate(
                seconds: seconds,
                { duration in (try? workload.run(for: duration)) ?? (0, duration) },
                reference?.run(for:)
            )
            return Row(
                name: "kl-xts256-\(encrypt ? "encrypt" : "decrypt")",
                gbps: ours,
                reference: theirs.map { ("openssl_gbps", $0) },
                note: "AES-XTS-256 from AESENC/DECWIDE256KL on 4 KiB units vs OpenSSL AES-256-XTS on 16 KiB"
            )
        }
    }

    /// 4 KiB crypt-volume I/O through the kernel per cipher and direction, beside OpenSSL's AES-256-XTS on
    /// 512-byte data units (each EVP call one sector with its own tweak, as dm-crypt processes sectors).
    private func cryptRows(_ openssl: OpenSSLReference?) -> [Row] {
        var rows: [Row] = []
        for cipher in CryptCipher.allCases {
            for write in [true, false] {
                let name = "crypt-\(write ? "write" : "read")-\(cipher.usesKeyLocker ? "kl" : "plain")"
                let note =
                    "4 KiB I/O, \(cipher.rawValue), through the kernel incl. disk copy, vs OpenSSL AES-256-XTS on 512-byte sectors"
                let workload: CryptIOWorkload
                do {
                    workload = try CryptIOWorkload(cipher: cipher, write: write)
                } catch {
                    rows.append(
                        Row(
                            name: name,
                            gbps: nil,
                            reference: nil,
                            note: "unavailable: \(HWKeysError(mapping: error).message)"
                        )
                    )
                    continue
                }
                let reference = openssl?.session(keyBits: 256, encrypt: write, bufferSize: 512)
                let (ours, theirs) = alternate(
                    seconds: seconds,
                    { duration in (try? workload.run(for: duration)) ?? (0, duration) },
                    reference?.run(for:)
                )
                var row = Row(name: name, gbps: ours, reference: theirs.map { ("openssl_gbps", $0) }, note: note)
                // OpenSSL's best case for the same bytes: one 4 KiB data unit per call (no per-sector IV
                // setup), for readers who want the harder yardstick.
                if let whole = openssl?.measure(keyBits: 256, encrypt: write, bufferSize: 4096, seconds: seconds / 2) {
                    row.extra.append(("openssl_4k_unit_gbps", .double(whole)))
                }
                rows.append(row)
            }
        }
        return rows
    }

    private func keyServiceRows() throws -> [Row] {
        let add = try KeyServiceBenchmarks.measureAdd(keys: 100_000, operations: 10_000)
        let revoke = try KeyServiceBenchmarks.measureRevoke(keys: 100_000, operations: 10_000)
        return [add, revoke].map { result in
            var row = Row(
                name: result.name,
                gbps: nil,
                reference: nil,
                note: "operations/s with \(result.keys) keys in the keyring"
            )
            row.extra.append(("ops_per_second", .double(result.operationsPerSecond)))
            row.extra.append(("keys", .count(result.keys)))
            return row
        }
    }

    private func keyLockerPowerRows() throws -> [Row] {
        try KeyLockerPowerBenchmarks.modes.map { mode in
            let result = try KeyLockerPowerBenchmarks.measure(mode)
            var row = Row(
                name: KeyLockerPowerBenchmarks.rowName(mode),
                gbps: nil,
                reference: nil,
                note: mode == .nativeKernelKeyRemember
                    ? "emulated cycles: LOADIWKEY from the remembered key"
                    : "emulated cycles: IA32_COPY_PLATFORM_TO_LOCAL from the platform backup"
            )
            row.extra.append(("mode", .string(mode.rawValue)))
            row.extra.append(("s3_resume_cycles", .count(Int(result.resumeCycles))))
            row.extra.append(("cpus", .count(result.cpus)))
            row.extra.append(("cpu_online_cycles", .count(Int(result.onlineCycles))))
            return row
        }
    }

    /// One output row.
    struct Row {
        var name: String
        var gbps: Double?
        var reference: (name: String, gbps: Double)?
        var note: String
        var extra: [(String, JSON)] = []

        var ratio: Double? {
            guard let gbps, let reference, reference.gbps > 0 else { return nil }
            return gbps / reference.gbps
        }

        var json: JSON {
            var fields: [(String, JSON)] = [("name", .string(name))]
            fields.append(("gbps", gbps.map { .double($0) } ?? .null))
            if let reference { fields.append((reference.name, .double(reference.gbps))) }
            if name.hasPrefix("xts") || name.hasPrefix("kl-") || name.hasPrefix("crypt-") {
                if reference == nil { fields.append(("openssl_gbps", .null)) }
            }
            fields.append(("ratio", ratio.map { .double($0) } ?? .null))
            return .object(fields + extra)
        }

        var text: String {
            var line = name.padding(toLength: 30, withPad: " ", startingAt: 0)
            if let gbps { line += String(format: "%7.2f GB/s", gbps) }
            if let reference {
                let label = reference.name == "openssl_gbps" ? "OpenSSL" : "line engine"
                line += String(format: "   %@ %6.2f GB/s   ratio %.2f×", label, reference.gbps, ratio ?? 0)
            } else if gbps != nil, name.hasPrefix("xts") || name.hasPrefix("kl-") || name.hasPrefix("crypt-") {
                line += "   OpenSSL unavailable"
            }
            for (key, value) in extra {
                line += "   \(key) \(CommandOutput.plain(value))"
            }
            return line + "   (" + note + ")"
        }
    }
}
