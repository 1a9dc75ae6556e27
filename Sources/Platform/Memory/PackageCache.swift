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

/// One package's write-back cache: set-associative, tagged by the **full** physical line address (KeyID bits
/// included), so the 2^k aliases of a DRAM line are different lines that are never coherent with each other
/// (MKTME spec 336907 §4; spec.md §1–§2).
///
/// Geometry: `lines` slots of 64 bytes in `ways`-way sets (16 ways, or the largest divisor of `lines` up to
/// 16). The set index is the DRAM line number (KeyID bits stripped) modulo the number of sets, as real caches
/// index by low address bits: aliases of one DRAM line compete for the same set. Replacement is
/// deterministic LRU: every access stamps the slot with a per-cache counter; a miss takes an invalid way
/// if there is one (lowest way first), else the way with the oldest stamp.
///
/// Storage is allocated once (slots, tags, dirty flags, stamps) and reused: the memory path never
/// allocates per line. Slots hold plaintext of whatever software stored, so they are wiped on release.
final class PackageCache {
    /// Slots in the cache.
    let lineCount: Int
    /// Ways per set.
    let ways: Int
    /// Sets (`lineCount / ways`).
    let sets: Int
    /// `sets - 1` when `sets` is a power of two (index by mask), else nil (index by remainder).
    private let setMask: UInt64?

    /// `lineCount × 64` bytes of line data, 64-byte aligned.
    let data: UnsafeMutableRawPointer
    /// Per slot: the full line address (physical address incl. KeyID >> 6), or ``invalid``.
    let tags: UnsafeMutablePointer<UInt64>
    /// Per slot: modified since filled.
    let dirty: UnsafeMutablePointer<Bool>
    /// Per slot: the LRU stamp of the last access (0 = invalid).
    let stamps: UnsafeMutablePointer<UInt64>
    /// The LRU clock: incremented by every access.
    var clock: UInt64 = 0

    /// The tag of an invalid slot (no physical address reaches 2^64 - 64).
    static let invalid = UInt64.max

    init(lines: Int) {
        precondition(lines > 0, "a cache has at least one line")
        lineCount = lines
        ways = (1...min(16, lines)).last { lines % $0 == 0 }!
        sets = lines / ways
        setMask = sets & (sets - 1) == 0 ? UInt64(sets - 1) : nil
        data = UnsafeMutableRawPointer.allocate(byteCount: lines * 64, alignment: 64)
        data.initializeMemory(as: UInt8.self, repeating: 0, count: lines * 64)
        tags = .allocate(capacity: lines)
        tags.initialize(repeating: Self.invalid, count: lines)
        dirty = .allocate(capacity: lines)
        dirty.initialize(repeating: false, count: lines)
        stamps = .allocate(capacity: lines)
        stamps.initialize(repeating: 0, count: lines)
    }

    deinit {
        memset(data, 0, lineCount * 64)
        data.deallocate()
        tags.deallocate()
        dirty.deallocate()
        stamps.deallocate()
    }

    /// The first slot of the set that DRAM line `line` (KeyID bits stripped) maps to.
    @inline(__always)
    func setBase(ofDRAMLine line: UInt64) -> Int {
        let set = setMask.map { Int(line & $0) } ?? Int(line % UInt64(sets))
        return set &* ways
    }

    /// The slot holding `tag` in the set starting at `base`, or -1; and the slot a miss would replace.
    @inline(__always)
    func find(_ tag: UInt64, setBase base: Int) -> (hit: Int, victim: Int) {
        var victim = base
        var oldest = UInt64.max
        for slot in base..<(base &+ ways) {
            if tags[slot] == tag { return (slot, slot) }
            let stamp = stamps[slot]
            if stamp < oldest {
                oldest = stamp
                victim = slot
            }
        }
        return (-1, victim)
    }

    /// The slot holding `tag`, or nil.
    @inline(__always)
    func lookup(_ tag: UInt64, dramLine: UInt64) -> Int? {
        let base = setBase(ofDRAMLine: dramLine)
        for slot in base..<(base &+ ways) where tags[slot] == tag { return slot }
        return nil
    }

    /// The 64 bytes of `slot`.
    @inline(__always)
    func line(_ slot: Int) -> UnsafeMutableRawPointer { data + slot &* 64 }

    /// Marks `slot` most recently used.
    @inline(__always)
    func touch(_ slot: Int) {
        clock &+= 1
        stamps[slot] = clock
    }

    /// Installs `tag` in `slot` (clean) and marks it most recently used.
    @inline(__always)
    func install(_ tag: UInt64, in slot: Int) {
        tags[slot] = tag
        dirty[slot] = false
        touch(slot)
    }

    /// Drops `slot` (its data stays until overwritten; nothing is written back).
    @inline(__always)
    func invalidate(_ slot: Int) {
        tags[slot] = Self.invalid
        dirty[slot] = false
        stamps[slot] = 0
    }

    /// Drops every line and wipes the data (power loss).
    func invalidateAll() {
        tags.update(repeating: Self.invalid, count: lineCount)
        dirty.update(repeating: false, count: lineCount)
        stamps.update(repeating: 0, count: lineCount)
        memset(data, 0, lineCount * 64)
        clock = 0
    }

    /// The number of dirty lines.
    var dirtyLineCount: Int {
        var count = 0
        for slot in 0..<lineCount where dirty[slot] { count += 1 }
        return count
    }

    // MARK: Image: the valid lines only, in slot order.

    func encode(into writer: inout ImageWriter) {
        writer.section("cache", version: 1)
        writer.u32(UInt32(lineCount))
        writer.u64(clock)
        var valid = 0
        for slot in 0..<lineCount where tags[slot] != Self.invalid { valid += 1 }
        writer.u32(UInt32(valid))
        for slot in 0..<lineCount where tags[slot] != Self.invalid {
            writer.u32(UInt32(slot))
            writer.u64(tags[slot])
            writer.bool(dirty[slot])
            writer.u64(stamps[slot])
            writer.raw(UnsafeRawBufferPointer(start: line(slot), count: 64))
        }
    }

    func decode(from reader: inout ImageReader) throws(ImageError) {
        try reader.section("cache", maxVersion: 1)
        guard Int(try reader.u32()) == lineCount else {
            throw ImageError("machine image: cache size does not match the configuration")
        }
        invalidateAll()
        clock = try reader.u64()
        let valid = Int(try reader.u32())
        guard valid <= lineCount else { throw ImageError("machine image: too many cache lines") }
        var previous = -1
        for _ in 0..<valid {
            let slot = Int(try reader.u32())
            guard slot > previous, slot < lineCount else { throw ImageError("machine image: cache slot out of order") }
            previous = slot
            let tag = try reader.u64()
            guard tag != Self.invalid, tag < UInt64(1) << 58 else { throw ImageError("machine image: bad cache tag") }
            tags[slot] = tag
            dirty[slot] = try reader.bool()
            let stamp = try reader.u64()
            guard stamp > 0, stamp <= clock else { throw ImageError("machine image: bad cache stamp") }
            stamps[slot] = stamp
            let bytes = try reader.raw(count: 64)
            bytes.withUnsafeBytes { line(slot).copyMemory(from: $0.baseAddress!, byteCount: 64) }
        }
    }
}
