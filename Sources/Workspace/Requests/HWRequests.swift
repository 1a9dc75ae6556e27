//===----------------------------------------------------------------------===//
//
// hwkeys: Workspace
//
//===----------------------------------------------------------------------===//

import HWKeysBase
import Platform
import X86

// The debug monitor (`hw …`): raw DRAM, fault injection. Its purpose is to show hardware state, so it is the
// one place allowed to reveal what software cannot see (docs/design.md rule 3's exception). Raw DRAM, key
// tables, disks and injection act on the host's hardware and are host-only (contract §8); the instruction
// requests (HWProcessorRequests.swift, HWMKTMERequests.swift, HWKeyLockerRequests.swift) may run in guests.

/// Limits of the debug monitor.
public enum MonitorLimits {
    /// The most bytes one monitor request reads (`hw dram`, `hw load`, `hw disk`).
    public static let maximumRead = 16 << 20

    /// `count` as a read length: positive and at most ``maximumRead``.
    static func checkReadLength(_ count: Int) throws(HWKeysError) {
        guard count > 0 else { throw HWKeysError.usage("length must be positive") }
        guard count <= maximumRead else { throw HWKeysError.usage("length must be at most \(maximumRead) bytes") }
    }
}

/// `hw dram PA LEN`: raw DRAM bytes (the bus / DIMM view: ciphertext unless bypassed). KeyID bits of PA are
/// ignored. Works whatever the power state (DRAM is readable off the board).
public struct ReadDRAM: WorkspaceRequest {
    public static let access = RequestAccess.read
    public static let runsInGuest = false

    /// The physical address (KeyID bits ignored).
    public var address: UInt64
    /// 1 … ``MonitorLimits/maximumRead`` bytes.
    public var length: Int

    public init(address: UInt64, length: Int) {
        self.address = address
        self.length = length
    }

    /// - Throws: `EINVAL` (usage) for a bad length, `EFAULT` for a range outside DRAM.
    public func run(in context: RequestContext) throws(HWKeysError) -> DRAMContents {
        try MonitorLimits.checkReadLength(length)
        let machine = try context.machine()
        let dram = machine.keyIDLayout.stripKeyID(PhysicalAddress(address)).rawValue
        guard machine.dram.contains(dram, count: length) else {
            throw HWKeysError(
                .EFAULT,
                "range 0x\(String(dram, radix: 16))+\(length) is outside DRAM (\(machine.dram.size) bytes)"
            )
        }
        var bytes = [UInt8](repeating: 0, count: length)
        bytes.withUnsafeMutableBytes { machine.dram.read(dram, into: $0) }
        return DRAMContents(pa: Hex(dram), bytes: HexBytes(bytes))
    }
}

/// Raw DRAM bytes.
public struct DRAMContents: CommandResult {
    /// The DRAM address (KeyID bits removed).
    public var pa: Hex
    public var bytes: HexBytes

    public var text: String { hexDump(bytes.bytes, startingAt: pa.value) }
}

/// `hw poke-dram PA HEX`: write raw DRAM, bypassing caches and encryption (attack experiments). KeyID bits
/// of PA are ignored.
public struct WriteDRAM: WorkspaceRequest {
    public static let access = RequestAccess.write
    public static let runsInGuest = false

    /// The physical address (KeyID bits ignored).
    public var address: UInt64
    /// At least one byte.
    public var bytes: [UInt8]

    public init(address: UInt64, bytes: [UInt8]) {
        self.address = address
        self.bytes = bytes
    }

    /// - Throws: `EINVAL` (usage) for no bytes, `EFAULT` for a range outside DRAM.
    public func run(in context: RequestContext) throws(HWKeysError) -> DRAMWrite {
        guard !bytes.isEmpty else { throw HWKeysError.usage("nothing to write") }
        let machine = try context.machine()
        let dram = machine.keyIDLayout.stripKeyID(PhysicalAddress(address)).rawValue
        guard machine.dram.contains(dram, count: bytes.count) else {
            throw HWKeysError(.EFAULT, "range 0x\(String(dram, radix: 16))+\(bytes.count) is outside DRAM")
        }
        bytes.withUnsafeBytes { machine.dram.write(dram, from: $0) }
        return DRAMWrite(pa: Hex(dram), written: bytes.count)
    }
}

