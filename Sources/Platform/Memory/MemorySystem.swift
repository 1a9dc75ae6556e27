//===----------------------------------------------------------------------===//
//
// hwkeys: Platform
//
//===----------------------------------------------------------------------===//

import X86

/// The memory system: one write-back cache per package (tagged by full physical address, KeyID
/// included) and one memory controller per package that encrypts its DRAM range with its key table.
///
/// Placeholder until the MKTME hardware lands: accesses go straight to DRAM as plaintext.
final class MemorySystem {
    init(configuration: MachineConfiguration) {}

    func load(_ address: PhysicalAddress, into buffer: UnsafeMutableRawBufferPointer, package: Int, machine: Machine) {
        machine.dram.read(machine.keyIDLayout.stripKeyID(address).rawValue, into: buffer)
    }

    func store(_ address: PhysicalAddress, from buffer: UnsafeRawBufferPointer, package: Int, machine: Machine) {
        machine.dram.write(machine.keyIDLayout.stripKeyID(address).rawValue, from: buffer)
    }

    func clflush(_ address: PhysicalAddress, machine: Machine) {}

    func wbinvd(package: Int, machine: Machine) {}

    func powerTransition(_ transition: PowerTransition, machine: Machine) {}

    func encode(into writer: inout ImageWriter) {
        writer.section("memory", version: 1)
    }

    func decode(from reader: inout ImageReader, machine: Machine) throws(ImageError) {
        try reader.section("memory", maxVersion: 1)
    }
}
