//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase

/// A kernel allocation: where in DRAM some kernel data lives (docs/design.md rule 3: Swift objects hold
/// addresses, not secret bytes). One segment for small allocations, whole pages for large ones.
public struct KernelAllocation: Codable, Sendable, Hashable {
    public struct Segment: Codable, Sendable, Hashable {
        public let address: UInt64
        public let length: Int
    }

    public let segments: [Segment]
    /// The usable length.
    public var length: Int { segments.reduce(0) { $0 + $1.length } }
    /// The size class it came from (0 for page-backed).
    let sizeClass: Int
}

/// `kmalloc`/`kfree_sensitive` over DRAM: size classes of 16 … 2048 bytes carved from KeyID-0 pages, and
/// whole pages for larger data. Every free zeroes the bytes first (Linux `kfree_sensitive`), because
/// what the kernel keeps here — key payloads, a remembered IWKey, a volume key — is exactly what a
/// memory-disclosure or cold-boot attacker looks for.
public struct KernelHeap: Codable, Sendable, Hashable {
    static let sizeClasses = [16, 32, 64, 128, 256, 512, 1024, 2048]

    /// Free chunks per size class (addresses), most recently freed last.
    private var freeChunks: [[UInt64]] = Array(repeating: [], count: sizeClasses.count)
    /// Bytes handed out, for `/proc/meminfo`-style reporting.
    public private(set) var bytesInUse = 0

    public init() {}

    /// Allocates `length` bytes of kernel memory (not zeroed: callers write it or use ``allocateZeroed``).
    mutating func allocate(_ length: Int, kernel: Kernel) throws(HWKeysError) -> KernelAllocation {
        guard length > 0 else { throw .einval("zero-length kernel allocation") }
        guard length <= 1 << 20 else { throw .enomem("kernel allocation of \(length) bytes is too large") }
        if let index = Self.sizeClasses.firstIndex(where: { $0 >= length }) {
            if freeChunks[index].isEmpty {
                let (frame, _) = try kernel.pages.allocate(owner: .kernelHeap, keyID: 0)
                let size = Self.sizeClasses[index]
                // Newest chunk last, so allocations proceed upward through the page.
                freeChunks[index].append(
                    contentsOf: stride(from: 4096 - size, through: 0, by: -size).map { (frame << 12) + UInt64($0) }
                )
            }
            let address = freeChunks[index].removeLast()
            bytesInUse += Self.sizeClasses[index]
            return KernelAllocation(
                segments: [.init(address: address, length: length)],
                sizeClass: Self.sizeClasses[index]
            )
        }
        var segments: [KernelAllocation.Segment] = []
        var remaining = length
        while remaining > 0 {
            let frame: UInt64
            do {
                (frame, _) = try kernel.pages.allocate(owner: .kernelHeap, keyID: 0)
            } catch {
                for segment in segments { kernel.pages.free(segment.address >> 12) }
                throw error
            }
            let chunk = min(remaining, 4096)
            segments.append(.init(address: frame << 12, length: chunk))
            remaining -= chunk
        }
        bytesInUse += segments.count * 4096
        return KernelAllocation(segments: segments, sizeClass: 0)
    }

    /// Zeroes and frees an allocation (`kfree_sensitive`).
    mutating func free(_ allocation: KernelAllocation, kernel: Kernel) {
        for segment in allocation.segments {
            kernel.physical.zero(segment.address, count: allocation.sizeClass == 0 ? 4096 : allocation.sizeClass)
        }
        if allocation.sizeClass == 0 {
            for segment in allocation.segments { kernel.pages.free(segment.address >> 12) }
            bytesInUse -= allocation.segments.count * 4096
        } else if let index = Self.sizeClasses.firstIndex(of: allocation.sizeClass) {
            freeChunks[index].append(allocation.segments[0].address)
            bytesInUse -= allocation.sizeClass
        }
    }
}

extension Kernel {
    /// `kmalloc` + copy: stores `secret` in kernel memory and returns where.
    public func storeInKernelMemory(_ secret: SecretBytes) throws(HWKeysError) -> KernelAllocation {
        let allocation = try heap.allocate(secret.count, kernel: self)
        writeKernelMemory(allocation, secret)
        return allocation
    }

    /// Allocates zeroed kernel memory.
    public func allocateKernelMemory(_ length: Int) throws(HWKeysError) -> KernelAllocation {
        let allocation = try heap.allocate(length, kernel: self)
        for segment in allocation.segments { physical.zero(segment.address, count: segment.length) }
        return allocation
    }

    /// Overwrites kernel memory with `secret` (same length as the allocation or shorter).
    public func writeKernelMemory(_ allocation: KernelAllocation, _ secret: SecretBytes, offset: Int = 0) {
        precondition(offset + secret.count <= allocation.length, "kernel memory write out of bounds")
        secret.withUnsafeBytes { bytes in
            var position = 0
            var skip = offset
            for segment in allocation.segments {
                if skip >= segment.length {
                    skip -= segment.length
                    continue
                }
                let take = min(segment.length - skip, bytes.count - position)
                guard take > 0 else { break }
                physical.write(
                    segment.address + UInt64(skip),
                    from: UnsafeRawBufferPointer(rebasing: bytes[position..<position + take])
                )
                position += take
                skip = 0
            }
        }
    }

    /// Reads kernel memory into a secret.
    public func readKernelMemory(_ allocation: KernelAllocation) -> SecretBytes {
        let secret = SecretBytes(count: allocation.length)
        secret.withUnsafeMutableBytes { out in
            var position = 0
            for segment in allocation.segments {
                physical.read(
                    segment.address,
                    into: UnsafeMutableRawBufferPointer(rebasing: out[position..<position + segment.length])
                )
                position += segment.length
            }
        }
        return secret
    }

    /// `kfree_sensitive`: zero and free.
    public func freeKernelMemory(_ allocation: KernelAllocation) {
        heap.free(allocation, kernel: self)
    }
}
