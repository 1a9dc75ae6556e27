//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase
import KernelInterfaces
import X86

/// Programming KeyIDs: PCONFIG MKTME_KEY_PROGRAM on every package through its lead CPU (docs/contract.md §6;
/// RFC v2 `mktme_program_all_keyids`, `mktme_key_program()`; SDM Vol. 2B PCONFIG).
extension MKTMEManager {
    /// Retries after the first attempt for ENTROPY_ERROR and DEVICE_BUSY (RFC v2: 10), then ENOKEY.
    static let programRetries = 10

    /// The algorithm named in the control word of CLEAR_KEY and NO_ENCRYPT, which PCONFIG requires to be
    /// one-hot and activated like any other (v2-59 `MKTME_ANY_ACTIVATED_ALG`: the lowest activated one).
    var anyActivatedAlgorithm: TMEAlgorithm {
        TMEAlgorithm.allCases.first { activated.contains($0) } ?? .aesXTS128
    }

    /// Programs `keyID` with `command` on `packages` (default: every package), each through its lead CPU
    /// (or `cpu` for a package coming online), and records the programming.
    ///
    /// The `MKTME_KEY_PROGRAM_STRUCT` is built in kernel memory (a 256-byte-aligned kmalloc chunk in
    /// emulated DRAM, written through the KeyID-0 direct map), PCONFIG reads it from there, and it is
    /// zeroed and freed (`kfree_sensitive`) before this returns, so key fields live only as long as the
    /// programming. A package without an online CPU is skipped: it is programmed when a CPU of it comes
    /// online (``cpuComingOnline(_:)``).
    ///
    /// Order: for each package, PCONFIG; ENTROPY_ERROR and DEVICE_BUSY are retried ``programRetries``
    /// times. Any other failure, or the retries running out, rolls the packages already programmed back
    /// to CLEAR_KEY and throws ENOKEY.
    ///
    /// - Parameter fields: KEY_FIELD_1 ‖ KEY_FIELD_2 (each the algorithm's key length), or nil for zeros.
    func program(
        _ keyID: UInt16,
        _ command: MKTMEKeyCommand,
        algorithm: TMEAlgorithm?,
        fields: SecretBytes?,
        packages: [Int]? = nil,
        cpu: (any X86Processor)? = nil
    ) throws(HWKeysError) {
        guard Int(keyID) < entries.count, keyID > 0 else { throw HWKeysError(.ENOKEY, "KeyID \(keyID) is not usable") }
        // Every package's memory controller must get the key: a package without an online CPU cannot run
        // PCONFIG, and memory it serves would be written under whatever its slot holds (the KeyID-0 key, or
        // a stale key) and read back as garbage once the slot is programmed later. Like the RFC's
        // mktme_keys topology check, refuse instead of skipping it (docs/choices.md).
        if packages == nil, cpu == nil,
            let orphan = (0..<kernel.platform.packageCount).first(where: { kernel.leadCPU(ofPackage: $0) == nil })
        {
            throw HWKeysError(
                .ENOKEY,
                "package \(orphan) has no online CPU to program KeyID \(keyID): bring one online first"
            )
        }
        let algorithm = algorithm ?? anyActivatedAlgorithm
        let structure = try kernel.allocateKernelMemory(MKTMEKeyProgramLayout.size)
        defer { kernel.freeKernelMemory(structure) }
        let bytes = SecretBytes(count: MKTMEKeyProgramLayout.size)
        let control = MKTMEKeyProgramLayout.keyIDControl(command: command, algorithm: algorithm)
        let empty = SecretBytes(count: 0)
        let half = fields.map { $0.count / 2 } ?? 0
        let field1 = fields?.slice(0..<half) ?? empty
        let field2 = fields?.slice(half..<2 * half) ?? empty
        bytes.withUnsafeMutableBytes { out in
            field1.withUnsafeBytes { first in
                field2.withUnsafeBytes { second in
                    MKTMEKeyProgramLayout.encode(
                        keyID: keyID,
                        keyIDControl: control,
                        keyField1: first,
                        keyField2: second,
                        into: out
                    )
                }
            }
        }
        let address = PhysicalAddress(structure.segments[0].address)
        // kmalloc-256 chunks are 256-byte aligned; the heap's free lists are checked when a kernel is restored.
        guard address.rawValue % MKTMEKeyProgramLayout.alignment == 0 else {
            throw kernel.oops("MKTME_KEY_PROGRAM_STRUCT at \(address) is not 256-byte aligned")
        }
        kernel.writeKernelMemory(structure, bytes)

        var done: [(Int, any X86Processor)] = []
        for package in packages ?? Array(0..<kernel.platform.packageCount) {
            guard let lead = cpu ?? kernel.leadCPU(ofPackage: package) else {
                kernel.printk(
                    "mktme",
                    "package \(package) has no online CPU; KeyID \(keyID) programmed when it comes online"
                )
                continue
            }
            let status = execute(lead, address)
            guard status == .success else {
                for (rolledBack, processor) in done { rollBack(keyID, on: processor, package: rolledBack) }
                kernel.printk("mktme", "KeyID \(keyID): PCONFIG \(status?.name ?? "fault") on package \(package)")
                throw HWKeysError(
                    .ENOKEY,
                    "PCONFIG \(command.name) of KeyID \(keyID) failed on package \(package): \(status?.name ?? "fault")"
                )
            }
            done.append((package, lead))
        }
        entries[Int(keyID)].command = command
        entries[Int(keyID)].algorithm = algorithm
    }

