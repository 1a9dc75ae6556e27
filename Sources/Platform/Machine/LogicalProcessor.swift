//===----------------------------------------------------------------------===//
//
// hwkeys: Platform
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase
import X86

/// A logical processor of the emulated machine: the bare-metal implementation of ``X86Processor``.
///
/// Holds the per-processor architectural state hwkeys models: CPL, CR4, XMM0–15 (the Key Locker
/// operands, in zeroizing storage) and the Key Locker unit (IWKey, copy status). Instructions live one
/// family per file under `Instructions/`, each guards first (#UD, #GP) as the SDM page does.
public final class LogicalProcessor: X86Processor {
    unowned let machine: Machine

    /// Linux's CPU number.
    public let cpuNumber: Int
    /// The package (socket) this processor belongs to.
    public let packageID: Int
    /// The current privilege level. (Unchecked exclusivity, as for `cr4`: read by every Key Locker
    /// instruction; all accesses are instantaneous and one thread drives a machine.)
    @exclusivity(unchecked) public var cpl: Int = 0

    /// CR4 (only CR4.KL is modelled).
    @exclusivity(unchecked) var cr4: UInt64 = 0
    /// XMM0–XMM15, 16 bytes each.
    let xmm = SecretBytes(count: 16 * 16)
    /// Key Locker state: IWKey and IA32_COPY_STATUS.
    let keyLocker: KeyLockerUnit

    init(machine: Machine, cpuNumber: Int, packageID: Int) {
        self.machine = machine
        self.cpuNumber = cpuNumber
        self.packageID = packageID
        self.keyLocker = KeyLockerUnit(configuration: machine.configuration)
    }

    /// Throws #GP(0) unless running at CPL0.
    func requireCPL0(_ what: String) throws(X86Fault) {
        guard cpl == 0 else { throw .gp0("\(what) at CPL\(cpl)") }
    }

    // MARK: Control registers (SDM Vol. 3A §2.5)

    public func readCR4() throws(X86Fault) -> UInt64 {
        try requireCPL0("MOV from CR4")
        return cr4
    }

    public func writeCR4(_ value: UInt64) throws(X86Fault) {
        try requireCPL0("MOV to CR4")
        guard value & ~CR4.keyLocker == 0 else { throw .gp0("reserved or unmodelled CR4 bit set") }
        if value & CR4.keyLocker != 0, !machine.configuration.keyLocker {
            throw .gp0("CR4.KL set without Key Locker (CPUID.(7,0):ECX[23] = 0)")
        }
        machine.charge(.cr4Write)
        cr4 = value
    }

    // MARK: XMM registers

    public func withXMMRegisters<R, E: Error>(_ body: (UnsafeMutableRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try xmm.withUnsafeMutableBytes(body)
    }

    // MARK: Randomness

    public func rdrand() -> UInt64? {
        machine.charge(.rdrand)
        return machine.entropy.nextUInt64()
    }

    // MARK: Power

    func powerTransition(_ transition: PowerTransition) {
        switch transition {
        case .suspendToRAM, .hibernate, .powerOff, .warmReset:
            // CR4 is cleared by reset and by resume from S3/S4; register state does not survive.
            cr4 = 0
            cpl = 0
            xmm.wipe()
            keyLocker.powerLost()
        case .firmwareInit:
            cr4 = 0
            cpl = 0
        }
    }

    // MARK: Image

    func encode(into writer: inout ImageWriter) {
        writer.section("cpu", version: 1)
        writer.int(cpl)
        writer.u64(cr4)
        writer.secret(xmm)
        keyLocker.encode(into: &writer)
    }

    func decode(from reader: inout ImageReader) throws(HWKeysError) {
        try reader.section("cpu", maxVersion: 1)
        cpl = try reader.int(in: 0...3, "CPL")
        cr4 = try reader.u64()
        let registers = try reader.secret(count: 256)
        xmm.withUnsafeMutableBytes { out in registers.withUnsafeBytes { out.copyMemory(from: $0) } }
        try keyLocker.decode(from: &reader)
    }
}
