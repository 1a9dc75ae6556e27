//===----------------------------------------------------------------------===//
//
// hwkeys: Platform
//
//===----------------------------------------------------------------------===//

/// The platform-scoped IWKeyBackup and `IA32_IWKEYBACKUP_STATUS` (non-volatile across S3/S4, invalid
/// after S5). Placeholder until the Key Locker hardware lands.
final class IWKeyBackupStorage {
    init(configuration: MachineConfiguration) {}

    func timeAdvanced(from: UInt64, to: UInt64) {}

    func powerTransition(_ transition: PowerTransition, machine: Machine) {}

    func encode(into writer: inout ImageWriter) {
        writer.section("iwkey-backup", version: 1)
    }

    func decode(from reader: inout ImageReader) throws(ImageError) {
        try reader.section("iwkey-backup", maxVersion: 1)
    }
}