    /// PCONFIG on `cpu`, retrying ENTROPY_ERROR and DEVICE_BUSY; nil for a fault (not expected at CPL0 with
    /// TME-MK active).
    private func execute(_ cpu: any X86Processor, _ address: PhysicalAddress) -> PCONFIGStatus? {
        var status: PCONFIGStatus?
        for _ in 0...Self.programRetries {
            status = (try? cpu.pconfig(leaf: PCONFIGLeaf.mktmeKeyProgram, structure: address))?.status
            guard status == .entropyError || status == .deviceBusy else { break }
        }
        return status
    }

    /// CLEAR_KEY on one package after a failed programming elsewhere (best effort, with the same retries).
    private func rollBack(_ keyID: UInt16, on cpu: any X86Processor, package: Int) {
        do {
            let structure = try kernel.allocateKernelMemory(MKTMEKeyProgramLayout.size)
            defer { kernel.freeKernelMemory(structure) }
            var header = [UInt8](repeating: 0, count: 6)
            let control = MKTMEKeyProgramLayout.keyIDControl(command: .clearKey, algorithm: anyActivatedAlgorithm)
            header.withUnsafeMutableBytes { out in
                out.storeBytes(of: keyID.littleEndian, toByteOffset: 0, as: UInt16.self)
                out.storeBytes(of: control.littleEndian, toByteOffset: 2, as: UInt32.self)
            }
            kernel.writeKernelMemory(structure, SecretBytes(header))
            if execute(cpu, PhysicalAddress(structure.segments[0].address)) != .success {
                kernel.printk("mktme", "KeyID \(keyID): roll-back CLEAR_KEY failed on package \(package)")
            }
        } catch {
            kernel.printk("mktme", "KeyID \(keyID): no memory for the roll-back on package \(package)")
        }
    }

    /// Programs a live entry again from what the kernel knows (hotplug, resume): random keys afresh
    /// (their original entropy is not kept), user keys from the `mktme_savekeys` store, clear and
    /// no-encrypt as they were.
    ///
    /// - Throws: ENOKEY for a user key without a saved copy, or a failed PCONFIG.
    func reprogram(_ keyID: UInt16, packages: [Int]? = nil, cpu: (any X86Processor)? = nil) throws(HWKeysError) {
        let entry = entries[Int(keyID)]
        guard let command = entry.command else { return }
        var fields: SecretBytes?
        if command == .setKeyDirect {
            guard let saved = entry.savedKey else {
                throw HWKeysError(
                    .ENOKEY,
                    "KeyID \(keyID) holds a user key that was not saved (boot with mktme_savekeys)"
                )
            }
            fields = kernel.readKernelMemory(saved)
        }
        try program(keyID, command, algorithm: entry.algorithm, fields: fields, packages: packages, cpu: cpu)
    }

    /// Live KeyIDs that could not be reprogrammed from kernel memory: user keys without a saved copy.
    var unrecoverableKeyIDs: [UInt16] {
        entries.indices.dropFirst().filter {
            entries[$0].isLive && entries[$0].command == .setKeyDirect && entries[$0].savedKey == nil
        }.map { UInt16($0) }
    }

    /// Live KeyIDs, ascending.
    var liveKeyIDs: [UInt16] { entries.indices.dropFirst().filter { entries[$0].isLive }.map { UInt16($0) } }
}
