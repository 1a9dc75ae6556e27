//===----------------------------------------------------------------------===//
//
// hwkeys: PlatformTests
//
//===----------------------------------------------------------------------===//

import HWCrypto
import Testing
import X86

@testable import Platform

/// A seeded machine without the kernel, for hardware tests. `configure` adjusts the defaults.
func makeMachine(_ configure: (inout MachineConfiguration) -> Void = { _ in }) throws -> Machine {
    var config = MachineConfiguration()
    config.seed = 1
    config.bootKernel = false
    configure(&config)
    return try Machine.create(configuration: config)
}

extension Machine {
    /// CPU `n`.
    func cpu(_ n: Int = 0) -> LogicalProcessor { processor(n)! }

    /// `address` carrying `keyID` in the activated layout.
    func pa(_ address: UInt64, keyID: UInt16 = 0) -> PhysicalAddress {
        keyIDLayout.address(PhysicalAddress(address), withKeyID: keyID)
    }

    /// Raw DRAM bytes.
    func dramBytes(_ address: UInt64, _ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        bytes.withUnsafeMutableBytes { dram.read(address, into: $0) }
        return bytes
    }

    /// Writes raw DRAM bytes.
    func pokeDRAM(_ address: UInt64, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { dram.write(address, from: $0) }
    }

    /// The TME key (K1 ‖ K2) of `package`, for tests that compare keys (never shown by hwkeys itself).
    func tmeKeyBytes(package: Int) -> [UInt8]? { memory.controllers[package].keyTable.tmeKey?.key?.revealedBytes() }

    /// The key (K1 ‖ K2) of `keyID` in `package`'s table.
    func keyBytes(_ keyID: Int, package: Int) -> [UInt8]? {
        memory.controllers[package].keyTable.entry(keyID).key?.revealedBytes()
    }
}

extension LogicalProcessor {
    func store(_ address: PhysicalAddress, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { store(address, from: $0) }
    }

    func load(_ address: PhysicalAddress, _ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        bytes.withUnsafeMutableBytes { load(address, into: $0) }
        return bytes
    }

    /// PCONFIG with the structure given by value.
    @discardableResult
    func program(
        keyID: UInt16,
        _ command: MKTMEKeyCommand,
        _ algorithm: TMEAlgorithm = .aesXTS128,
        key: [UInt8] = [],
        tweak: [UInt8] = [],
        control: UInt32? = nil,
        leaf: UInt32 = 0
    ) throws(X86Fault) -> PCONFIGResult {
        var structure = [UInt8](repeating: 0, count: MKTMEKeyProgramLayout.size)
        structure.withUnsafeMutableBytes { out in
            key.withUnsafeBytes { k in
                tweak.withUnsafeBytes { t in
                    MKTMEKeyProgramLayout.encode(
                        keyID: keyID,
                        keyIDControl: control
                            ?? MKTMEKeyProgramLayout.keyIDControl(command: command, algorithm: algorithm),
                        keyField1: k,
                        keyField2: t,
                        into: out
                    )
                }
            }
        }
        let result = structure.withUnsafeBytes { raw in
            Result { () throws(X86Fault) in try pconfig(leaf: leaf, structureBytes: raw) }
        }
        return try result.get()
    }
}
