//===----------------------------------------------------------------------===//
//
// hwkeys: Platform
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase

extension HWKeysError {
    /// A machine image could not be decoded (truncated, corrupt, or from an incompatible version): `EIO`,
    /// "cannot read machine image: `reason`".
    static func unreadableImage(_ reason: String) -> HWKeysError {
        HWKeysError(.EIO, "cannot read machine image: \(reason)")
    }
}

/// A compact, deterministic binary encoder for machine state.
///
/// Explicit rather than `Codable`: hardware-internal secrets (key tables, IWKeys) must be written into
/// the image, and secret types deliberately do not conform to `Codable`. The same state always
/// encodes to the same bytes, which is what "saved and reloaded byte-identically" checks.
///
/// Because the bytes hold secrets (IWKeys, MKTME keys, XMM registers, cached plaintext), the writer grows
/// its buffer itself and zeroes every buffer it outgrows before releasing it (an `Array` growing on its
/// own would free the old storage with the secrets still in it); ``wipe()`` zeroes the last one, and
/// ``PlatformImage/wipe()`` the image that took it over.
public struct ImageWriter {
    public private(set) var bytes: [UInt8] = []
    /// Sees each buffer the writer outgrew, after it was zeroed and before it is released. Tests only.
    var retiredBufferObserver: ((UnsafeRawBufferPointer) -> Void)?

    public init() {}

    /// Makes room for `extra` more bytes, moving to a larger buffer and zeroing the old one if needed.
    private mutating func reserve(_ extra: Int) {
        let needed = bytes.count + extra
        guard needed > bytes.capacity else { return }
        var grown: [UInt8] = []
        grown.reserveCapacity(Swift.max(needed, 2 * bytes.capacity, 256))
        grown.append(contentsOf: bytes)
        bytes.withUnsafeMutableBytes { old in
            for index in old.indices { old[index] = 0 }
            retiredBufferObserver?(UnsafeRawBufferPointer(old))
        }
        bytes = grown
    }

    private mutating func append(_ buffer: UnsafeRawBufferPointer) {
        reserve(buffer.count)
        bytes.append(contentsOf: buffer)
    }

    public mutating func u8(_ value: UInt8) {
        reserve(1)
        bytes.append(value)
    }
    public mutating func bool(_ value: Bool) { u8(value ? 1 : 0) }
    public mutating func u16(_ value: UInt16) {
        withUnsafeBytes(of: value.littleEndian) { append($0) }
    }
    public mutating func u32(_ value: UInt32) {
        withUnsafeBytes(of: value.littleEndian) { append($0) }
    }
    public mutating func u64(_ value: UInt64) {
        withUnsafeBytes(of: value.littleEndian) { append($0) }
    }
    public mutating func int(_ value: Int) { u64(UInt64(bitPattern: Int64(value))) }

    /// A length-prefixed byte string.
    public mutating func data(_ value: some Collection<UInt8>) {
        u32(UInt32(value.count))
        reserve(value.count)
        bytes.append(contentsOf: value)
    }

    /// Bytes of a known fixed length (no prefix).
    public mutating func raw(_ value: UnsafeRawBufferPointer) { append(value) }

    /// A length-prefixed UTF-8 string.
    public mutating func string(_ value: String) { data(Array(value.utf8)) }

    /// A secret, length-prefixed. Only state encoders of emulated hardware call this.
    public mutating func secret(_ value: SecretBytes) {
        u32(UInt32(value.count))
        value.withUnsafeBytes { append($0) }
    }

    /// An optional value: a presence byte, then the value.
    public mutating func optional<T>(_ value: T?, _ write: (inout ImageWriter, T) -> Void) {
        if let value {
            u8(1)
            write(&self, value)
        } else {
            u8(0)
        }
    }

    /// A section: a tag and a version, so readers can refuse images they do not understand.
    public mutating func section(_ tag: String, version: UInt8) {
        string(tag)
        u8(version)
    }

