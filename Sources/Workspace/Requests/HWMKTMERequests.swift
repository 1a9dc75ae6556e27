//===----------------------------------------------------------------------===//
//
// hwkeys: Workspace
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase
import Platform
import X86

/// A physical address for a CPU access of the debug monitor: PA, with the KeyID either in its KeyID bits
/// or given separately (`--keyid`).
public struct MonitorAddress: Sendable, Hashable {
    /// The physical address (it may carry a KeyID in its KeyID bits).
    public var pa: UInt64
    /// The KeyID to access through; PA's own KeyID bits must then be zero or the same KeyID.
    public var keyID: UInt64?

    public init(pa: UInt64, keyID: UInt64? = nil) {
        self.pa = pa
        self.keyID = keyID
    }

    /// The address with its KeyID, checked against MAXPHYADDR, the activated KeyID bits (SDM Vol. 4
    /// `IA32_TME_ACTIVATE` MK_TME_KEYID_BITS) and DRAM (`count` bytes).
    ///
    /// - Throws: `EINVAL` (usage) above MAXPHYADDR or for a KeyID that does not fit or conflicts with PA's;
    ///   `EFAULT` for a range outside DRAM.
    func resolve(count: Int, in machine: Machine) throws(HWKeysError) -> PhysicalAddress {
        let layout = machine.keyIDLayout
        guard pa >> UInt64(layout.maxPhysAddr) == 0 else {
            throw HWKeysError.usage("PA 0x\(String(pa, radix: 16)) is above MAXPHYADDR (\(layout.maxPhysAddr) bits)")
        }
        var address = PhysicalAddress(pa)
        if let keyID {
            guard keyID < UInt64(layout.keyIDCount) else {
                throw HWKeysError.usage("KeyID \(keyID) does not fit in the \(layout.keyIDBits) activated KeyID bits")
            }
            let carried = layout.keyID(of: address)
            guard carried == 0 || carried == UInt16(keyID) else {
                throw HWKeysError.usage("PA already carries KeyID \(carried); give the KeyID once")
            }
            address = layout.address(address, withKeyID: UInt16(keyID))
        }
        let dram = layout.stripKeyID(address).rawValue
        guard machine.dram.contains(dram, count: count) else {
            throw HWKeysError(
                .EFAULT,
                "range 0x\(String(dram, radix: 16))+\(count) is outside DRAM (\(machine.dram.size) bytes)"
            )
        }
        return address
    }
}

