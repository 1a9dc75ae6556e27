//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

import HWCrypto
import X86

/// The kernel's access to physical memory: the direct map, one alias per KeyID.
///
/// Linux with MKTME reaches an encrypted page through a per-KeyID copy of the direct map
/// (`sync_direct_mapping()` in the 62-series); everything else the kernel keeps goes through the KeyID-0
/// map. Here every access is a load or store by the current CPU to `PA | KeyID << shift` — through that
/// CPU's cache and the memory controller, exactly as the hardware sees it (docs/design.md rule 1).
public struct PhysicalMemory {
    unowned let kernel: Kernel

    /// The CPU-visible address of DRAM address `address` through the alias of `keyID`.
    public func alias(_ address: UInt64, keyID: UInt16) -> PhysicalAddress {
        kernel.keyIDLayout.address(PhysicalAddress(address), withKeyID: keyID)
    }

    /// Reads through the alias of `keyID` (default: the KeyID-0 direct map).
    public func read(_ address: UInt64, keyID: UInt16 = 0, into buffer: UnsafeMutableRawBufferPointer) {
        kernel.cpu.load(alias(address, keyID: keyID), into: buffer)
    }

    /// Writes through the alias of `keyID`.
    public func write(_ address: UInt64, keyID: UInt16 = 0, from buffer: UnsafeRawBufferPointer) {
        kernel.cpu.store(alias(address, keyID: keyID), from: buffer)
    }

    /// Reads `count` bytes as a secret.
    public func readSecret(_ address: UInt64, count: Int, keyID: UInt16 = 0) -> SecretBytes {
        let secret = SecretBytes(count: count)
        secret.withUnsafeMutableBytes { read(address, keyID: keyID, into: $0) }
        return secret
    }

    /// Writes a secret.
    public func write(_ address: UInt64, keyID: UInt16 = 0, secret: SecretBytes) {
        secret.withUnsafeBytes { write(address, keyID: keyID, from: $0) }
    }

    /// Reads a little-endian 64-bit word (page-table entries).
    public func readUInt64(_ address: UInt64, keyID: UInt16 = 0) -> UInt64 {
        var value: UInt64 = 0
        withUnsafeMutableBytes(of: &value) { read(address, keyID: keyID, into: $0) }
        return UInt64(littleEndian: value)
    }

    /// Writes a little-endian 64-bit word.
    public func writeUInt64(_ address: UInt64, _ value: UInt64, keyID: UInt16 = 0) {
        withUnsafeBytes(of: value.littleEndian) { write(address, keyID: keyID, from: $0) }
    }

    /// Fills `count` bytes with zeros through the alias of `keyID`.
    public func zero(_ address: UInt64, count: Int, keyID: UInt16 = 0) {
        withUnsafeTemporaryAllocation(byteCount: min(count, PageAllocator.pageSize), alignment: 64) { zeros in
            zeros.initializeMemory(as: UInt8.self, repeating: 0)
            var done = 0
            while done < count {
                let chunk = min(zeros.count, count - done)
                write(address + UInt64(done), keyID: keyID, from: UnsafeRawBufferPointer(rebasing: zeros[0..<chunk]))
                done += chunk
            }
        }
    }

    /// CLFLUSH of every line of the page at `frame` through the alias of `keyID`.
    public func flushPage(_ frame: UInt64, keyID: UInt16) {
        kernel.cpu.clflush(alias(frame << 12, keyID: keyID), length: PageAllocator.pageSize)
    }
}
