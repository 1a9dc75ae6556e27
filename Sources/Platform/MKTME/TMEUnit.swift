//===----------------------------------------------------------------------===//
//
// hwkeys: Platform
//
//===----------------------------------------------------------------------===//

import X86

/// Platform TME configuration: `IA32_TME_ACTIVATE` and the exclusion range as firmware programs them.
///
/// Placeholder until the MKTME hardware lands.
final class TMEUnit {
    init(configuration: MachineConfiguration) {}

    func rdmsr(_ msr: UInt32, machine: Machine) throws(X86Fault) -> UInt64 {
        throw .gp0("TME MSRs are not implemented yet")
    }

    func wrmsr(_ msr: UInt32, _ value: UInt64, machine: Machine) throws(X86Fault) {
        throw .gp0("TME MSRs are not implemented yet")
    }

    func powerTransition(_ transition: PowerTransition, machine: Machine) {}

    func encode(into writer: inout ImageWriter) {
        writer.section("tme", version: 1)
    }

    func decode(from reader: inout ImageReader) throws(ImageError) {
        try reader.section("tme", maxVersion: 1)
    }
}
