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
/// key digest — so what the disk reveals is the cipher, the size and ciphertext, nothing else:
///
/// | offset | size | field |
/// |---:|---:|---|
/// | 0 | 8 | magic `HWKCRYPT` |
/// | 8 | 2 | version (1), little-endian |
/// | 10 | 2 | sector size (512) |
/// | 12 | 4 | payload offset in sectors (8: the payload starts at byte 4096) |
/// | 16 | 8 | payload size in sectors |
/// | 24 | 32 | cipher specification, NUL-padded (`aes-xts-plain64`, `aes-xts-kl-plain64`) |
/// | 56 | 4040 | zero |
///
/// Payload sector n (the volume's sector n) lies at disk byte 4096 + 512·n and is encrypted with tweak n,
/// as LUKS2 does with its data segment (the IV counts from the segment start).
struct CryptHeader: Equatable {
    static let magic: [UInt8] = Array("HWKCRYPT".utf8)
    static let version: UInt16 = 1
    /// Bytes the header occupies: one 4 KiB block.
    static let size = 4096
    /// The payload offset in sectors.
    static let payloadOffsetSectors: UInt32 = UInt32(size / sectorSize)
    static let sectorSize = 512

    var cipher: CryptCipher
    /// Payload size in sectors.
    var sectors: UInt64

    /// The 4096 header bytes.
    func encoded() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Self.size)
        bytes.replaceSubrange(0..<8, with: Self.magic)
        Self.put(Self.version, at: 8, in: &bytes)
        Self.put(UInt16(Self.sectorSize), at: 10, in: &bytes)
        Self.put(Self.payloadOffsetSectors, at: 12, in: &bytes)
        Self.put(sectors, at: 16, in: &bytes)
        let name = Array(cipher.rawValue.utf8)
        bytes.replaceSubrange(24..<24 + name.count, with: name)
        return bytes
    }

    /// Parses a header; nil if `bytes` is not one this kernel understands (no magic, another version,
    /// another layout, an unknown cipher, or nonzero reserved bytes).
    init?(_ bytes: [UInt8]) {
        guard bytes.count >= Self.size, Array(bytes[0..<8]) == Self.magic,
            Self.get(UInt16.self, at: 8, in: bytes) == Self.version,
            Self.get(UInt16.self, at: 10, in: bytes) == UInt16(Self.sectorSize),
            Self.get(UInt32.self, at: 12, in: bytes) == Self.payloadOffsetSectors,
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
    }

    init(cipher: CryptCipher, sectors: UInt64) {
        self.cipher = cipher
        self.sectors = sectors
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
