//===----------------------------------------------------------------------===//
//
// hwkeys: Platform
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase
import X86

/// A logical processor's Key Locker state (Key Locker spec 343965 §1; SDM Vol. 2A LOADIWKEY):
///
/// - **IWKey**: `IWKey.EncryptionKey` (256 bits), `IWKey.IntegrityKey` (128 bits), `IWKey.KeySource`
///   (4 bits) and `IWKey.NoBackup` (1 bit), kept in zeroizing storage;
/// - **`IA32_COPY_STATUS`** bit 0 (MSR 990H): whether this processor's most recent copy to or from the
///   platform IWKeyBackup succeeded.
///
/// No instruction or MSR reads IWKey (docs/contract.md §3): only LOADIWKEY, a restore from the backup and power
/// loss write it, and only ENCODEKEY, AES*KL and a backup use it. The unit also keeps a host-side
/// ``UnwrapCache`` of unwrapped handle keys; the cache is derived state, dropped whenever IWKey changes and
/// never saved in the machine image.
final class KeyLockerUnit {
    /// `IWKey.EncryptionKey[255:0]`, little-endian: bytes 0–15 are bits 127:0 (LOADIWKEY's SRC2), bytes
    /// 16–31 bits 255:128 (SRC1). This is also the AES-256-GCM-SIV key of the wrap (docs/contract.md §3).
    let encryptionKey = SecretBytes(count: 32)
    /// `IWKey.IntegrityKey[127:0]` (LOADIWKEY's XMM0).
    let integrityKey = SecretBytes(count: 16)
    /// `IWKey.KeySource`: 0 = software key, 1 = software input XOR on-chip randomness.
    private(set) var keySource: UInt8 = 0
    /// `IWKey.NoBackup`: the key may not be copied to the platform backup.
    private(set) var noBackup = false
    /// `IA32_COPY_STATUS[0]`.
    var copyStatus = false

    /// Counts IWKey changes on this processor. Not architectural and not saved: it only names which IWKey
    /// an ``UnwrapCache`` entry was unwrapped under. (Read on every AES*KL; instantaneous accesses only.)
    @exclusivity(unchecked) private(set) var generation: UInt64 = 0
    /// Unwrapped keys by (handle bytes, IWKey generation).
    let unwrapCache = UnwrapCache()
    /// The Key Locker features of this CPU model, copied from the (immutable) machine configuration so
    /// the per-instruction guards read no shared state.
    let features: KeyLockerFeatures

    init(configuration: MachineConfiguration) {
        features = KeyLockerFeatures(configuration)
    }

    // MARK: Host-side fast path

    /// The processor's XMM register file, captured on first use. `SecretBytes` allocates its storage once
    /// and frees it in `deinit`; holding `registerOwner` keeps it alive as long as this unit, and the
    /// processor's `xmm` is a `let`, so the address stays valid. Saves a generic cross-module call per
    /// AES*KL. Instantaneous accesses only.
    @exclusivity(unchecked) private var registerFile: UnsafeMutableRawBufferPointer?
    private var registerOwner: SecretBytes?

    /// `xmm`'s bytes (the owning processor's register file).
    @inline(__always)
    func registers(_ xmm: SecretBytes) -> UnsafeMutableRawBufferPointer {
        if let file = registerFile { return file }
        let file = xmm.withUnsafeMutableBytes { $0 }
        registerOwner = xmm
        registerFile = file
        return file
    }

    /// What ENCODEKEY returns in EAX: `NoBackup | KeySource << 1` (SDM Vol. 2A ENCODEKEY128, "DEST").
    var encodeKeyEAX: UInt32 { (noBackup ? 1 : 0) | UInt32(keySource) << 1 }

    /// Replaces IWKey (LOADIWKEY, or a restore from the platform backup) and invalidates every cached
    /// unwrap. The arguments are copied.
    func load(encryptionKey enc: SecretBytes, integrityKey int: SecretBytes, keySource: UInt8, noBackup: Bool) {
        precondition(enc.count == 32 && int.count == 16, "IWKey is a 256-bit encryption and 128-bit integrity key")
        encryptionKey.withUnsafeMutableBytes { out in enc.withUnsafeBytes { out.copyMemory(from: $0) } }
        integrityKey.withUnsafeMutableBytes { out in int.withUnsafeBytes { out.copyMemory(from: $0) } }
        self.keySource = keySource
        self.noBackup = noBackup
        iwKeyChanged()
    }

    /// IWKey is lost (S3, S4, S5, reset): it becomes zero with KeySource 0 and NoBackup 0, and
    /// `IA32_COPY_STATUS` reads 0 (docs/research/keylocker-research.md §1.9: "the wrapping key turns to zero").
    func powerLost() {
        encryptionKey.wipe()
        integrityKey.wipe()
        keySource = 0
        noBackup = false
        copyStatus = false
        iwKeyChanged()
    }

    private func iwKeyChanged() {
        generation &+= 1
        unwrapCache.removeAll()
    }

    // MARK: Image

    /// Section `kl` v2: encryption key, integrity key, KeySource, NoBackup, copy status. Version 1 (the
    /// placeholder before Key Locker existed) had no fields and decodes as a lost IWKey.
    func encode(into writer: inout ImageWriter) {
        writer.section("kl", version: 2)
        writer.secret(encryptionKey)
        writer.secret(integrityKey)
        writer.u8(keySource)
        writer.bool(noBackup)
        writer.bool(copyStatus)
    }

    func decode(from reader: inout ImageReader) throws(HWKeysError) {
        let version = try reader.section("kl", maxVersion: 2)
        guard version >= 2 else {
            powerLost()
            return
        }
        let enc = try reader.secret(count: 32)
        let int = try reader.secret(count: 16)
        let source = try reader.u8()
        guard source <= 1 else { throw .unreadableImage("machine image: IWKey KeySource \(source) out of range") }
        let noBackup = try reader.bool()
        load(encryptionKey: enc, integrityKey: int, keySource: source, noBackup: noBackup)
        copyStatus = try reader.bool()
    }
}

/// The Key Locker part of the CPU model (docs/contract.md §3), as CPUID enumerates it.
struct KeyLockerFeatures: Hashable, Sendable {
    /// CPUID.(7,0):ECX[23] KL.
    let present: Bool
    /// CPUID.19H:EBX[2] WIDE_KL.
    let wide: Bool
    /// CPUID.19H:EBX[4]: the backup MSRs.
    let backup: Bool
    /// CPUID.19H:ECX[0]: NoBackup.
    let noBackup: Bool
    /// CPUID.19H:ECX[1]: KeySource 1.
    let random: Bool
    /// CPUID.19H:EAX[2:0]: supported handle restrictions.
    let restrictions: UInt32

    init(_ configuration: MachineConfiguration) {
        present = configuration.keyLocker
        wide = configuration.wideKL
        backup = configuration.klBackup
        noBackup = configuration.klNoBackup
        random = configuration.klRandom
        restrictions = configuration.klRestrictions.rawValue & 0x7
    }
}
