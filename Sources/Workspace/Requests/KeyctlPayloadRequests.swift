//===----------------------------------------------------------------------===//
//
// hwkeys: Workspace
//
//===----------------------------------------------------------------------===//

import Foundation
import HWCrypto
import HWKeysBase
import Kernel

/// `keyctl read|print|pipe KEY` (`KEYCTL_READ`): a key's payload, copied out of kernel memory.
///
/// A writer: a `user` key's payload lives in emulated DRAM, and copying it out is a kernel path through a
/// processor (the KeyID-0 direct map: cache fills, AES line decryptions, cycles), whose effects persist as
/// on hardware (docs/workspace.md). The result is the only place payload bytes appear.
public struct ReadKeyPayload: WorkspaceRequest {
    public static let access = RequestAccess.write

    /// How keyctl shows the payload.
    public enum Form: Sendable, Hashable {
        /// `read`: `N bytes of data in key:` and a hex dump in groups of 4 bytes, 32 per line.
        case hexDump
        /// `print`: the payload if every byte is printable, else `:hex:` and hex digits.
        case printable
        /// `pipe`: the raw bytes, nothing added.
        case raw
    }

    public var key: KeySpecifier
    public var form: Form
    public var pid: Int32

    public init(key: KeySpecifier, form: Form, pid: Int32 = 100) {
        self.key = key
        self.form = form
        self.pid = pid
    }

    public func run(in context: RequestContext) throws(HWKeysError) -> KeyPayloadContents {
        let kernel = try context.kernel()
        let serial = try key.resolve(in: kernel, pid: pid)
        let bytes = try kernel.keys.read(serial, pid: pid).revealedBytes()
        return KeyPayloadContents(serial: KeySpecifier.reported(serial, in: kernel, pid: pid), bytes: bytes, form: form)
    }
}

/// A key's payload: `{"serial", "length", "bytes"}` for `read` and `pipe`, `{"serial", "printable",
/// "bytes"}` for `print`.
public struct KeyPayloadContents: CommandResult {
    public var serial: Int32
    public var bytes: [UInt8]
    var form: ReadKeyPayload.Form

    /// Whether every byte is printable ASCII (keyutils uses `isprint` in the C locale).
    public var printable: Bool { bytes.allSatisfy { (0x20...0x7E).contains($0) } }

    enum CodingKeys: String, CodingKey { case serial, length, printable, bytes }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(serial, forKey: .serial)
        if form == .printable {
            try container.encode(printable, forKey: .printable)
        } else {
            try container.encode(bytes.count, forKey: .length)
        }
        try container.encode(HexBytes(bytes), forKey: .bytes)
    }

    public var text: String {
        switch form {
        case .hexDump:
            // keyutils `act_keyctl_read`.
            guard !bytes.isEmpty else { return "No data in key" }
            var text = "\(bytes.count) bytes of data in key:\n"
            for (index, byte) in bytes.enumerated() {
                if index > 0 { text += index % 32 == 0 ? "\n" : (index % 4 == 0 ? " " : "") }
                text += String(format: "%02x", byte)
            }
            return text
        case .printable:
            // keyutils `act_keyctl_print`.
            return printable ? String(decoding: bytes, as: UTF8.self) : ":hex:" + hexString(bytes)
        case .raw:
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    /// `pipe` writes the bytes as they are; `print` of an empty payload still prints its newline.
    public var rawOutput: [UInt8]? {
        switch form {
        case .raw: bytes
        case .printable: bytes.isEmpty ? [0x0A] : nil
        case .hexDump: nil
        }
    }
}
