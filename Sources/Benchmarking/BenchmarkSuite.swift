//===----------------------------------------------------------------------===//
//
// hwkeys: Benchmarking
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase
import Kernel
import Platform

/// A group of `hwkeys benchmark` measurements.
public enum BenchmarkGroup: String, CaseIterable, Sendable, Codable {
    /// The AES-XTS line engine and 4 KiB units vs OpenSSL.
    case crypto
    /// 64 MiB write-back and fill through an encrypted KeyID, and a process's encrypted mapping through the
    /// kernel, vs the raw line engine.
    case memory
    /// AES-XTS-256 from AESENCWIDE256KL/AESDECWIDE256KL vs OpenSSL.
    case keylocker
    /// `keyctl add` and `revoke` with 100,000 keys.
    case keys
    /// Emulated cycles to restore IWKey after S3 and on CPU online, per Key Locker mode.
    case klpower
    /// 4 KiB crypt-volume I/O through the kernel, both ciphers, 512- and 4096-byte sectors, vs OpenSSL on
    /// the same sector size.
    case crypt
}

/// `hwkeys benchmark`: host throughput of the hot paths, each beside a reference measured in the same run
/// (OpenSSL's EVP AES-XTS, or the raw line engine for the memory path), the way `openssl speed` and
/// `cryptsetup benchmark` report. Emulated cycles, where reported, are the modelled costs (`hwkeys costs`),
/// kept apart from host time. Needs no state file: every workload builds its own machine in memory.
///
/// A workload that fails makes the whole run fail with its error (a rejected Key Locker handle is an
/// error, never a throughput of 0). A workload the hardware cannot run — a machine without Key Locker or
/// its WIDE instructions — gives a row that says why instead of a number.
public struct BenchmarkSuite: Sendable {
    /// The groups to run, in order.
    public var groups: [BenchmarkGroup]
    /// Measured seconds per side of each comparison.
    public var seconds: Double
    /// The machine the crypt and Key Locker workloads run on (default: each workload's seeded machine).
    public var configuration: MachineConfiguration?

    /// - Throws: a usage error when `seconds` is not in (0, 600].
    public init(
        groups: [BenchmarkGroup] = BenchmarkGroup.allCases,
        seconds: Double = 1,
        configuration: MachineConfiguration? = nil
    ) throws(HWKeysError) {
        guard seconds > 0, seconds <= 600 else { throw HWKeysError.usage("--seconds must be in (0, 600]") }
        self.groups = groups
        self.seconds = seconds
        self.configuration = configuration
    }

    /// Runs the groups beside `openssl` (default: libcrypto loaded now; nil: no reference).
    ///
    /// - Throws: the error of the first workload that fails.
    public func run(openssl: OpenSSLReference? = OpenSSLReference.load()) throws(HWKeysError) -> BenchmarkReport {
        var rows: [BenchmarkRow] = []
        for group in groups {
            switch group {
            case .crypto: rows += try cryptoRows(openssl)
            case .memory: rows += try memoryRows()
            case .keylocker: rows += try keyLockerRows(openssl)
            case .keys: rows += try keyServiceRows()
            case .klpower: rows += try keyLockerPowerRows()
            case .crypt: rows += try cryptRows(openssl)
            }
        }
        return BenchmarkReport(
            aesPath: AESEngine.defaultPath.rawValue,
            openssl: openssl?.version,
            results: rows
        )
    }

    /// Whether a workload's set-up failed because the machine lacks a feature (Key Locker, its WIDE
    /// instructions, CPL0-only handles): the row is then reported unavailable rather than the run failing.
    static func lacksHardware(_ error: HWKeysError) -> Bool {
        switch error.code {
        case .errno(.ENODEV), .errno(.EOPNOTSUPP): true
        case .fault(vector: 6, errorCode: _): true  // #UD: no Key Locker, CR4.KL, AESKLE or WIDE_KL
        default: false
        }
    }

    // MARK: Groups

    func cryptoRows(_ openssl: OpenSSLReference?) throws(HWKeysError) -> [BenchmarkRow] {
        try runCryptoBenchmarks(seconds: seconds, openssl: openssl).map { result in
            BenchmarkRow(
                name: result.name,
                gbps: result.gbps,
                reference: result.opensslGBps.map(BenchmarkRow.Reference.openssl),
                note: result.name.contains("-line-")
                    ? "64-byte units, each its own tweak, vs OpenSSL on 16 KiB"
                    : result.name.hasPrefix("openssl-")
                        ? "OpenSSL called once per 64-byte line" : "4 KiB units vs OpenSSL on 4 KiB"
            )
        }
    }

    func memoryRows() throws(HWKeysError) -> [BenchmarkRow] {
        let line = MemoryBenchmarks.lineEngine()
        let hardware = [try MemoryBenchmarks.writeback(), try MemoryBenchmarks.fill()]
        return (hardware + (try ProcessMemoryBenchmarks.run())).map { result in
            BenchmarkRow(
                name: result.name,
                gbps: result.gigabytesPerSecond,
                reference: .lineEngine(line.gigabytesPerSecond),
                note: result.name.hasPrefix("memory-")
                    ? "64 MiB through KeyID 1 (AES-XTS-128) vs the raw line engine"
                    : "64 MiB process mapping under KeyID 1 (AES-XTS-128) through the kernel vs the raw line engine",
                extra: [.init("emulated_cycles_per_page", .number(result.emulatedCyclesPerPage ?? 0))]
            )
        }
    }

