//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

/// A crypt volume's cipher specification, in dm-crypt's `cipher-chainmode-ivmode` form (docs/contract.md §7).
///
/// Both are AES-256-XTS (IEEE 1619) over the volume's sectors (512 or 4096 bytes) with the `plain64` IV:
/// the tweak input of a sector is the number of its first 512-byte unit as a little-endian 64-bit integer,
/// zero-extended to 128 bits (dm-crypt `crypt_iv_plain64_gen` without `iv_large_sectors`). They differ only
/// in where the key is while the volume is open, so they produce identical disk bytes for the same key.
public enum CryptCipher: String, Codable, Sendable, CaseIterable {
    /// The key (K1 ‖ K2, 64 bytes) stays in kernel memory; sectors are encrypted with AES-NI (HWCrypto's
    /// XTS engine), as dm-crypt does with `xts(aes)`.
    case aesXTSPlain64 = "aes-xts-plain64"
    /// The key becomes two CPL0-only Key Locker handles (ENCODEKEY256 of K1 and of K2) and is wiped;
    /// sectors are encrypted with AESENC256KL (tweak) and AESENCWIDE256KL / AESDECWIDE256KL (data), as
    /// the Linux `aeskl` driver does with `xts(aeskl)` (docs/research/keylocker-research.md §2.5).
    case aesXTSKLPlain64 = "aes-xts-kl-plain64"

    /// Whether the cipher needs Key Locker.
    public var usesKeyLocker: Bool { self == .aesXTSKLPlain64 }

    /// Key length in bytes: AES-256-XTS takes K1 ‖ K2 = 64 bytes.
    public static let keyLength = 64
}
