//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

/// The metadata block at the start of a crypt volume's backing disk, so a volume is found again after
/// power off/on (docs/crypt-volumes.md "Layout").
///
/// dm-crypt's plain mode keeps no metadata (the administrator's crypttab says cipher and size); LUKS keeps a
/// header with key slots. hwkeys keeps a LUKS-like header **without any key material** — no key slots, no
/// key digest — so what the disk reveals is the cipher, the sector size, the size and ciphertext, nothing
/// else:
///
/// | offset | size | field |
/// |---:|---:|---|
/// | 0 | 8 | magic `HWKCRYPT` |
/// | 8 | 2 | version (1), little-endian |
/// | 10 | 2 | sector size: 512 or 4096 (dm-crypt's `sector_size`; cryptsetup `--sector-size`) |
/// | 12 | 4 | payload offset in sectors of that size (the payload starts at byte 4096: 8 or 1) |
/// | 16 | 8 | payload size in sectors of that size |
/// | 24 | 32 | cipher specification, NUL-padded (`aes-xts-plain64`, `aes-xts-kl-plain64`) |
/// | 56 | 4040 | zero |
///
/// Payload sector n (the volume's sector n) lies at disk byte 4096 + sector size · n and is encrypted with
/// the plain64 IV of its first 512-byte unit, n · sector size / 512, counted from the segment start as
/// LUKS2 does (docs/crypt-volumes.md "Sector size and IV").
struct CryptHeader: Equatable {
    static let magic: [UInt8] = Array("HWKCRYPT".utf8)
    static let version: UInt16 = 1
    /// Bytes the header occupies: one 4 KiB block.
    static let size = 4096
    /// The sector sizes a volume may use: dm-crypt's default and the 4 KiB sectors of 4Kn disks.
    static let sectorSizes = [512, 4096]

    var cipher: CryptCipher
    /// Payload size in sectors.
    var sectors: UInt64
    /// Bytes per sector (the XTS data unit): 512 or 4096.
    var sectorSize: Int

    /// The payload offset in sectors.
    var payloadOffsetSectors: UInt32 { UInt32(Self.size / sectorSize) }

    /// The 4096 header bytes.
    func encoded() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Self.size)
        bytes.replaceSubrange(0..<8, with: Self.magic)
        Self.put(Self.version, at: 8, in: &bytes)
        Self.put(UInt16(sectorSize), at: 10, in: &bytes)
        Self.put(payloadOffsetSectors, at: 12, in: &bytes)
        Self.put(sectors, at: 16, in: &bytes)
        let name = Array(cipher.rawValue.utf8)
        bytes.replaceSubrange(24..<24 + name.count, with: name)
        return bytes
    }

    /// Parses a header; nil if `bytes` is not one this kernel understands (no magic, another version,
    /// another sector size or layout, an unknown cipher, or nonzero reserved bytes).
    init?(_ bytes: [UInt8]) {
        guard bytes.count >= Self.size, Array(bytes[0..<8]) == Self.magic,
            Self.get(UInt16.self, at: 8, in: bytes) == Self.version
        else { return nil }
        let sectorSize = Int(Self.get(UInt16.self, at: 10, in: bytes))
        guard Self.sectorSizes.contains(sectorSize),
            Self.get(UInt32.self, at: 12, in: bytes) == UInt32(Self.size / sectorSize),
            bytes[56..<Self.size].allSatisfy({ $0 == 0 })
        else { return nil }
        let sectors = Self.get(UInt64.self, at: 16, in: bytes)
        let nameBytes = bytes[24..<56].prefix { $0 != 0 }
        guard bytes[24 + nameBytes.count..<56].allSatisfy({ $0 == 0 }),
            let cipher = CryptCipher(rawValue: String(decoding: nameBytes, as: UTF8.self)),
            sectors > 0
        else { return nil }
        self.cipher = cipher
        self.sectors = sectors
        self.sectorSize = sectorSize
    }

    init(cipher: CryptCipher, sectors: UInt64, sectorSize: Int = 512) {
        precondition(Self.sectorSizes.contains(sectorSize), "crypt sectors are 512 or 4096 bytes")
        self.cipher = cipher
        self.sectors = sectors
        self.sectorSize = sectorSize
    }

    private static func put<T: FixedWidthInteger>(_ value: T, at offset: Int, in bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.replaceSubrange(offset..<offset + $0.count, with: $0) }
    }

    private static func get<T: FixedWidthInteger>(_ type: T.Type, at offset: Int, in bytes: [UInt8]) -> T {
        var value: T = 0
        for index in 0..<MemoryLayout<T>.size { value |= T(bytes[offset + index]) << (8 * index) }
        return value
    }
}