/// `hw pconfig`: PCONFIG leaf 0, MKTME_KEY_PROGRAM (SDM Vol. 2B "PCONFIG—Platform Configuration"; MKTME spec
/// 336907 §6.2), on one CPU, programming that CPU's package only. The `MKTME_KEY_PROGRAM_STRUCT` is built
/// from the fields and handed to the instruction by value: it is never written to emulated DRAM.
///
/// Failures of the programming are architected status (RAX, ZF) in the result; faults (#UD, #GP(0)) are
/// errors.
public struct ExecutePCONFIG: WorkspaceRequest, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    public static let access = RequestAccess.write

    public var processor: ProcessorSelection
    /// EAX, the PCONFIG leaf.
    public var leaf: UInt32
    /// KEYID.
    public var keyID: UInt16
    /// KEYID_CTRL (command in bits 7:0, ENC_ALG in bits 23:8).
    public var keyIDControl: UInt32
    /// KEY_FIELD_1 (data key or entropy), at most 64 bytes, zero-padded. A secret: never printed.
    public var keyField1: [UInt8]
    /// KEY_FIELD_2 (tweak key or entropy), at most 64 bytes, zero-padded. A secret: never printed.
    public var keyField2: [UInt8]

    public init(
        processor: ProcessorSelection = ProcessorSelection(),
        leaf: UInt32 = PCONFIGLeaf.mktmeKeyProgram,
        keyID: UInt16,
        keyIDControl: UInt32,
        keyField1: [UInt8] = [],
        keyField2: [UInt8] = []
    ) {
        self.processor = processor
        self.leaf = leaf
        self.keyID = keyID
        self.keyIDControl = keyIDControl
        self.keyField1 = keyField1
        self.keyField2 = keyField2
    }

    /// - Throws: `EINVAL` (usage) for a key field over 64 bytes or a bad CPU/CPL; the instruction's faults;
    ///   `EOPNOTSUPP` on a processor without the monitor's by-value form.
    public func run(in context: RequestContext) throws(HWKeysError) -> PCONFIGOutcome {
        guard keyField1.count <= MKTMEKeyProgramLayout.keyFieldSize,
            keyField2.count <= MKTMEKeyProgramLayout.keyFieldSize
        else { throw HWKeysError.usage("--key and --tweak are at most 64 bytes each") }
        // The by-value form exists on bare-metal processors only (KVM decides what a guest's monitor gets).
        guard let cpu = try processor.processor(in: context) as? LogicalProcessor else {
            throw HWKeysError(.EOPNOTSUPP, "the monitor's PCONFIG needs a bare-metal processor")
        }
        let structure = SecretBytes(count: MKTMEKeyProgramLayout.size)
        structure.withUnsafeMutableBytes { out in
            keyField1.withUnsafeBytes { key in
                keyField2.withUnsafeBytes { tweak in
                    MKTMEKeyProgramLayout.encode(
                        keyID: keyID,
                        keyIDControl: keyIDControl,
                        keyField1: key,
                        keyField2: tweak,
                        into: out
                    )
                }
            }
        }
        let result = try processor.atCPL(on: cpu) { () throws(X86Fault) in
            try structure.withUnsafeBytes { (bytes) throws(X86Fault) in
                try cpu.pconfig(leaf: leaf, structureBytes: bytes)
            }
        }
        return PCONFIGOutcome(rax: result.rax, zf: result.zf ? 1 : 0, status: result.status.name)
    }

    public var description: String {
        "ExecutePCONFIG(cpu: \(processor.cpu), cpl: \(processor.cpl), leaf: \(leaf), keyID: \(keyID), "
            + "keyIDControl: 0x\(String(keyIDControl, radix: 16)), key fields: <redacted>)"
    }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["description": description]) }
}

/// PCONFIG's architected outcome.
public struct PCONFIGOutcome: CommandResult {
    /// RAX: the status code.
    public var rax: UInt64
    /// ZF: 1 on failure.
    public var zf: Int
    /// The status name (`PROG_SUCCESS`, `INVALID_KEYID`, …).
    public var status: String

    public var text: String { "PCONFIG: \(status) (RAX=\(rax), ZF=\(zf))" }
}

/// `hw store PA HEX [--keyid N]`: a CPU store through the package cache (encrypted with the KeyID's key when
/// the line reaches DRAM).
public struct StoreThroughCache: WorkspaceRequest {
    public static let access = RequestAccess.write

    public var processor: ProcessorSelection
    public var address: MonitorAddress
    /// At least one byte.
    public var bytes: [UInt8]

    public init(processor: ProcessorSelection = ProcessorSelection(), address: MonitorAddress, bytes: [UInt8]) {
        self.processor = processor
        self.address = address
        self.bytes = bytes
    }

    public func run(in context: RequestContext) throws(HWKeysError) -> CacheStore {
        guard !bytes.isEmpty else { throw HWKeysError.usage("nothing to store") }
        let machine = try context.machine()
        try machine.requireRunning()
        let pa = try address.resolve(count: bytes.count, in: machine)
        try processor.execute(in: context) { processor in
            bytes.withUnsafeBytes { processor.store(pa, from: $0) }
        }
        return CacheStore(pa: Hex(pa.rawValue), keyid: Int(machine.keyIDLayout.keyID(of: pa)), written: bytes.count)
    }
}

