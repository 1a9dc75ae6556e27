//===----------------------------------------------------------------------===//
//
// hwkeys: KernelTests
//
//===----------------------------------------------------------------------===//

import HWKeysBase
import Platform
import TestSupport
import Testing
import X86

@testable import Kernel

/// Intel v9 `setup_keylocker()`: set CR4.KL, then read CPUID.19H:EBX[0] (AESKLE) — setting CR4.KL "does not
/// always enable the feature" — and disable Key Locker when it reads 0 (docs/research/keylocker-research.md
/// §1.1, §2.2). hwkeys' processors always enable it; a platform whose CPUID hides AESKLE stands for the
/// firmware that does not.
@Suite struct KeyLockerAESKLETests {
    func kernel(_ cmdline: String, hideAESKLE: Bool = true) throws -> (RecordingPlatform, Kernel) {
        var config = MachineConfiguration()
        config.seed = 5
        config.memoryBytes = 4 << 20
        config.bootKernel = false
        let platform = RecordingPlatform(try Machine.create(configuration: config)) { $0.hideAESKLE = hideAESKLE }
        return (platform, try Kernel.boot(platform: platform, commandLine: cmdline))
    }

    @Test func bootPolicyStaysDisabledWhenAESKLEIsNotSetAfterCR4KL() throws {
        let (_, kernel) = try kernel("keylocker.policy=boot")
        #expect(kernel.keyLockerManager.status == .disabled)
        #expect(try !kernel.cr4KL(0) && !kernel.cr4KL(1))
        #expect(kernel.log.lines.contains { $0.text.contains("AESKLE") })
        // The same hardware with AESKLE loads the key.
        let (_, enabled) = try self.kernel("keylocker.policy=boot", hideAESKLE: false)
        #expect(enabled.keyLockerManager.status == .valid)
    }

    @Test func anAdminModeWriteFailsAndLeavesKeyLockerDisabled() throws {
        let (_, kernel) = try kernel("")
        let error = #expect(throws: HWKeysError.self) { try kernel.writeKeyLockerMode("native_kernel_key_remember") }
        #expect(error?.errno == .EOPNOTSUPP)
        #expect(kernel.keyLockerManager.status == .disabled)
        #expect(kernel.keyLockerManager.rememberedKey == nil)
        #expect(try !kernel.cr4KL(0) && !kernel.cr4KL(1))
    }
}
