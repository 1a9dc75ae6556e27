//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommandsTests
//
//===----------------------------------------------------------------------===//

import Foundation
import Testing

@testable import HWKeysCommands

/// Shapes and argument checks only: benchmark numbers are never asserted (they are host wall time).
@Suite struct BenchmarkCommandTests {
    @Test func cryptoGroupReportsEveryPairWithOpenSSLAndRatios() throws {
        let result = HWKeysCLI.run(["benchmark", "--only", "crypto", "--seconds", "0.01", "--format", "json"])
        #expect(result.exitCode == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let rows = try #require(object["results"] as? [[String: Any]])
        let names = rows.compactMap { $0["name"] as? String }
        for bits in [128, 256] {
            for kind in ["line", "4k"] {
                for direction in ["encrypt", "decrypt"] { #expect(names.contains("xts\(bits)-\(kind)-\(direction)")) }
            }
        }
        for row in rows where (row["name"] as? String)?.hasPrefix("xts") == true {
            #expect((row["gbps"] as? Double ?? 0) > 0)
            if object["openssl"] is String {
                #expect((row["openssl_gbps"] as? Double ?? 0) > 0)
                #expect(row["ratio"] is Double)
            }
        }
    }

    @Test(arguments: [["--seconds", "0"], ["--seconds", "-1"], ["--only", "everything"], ["--seconds", "x"]])
    func badArgumentsAreUsageErrors(arguments: [String]) {
        let result = HWKeysCLI.run(["benchmark", "--format", "json"] + arguments)
        #expect(result.exitCode == 2)
        #expect(result.stderr.contains("\"error\":\"EINVAL\""))
    }
}
