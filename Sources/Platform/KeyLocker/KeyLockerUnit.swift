//===----------------------------------------------------------------------===//
//
// hwkeys: Platform
//
//===----------------------------------------------------------------------===//

import HWCrypto

/// A logical processor's Key Locker state: IWKey (encryption key, integrity key, KeySource, NoBackup)
/// and `IA32_COPY_STATUS`. Placeholder until the Key Locker hardware lands.
final class KeyLockerUnit {
    init() {}

    /// IWKey is lost (S3, S4, S5, reset): it reads as zero with KeySource 0 and NoBackup 0.
    func powerLost() {}

    func encode(into writer: inout ImageWriter) {
        writer.section("kl", version: 1)
    }

    func decode(from reader: inout ImageReader) throws(ImageError) {
        try reader.section("kl", maxVersion: 1)
    }
}
