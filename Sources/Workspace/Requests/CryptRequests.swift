//===----------------------------------------------------------------------===//
//
// hwkeys: Workspace
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase
import Kernel

// `crypt create|open|close|write|read|status|list`: dm-crypt-like volumes on emulated disks, the key in
// kernel memory (`aes-xts-plain64`) or as Key Locker handles (`aes-xts-kl-plain64`) (docs/contract.md §7;
// docs/crypt-volumes.md). Every verb acts as process `pid` and needs root (CAP_SYS_ADMIN).

/// `crypt create NAME --size SIZE --cipher C [--sector-size 512|4096] (--key HEX | --key-file F)`: a new disk
/// (header + SIZE bytes), formatted and opened with the key.
public struct CreateCryptVolume: WorkspaceRequest {
    public static let access = RequestAccess.write

    public var name: String
    /// Payload bytes, whole sectors.
    public var size: UInt64
    public var cipher: CryptCipher
    /// 512 or 4096 (cryptsetup `--sector-size`).
    public var sectorSize: Int
    /// K1 ‖ K2, 64 bytes.
    public var key: RequestSecret
    public var pid: Int32

    public init(
        name: String,
        size: UInt64,
        cipher: CryptCipher,
        sectorSize: Int = 512,
        key: RequestSecret,
        pid: Int32 = 100
    ) {
        self.name = name
        self.size = size
        self.cipher = cipher
        self.sectorSize = sectorSize
        self.key = key
        self.pid = pid
    }

    public func run(in context: RequestContext) throws(HWKeysError) -> CryptVolumeDescription {
        let kernel = try context.kernel()
        try kernel.crypt.create(name, size: size, cipher: cipher, sectorSize: sectorSize, key: key.bytes, as: pid)
        var description = CryptVolumeDescription(try kernel.crypt.status(name, as: pid))
        description.created = true
        return description
    }
}

/// `crypt open NAME (--key HEX | --key-file F)`: map a volume with its key; on an open volume, replace its key
/// material (`cryptsetup refresh`).
public struct OpenCryptVolume: WorkspaceRequest {
    public static let access = RequestAccess.write

    public var name: String
    public var key: RequestSecret
    public var pid: Int32

    public init(name: String, key: RequestSecret, pid: Int32 = 100) {
        self.name = name
        self.key = key
        self.pid = pid
    }

    public func run(in context: RequestContext) throws(HWKeysError) -> CryptVolumeDescription {
        let kernel = try context.kernel()
        try kernel.crypt.open(name, key: key.bytes, as: pid)
        return CryptVolumeDescription(try kernel.crypt.status(name, as: pid))
    }
}

/// `crypt close NAME`: the key or handles are wiped from kernel memory, and the handles' unwrapped key
/// schedules from every CPU's Key Locker unit.
public struct CloseCryptVolume: WorkspaceRequest {
    public static let access = RequestAccess.write

    public var name: String
    public var pid: Int32

    public init(name: String, pid: Int32 = 100) {
        self.name = name
        self.pid = pid
    }

    public func run(in context: RequestContext) throws(HWKeysError) -> CryptVolumeDescription {
        let kernel = try context.kernel()
        try kernel.crypt.close(name, as: pid)
        return CryptVolumeDescription(try kernel.crypt.status(name, as: pid))
    }
}

/// `crypt write NAME OFFSET HEX`: plaintext into an open volume at any offset (read-modify-write of partial
/// sectors).
public struct WriteCryptVolume: WorkspaceRequest {
    public static let access = RequestAccess.write

    public var name: String
    public var offset: UInt64
    public var bytes: [UInt8]
    public var pid: Int32

    public init(name: String, offset: UInt64, bytes: [UInt8], pid: Int32 = 100) {
        self.name = name
        self.offset = offset
        self.bytes = bytes
        self.pid = pid
    }

    public func run(in context: RequestContext) throws(HWKeysError) -> CryptVolumeWritten {
        let kernel = try context.kernel()
        try kernelCall { try bytes.withUnsafeBytes { try kernel.crypt.write(name, offset: offset, data: $0, as: pid) } }
        return CryptVolumeWritten(name: name, offset: offset, written: bytes.count)
    }
}

/// What a volume write stored.
public struct CryptVolumeWritten: CommandResult {
    public var name: String
    public var offset: UInt64
    public var written: Int

    public var text: String { "wrote \(written) bytes to \(name) at offset \(offset)" }
}

