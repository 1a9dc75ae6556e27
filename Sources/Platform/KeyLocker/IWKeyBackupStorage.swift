//===----------------------------------------------------------------------===//
//
// hwkeys: Platform
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase

/// The platform-scoped IWKeyBackup and `IA32_IWKEYBACKUP_STATUS` (MSR 991H; Key Locker spec 343965 §4.5).
///
/// One backup serves every logical processor of the platform (docs/research/keylocker-research.md §1.8, §7 question 14).
/// It is non-volatile: kept across S3, S4 and warm reset, invalid after S5 (docs/contract.md §4). Its contents are
/// reachable only through `IA32_COPY_PLATFORM_TO_LOCAL`; nothing reads them out.
///
/// Timing (docs/contract.md §3 choice): a backup written through `IA32_COPY_LOCAL_TO_PLATFORM` is stored at once but
/// becomes valid only when emulated time reaches the write time plus the configured latency
/// (`--kl-backup-latency`, default 0); until then `IA32_IWKEYBACKUP_STATUS` reads 0 and a restore fails.
/// Completion is driven by the emulated clock (``timeAdvanced(from:to:)``), never by host time.
final class IWKeyBackupStorage {
    /// The backed-up `IWKey.EncryptionKey` (32 bytes) and `IWKey.IntegrityKey` (16 bytes).
    let encryptionKey = SecretBytes(count: 32)
    let integrityKey = SecretBytes(count: 16)
    /// The backed-up `IWKey.KeySource`. (A NoBackup IWKey is never backed up, so NoBackup is always 0.)
    private(set) var keySource: UInt8 = 0
    /// `IA32_IWKEYBACKUP_STATUS[0]`: the backup is valid.
    private(set) var valid = false
    /// `IA32_IWKEYBACKUP_STATUS[3]`: "IWKeyBackup consumed". Set with bit 0 when a backup completes, so a
    /// completed backup reads 9H as in ACRN's emulation (docs/research/keylocker-research.md §1.8).
    private(set) var consumed = false
    /// Emulated time (ns) at which an in-flight backup becomes valid, if one is in flight. Read on every
    /// `Machine.charge` (``timeAdvanced(from:to:)``), where a dynamic exclusivity check would double the
    /// cost of charging; every access is instantaneous and one thread drives a machine.
    @exclusivity(unchecked) private(set) var completesAt: UInt64?

    /// The emulated time a backup takes to become valid.
    let latencyNanoseconds: UInt64

    init(configuration: MachineConfiguration) {
        latencyNanoseconds = configuration.klBackupLatencyNanoseconds
    }

    /// `IA32_IWKEYBACKUP_STATUS` bits.
    enum StatusBit {
        static let valid: UInt64 = 1 << 0
        static let storageError: UInt64 = 1 << 2
        static let consumed: UInt64 = 1 << 3
    }

    /// `IA32_IWKEYBACKUP_STATUS` as RDMSR reads it. While an injected storage error is armed the storage
    /// reports bit 2 (read/write error) and nothing else.
    func status(storageError: Bool) -> UInt64 {
        if storageError { return StatusBit.storageError }
        return (valid ? StatusBit.valid : 0) | (consumed ? StatusBit.consumed : 0)
    }

    /// Whether a restore can read the backup now.
    func readable(storageError: Bool) -> Bool { valid && !storageError }

    /// Starts a backup of `unit`'s IWKey at emulated time `now`. The previous backup is replaced at once;
    /// the new one becomes valid after the latency (immediately when it is 0).
    func store(from unit: KeyLockerUnit, now: UInt64) {
        encryptionKey.withUnsafeMutableBytes { out in unit.encryptionKey.withUnsafeBytes { out.copyMemory(from: $0) } }
        integrityKey.withUnsafeMutableBytes { out in unit.integrityKey.withUnsafeBytes { out.copyMemory(from: $0) } }
        keySource = unit.keySource
        valid = false
        consumed = false
        completesAt = now &+ latencyNanoseconds
        if latencyNanoseconds == 0 { complete() }
    }

    /// Copies the backup into `unit` (a restore). The caller checked ``readable(storageError:)``.
    func restore(into unit: KeyLockerUnit) {
        precondition(valid, "restore from an invalid IWKey backup")
        unit.load(encryptionKey: encryptionKey, integrityKey: integrityKey, keySource: keySource, noBackup: false)
    }

    private func complete() {
        completesAt = nil
        valid = true
        consumed = true
    }

    /// Emulated time moved from `from` to `to` (called by `Machine.advance`).
    @inline(__always)
    func timeAdvanced(from: UInt64, to: UInt64) {
        if let deadline = completesAt, to >= deadline { complete() }
    }

    /// docs/contract.md §4: the backup survives S3, S4 and warm reset and is invalid after S5. A backup still in
    /// flight when the platform sleeps or resets is finished first (firmware waits for the storage write),
    /// so "kept" holds for it too; S5 loses it with everything else.
    func powerTransition(_ transition: PowerTransition, machine: Machine) {
        switch transition {
        case .suspendToRAM, .hibernate, .warmReset:
            if completesAt != nil { complete() }
        case .powerOff:
            encryptionKey.wipe()
            integrityKey.wipe()
            keySource = 0
            valid = false
            consumed = false
            completesAt = nil
        case .firmwareInit:
            break
        }
    }

    // MARK: Image (the non-volatile part)

    /// Section `iwkey-backup` v2: keys, KeySource, valid, consumed, completion time. Version 1 (the
    /// placeholder before Key Locker existed) had no fields and decodes as "no backup".
    func encode(into writer: inout ImageWriter) {
        writer.section("iwkey-backup", version: 2)
        writer.secret(encryptionKey)
        writer.secret(integrityKey)
        writer.u8(keySource)
        writer.bool(valid)
        writer.bool(consumed)
        writer.optional(completesAt) { $0.u64($1) }
    }

    func decode(from reader: inout ImageReader) throws(HWKeysError) {
        let version = try reader.section("iwkey-backup", maxVersion: 2)
        guard version >= 2 else { return }
        let enc = try reader.secret(count: 32)
        let int = try reader.secret(count: 16)
        encryptionKey.withUnsafeMutableBytes { out in enc.withUnsafeBytes { out.copyMemory(from: $0) } }
        integrityKey.withUnsafeMutableBytes { out in int.withUnsafeBytes { out.copyMemory(from: $0) } }
        keySource = try reader.u8()
        guard keySource <= 1 else {
            throw .unreadableImage("machine image: backup KeySource \(keySource) out of range")
        }
        valid = try reader.bool()
        consumed = try reader.bool()
        completesAt = try reader.optional { (r: inout ImageReader) throws(HWKeysError) in try r.u64() }
        guard !(valid && completesAt != nil) else {
            throw .unreadableImage("machine image: IWKey backup both valid and in flight")
        }
    }
}
