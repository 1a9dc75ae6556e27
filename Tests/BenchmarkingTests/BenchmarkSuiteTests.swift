//===----------------------------------------------------------------------===//
//
// hwkeys: BenchmarkingTests
//
//===----------------------------------------------------------------------===//

import Foundation
import HWCrypto
import HWKeysBase
import Kernel
import Platform
import Testing
import Workspace
import X86

@testable import Benchmarking

/// A failing workload is an error, never a throughput of 0; a rejected Key Locker handle counts no bytes; a
/// machine without the hardware gives a row that says why (issue 10). No timing assertions.
@Suite struct BenchmarkFailureTests {
    /// IWKey lost under the handles (S3 without a restore): AES*KL sets ZF.
    private func loseIWKey(_ machine: Machine) throws {
        try machine.power(.suspend)
        try machine.power(.resume)
        try machine.processors[0].writeCR4(CR4.keyLocker)
    }

    @Test func aRejectedHandleStopsTheKeyLockerWorkloadWithAnError() throws {
        let workload = try KeyLockerXTSWorkload(encrypt: true, bufferBytes: 4096)
        let slice = try workload.run(for: .zero)
        #expect(slice.bytes > 0)
        try loseIWKey(workload.machine)
        #expect(throws: HWKeysError(.EKEYREJECTED, "")) { _ = try workload.run(for: .zero) }
        // Through the measurement the command uses: the error, not a number.
        #expect(throws: HWKeysError(.EKEYREJECTED, "")) {
            _ = try Alternation.measure(seconds: 0.001, workload.run(for:), nil)
        }
    }

    @Test func aFaultStopsTheKeyLockerWorkloadWithItsCode() throws {
        let workload = try KeyLockerXTSWorkload(encrypt: false, bufferBytes: 4096)
        try workload.machine.processors[0].writeCR4(0)
        let error = try #require(throws: HWKeysError.self) { _ = try workload.run(for: .zero) }
        #expect(error.code.name == "#UD")
    }

    @Test(arguments: [512, 4096], [true, false])
    func aRejectedHandleStopsTheCryptWorkloadWithENODEV(sectorSize: Int, write: Bool) throws {
        let workload = try CryptIOWorkload(cipher: .aesXTSKLPlain64, sectorSize: sectorSize, write: write)
        try workload.fill()
        #expect(try workload.run(for: .zero).bytes > 0)
        // Another IWKey on the kernel's CPU (as `hw loadiwkey` would load): the volume's handles are rejected.
        let cpu = workload.machine.processors[0]
        cpu.withXMMRegisters { $0.copyBytes(from: (0..<48).map { UInt8($0) }) }
        #expect(try cpu.loadiwkey(eax: 0, src1: 2, src2: 1) == false)
        #expect(throws: HWKeysError(.ENODEV, "")) { _ = try workload.run(for: .zero) }
        #expect(throws: HWKeysError(.ENODEV, "")) {
            _ = try Alternation.measure(seconds: 0.001, workload.run(for:), nil)
        }
    }

    /// A reference that fails is an error too.
    @Test func aFailingReferenceFailsTheMeasurement() throws {
        let ours: (Duration) throws(HWKeysError) -> MeasuredSlice = { _ in (4096, .milliseconds(60)) }
        let theirs: (Duration) throws(HWKeysError) -> MeasuredSlice = { (_) throws(HWKeysError) in
            throw HWKeysError(.EIO, "reference")
        }
        #expect(throws: HWKeysError(.EIO, "")) { _ = try Alternation.measure(seconds: 0.001, ours, theirs) }
    }

    @Test func withoutKeyLockerTheKeyLockerRowsSayWhyAndThePlainRowsRun() throws {
        var configuration = CryptIOWorkload.defaultConfiguration
        configuration.keyLocker = false
        let suite = try BenchmarkSuite(groups: [.crypt], seconds: 0.001, configuration: configuration)
        let kl = try suite.cryptRow(cipher: .aesXTSKLPlain64, sectorSize: 4096, write: true, openssl: nil)
        #expect(kl.gbps == nil && kl.ratio == nil)
        let reason = try #require(kl.unavailable)
        #expect(reason.contains("Key Locker"))
        #expect(kl.text.contains("(unavailable: \(reason))"))
        let plain = try suite.cryptRow(cipher: .aesXTSPlain64, sectorSize: 4096, write: true, openssl: nil)
        #expect(plain.unavailable == nil && (plain.gbps ?? 0) > 0)

        let rows = try suite.keyLockerRows(nil)
        #expect(rows.map(\.name) == ["kl-xts256-encrypt", "kl-xts256-decrypt"])
        #expect(rows.allSatisfy { $0.gbps == nil && $0.unavailable != nil })
    }

    @Test func withoutWideKeyLockerTheCryptRowIsUnavailable() throws {
        var configuration = CryptIOWorkload.defaultConfiguration
        configuration.wideKL = false
        let suite = try BenchmarkSuite(groups: [.crypt], seconds: 0.001, configuration: configuration)
        let row = try suite.cryptRow(cipher: .aesXTSKLPlain64, sectorSize: 512, write: false, openssl: nil)
        #expect(row.gbps == nil)
        #expect(row.unavailable?.contains("WIDE") == true)
    }

    @Test(arguments: [0, -1, 601, Double.nan])
    func secondsOutsideTheRangeAreUsageErrors(seconds: Double) {
        #expect(throws: HWKeysError(.EINVAL, "")) { _ = try BenchmarkSuite(seconds: seconds) }
    }
}

