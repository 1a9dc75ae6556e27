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

    init(segments: [Segment], sizeClass: Int) {
        self.segments = segments
        self.sizeClass = sizeClass
    }

    private enum CodingKeys: String, CodingKey {
        case segments
        case sizeClass
    }

    /// Decodes and checks the shape ``KernelHeap/allocate(_:kernel:)`` gives every allocation: a chunk of a
    /// size class (aligned to it, one segment no longer than the class) or whole pages (page-aligned
    /// segments of 1…4096 bytes), at most 1 MiB, below 2^52. Saved kernels are attacker-writable (in a
    /// hibernation image on swap): a shape the heap never makes is a decoding error, not a trap later
    /// (docs/robustness.md). Whether the memory is a heap frame is checked when it is freed.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        segments = try container.decode([Segment].self, forKey: .segments)
        sizeClass = try container.decode(Int.self, forKey: .sizeClass)
        guard let problem = shapeProblem else { return }
        throw DecodingError.dataCorruptedError(forKey: .segments, in: container, debugDescription: problem)
    }

    /// Why this is not an allocation the heap could have made, or nil.
    var shapeProblem: String? {
        guard !segments.isEmpty, segments.count <= (1 << 20) / 4096 else { return "kernel allocation segments" }
        for segment in segments {
            guard segment.address < 1 << 52, (1...4096).contains(segment.length),
                Int(segment.address & 0xFFF) + segment.length <= 4096
            else { return "kernel allocation segment out of range" }
        }
        if sizeClass == 0 {
            guard segments.allSatisfy({ $0.address & 0xFFF == 0 }) else { return "unaligned page segment" }
        } else {
            guard KernelHeap.sizeClasses.contains(sizeClass), segments.count == 1,
                segments[0].address % UInt64(sizeClass) == 0, segments[0].length <= sizeClass
            else { return "kernel allocation of size class \(sizeClass)" }
        }
        return nil
    }
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

    /// Why `allocation` cannot be freed into this heap, or nil: its shape (``KernelAllocation/shapeProblem``),
    /// its memory not in heap frames, or a chunk already on a free list (a double free).
    func freeProblem(_ allocation: KernelAllocation, pages: PageAllocator) -> String? {
        if let problem = allocation.shapeProblem { return problem }
        for segment in allocation.segments where pages.frame(segment.address >> 12)?.owner != .kernelHeap {
            return "\(hex(segment.address)) is not in a kernel heap frame"
        }
        if let index = Self.sizeClasses.firstIndex(of: allocation.sizeClass),
            freeChunks[index].contains(allocation.segments[0].address)
        {
            return "\(hex(allocation.segments[0].address)) is already free"
        }
        return nil
    }

    /// Zeroes and frees an allocation (`kfree_sensitive`). An allocation the heap did not make — its record
    /// came from corrupted kernel data — is reported and leaked rather than trusted (docs/robustness.md).
    mutating func free(_ allocation: KernelAllocation, kernel: Kernel) {
        if let problem = freeProblem(allocation, pages: kernel.pages) {
            kernel.oopsAndContinue("Bad kfree: \(problem)")
            return
        }
        for segment in allocation.segments {
            kernel.physical.zero(segment.address, count: allocation.sizeClass == 0 ? 4096 : allocation.sizeClass)
        }
        if allocation.sizeClass == 0 {
            for segment in allocation.segments { kernel.pages.free(segment.address >> 12) }
            bytesInUse = max(0, bytesInUse - allocation.segments.count * 4096)
        } else if let index = Self.sizeClasses.firstIndex(of: allocation.sizeClass) {
            freeChunks[index].append(allocation.segments[0].address)
            bytesInUse = max(0, bytesInUse - allocation.sizeClass)
        }
    }

    /// Whether a restored heap is possible: one free list per size class, each chunk aligned to its class
    /// inside a heap frame, no chunk twice; a byte count within range.
    func problem(pages: PageAllocator) -> String? {
        guard freeChunks.count == Self.sizeClasses.count else { return "kernel heap size classes" }
        guard (0...(1 << 40)).contains(bytesInUse) else { return "kernel heap byte count" }
        var seen = Set<UInt64>()
        for (index, chunks) in freeChunks.enumerated() {
            let size = UInt64(Self.sizeClasses[index])
            for chunk in chunks {
                guard chunk % size == 0, pages.frame(chunk >> 12)?.owner == .kernelHeap, seen.insert(chunk).inserted
                else { return "kernel heap free chunk \(hex(chunk))" }
            }
        }
        return nil
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
