//===----------------------------------------------------------------------===//
//
// hwkeys: Platform
//
//===----------------------------------------------------------------------===//

import HWKeysBase

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One package's write-back cache: a **sectored**, set-associative cache tagged by the full physical address,
/// KeyID bits included, so the 2^k aliases of a DRAM line are different lines that are never coherent with
/// each other (MKTME spec 336907 §4; docs/contract.md §1–§2).
///
/// Geometry (docs/mktme.md "The cache model"):
/// - a **block** (sector) of `blockLines` consecutive lines shares one tag; each line has its own valid and
///   dirty bit, so lines are filled, dirtied, written back and flushed one by one, as docs/contract.md §2 requires.
///   `blockLines` is 64 (one 4 KiB page) when the cache holds at least 16 such blocks, else the largest
///   power of two that gives 16 blocks (down to 1: a plain line cache);
/// - blocks are grouped in sets of `ways` (the largest power of two up to 16 dividing the block count); the
///   set index is the DRAM block number (KeyID bits stripped) modulo the number of sets, as real caches
///   index by low address bits: aliases of one DRAM line compete for the same set;
/// - replacement is deterministic: a free way if the set has one (lowest first), else the lowest way not
///   recently used (bit-PLRU, "NRU": each access sets its way's bit; when all would be set, only the
///   accessed way's stays). Replacing a block writes back all its dirty lines.
///
/// Sectoring is what makes the hot path bulk: a page-sized access is one tag lookup, its fills and
/// write-backs are runs of consecutive lines (one engine call each), its data one copy.
///
/// Storage is allocated once and reached through ``Blocks``, a value of raw pointers, so the memory path
/// neither allocates nor retains per access. Slots hold plaintext of whatever software stored, so they are
/// wiped on release and at power loss.
final class PackageCache {
    /// Lines (of 64 bytes) the cache holds.
    let lineCount: Int
    /// The storage.
    let blocks: Blocks

    init(lines count: Int) {
        precondition(count > 0, "a cache has at least one line")
        lineCount = count
        var blockLines = 64
        while blockLines > 1 && (count % blockLines != 0 || count / blockLines < 16) { blockLines >>= 1 }
        let blockCount = count / blockLines
        var ways = 16
        while blockCount % ways != 0 { ways >>= 1 }
        let sets = blockCount / ways
        let data = UnsafeMutableRawPointer.allocate(byteCount: count * 64, alignment: 64)
        data.initializeMemory(as: UInt8.self, repeating: 0, count: count * 64)
        func words<T: FixedWidthInteger>(_ type: T.Type, _ n: Int, _ value: T) -> UnsafeMutablePointer<T> {
            let pointer = UnsafeMutablePointer<T>.allocate(capacity: n)
            pointer.initialize(repeating: value, count: n)
            return pointer
        }
        blocks = Blocks(
            data: data,
            tags: words(UInt64.self, blockCount, Blocks.free),
            valid: words(UInt64.self, blockCount, 0),
            dirty: words(UInt64.self, blockCount, 0),
            fingerprints: words(UInt64.self, 2 * sets, 0),
            occupied: words(UInt16.self, sets, 0),
            recent: words(UInt16.self, sets, 0),
            blockShift: blockLines.trailingZeroBitCount,
            ways: ways,
            sets: sets
        )
    }

    deinit {
        memset(blocks.data, 0, lineCount * 64)
        blocks.data.deallocate()
        blocks.tags.deallocate()
        blocks.valid.deallocate()
        blocks.dirty.deallocate()
        blocks.fingerprints.deallocate()
        blocks.occupied.deallocate()
        blocks.recent.deallocate()
    }

    /// Blocks in the cache.
    var blockCount: Int { blocks.ways * blocks.sets }

    /// Drops every line and wipes the data (power loss).
    func invalidateAll() {
        blocks.tags.update(repeating: Blocks.free, count: blockCount)
        blocks.valid.update(repeating: 0, count: blockCount)
        blocks.dirty.update(repeating: 0, count: blockCount)
        blocks.fingerprints.update(repeating: 0, count: 2 * blocks.sets)
        blocks.occupied.update(repeating: 0, count: blocks.sets)
        blocks.recent.update(repeating: 0, count: blocks.sets)
        memset(blocks.data, 0, lineCount * 64)
    }