    func keyLockerRows(_ openssl: OpenSSLReference?) throws(HWKeysError) -> [BenchmarkRow] {
        var rows: [BenchmarkRow] = []
        for encrypt in [true, false] {
            let name = "kl-xts256-\(encrypt ? "encrypt" : "decrypt")"
            let note = "AES-XTS-256 from AESENC/DECWIDE256KL on 4 KiB units vs OpenSSL AES-256-XTS on 16 KiB"
            let workload: KeyLockerXTSWorkload
            do throws(HWKeysError) {
                workload = try KeyLockerXTSWorkload(
                    encrypt: encrypt,
                    configuration: configuration ?? KeyLockerBenchmarks.defaultConfiguration
                )
            } catch {
                guard Self.lacksHardware(error) else { throw error }
                rows.append(.unavailable(name, note: note, reason: error.message))
                continue
            }
            let reference = openssl?.session(keyBits: 256, encrypt: encrypt, bufferSize: 16384)
            let (ours, theirs) = try Alternation.measure(seconds: seconds, workload.run(for:), reference?.run(for:))
            rows.append(
                BenchmarkRow(name: name, gbps: ours, reference: theirs.map(BenchmarkRow.Reference.openssl), note: note)
            )
        }
        return rows
    }

    /// 4 KiB crypt-volume I/O through the kernel per sector size, cipher and direction, each beside OpenSSL's
    /// AES-256-XTS on data units of the same sector size (each EVP call one sector with its own tweak, as
    /// dm-crypt processes sectors). The 512-byte rows also report OpenSSL on one 4 KiB unit per call
    /// (`openssl_4k_unit_gbps`), its best case for the same bytes.
    func cryptRows(_ openssl: OpenSSLReference?) throws(HWKeysError) -> [BenchmarkRow] {
        var rows: [BenchmarkRow] = []
        for sectorSize in [512, 4096] {
            for cipher in CryptCipher.allCases {
                for write in [true, false] {
                    rows.append(
                        try cryptRow(cipher: cipher, sectorSize: sectorSize, write: write, openssl: openssl)
                    )
                }
            }
        }
        return rows
    }

    /// One crypt row: `crypt-write-kl`, `crypt-read-plain-4k`, ….
    func cryptRow(
        cipher: CryptCipher,
        sectorSize: Int,
        write: Bool,
        openssl: OpenSSLReference?
    ) throws(HWKeysError) -> BenchmarkRow {
        let name =
            "crypt-\(write ? "write" : "read")-\(cipher.usesKeyLocker ? "kl" : "plain")"
            + (sectorSize == 512 ? "" : "-4k")
        let note =
            "4 KiB I/O, \(cipher.rawValue), \(sectorSize)-byte sectors, through the kernel incl. disk copy, "
            + "vs OpenSSL AES-256-XTS on \(sectorSize)-byte sectors"
        let workload: CryptIOWorkload
        do throws(HWKeysError) {
            workload = try CryptIOWorkload(
                cipher: cipher,
                sectorSize: sectorSize,
                write: write,
                configuration: configuration ?? CryptIOWorkload.defaultConfiguration
            )
        } catch {
            guard Self.lacksHardware(error) else { throw error }
            var row = BenchmarkRow.unavailable(name, note: note, reason: error.message)
            row.extra = [.init("sector_size", .count(sectorSize))]
            return row
        }
        try workload.fill()
        let reference = openssl?.session(keyBits: 256, encrypt: write, bufferSize: sectorSize)
        let (ours, theirs) = try Alternation.measure(seconds: seconds, workload.run(for:), reference?.run(for:))
        var row = BenchmarkRow(
            name: name,
            gbps: ours,
            reference: theirs.map(BenchmarkRow.Reference.openssl),
            note: note,
            extra: [.init("sector_size", .count(sectorSize))]
        )
        // OpenSSL's best case for the same bytes: one 4 KiB data unit per call (no per-sector IV setup).
        if sectorSize == 512,
            let whole = try openssl?.measure(keyBits: 256, encrypt: write, bufferSize: 4096, seconds: seconds / 2)
        {
            row.extra.append(.init("openssl_4k_unit_gbps", .number(whole)))
        }
        return row
    }

    func keyServiceRows() throws(HWKeysError) -> [BenchmarkRow] {
        let add = try KeyServiceBenchmarks.measureAdd(keys: 100_000, operations: 10_000)
        let revoke = try KeyServiceBenchmarks.measureRevoke(keys: 100_000, operations: 10_000)
        return [add, revoke].map { result in
            BenchmarkRow(
                name: result.name,
                gbps: nil,
                note: "operations/s with \(result.keys) keys in the keyring",
                extra: [
                    .init("ops_per_second", .number(result.operationsPerSecond)), .init("keys", .count(result.keys)),
                ]
            )
        }
    }

    func keyLockerPowerRows() throws(HWKeysError) -> [BenchmarkRow] {
        var rows: [BenchmarkRow] = []
        for mode in KeyLockerPowerBenchmarks.modes {
            let result = try KeyLockerPowerBenchmarks.measure(mode)
            rows.append(
                BenchmarkRow(
                    name: KeyLockerPowerBenchmarks.rowName(mode),
                    gbps: nil,
                    note: mode == .nativeKernelKeyRemember
                        ? "emulated cycles: LOADIWKEY from the remembered key"
                        : "emulated cycles: IA32_COPY_PLATFORM_TO_LOCAL from the platform backup",
                    extra: [
                        .init("mode", .text(mode.rawValue)),
                        .init("s3_resume_cycles", .count(Int(result.resumeCycles))),
                        .init("cpus", .count(result.cpus)),
                        .init("cpu_online_cycles", .count(Int(result.onlineCycles))),
                    ]
                )
            )
        }
        return rows
    }
}
