//===----------------------------------------------------------------------===//
//
// hwkeys: KernelTests
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase
import Platform
import Testing
import X86

@testable import Kernel

/// A booted kernel with `mktme.api=api` (plus `extra` parameters) on a seeded machine.
func mktmeKernel(
    _ api: MKTMEAPIDesign,
    extra: String = "",
    _ configure: (inout MachineConfiguration) -> Void = { _ in }
) throws -> (Machine, Kernel) {
    try bootedKernel { config in
        config.kernelCommandLine = "mktme.api=\(api.rawValue) \(extra)"
        configure(&config)
    }
}

/// 32 hex digits.
let hex128 = String(repeating: "0123456789abcdef", count: 2)
/// 64 hex digits.
let hex256 = String(repeating: "0123456789abcdef", count: 4)

extension Kernel {
    /// The `mktme` subsystem.
    var mk: MKTMEManager { mktme! }

    /// `keyctl add mktme DESC PAYLOAD @s`.
    @discardableResult
    func addMKTME(_ description: String, _ payload: String, pid: Int32 = shell) throws(HWKeysError) -> Int32 {
        try add("mktme", description, payload, pid: pid)
    }

    /// `keyctl update SERIAL PAYLOAD`.
    func update(_ serial: Int32, _ payload: String, pid: Int32 = shell) throws(HWKeysError) {
        try keys.updateKey(serial, payload: SecretBytes(text: payload), pid: pid)
    }

    /// What encrypt_mprotect asks of the key type.
    func encryptKeyID(_ serial: Int32, pid: Int32 = shell) throws(HWKeysError) -> UInt16 {
        try memoryEncryption!.keyIDForEncryptMprotect(serial: serial, pid: pid)
    }

    /// Runs the garbage collector after `gc_delay`.
    func collectAfterDelay(_ machine: Machine) {
        machine.advance(seconds: 301)
        _ = keys.collectGarbage()
    }
}

extension Machine {
    /// The hardware state of `keyID` on `package` (the debug monitor's view).
    func slot(_ keyID: Int, package: Int = 0) -> KeyIDState {
        keyTableStatus(package: package).first { $0.keyID == keyID }?.state ?? .unprogrammed
    }

    /// The algorithm programmed for `keyID` on `package`.
    func slotAlgorithm(_ keyID: Int, package: Int = 0) -> TMEAlgorithm? {
        keyTableStatus(package: package).first { $0.keyID == keyID }?.algorithm
    }
}

/// A stand-in for the memory manager's ``KeyIDMappings`` until it lands: counts users per KeyID and
/// moves them (with their references) on request.
final class FakeKeyIDMappings: KeyIDMappings {
    unowned let kernel: Kernel
    var users: [UInt16: Int] = [:]
    var moves: [(UInt16, UInt16)] = []
    var failMove: HWKeysError?

    init(kernel: Kernel) { self.kernel = kernel }

    /// `count` users of `keyID`, with their references taken through the seam.
    func map(_ keyID: UInt16, count: Int = 1) {
        users[keyID, default: 0] += count
        kernel.memoryEncryption!.retainKeyID(keyID, count: count)
    }

    /// `count` users of `keyID` gone.
    func unmap(_ keyID: UInt16, count: Int = 1) {
        users[keyID, default: 0] -= count
        kernel.memoryEncryption!.releaseKeyID(keyID, count: count)
    }

    func moveMappings(fromKeyID old: UInt16, to new: UInt16) throws(HWKeysError) {
        if let failMove { throw failMove }
        let count = users[old] ?? 0
        moves.append((old, new))
        guard count > 0 else { return }
        users[new, default: 0] += count
        users[old] = 0
        kernel.memoryEncryption!.retainKeyID(new, count: count)
        kernel.memoryEncryption!.releaseKeyID(old, count: count)
    }

    func users(ofKeyID keyID: UInt16) -> Int { users[keyID] ?? 0 }
}
