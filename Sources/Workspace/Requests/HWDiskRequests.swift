//===----------------------------------------------------------------------===//
//
// hwkeys: Workspace
//
//===----------------------------------------------------------------------===//

import HWKeysBase
import Platform

// The disk views of the debug monitor: what a stolen disk shows (ciphertext of crypt volumes, plaintext
// hibernation images), and raw writes for tampering experiments. Host-only (contract §8).

extension Machine {
    /// The disk named `name`.
    ///
    /// - Throws: `ENODEV` when the machine has no such disk.
    func monitorDisk(_ name: String) throws(HWKeysError) -> EmulatedDisk {
        guard let disk = emulatedDisk(named: name) else {
            let names = emulatedDisks.map(\.name)
            throw HWKeysError(
                .ENODEV,
                "no disk named '\(name)' (disks: \(names.isEmpty ? "none" : names.joined(separator: ", ")))"
            )
        }
        return disk
    }
}

/// `hw disks`: the machine's non-volatile disks with their sizes.
public struct ListDisks: WorkspaceRequest {
    public static let access = RequestAccess.read
    public static let runsInGuest = false

    public init() {}

    public func run(in context: RequestContext) throws(HWKeysError) -> DiskList {
        DiskList(disks: try context.machine().emulatedDisks.map { DiskList.Disk(name: $0.name, size: $0.size) })
    }
}

/// The machine's disks.
public struct DiskList: CommandResult {
    public struct Disk: Codable, Sendable, Hashable {
        public var name: String
        /// Bytes.
        public var size: UInt64
    }

    public var disks: [Disk]

    public var text: String {
        disks.isEmpty ? "no disks" : disks.map { "\($0.name)\t\($0.size) bytes" }.joined(separator: "\n")
    }
}

/// `hw disk NAME OFFSET LEN`: raw disk bytes.
public struct ReadDisk: WorkspaceRequest {
    public static let access = RequestAccess.read
    public static let runsInGuest = false

    public var name: String
    public var offset: UInt64
    /// 1 … ``MonitorLimits/maximumRead`` bytes.
    public var length: Int

    public init(name: String, offset: UInt64, length: Int) {
        self.name = name
        self.offset = offset
        self.length = length
    }

    /// - Throws: `EINVAL` (usage) for a bad length, `ENODEV` for no such disk, `EFAULT` for a range outside it.
    public func run(in context: RequestContext) throws(HWKeysError) -> DiskContents {
        try MonitorLimits.checkReadLength(length)
        let disk = try context.machine().monitorDisk(name)
        guard disk.contains(offset, count: length) else {
            throw HWKeysError(.EFAULT, "range \(offset)+\(length) is outside disk '\(name)' (\(disk.size) bytes)")
        }
        var bytes = [UInt8](repeating: 0, count: length)
        bytes.withUnsafeMutableBytes { disk.read(offset, into: $0) }
        return DiskContents(disk: name, offset: offset, bytes: HexBytes(bytes))
    }
}

/// Raw disk bytes.
public struct DiskContents: CommandResult {
    public var disk: String
    public var offset: UInt64
    public var bytes: HexBytes

    public var text: String { hexDump(bytes.bytes, startingAt: offset) }
}

/// `hw poke-disk NAME OFFSET HEX`: write raw disk bytes, bypassing the kernel (tampering with a stolen disk).
public struct WriteDisk: WorkspaceRequest {
    public static let access = RequestAccess.write
    public static let runsInGuest = false

    public var name: String
    public var offset: UInt64
    /// At least one byte.
    public var bytes: [UInt8]

    public init(name: String, offset: UInt64, bytes: [UInt8]) {
        self.name = name
        self.offset = offset
        self.bytes = bytes
    }

    /// - Throws: `EINVAL` (usage) for no bytes, `ENODEV` for no such disk, `EFAULT` for a range outside it.
    public func run(in context: RequestContext) throws(HWKeysError) -> DiskWrite {
        guard !bytes.isEmpty else { throw HWKeysError.usage("nothing to write") }
        let disk = try context.machine().monitorDisk(name)
        guard disk.contains(offset, count: bytes.count) else {
            throw HWKeysError(
                .EFAULT,
                "range \(offset)+\(bytes.count) is outside disk '\(name)' (\(disk.size) bytes)"
            )
        }
        bytes.withUnsafeBytes { disk.write(offset, from: $0) }
        return DiskWrite(disk: name, offset: offset, written: bytes.count)
    }
}

/// What `hw poke-disk` wrote.
public struct DiskWrite: CommandResult {
    public var disk: String
    public var offset: UInt64
    public var written: Int

    public var text: String { "wrote \(written) raw bytes to disk '\(disk)' at offset \(offset)" }
}