/// The report's JSON: the field names `hwkeys benchmark` has always printed, plus `note` and `unavailable`.
@Suite struct BenchmarkReportTests {
    @Test func rowsEncodeTheirReferenceRatioAndExtraFields() throws {
        let report = BenchmarkReport(
            aesPath: "vaes",
            openssl: nil,
            results: [
                BenchmarkRow(
                    name: "crypt-write-kl",
                    gbps: 3.14159,
                    reference: .openssl(3.5),
                    note: "n",
                    extra: [.init("sector_size", .count(512)), .init("openssl_4k_unit_gbps", .number(6.25))]
                ),
                BenchmarkRow(name: "crypt-read-kl", gbps: 3, note: "n"),
                BenchmarkRow(
                    name: "memory-fill",
                    gbps: 1,
                    reference: .lineEngine(4),
                    note: "m",
                    extra: [.init("emulated_cycles_per_page", .number(2048))]
                ),
                .unavailable("kl-xts256-encrypt", note: "k", reason: "no Key Locker"),
                BenchmarkRow(
                    name: "klpower-boot",
                    gbps: nil,
                    note: "c",
                    extra: [.init("mode", .text("boot")), .init("cpus", .count(4))]
                ),
            ]
        )
        let json = try #require(JSONValue(parsing: ResultEncoding.json(report)))
        #expect(json.value(at: "aes_path") == .string("vaes"))
        #expect(json.value(at: "openssl") == .null)
        #expect(json.value(at: "results.0.gbps") == .number(3.142))
        #expect(json.value(at: "results.0.openssl_gbps") == .number(3.5))
        #expect(json.value(at: "results.0.ratio") == .number(0.898))
        #expect(json.value(at: "results.0.sector_size") == .integer(512))
        #expect(json.value(at: "results.0.openssl_4k_unit_gbps") == .number(6.25))
        #expect(json.value(at: "results.0.unavailable") == .null)
        #expect(json.value(at: "results.1.openssl_gbps") == .null)
        #expect(json.value(at: "results.1.ratio") == .null)
        #expect(json.value(at: "results.2.line_engine_gbps") == .integer(4))
        #expect(json.value(at: "results.2.openssl_gbps") == nil)
        #expect(json.value(at: "results.2.ratio") == .number(0.25))
        #expect(json.value(at: "results.3.gbps") == .null)
        #expect(json.value(at: "results.3.unavailable") == .string("no Key Locker"))
        #expect(json.value(at: "results.4.mode") == .string("boot"))
        #expect(json.value(at: "results.4.cpus") == .integer(4))
        #expect(json.value(at: "results.4.openssl_gbps") == nil)
        // It decodes back to the same rows.
        let decoded = try JSONDecoder().decode(BenchmarkReport.self, from: Data(ResultEncoding.json(report).utf8))
        #expect(decoded.results.map(\.name) == report.results.map(\.name))
        #expect(decoded.results[0].reference == .openssl(3.5))
        #expect(decoded.results[3].unavailable == "no Key Locker")
        #expect(decoded.results[4][extra: "mode"] == .text("boot"))
        #expect(report.text.contains("OpenSSL unavailable"))
        #expect(report.text.contains("ratio 0.90×"))
    }
}