/// What `hw store` stored.
public struct CacheStore: CommandResult {
    /// The address, KeyID bits included.
    public var pa: Hex
    public var keyid: Int
    public var written: Int

    public var text: String { "stored \(written) bytes at \(pa) (KeyID \(keyid))" }
}

/// `hw load PA LEN [--keyid N]`: a CPU load through the package cache (decrypted with the KeyID's key; a
/// wrong KeyID reads garbage, as on hardware).
public struct LoadThroughCache: WorkspaceRequest {
    public static let access = RequestAccess.write

    public var processor: ProcessorSelection
    public var address: MonitorAddress
    /// 1 … ``MonitorLimits/maximumRead`` bytes.
    public var length: Int

    public init(processor: ProcessorSelection = ProcessorSelection(), address: MonitorAddress, length: Int) {
        self.processor = processor
        self.address = address
        self.length = length
    }

    public func run(in context: RequestContext) throws(HWKeysError) -> CacheLoad {
        try MonitorLimits.checkReadLength(length)
        let machine = try context.machine()
        try machine.requireRunning()
        let pa = try address.resolve(count: length, in: machine)
        var bytes = [UInt8](repeating: 0, count: length)
        try processor.execute(in: context) { processor in
            bytes.withUnsafeMutableBytes { processor.load(pa, into: $0) }
        }
        return CacheLoad(pa: Hex(pa.rawValue), keyid: Int(machine.keyIDLayout.keyID(of: pa)), bytes: HexBytes(bytes))
    }
}

/// What `hw load` loaded.
public struct CacheLoad: CommandResult {
    /// The address, KeyID bits included.
    public var pa: Hex
    public var keyid: Int
    public var bytes: HexBytes

    public var text: String { hexDump(bytes.bytes, startingAt: pa.value) }
}

/// `hw clflush PA [--keyid N]`: CLFLUSH of one alias (SDM Vol. 2A "CLFLUSH—Flush Cache Line"): the line is
/// written back if dirty and invalidated in every cache.
public struct ExecuteCLFLUSH: WorkspaceRequest {
    public static let access = RequestAccess.write

    public var processor: ProcessorSelection
    public var address: MonitorAddress

    public init(processor: ProcessorSelection = ProcessorSelection(), address: MonitorAddress) {
        self.processor = processor
        self.address = address
    }

    public func run(in context: RequestContext) throws(HWKeysError) -> LineFlush {
        let machine = try context.machine()
        try machine.requireRunning()
        let pa = try address.resolve(count: 1, in: machine)
        let dirty = machine.cachedCopies(of: pa).contains { $0.dirty }
        try processor.execute(in: context) { $0.clflush(pa) }
        return LineFlush(pa: Hex(pa.rawValue), keyid: Int(machine.keyIDLayout.keyID(of: pa)), writtenBack: dirty)
    }
}

/// What `hw clflush` did.
public struct LineFlush: CommandResult {
    public var pa: Hex
    public var keyid: Int
    /// The line was dirty and went to DRAM.
    public var writtenBack: Bool

    enum CodingKeys: String, CodingKey {
        case pa, keyid
        case writtenBack = "written_back"
    }

    public var text: String { "flushed the line of \(pa) (KeyID \(keyid))\(writtenBack ? ", written back" : "")" }
}

/// `hw wbinvd`: WBINVD on one CPU (SDM Vol. 2B "WBINVD—Write Back and Invalidate Cache"): its package's
/// cache. #GP(0) above CPL0.
public struct ExecuteWBINVD: WorkspaceRequest {
    public static let access = RequestAccess.write

    public var processor: ProcessorSelection

    public init(processor: ProcessorSelection = ProcessorSelection()) { self.processor = processor }

    public func run(in context: RequestContext) throws(HWKeysError) -> CacheWriteBack {
        let cpu = try processor.processor(in: context)
        let machine = try context.machine()
        let package = machine.package(ofCPU: cpu.cpuNumber)
        let dirty = machine.dirtyLineCount(package: package)
        try processor.atCPL(on: cpu) { () throws(X86Fault) in try cpu.wbinvd() }
        return CacheWriteBack(package: package, linesWrittenBack: dirty)
    }
}