    /// The number of dirty lines.
    var dirtyLineCount: Int {
        (0..<blockCount).reduce(0) { $0 + blocks.dirty[$1].nonzeroBitCount }
    }

    // MARK: Image: occupied blocks in slot order (tag, valid and dirty bits, valid lines), then each set's
    // replacement bits.

    func encode(into writer: inout ImageWriter) {
        writer.section("cache", version: 1)
        writer.u32(UInt32(lineCount))
        let occupied = (0..<blockCount).filter { blocks.tags[$0] != Blocks.free }
        writer.u32(UInt32(occupied.count))
        for slot in occupied {
            writer.u32(UInt32(slot))
            writer.u64(blocks.tags[slot])
            writer.u64(blocks.valid[slot])
            writer.u64(blocks.dirty[slot])
            var lines = blocks.valid[slot]
            while lines != 0 {
                writer.raw(UnsafeRawBufferPointer(start: blocks.line(slot, lines.trailingZeroBitCount), count: 64))
                lines &= lines &- 1
            }
        }
        for set in 0..<blocks.sets { writer.u16(blocks.recent[set]) }
    }

    func decode(from reader: inout ImageReader) throws(HWKeysError) {
        try reader.section("cache", maxVersion: 1)
        guard Int(try reader.u32()) == lineCount else {
            throw .unreadableImage("machine image: cache size does not match the configuration")
        }
        invalidateAll()
        let count = Int(try reader.u32())
        guard count <= blockCount else { throw .unreadableImage("machine image: too many cache blocks") }
        var previous = -1
        let allLines = blocks.lineMask
        for _ in 0..<count {
            let slot = Int(try reader.u32())
            guard slot > previous, slot < blockCount else {
                throw .unreadableImage("machine image: cache block out of order")
            }
            previous = slot
            let tag = try reader.u64()
            let valid = try reader.u64()
            let dirty = try reader.u64()
            guard tag < UInt64(1) << 52, valid != 0, valid & ~allLines == 0, dirty & ~valid == 0 else {
                throw .unreadableImage("machine image: bad cache block")
            }
            blocks.install(tag, in: slot, set: slot >> blocks.waysShift)
            blocks.valid[slot] = valid
            blocks.dirty[slot] = dirty
            var lines = valid
            while lines != 0 {
                let bytes = try reader.raw(count: 64)
                bytes.withUnsafeBytes {
                    blocks.line(slot, lines.trailingZeroBitCount).copyMemory(from: $0.baseAddress!, byteCount: 64)
                }
                lines &= lines &- 1
            }
        }
        for set in 0..<blocks.sets {
            let recent = try reader.u16()
            guard recent & ~blocks.waysMask == 0 else {
                throw .unreadableImage("machine image: bad cache replacement bits")
            }
            blocks.recent[set] = recent
        }
    }
}

/// A cache's storage as raw pointers: a trivial value the memory path copies into locals, so it pays no
/// reference counting or exclusivity checks per access.
struct Blocks {
    /// The tag of a free block (no physical address reaches it).
    static let free = UInt64.max

    /// `blocks × blockLines × 64` bytes of line data, 64-byte aligned; block b's line i at `(b·blockLines + i)·64`.
    let data: UnsafeMutableRawPointer
    /// Per block: the full line address (physical address incl. KeyID >> 6) >> `blockShift`, or ``free``.
    let tags: UnsafeMutablePointer<UInt64>
    /// Per block: bit i = line i holds data.
    let valid: UnsafeMutablePointer<UInt64>
    /// Per block: bit i = line i was modified since it was filled (always a subset of `valid`).
    let dirty: UnsafeMutablePointer<UInt64>
    /// Per set: two words of one fingerprint byte per way (way w in byte w % 8 of word w / 8).
    let fingerprints: UnsafeMutablePointer<UInt64>
    /// Per set: bit w = way w holds a block.
    let occupied: UnsafeMutablePointer<UInt16>
    /// Per set: bit w = way w was used recently (bit-PLRU).
    let recent: UnsafeMutablePointer<UInt16>
    /// log2 of the lines per block.
    let blockShift: Int
    let ways: Int
    let sets: Int

