//===----------------------------------------------------------------------===//
//
// hwkeys: Platform
//
//===----------------------------------------------------------------------===//

import HWCrypto
import X86

/// One package's memory controller: it owns a contiguous DRAM range (``MachineConfiguration/dramRange(ofPackage:)``)
/// and encrypts every line it writes there, and decrypts every line it reads, with its own key table
/// (MKTME spec 336907 §6; docs/contract.md §2: PCONFIG programs only the executing package's table, so a random
/// KeyID has a different key on each package, and memory is only ever encrypted by its home controller).
///
/// The cipher is AES-XTS with the data unit = one 64-byte line and the data-unit sequence number = the
/// DRAM address (KeyID bits stripped) >> 6, little-endian in 128 bits (docs/contract.md §2 choice: the real tweak
/// derivation is not public).
final class MemoryController {
    /// The package this controller belongs to.
    let package: Int
    /// The key table: the TME key (KeyID 0) and MKTME KeyIDs 1…MK_TME_MAX_KEYS.
    let keyTable: KeyTable

    init(package: Int, maxKeys: Int) {
        self.package = package
        self.keyTable = KeyTable(maxKeys: maxKeys)
    }

    /// The key that protects traffic of `keyID` at DRAM address `dramAddress` (which this controller
    /// owns), or nil when that traffic is stored as plaintext:
    /// - a direct or random KeyID: its key (exclusion and bypass do not apply);
    /// - a NO_ENCRYPT KeyID: plaintext;
    /// - KeyID 0, and KeyIDs that behave as KeyID 0 (cleared, never programmed, or above MK_TME_MAX_KEYS):
    ///   plaintext with TME off, under TME bypass or inside the exclusion range; the TME key otherwise.
    @inline(__always)
    func cipher(keyID: Int, dramAddress: UInt64, tme: TMEUnit) -> XTSKey? {
        switch keyTable.mode(of: keyID) {
        case .key(let cipher): return cipher
        case .plaintext: return nil
        case .asKeyID0: return tme.keyID0IsPlaintext(at: dramAddress) ? nil : keyTable.tmeKey?.cipher
        }
    }
}