/// `crypt read NAME OFFSET LEN`: decrypt bytes of an open volume (at most 16 MiB). A writer: it runs the
/// cipher on the kernel's CPU (AES*KL instructions for `aes-xts-kl-plain64`) and reads key material through
/// the cache.
public struct ReadCryptVolume: WorkspaceRequest {
    public static let access = RequestAccess.write

    public var name: String
    public var offset: UInt64
    public var length: Int
    public var pid: Int32

    public init(name: String, offset: UInt64, length: Int, pid: Int32 = 100) {
        self.name = name
        self.offset = offset
        self.length = length
        self.pid = pid
    }

    public func run(in context: RequestContext) throws(HWKeysError) -> CryptVolumeBytes {
        let bytes = try context.kernel().crypt.read(name, offset: offset, count: length, as: pid)
        return CryptVolumeBytes(name: name, offset: offset, bytes: HexBytes(bytes))
    }
}

/// Decrypted bytes of a volume (text: a hex dump at their volume offsets).
public struct CryptVolumeBytes: CommandResult {
    public var name: String
    public var offset: UInt64
    public var bytes: HexBytes

    public var text: String { hexDump(bytes.bytes, startingAt: offset) }
}

/// `crypt status NAME`. A reader: the kernel's volume table, no instruction, no key material.
public struct ShowCryptVolume: WorkspaceRequest {
    public static let access = RequestAccess.read

    public var name: String
    public var pid: Int32

    public init(name: String, pid: Int32 = 100) {
        self.name = name
        self.pid = pid
    }

    public func run(in context: RequestContext) throws(HWKeysError) -> CryptVolumeDescription {
        CryptVolumeDescription(try context.kernel().crypt.status(name, as: pid))
    }
}

/// `crypt list`. A reader.
public struct ListCryptVolumes: WorkspaceRequest {
    public static let access = RequestAccess.read

    public var pid: Int32

    public init(pid: Int32 = 100) { self.pid = pid }

    public func run(in context: RequestContext) throws(HWKeysError) -> CryptVolumeList {
        CryptVolumeList(volumes: try context.kernel().crypt.list(as: pid).map(CryptVolumeDescription.init))
    }
}

/// A volume as `crypt status` shows it: never key bytes.
public struct CryptVolumeDescription: CommandResult {
    public var name: String
    public var cipher: String
    /// Payload bytes.
    public var size: UInt64
    public var sectorSize: Int
    /// The backing disk (named like the volume).
    public var disk: String
    public var payloadOffset: UInt64
    public var open: Bool
    /// The kernel holds the key (`aes-xts-plain64`, open).
    public var keyHeld: Bool
    /// The kernel holds Key Locker handles (`aes-xts-kl-plain64`, open).
    public var handlesHeld: Bool
    /// Made by `crypt create` (text only).
    var created = false

    enum CodingKeys: String, CodingKey {
        case name, cipher, size, disk, open
        case sectorSize = "sector_size"
        case payloadOffset = "payload_offset"
        case keyHeld = "key_held"
        case handlesHeld = "handles_held"
    }

    public init(_ status: CryptVolumeStatus) {
        name = status.name
        cipher = status.cipher.rawValue
        size = status.size
        sectorSize = status.sectorSize
        disk = status.name
        payloadOffset = status.payloadOffset
        open = status.isOpen
        keyHeld = status.holdsKey
        handlesHeld = status.holdsHandles
    }

    public var text: String {
        let material =
            keyHeld
            ? "key in kernel memory" : handlesHeld ? "two CPL0-only Key Locker handles in kernel memory" : "none"
        return
            ([created ? "created \(name)" : nil].compactMap { $0 } + [
                "\(name): \(open ? "open" : "closed")",
                "  cipher:  \(cipher) (AES-256-XTS, \(sectorSize)-byte sectors)",
                "  size:    \(size) bytes (\(size / UInt64(max(sectorSize, 1))) sectors)",
                "  disk:    \(disk), payload at offset \(payloadOffset)",
                "  held:    \(material)",
            ]).joined(separator: "\n")
    }
}

/// The volumes, by name.
public struct CryptVolumeList: CommandResult {
    public var volumes: [CryptVolumeDescription]

    public var text: String {
        volumes.isEmpty
            ? "no crypt volumes"
            : volumes.map { "\($0.name)\t\($0.cipher)\t\($0.size) bytes\t" + ($0.open ? "open" : "closed") }
                .joined(separator: "\n")
    }
}