    /// Wipes the encoded bytes (they may contain secrets) and empties the writer.
    public mutating func wipe() {
        for index in bytes.indices { bytes[index] = 0 }
        bytes.removeAll()
    }
}

/// Reads what ``ImageWriter`` wrote. Every read checks bounds and throws an `EIO` `HWKeysError` rather than
/// trapping.
public struct ImageReader {
    private let bytes: [UInt8]
    public private(set) var offset = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public var isAtEnd: Bool { offset == bytes.count }

    private mutating func take(_ count: Int) throws(HWKeysError) -> ArraySlice<UInt8> {
        guard count >= 0, count <= bytes.count - offset else {
            throw .unreadableImage("machine image truncated at byte \(offset) (wanted \(count) more)")
        }
        defer { offset += count }
        return bytes[offset..<offset + count]
    }

    private mutating func little<T: FixedWidthInteger>(_ type: T.Type) throws(HWKeysError) -> T {
        let slice = try take(MemoryLayout<T>.size)
        var value: T = 0
        for (shift, byte) in slice.enumerated() { value |= T(byte) << (8 * shift) }
        return value
    }

    public mutating func u8() throws(HWKeysError) -> UInt8 { try take(1).first! }
    public mutating func bool() throws(HWKeysError) -> Bool {
        let value = try u8()
        guard value <= 1 else { throw .unreadableImage("machine image has an invalid boolean at byte \(offset - 1)") }
        return value == 1
    }
    public mutating func u16() throws(HWKeysError) -> UInt16 { try little(UInt16.self) }
    public mutating func u32() throws(HWKeysError) -> UInt32 { try little(UInt32.self) }
    public mutating func u64() throws(HWKeysError) -> UInt64 { try little(UInt64.self) }
    public mutating func int() throws(HWKeysError) -> Int { Int(Int64(bitPattern: try u64())) }

    /// An int that must lie in `range`.
    public mutating func int(in range: ClosedRange<Int>, _ what: String) throws(HWKeysError) -> Int {
        let value = try int()
        guard range.contains(value) else { throw .unreadableImage("machine image: \(what) \(value) out of range") }
        return value
    }

    public mutating func data() throws(HWKeysError) -> [UInt8] { Array(try take(Int(try u32()))) }
    public mutating func raw(count: Int) throws(HWKeysError) -> [UInt8] { Array(try take(count)) }

    public mutating func string() throws(HWKeysError) -> String {
        let raw = try data()
        guard let text = String(validating: raw, as: UTF8.self) else {
            throw .unreadableImage("machine image has invalid UTF-8")
        }
        return text
    }

    /// A secret of exactly `count` bytes.
    public mutating func secret(count: Int) throws(HWKeysError) -> SecretBytes {
        let length = Int(try u32())
        guard length == count else {
            throw .unreadableImage("machine image: secret of \(length) bytes, expected \(count)")
        }
        let slice = try take(length)
        return slice.withUnsafeBytes { SecretBytes(copying: $0) }
    }

    public mutating func optional<T>(_ read: (inout ImageReader) throws(HWKeysError) -> T) throws(HWKeysError) -> T? {
        switch try u8() {
        case 0: return nil
        case 1: return try read(&self)
        default: throw .unreadableImage("machine image has an invalid optional marker")
        }
    }

    /// Checks a section tag and returns its version, which must be ≤ `maxVersion`.
    @discardableResult
    public mutating func section(_ tag: String, maxVersion: UInt8) throws(HWKeysError) -> UInt8 {
        let found = try string()
        guard found == tag else { throw .unreadableImage("machine image: expected section \(tag), found \(found)") }
        let version = try u8()
        guard version >= 1, version <= maxVersion else {
            throw .unreadableImage(
                "machine image section \(tag) has version \(version); this hwkeys reads up to \(maxVersion)"
            )
        }
        return version
    }

    public func expectEnd() throws(HWKeysError) {
        guard isAtEnd else {
            throw .unreadableImage("machine image has \(bytes.count - offset) unexpected trailing bytes")
        }
    }
}
