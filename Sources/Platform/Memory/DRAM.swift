//===----------------------------------------------------------------------===//
//
// hwkeys: Platform
//
//===----------------------------------------------------------------------===//

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Supplies stored DRAM pages on first touch (the machine image's page store).
public protocol DRAMPageSource: AnyObject {
    /// Copies stored page `frame` into `page` (4096 bytes) and returns true, or returns false if the page
    /// was never stored (it then reads as zeros). Throws if the store cannot be read.
    func loadPage(_ frame: UInt64, into page: UnsafeMutableRawBufferPointer) throws -> Bool
}

/// The DIMMs: what a bus snooper or a stolen module sees. Holds ciphertext (or plaintext for
/// bypassed, excluded or NO_ENCRYPT traffic); knows nothing of keys or KeyIDs.
///
/// Sparse: the whole range is reserved with `mmap(MAP_NORESERVE)`, so untouched pages cost nothing;
/// stored pages are loaded on first touch from the ``DRAMPageSource``; writes mark pages dirty so that
/// only changed pages are saved. Addresses are DRAM addresses (KeyID bits already stripped).
public final class DRAM {
    /// The page granularity of loading and saving.
    public static let pageSize = 4096

    /// The number of bytes of DRAM.
    public let size: UInt64
    /// The number of 4 KiB pages.
    public let frameCount: Int

    private let base: UnsafeMutableRawPointer
    private var present: [UInt64]
    private var dirty: [UInt64]
    private let pageSource: (any DRAMPageSource)?

    /// The first error the page source reported, if any. A command that sees one must not commit.
    public private(set) var pageSourceError: (any Error)?

    /// Reserves `size` bytes (a multiple of 4096) of sparse DRAM.
    public init(size: UInt64, pageSource: (any DRAMPageSource)? = nil) {
        precondition(size > 0 && size % UInt64(Self.pageSize) == 0, "DRAM size must be whole pages")
        self.size = size
        self.frameCount = Int(size / UInt64(Self.pageSize))
        guard
            let mapping = mmap(
                nil,
                Int(size),
                PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                -1,
                0
            ),
            mapping != MAP_FAILED
        else {
            preconditionFailure("cannot reserve \(size) bytes of address space for emulated DRAM")
        }
        self.base = mapping
        let words = (frameCount + 63) / 64
        self.present = Array(repeating: 0, count: words)
        self.dirty = Array(repeating: 0, count: words)
        self.pageSource = pageSource
    }

    deinit {
        // DRAM holds ciphertext and (for bypassed KeyIDs) plaintext: wipe before returning it to the OS.
        for word in 0..<present.count where present[word] != 0 {
            for bit in 0..<64 where present[word] & (1 << UInt64(bit)) != 0 {
                memset(base + (word * 64 + bit) * Self.pageSize, 0, Self.pageSize)
            }
        }
        munmap(base, Int(size))
    }

    // MARK: Page state

    @inline(__always)
    private func isPresent(_ frame: Int) -> Bool { present[frame >> 6] & (1 << UInt64(frame & 63)) != 0 }

    /// Makes `frame` authoritative in host memory, loading it from the page source on first touch.
    @inline(__always)
    private func ensurePresent(_ frame: Int) {
        if !isPresent(frame) { fault(frame) }
    }

    private func fault(_ frame: Int) {
        present[frame >> 6] |= 1 << UInt64(frame & 63)
        guard let pageSource else { return }
        let page = UnsafeMutableRawBufferPointer(start: base + frame * Self.pageSize, count: Self.pageSize)
        do {
            _ = try pageSource.loadPage(UInt64(frame), into: page)
        } catch {
            if pageSourceError == nil { pageSourceError = error }
            memset(page.baseAddress!, 0, Self.pageSize)
        }
    }

    @inline(__always)
    private func markDirty(_ frame: Int) { dirty[frame >> 6] |= 1 << UInt64(frame & 63) }

    /// Frames written since the last ``clearDirty()``, ascending.
    public var dirtyFrames: [UInt64] {
        var frames: [UInt64] = []
        for word in 0..<dirty.count where dirty[word] != 0 {
            var bits = dirty[word]
            while bits != 0 {
                let bit = bits.trailingZeroBitCount
                frames.append(UInt64(word * 64 + bit))
                bits &= bits - 1
            }
        }
        return frames
    }

    /// Forgets which frames were written (after they were saved).
    public func clearDirty() {
        for index in dirty.indices { dirty[index] = 0 }
    }

    /// Calls `body` with the current contents of `frame` (read-only; for saving).
    public func withPage<R>(_ frame: UInt64, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        precondition(frame < UInt64(frameCount), "frame out of range")
        ensurePresent(Int(frame))
        return try body(UnsafeRawBufferPointer(start: base + Int(frame) * Self.pageSize, count: Self.pageSize))
    }

    // MARK: Access

    /// True when `[address, address + count)` lies inside DRAM.
    public func contains(_ address: UInt64, count: Int) -> Bool {
        count >= 0 && address <= size && UInt64(count) <= size - address
    }

    /// Reads raw DRAM bytes. The range must lie inside DRAM.
    public func read(_ address: UInt64, into buffer: UnsafeMutableRawBufferPointer) {
        precondition(contains(address, count: buffer.count), "DRAM read out of range")
        forEachPage(address, buffer.count) { frame, pageOffset, bufferOffset, length in
            ensurePresent(frame)
            (buffer.baseAddress! + bufferOffset).copyMemory(
                from: base + frame * Self.pageSize + pageOffset,
                byteCount: length
            )
        }
    }

    /// Writes raw DRAM bytes. The range must lie inside DRAM.
    public func write(_ address: UInt64, from buffer: UnsafeRawBufferPointer) {
        precondition(contains(address, count: buffer.count), "DRAM write out of range")
        forEachPage(address, buffer.count) { frame, pageOffset, bufferOffset, length in
            ensurePresent(frame)
            markDirty(frame)
            (base + frame * Self.pageSize + pageOffset).copyMemory(
                from: buffer.baseAddress! + bufferOffset,
                byteCount: length
            )
        }
    }

    /// A pointer to `count` bytes at `address` that must not cross a page boundary, for the memory
    /// controllers' bulk paths. `forWriting` marks the page dirty.
    @inline(__always)
    public func pointer(_ address: UInt64, count: Int, forWriting: Bool) -> UnsafeMutableRawPointer {
        let frame = Int(address >> 12)
        precondition(frame < frameCount && Int(address & 0xFFF) + count <= Self.pageSize, "DRAM pointer out of range")
        ensurePresent(frame)
        if forWriting { markDirty(frame) }
        return base + Int(address)
    }

    private func forEachPage(_ address: UInt64, _ count: Int, _ body: (Int, Int, Int, Int) -> Void) {
        var done = 0
        while done < count {
            let current = address + UInt64(done)
            let frame = Int(current >> 12)
            let pageOffset = Int(current & 0xFFF)
            let length = min(count - done, Self.pageSize - pageOffset)
            body(frame, pageOffset, done, length)
            done += length
        }
    }
}