/// What `hw poke-dram` wrote.
public struct DRAMWrite: CommandResult {
    public var pa: Hex
    public var written: Int

    public var text: String { "wrote \(written) bytes of raw DRAM at \(pa)" }
}

/// `hw inject KIND [N] [--package P]`: arm a hardware failure (the fault-injection seam of
/// `Platform.FaultInjection`).
public struct InjectHardwareFault: WorkspaceRequest {
    public static let access = RequestAccess.write
    public static let runsInGuest = false

    /// A failure to arm.
    public enum Fault: Sendable, Hashable {
        /// The next `count` PCONFIGs on `package` return DEVICE_BUSY.
        case pconfigBusy(package: Int, count: Int)
        /// The next `count` PCONFIGs with random keys on `package` return ENTROPY_ERROR.
        case pconfigEntropy(package: Int, count: Int)
        /// The next `count` on-chip random-number requests of LOADIWKEY KeySource 1 fail (ZF = 1).
        case rdseedFailures(count: Int)
        /// The IWKey backup storage reports a read/write error (`true`) or works again (`false`).
        case iwkeyBackupError(armed: Bool)
    }

    public var fault: Fault

    public init(_ fault: Fault) { self.fault = fault }

    /// - Throws: `EINVAL` (usage) for a package the machine lacks or a count outside 0…Int32.max.
    public func run(in context: RequestContext) throws(HWKeysError) -> InjectedFault {
        let machine = try context.machine()
        func checkCount(_ count: Int, _ kind: String) throws(HWKeysError) {
            // The machine image stores counts as 0…Int32.max.
            guard count >= 0, count <= Int(Int32.max) else {
                throw HWKeysError.usage("\(kind) needs a count N (0…\(Int32.max))")
            }
        }
        func checkPackage(_ package: Int) throws(HWKeysError) {
            guard package >= 0, package < machine.configuration.packages else {
                throw HWKeysError.usage(
                    "no package \(package): the machine has packages 0…\(machine.configuration.packages - 1)"
                )
            }
        }
        switch fault {
        case .pconfigBusy(let package, let count):
            try checkPackage(package)
            try checkCount(count, "pconfig-busy")
            machine.faults.pconfigBusy[package] = count
            return InjectedFault(kind: "pconfig-busy", package: package, count: count, armed: nil)
        case .pconfigEntropy(let package, let count):
            try checkPackage(package)
            try checkCount(count, "pconfig-entropy")
            machine.faults.pconfigEntropy[package] = count
            return InjectedFault(kind: "pconfig-entropy", package: package, count: count, armed: nil)
        case .rdseedFailures(let count):
            try checkCount(count, "rdseed-fail")
            machine.faults.rdseedFailures = count
            return InjectedFault(kind: "rdseed-fail", package: nil, count: count, armed: nil)
        case .iwkeyBackupError(let armed):
            machine.faults.iwkeyBackupError = armed
            return InjectedFault(kind: "iwkey-backup-error", package: nil, count: nil, armed: armed)
        }
    }
}

/// The failure `hw inject` armed. Fields that do not apply to the kind are absent.
public struct InjectedFault: CommandResult {
    public var kind: String
    public var package: Int?
    public var count: Int?
    public var armed: Bool?

    public var text: String {
        switch kind {
        case "pconfig-busy", "pconfig-entropy":
            "the next \(count ?? 0) PCONFIG(s) on package \(package ?? 0) will fail with "
                + (kind == "pconfig-busy" ? "DEVICE_BUSY" : "ENTROPY_ERROR")
        case "rdseed-fail":
            "the next \(count ?? 0) on-chip random-number request(s) will fail"
        default:
            armed == true ? "IWKey backup storage now reports a read/write error" : "IWKey backup storage error cleared"
        }
    }
}
