//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase
import X86

extension Kernel {
    /// RDRAND attempts per 64-bit word before giving up (Linux `RDRAND_RETRY_LOOPS`).
    static let rdrandRetries = 10

    /// `get_random_bytes()`: `count` bytes of kernel randomness, RDRAND on the current CPU word by word
    /// (docs/design.md rule 4: randomness comes from the platform), each word tried up to
    /// ``rdrandRetries`` times.
    ///
    /// - Throws: EIO when RDRAND keeps failing; nothing is returned then.
    func randomBytes(_ count: Int) throws(HWKeysError) -> SecretBytes {
        let bytes = SecretBytes(count: count)
        let cpu = self.cpu
        var offset = 0
        while offset < count {
            var value: UInt64?
            for _ in 0..<Self.rdrandRetries where value == nil { value = cpu.rdrand() }
            guard var random = value else {
                bytes.wipe()
                throw HWKeysError(.EIO, "RDRAND failed \(Self.rdrandRetries) times")
            }
            let take = min(8, count - offset)
            bytes.withUnsafeMutableBytes { out in
                withUnsafeBytes(of: &random) {
                    (out.baseAddress! + offset).copyMemory(from: $0.baseAddress!, byteCount: take)
                }
            }
            random = 0
            offset += take
        }
        return bytes
    }
}