    /// Lines per block.
    var blockLines: Int { 1 &<< blockShift }
    /// The valid-bit mask of a full block.
    var lineMask: UInt64 { blockShift == 6 ? .max : (UInt64(1) &<< UInt64(blockLines)) &- 1 }
    var waysShift: Int { ways.trailingZeroBitCount }
    var waysMask: UInt16 { ways == 16 ? 0xFFFF : UInt16(1 &<< ways) &- 1 }

    /// The set DRAM block `block` (DRAM line number >> `blockShift`, KeyID bits stripped) maps to.
    @inline(__always)
    func set(ofDRAMBlock block: UInt64) -> Int {
        sets & (sets &- 1) == 0 ? Int(truncatingIfNeeded: block & UInt64(sets &- 1)) : Int(block % UInt64(sets))
    }

    /// The one-byte fingerprint of a tag.
    @inline(__always)
    static func fingerprint(_ tag: UInt64) -> UInt8 { UInt8(truncatingIfNeeded: (tag &* 0x9E37_79B9_7F4A_7C15) >> 56) }

    /// The slot holding block `tag` in `set`, or -1. Compares a fingerprint byte of eight ways at a time and
    /// the full tag only for candidates.
    @inline(__always)
    func lookup(_ tag: UInt64, set: Int) -> Int {
        let base = set &<< waysShift
        let pattern = UInt64(Self.fingerprint(tag)) &* 0x0101_0101_0101_0101
        for word in 0..<(ways > 8 ? 2 : 1) {
            let x = fingerprints[set &* 2 &+ word] ^ pattern
            var candidates = (x &- 0x0101_0101_0101_0101) & ~x & 0x8080_8080_8080_8080
            while candidates != 0 {
                let way = word &* 8 &+ candidates.trailingZeroBitCount &>> 3
                if way < ways, tags[base &+ way] == tag { return base &+ way }
                candidates &= candidates &- 1
            }
        }
        return -1
    }

    /// The slot a miss in `set` replaces: the lowest free way, else the lowest way not recently used.
    @inline(__always)
    func victim(set: Int) -> Int {
        let mask = waysMask
        let free = ~occupied[set] & mask
        if free != 0 { return set &<< waysShift &+ free.trailingZeroBitCount }
        let old = ~recent[set] & mask
        return set &<< waysShift &+ (old == 0 ? 0 : old.trailingZeroBitCount)
    }

    /// Marks `slot` (in `set`) recently used.
    @inline(__always)
    func touch(_ slot: Int, set: Int) {
        let bit = UInt16(1) &<< UInt16(slot & (ways &- 1))
        let updated = recent[set] | bit
        recent[set] = updated == waysMask ? bit : updated
    }

    /// Gives `slot` of `set` to block `tag`, with no valid lines yet, and marks it recently used.
    @inline(__always)
    func install(_ tag: UInt64, in slot: Int, set: Int) {
        let way = slot & (ways &- 1)
        tags[slot] = tag
        valid[slot] = 0
        dirty[slot] = 0
        let word = set &* 2 &+ way &>> 3
        let shift = UInt64((way & 7) &* 8)
        fingerprints[word] = fingerprints[word] & ~(0xFF &<< shift) | UInt64(Self.fingerprint(tag)) &<< shift
        occupied[set] |= UInt16(1) &<< UInt16(way)
        touch(slot, set: set)
    }

    /// Drops the lines `lines` of `slot` (their data stays until overwritten; nothing is written back); a block
    /// left without valid lines is freed.
    @inline(__always)
    func drop(_ lines: UInt64, of slot: Int) {
        let remaining = valid[slot] & ~lines
        valid[slot] = remaining
        dirty[slot] &= ~lines
        if remaining == 0 {
            tags[slot] = Self.free
            occupied[slot &>> waysShift] &= ~(UInt16(1) &<< UInt16(slot & (ways &- 1)))
        }
    }

    /// The 64 bytes of line `line` of block `slot`.
    @inline(__always)
    func line(_ slot: Int, _ line: Int) -> UnsafeMutableRawPointer { data + ((slot &<< blockShift) &+ line) &* 64 }
}