/// What `hw wbinvd` wrote back.
public struct CacheWriteBack: CommandResult {
    public var package: Int
    public var linesWrittenBack: Int

    enum CodingKeys: String, CodingKey {
        case package
        case linesWrittenBack = "lines_written_back"
    }

    public var text: String { "WBINVD on package \(package): \(linesWrittenBack) line(s) written back" }
}

/// `hw keytable [--package P]`: the state of every KeyID in one package's MKTME key table, and how KeyID 0
/// (TME) is treated. Never key bytes: the table shows state and algorithm only.
public struct ShowKeyTable: WorkspaceRequest {
    public static let access = RequestAccess.read
    public static let runsInGuest = false

    /// The package (socket).
    public var package: Int

    public init(package: Int = 0) { self.package = package }

    /// - Throws: `EINVAL` (usage) for a package the machine lacks.
    public func run(in context: RequestContext) throws(HWKeysError) -> KeyTableView {
        let machine = try context.machine()
        guard package >= 0, package < machine.configuration.packages else {
            throw HWKeysError.usage(
                "no package \(package): the machine has packages 0…\(machine.configuration.packages - 1)"
            )
        }
        let tme = machine.tmeStatus
        let state =
            tme.standbyKeysSaved
            ? "saved" : !tme.locked ? "unlocked" : !tme.active ? "disabled" : tme.bypass ? "bypass" : "active"
        return KeyTableView(
            package: package,
            tme: KeyTableView.TME(
                state: state,
                algorithm: tme.policy?.name,
                keyIDBits: tme.keyIDBits,
                standbyKeysSaved: tme.standbyKeysSaved
            ),
            keyIDs: machine.keyTableStatus(package: package).map {
                KeyTableView.Entry(keyID: $0.keyID, state: $0.state.rawValue, algorithm: $0.algorithm?.name)
            }
        )
    }
}

/// One package's key table as the debug monitor shows it.
public struct KeyTableView: CommandResult {
    /// KeyID 0: total memory encryption.
    public struct TME: Codable, Sendable, Hashable {
        /// `active`, `bypass`, `disabled`, `unlocked` or `saved` (keys saved at S3 entry).
        public var state: String
        @EncodesNil public var algorithm: String?
        public var keyIDBits: Int
        public var standbyKeysSaved: Bool

        enum CodingKeys: String, CodingKey {
            case state
            case algorithm = "alg"
            case keyIDBits = "keyid_bits"
            case standbyKeysSaved = "standby_keys_saved"
        }
    }

    /// One KeyID's entry.
    public struct Entry: Codable, Sendable, Hashable {
        public var keyID: Int
        /// `unprogrammed`, `direct`, `random`, `no-encrypt`, …
        public var state: String
        @EncodesNil public var algorithm: String?

        enum CodingKeys: String, CodingKey {
            case keyID = "keyid"
            case state
            case algorithm = "alg"
        }
    }

    public var package: Int
    public var tme: TME
    public var keyIDs: [Entry]

    enum CodingKeys: String, CodingKey {
        case package, tme
        case keyIDs = "keyids"
    }

    public var text: String {
        var lines = [
            "package \(package): TME \(tme.state)\(tme.algorithm.map { " (\($0))" } ?? ""), KeyID bits \(tme.keyIDBits)"
        ]
        let programmed = keyIDs.filter { $0.state != KeyIDState.unprogrammed.rawValue }
        for entry in programmed {
            lines.append("  KeyID \(entry.keyID): \(entry.state) \(entry.algorithm ?? "")")
        }
        lines.append("  \(keyIDs.count - programmed.count) of \(keyIDs.count) KeyIDs unprogrammed")
        return lines.joined(separator: "\n")
    }
}
