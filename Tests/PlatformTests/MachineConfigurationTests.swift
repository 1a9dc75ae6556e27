//===----------------------------------------------------------------------===//
//
// hwkeys: PlatformTests
//
//===----------------------------------------------------------------------===//

import Foundation
import Platform
import Testing

/// The bootloader's command line: the configured one plus `resume=swap` for a machine with a swap disk,
/// unless the line has its own `resume=` (Linux finds the hibernation device only through `resume=`).
@Suite struct EffectiveKernelCommandLineTests {
    static func configuration(_ cmdline: String, swap: UInt64? = nil) -> MachineConfiguration {
        var config = MachineConfiguration()
        config.kernelCommandLine = cmdline
        config.swapBytes = swap
        return config
    }

    @Test(
        arguments: [
            // configured line, swap bytes (nil = DRAM size), what the kernel gets
            ("", nil, "resume=swap"),
            ("quiet", nil, "quiet resume=swap"),
            ("mktme.api=rfc-v2 keylocker.policy=boot", 1 << 20, "mktme.api=rfc-v2 keylocker.policy=boot resume=swap"),
            ("  ", nil, "resume=swap"),
            ("", 0, ""),
            ("quiet", 0, "quiet"),
            ("resume=hib", nil, "resume=hib"),
            ("quiet resume=/dev/hib", nil, "quiet resume=/dev/hib"),
            ("resume=", nil, "resume="),
            ("resume_offset=8 noresume", nil, "resume_offset=8 noresume resume=swap"),
            ("resume=hib", 0, "resume=hib"),
        ] as [(String, UInt64?, String)]
    )
    func resumeSwapIsAddedOnlyForASwapDiskWithoutResume(line: String, swap: UInt64?, expected: String) {
        #expect(Self.configuration(line, swap: swap).effectiveKernelCommandLine == expected)
    }

    /// Stored configurations keep the line as configured (old ones have no `resume=` either), so the
    /// default comes from the swap disk every time a kernel boots.
    @Test func theStoredConfigurationKeepsTheConfiguredLine() throws {
        let config = Self.configuration("quiet")
        let decoded = try JSONDecoder().decode(MachineConfiguration.self, from: try JSONEncoder().encode(config))
        #expect(decoded.kernelCommandLine == "quiet")
        #expect(decoded.effectiveKernelCommandLine == "quiet resume=swap")
        let old = try JSONDecoder().decode(MachineConfiguration.self, from: Data(#"{"cmdline":"quiet"}"#.utf8))
        #expect(old.effectiveKernelCommandLine == "quiet resume=swap")
    }
}
