//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

import HWKeysBase

/// The physical page allocator: 4 KiB frames of the e820 map.
///
/// Freed frames are reused last-in first-out (like the per-CPU free lists in front of Linux's buddy
/// allocator), so a page freed by one owner is the next one handed out — which is what makes stale data
/// and missing flushes observable. Each frame remembers the KeyID it was last used with (Linux keeps it
/// in `page_ext`), so the next owner knows which alias to flush. Bookkeeping only: no frame contents.
public struct PageAllocator: Codable, Sendable, Hashable {
    public static let pageSize = 4096

    /// What a frame is used for.
    public enum Owner: String, Codable, Sendable, Hashable {
        case kernelHeap = "heap"
        case pageTable = "pagetable"
        case user
        case kernel
    }

    /// An allocated frame.
    public struct Frame: Codable, Sendable, Hashable {
        public var owner: Owner
        /// The KeyID the frame is used with (page_ext->keyid).
        public var keyID: UInt16
    }

    /// Frames below this are reserved (the first MiB, as on a PC).
    public let firstUsableFrame: UInt64
    /// One past the last usable frame.
    public let frameLimit: UInt64
    /// Never-used frames start here.
    private var highWater: UInt64
    /// Freed frames, most recent last.
    private var freeStack: [UInt64] = []
    /// Allocated frames.
    public private(set) var allocated = StableDictionary<UInt64, Frame>()
    /// Free frames whose last use was with a KeyID other than 0 (sparse page_ext->keyid).
    private var lastKeyID = StableDictionary<UInt64, UInt16>()

    /// An allocator over `[reservedBytes, memoryBytes)`.
    public init(memoryBytes: UInt64, reservedBytes: UInt64 = 1 << 20) {
        firstUsableFrame = (reservedBytes + 4095) / 4096
        frameLimit = memoryBytes / 4096
        highWater = firstUsableFrame
    }

    /// Frames available.
    public var freeFrames: Int { Int(frameLimit - highWater) + freeStack.count }

    /// Total usable frames.
    public var totalFrames: Int { Int(frameLimit - firstUsableFrame) }

    /// Takes a frame. Returns the frame and the KeyID its previous contents were last used with.
    public mutating func allocate(
        owner: Owner,
        keyID: UInt16
    ) throws(HWKeysError) -> (frame: UInt64, previousKeyID: UInt16) {
        let frame: UInt64
        if let reused = freeStack.popLast() {
            frame = reused
        } else if highWater < frameLimit {
            frame = highWater
            highWater += 1
        } else {
            throw .enomem("out of physical memory (\(totalFrames) frames in use)")
        }
        let previous = lastKeyID.removeValue(forKey: frame) ?? 0
        allocated[frame] = Frame(owner: owner, keyID: keyID)
        return (frame, previous)
    }

    /// Returns a frame. The caller has already flushed it through its KeyID alias.
    ///
    /// - Returns: false (and changes nothing) when `frame` is not allocated: a frame number that came from
    ///   corrupted kernel data (a paging entry, a heap record, an image). The caller reports the oops.
    @discardableResult
    public mutating func free(_ frame: UInt64) -> Bool {
        guard let info = allocated.removeValue(forKey: frame) else { return false }
        if info.keyID != 0 { lastKeyID[frame] = info.keyID }
        freeStack.append(frame)
        return true
    }

    /// The allocation record of `frame`.
    public func frame(_ frame: UInt64) -> Frame? { allocated[frame] }

    /// Changes the KeyID recorded for an allocated frame.
    public mutating func setKeyID(_ keyID: UInt16, of frame: UInt64) {
        allocated[frame]?.keyID = keyID
    }

    /// Whether the allocator's records are possible for DRAM of `memoryBytes` with `keyIDCount` KeyIDs
    /// (a restored kernel image is attacker-writable: docs/robustness.md). Checks: the bounds are the ones a
    /// fresh allocator computes; the high-water mark lies between them; allocated frames lie below it with a
    /// KeyID that exists; free frames lie below it, once each, and are not allocated.
    func problem(memoryBytes: UInt64, keyIDCount: Int) -> String? {
        let fresh = PageAllocator(memoryBytes: memoryBytes)
        guard firstUsableFrame == fresh.firstUsableFrame, frameLimit == fresh.frameLimit else {
            return "page allocator bounds do not match the memory map"
        }
        guard (firstUsableFrame...frameLimit).contains(highWater) else { return "page allocator high-water mark" }
        let range = firstUsableFrame..<highWater
        for (frame, record) in allocated.storage where !range.contains(frame) || Int(record.keyID) >= keyIDCount {
            return "allocated frame \(frame) (KeyID \(record.keyID)) out of range"
        }
        guard freeStack.count <= range.count, Set(freeStack).count == freeStack.count else {
            return "page allocator free list has duplicates"
        }
        for frame in freeStack where !range.contains(frame) || allocated[frame] != nil {
            return "free frame \(frame) out of range or allocated"
        }
        for (frame, keyID) in lastKeyID.storage where !range.contains(frame) || Int(keyID) >= keyIDCount {
            return "last KeyID of frame \(frame) out of range"
        }
        return nil
    }
}
