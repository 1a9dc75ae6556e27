//===----------------------------------------------------------------------===//
//
// hwkeys: Workspace
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase
import Kernel
import X86

// `proc mmap|munmap|mprotect|encrypt-mprotect|write|read|smaps|translate`: a process's memory (docs/contract.md
// §6), acting for process P as that process's own system calls and loads and stores would. All are writers:
// even `smaps` and `translate` walk page tables that live in emulated DRAM through the kernel's CPU (loads
// that fill cache lines and charge cycles, docs/workspace.md "Readers and writers").

/// `proc mmap P LEN [--prot none|r|rw|rwx] [--shared]`: anonymous memory (pages are allocated on first write).
public struct MapMemory: WorkspaceRequest {
    public static let access = RequestAccess.write

    public var pid: Int32
    /// Bytes (rounded up to pages by the kernel).
    public var length: UInt64
    public var protection: Protection
    /// MAP_SHARED instead of MAP_PRIVATE.
    public var shared: Bool

    public init(pid: Int32, length: UInt64, protection: Protection = .rw, shared: Bool = false) {
        self.pid = pid
        self.length = length
        self.protection = protection
        self.shared = shared
    }

    public func run(in context: RequestContext) throws(HWKeysError) -> MappedMemory {
        MappedMemory(
            addr: Hex(try context.kernel().mmap(pid: pid, length: length, protection: protection, shared: shared))
        )
    }
}

/// Where `mmap` put the mapping.
public struct MappedMemory: CommandResult {
    public var addr: Hex

    public var text: String { addr.description }
}

/// `proc munmap P ADDR LEN`: pages are flushed and freed.
public struct UnmapMemory: WorkspaceRequest {
    public static let access = RequestAccess.write

    public var pid: Int32
    public var address: UInt64
    public var length: UInt64

    public init(pid: Int32, address: UInt64, length: UInt64) {
        self.pid = pid
        self.address = address
        self.length = length
    }

    public func run(in context: RequestContext) throws(HWKeysError) -> MemoryRange {
        try context.kernel().munmap(pid: pid, address: address, length: length)
        return MemoryRange(addr: Hex(address), length: length)
    }
}

/// A range a request acted on.
public struct MemoryRange: CommandResult {
    public var addr: Hex
    public var length: UInt64

    public var text: String { "addr: \(addr)\nlength: \(length)" }
}

/// `proc mprotect P ADDR LEN PROT` (the KeyID is kept), and `proc encrypt-mprotect P ADDR LEN PROT SERIAL`:
/// `encrypt_mprotect()` puts the range under the KeyID of an `mktme` key (SERIAL 0: no encryption, revised
/// design; docs/contract.md §6). The range's contents are discarded (it reads back as zeros).
public struct ProtectMemory: WorkspaceRequest {
    public static let access = RequestAccess.write

    /// The `mktme` key of `encrypt_mprotect`.
    public enum Key: Sendable, Hashable {
        /// A key serial (0: no encryption).
        case serial(Int32)
        /// `%type:description`, found as keyctl(1) finds it for the process: its process keyring, then its
        /// session keyring.
        case named(type: String, description: String)
    }

    public var pid: Int32
    public var address: UInt64
    public var length: UInt64
    public var protection: Protection
    /// nil: `mprotect`; a key: `encrypt_mprotect`.
    public var key: Key?

    public init(pid: Int32, address: UInt64, length: UInt64, protection: Protection, key: Key? = nil) {
        self.pid = pid
        self.address = address
        self.length = length
        self.protection = protection
        self.key = key
    }

    public func run(in context: RequestContext) throws(HWKeysError) -> MemoryProtection {
        let kernel = try context.kernel()
        guard let key else {
            try kernel.mprotect(pid: pid, address: address, length: length, protection: protection)
            return MemoryProtection(addr: Hex(address), length: length, prot: protection.rawValue, keyid: nil)
        }
        let serial: Int32
        switch key {
        case .serial(let number): serial = number
        case .named(let type, let description):
            serial = try KeySpecifier.named(type: type, description: description).resolve(in: kernel, pid: pid)
        }
        try kernel.encryptMprotect(pid: pid, address: address, length: length, protection: protection, serial: serial)
        let vma = kernel.memoryManager.spaces[pid]?.vmas.first { $0.start <= address && address < $0.end }
        return MemoryProtection(addr: Hex(address), length: length, prot: protection.rawValue, keyid: vma?.keyID)
    }
}

/// A range whose protection (and, after `encrypt_mprotect`, KeyID) changed.
public struct MemoryProtection: CommandResult {
    public var addr: Hex
    public var length: UInt64
    public var prot: String
    /// The KeyID of the VMA at `addr` after `encrypt_mprotect` (absent after `mprotect`).
    public var keyid: UInt16?

    public var text: String {
        "addr: \(addr)\nlength: \(length)\nprot: \(prot)" + (keyid.map { "\nkeyid: \($0)" } ?? "")
    }
}

