//===----------------------------------------------------------------------===//
//
// hwkeys: KernelTests
//
//===----------------------------------------------------------------------===//

import Foundation
import HWCrypto
import HWKeysBase
import Platform
import Testing

@testable import Kernel

/// The root shell.
let shell: Int32 = 100

extension SecretBytes {
    /// The UTF-8 bytes of `text`.
    convenience init(text: String) { self.init(Array(text.utf8)) }

    var text: String { String(decoding: revealedBytes(), as: UTF8.self) }
}

extension Kernel {
    /// `keyctl add TYPE DESC DATA RING` as `pid`.
    @discardableResult
    func add(
        _ type: String,
        _ description: String,
        _ data: String,
        _ ring: Int32 = KeySpecial.session,
        pid: Int32 = shell
    ) throws(HWKeysError) -> Int32 {
        try keys.addKey(type: type, description: description, payload: SecretBytes(text: data), keyring: ring, pid: pid)
    }

    /// `keyctl newring NAME RING` as `pid`.
    @discardableResult
    func newring(_ name: String, _ ring: Int32 = KeySpecial.session, pid: Int32 = shell) throws(HWKeysError) -> Int32 {
        try keys.addKey(type: "keyring", description: name, payload: SecretBytes(count: 0), keyring: ring, pid: pid)
    }

    /// `keyctl print` as `pid`.
    func print(_ serial: Int32, pid: Int32 = shell) throws(HWKeysError) -> String {
        try keys.read(serial, pid: pid).text
    }

    /// The serials linked in a keyring, read the way `keyctl list` does.
    func list(_ ring: Int32, pid: Int32 = shell) throws(HWKeysError) -> [Int32] {
        let bytes = try keys.read(ring, pid: pid).revealedBytes()
        return stride(from: 0, to: bytes.count - 3, by: 4).map { offset in
            Int32(
                bitPattern: UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16
                    | UInt32(bytes[offset + 3]) << 24
            )
        }
    }

    /// A process running as `uid` (a login: its own session).
    func login(uid: UInt32) throws(HWKeysError) -> Int32 {
        try createProcess(parent: shell, uid: uid, exec: true)
    }
}

extension Machine {
    /// Advances emulated time by whole seconds.
    func advance(seconds: UInt64) { advance(nanoseconds: seconds * 1_000_000_000) }
}
