//===----------------------------------------------------------------------===//
//
// hwkeys: TestSupport
//
//===----------------------------------------------------------------------===//

import HWCrypto

/// AES-XTS over 64-byte lines, the tweak of each line its DRAM address >> 6 (docs/contract.md §2), through
/// HWCrypto's XTS engine (checked against NIST XTSGen vectors in HWCryptoTests): an implementation
/// independent of the memory system's line cache and controller, for cross-checks that are not the
/// independent fixtures.
public func xtsLines(_ key: [UInt8], address: UInt64, _ data: [UInt8], encrypt: Bool = true) -> [UInt8] {
    let half = key.count / 2
    let xts = key.withUnsafeBytes {
        XTSKey(
            dataKey: UnsafeRawBufferPointer(rebasing: $0[0..<half]),
            tweakKey: UnsafeRawBufferPointer(rebasing: $0[half...])
        )
    }
    var out = [UInt8](repeating: 0, count: data.count)
    data.withUnsafeBytes { source in
        out.withUnsafeMutableBytes { destination in
            guard let from = source.baseAddress, let to = destination.baseAddress else { return }
            if encrypt {
                xts.encryptLines(from: from, to: to, firstSequence: address >> 6, count: data.count / 64)
            } else {
                xts.decryptLines(from: from, to: to, firstSequence: address >> 6, count: data.count / 64)
            }
        }
    }
    return out
}