/// `proc write P ADDR HEX|--text S`: stores bytes as the process would (faults in pages, under the VMA's KeyID).
public struct WriteProcessMemory: WorkspaceRequest {
    public static let access = RequestAccess.write

    public var pid: Int32
    public var address: UInt64
    public var bytes: [UInt8]

    public init(pid: Int32, address: UInt64, bytes: [UInt8]) {
        self.pid = pid
        self.address = address
        self.bytes = bytes
    }

    public func run(in context: RequestContext) throws(HWKeysError) -> MemoryWritten {
        try context.kernel().writeMemory(pid: pid, address: address, SecretBytes(bytes))
        return MemoryWritten(addr: Hex(address), written: bytes.count)
    }
}

/// How many bytes a write stored where.
public struct MemoryWritten: CommandResult {
    public var addr: Hex
    public var written: Int

    public var text: String { "addr: \(addr)\nwritten: \(written)" }
}

/// `proc read P ADDR LEN`: loads bytes as the process would (at most 1 MiB).
public struct ReadProcessMemory: WorkspaceRequest {
    public static let access = RequestAccess.write

    /// The most one read shows.
    public static let maximumLength = 1 << 20

    public var pid: Int32
    public var address: UInt64
    public var length: Int

    public init(pid: Int32, address: UInt64, length: Int) {
        self.pid = pid
        self.address = address
        self.length = length
    }

    public func run(in context: RequestContext) throws(HWKeysError) -> MemoryBytes {
        guard length <= Self.maximumLength else { throw HWKeysError.usage("proc read shows at most 1M bytes") }
        let data = try context.kernel().readMemory(pid: pid, address: address, count: length)
        return MemoryBytes(bytes: HexBytes(data.revealedBytes()), address: address)
    }
}

/// Bytes read from a process (text: a hex dump at their virtual addresses).
public struct MemoryBytes: CommandResult {
    public var bytes: HexBytes
    var address: UInt64

    enum CodingKeys: String, CodingKey { case bytes }

    public var text: String { hexDump(bytes.bytes, startingAt: address) }
}

/// `proc smaps P`: `/proc/P/smaps`, with a `KeyID:` line per VMA. A writer: counting resident pages walks the
/// page tables in DRAM through the kernel's CPU.
public struct ShowProcessMappings: WorkspaceRequest {
    public static let access = RequestAccess.write

    public var pid: Int32

    public init(pid: Int32) { self.pid = pid }

    public func run(in context: RequestContext) throws(HWKeysError) -> ProcessMappings {
        let reports = try context.kernel().memoryManager.report(pid: pid)
        return ProcessMappings(
            vmas: reports.map { report in
                let vma = report.vma
                return ProcessMappings.Mapping(
                    start: Hex(vma.start),
                    end: Hex(vma.end),
                    prot: vma.protection.rawValue,
                    shared: vma.shared,
                    anonymous: vma.anonymous,
                    keyid: vma.keyID,
                    size: vma.length,
                    rss: UInt64(report.residentPages) * 4096
                )
            },
            smaps: MemoryManager.smaps(reports)
        )
    }
}

/// A process's mappings.
public struct ProcessMappings: CommandResult {
    public struct Mapping: Codable, Sendable, Hashable {
        public var start: Hex
        public var end: Hex
        public var prot: String
        public var shared: Bool
        public var anonymous: Bool
        public var keyid: UInt16
        public var size: UInt64
        /// Resident bytes.
        public var rss: UInt64
    }

    public var vmas: [Mapping]
    /// The `/proc/P/smaps` text.
    var smaps: String

    enum CodingKeys: String, CodingKey { case vmas }

    public var text: String { smaps }
}

/// `proc translate P ADDR`: walks the process's page tables for ADDR — the DRAM address, the KeyID, the alias
/// the CPU uses, and the leaf entry.
public struct TranslateAddress: WorkspaceRequest {
    public static let access = RequestAccess.write

    public var pid: Int32
    public var address: UInt64

    public init(pid: Int32, address: UInt64) {
        self.pid = pid
        self.address = address
    }

    public func run(in context: RequestContext) throws(HWKeysError) -> AddressTranslation {
        let kernel = try context.kernel()
        let translation = try kernel.translate(pid: pid, address: address)
        let alias = kernel.physical.alias(translation.physicalAddress, keyID: translation.keyID)
        return AddressTranslation(
            pa: Hex(translation.physicalAddress),
            keyid: translation.keyID,
            alias: Hex(alias.rawValue),
            pte: Hex(translation.entry)
        )
    }
}

/// Where a virtual address leads.
public struct AddressTranslation: CommandResult {
    public var pa: Hex
    public var keyid: UInt16
    public var alias: Hex
    public var pte: Hex

    public var text: String { "pa: \(pa)\nkeyid: \(keyid)\nalias: \(alias)\npte: \(pte)" }
}
