//===----------------------------------------------------------------------===//
//
// hwkeys: Platform
//
//===----------------------------------------------------------------------===//

import HWKeysBase

/// Failures the debug monitor can arm (`hw inject …`), so kernel retry and recovery paths run.
public struct FaultInjection: Hashable, Sendable {
    /// Per package: the next N PCONFIGs return DEVICE_BUSY.
    public var pconfigBusy: [Int]
    /// Per package: the next N PCONFIGs needing randomness return ENTROPY_ERROR.
    public var pconfigEntropy: [Int]
    /// The next N random-number requests of LOADIWKEY KeySource 1 fail (ZF = 1, IWKey unchanged).
    public var rdseedFailures: Int = 0
    /// The platform backup storage reports a read/write error (IA32_IWKEYBACKUP_STATUS bit 2) until cleared.
    public var iwkeyBackupError: Bool = false

    public init(packages: Int) {
        pconfigBusy = Array(repeating: 0, count: packages)
        pconfigEntropy = Array(repeating: 0, count: packages)
    }

    func encode(into writer: inout ImageWriter) {
        writer.section("faults", version: 1)
        writer.u32(UInt32(pconfigBusy.count))
        for value in pconfigBusy { writer.int(value) }
        for value in pconfigEntropy { writer.int(value) }
        writer.int(rdseedFailures)
        writer.bool(iwkeyBackupError)
    }

    static func decode(from reader: inout ImageReader, packages: Int) throws(HWKeysError) -> FaultInjection {
        try reader.section("faults", maxVersion: 1)
        guard Int(try reader.u32()) == packages else {
            throw .unreadableImage("machine image: fault table does not match packages")
        }
        var faults = FaultInjection(packages: packages)
        for index in 0..<packages { faults.pconfigBusy[index] = try reader.int(in: 0...Int(Int32.max), "pconfig-busy") }
        for index in 0..<packages {
            faults.pconfigEntropy[index] = try reader.int(in: 0...Int(Int32.max), "pconfig-entropy")
        }
        faults.rdseedFailures = try reader.int(in: 0...Int(Int32.max), "rdseed failures")
        faults.iwkeyBackupError = try reader.bool()
        return faults
    }
}
