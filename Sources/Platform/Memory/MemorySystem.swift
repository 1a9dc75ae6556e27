//===----------------------------------------------------------------------===//
//
// hwkeys: Platform
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase
import X86

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The memory system: one write-back cache per package (``PackageCache``, sectored, tagged by full physical
/// address, KeyID included) and one memory controller per package (``MemoryController``) that encrypts its
/// DRAM range with its key table (docs/contract.md §1–§2; docs/mktme.md "The cache model").
///
/// - Loads fill lines, decrypting with the key in the home controller's table **at fill time**; stores
///   dirty them. A store that covers a whole line allocates it without reading DRAM.
/// - Write-back (eviction, CLFLUSH, WBINVD, S3 entry) encrypts with the key in the table **at write-back
///   time**; clean lines are dropped, never written back.
/// - Coherence between packages holds for one alias only: a miss takes over dirty copies of the same alias
///   from another package's cache (the data moves, still dirty; nothing is written to DRAM) and a store
///   drops clean copies elsewhere. Aliases with different KeyIDs are never coherent.
/// - `--cache-lines 0`: no caches; every access goes straight through the controller (a partial-line store
///   is a read-modify-write of the line).
///
/// Bulk (docs/design.md rule 6): an access is cut into chunks of at most one cache block (one page with the
/// default geometry); a chunk costs one tag lookup, its fills and write-backs are runs of consecutive lines
/// handed to the line engine in one call each, and its data is one copy. Nothing is allocated per access
/// and key schedules live in the key table entries.
final class MemorySystem {
    let configuration: MachineConfiguration
    /// One per package.
    let controllers: [MemoryController]
    /// One per package, or none with `--cache-lines 0`.
    let caches: [PackageCache]
    /// The TME key and MKTME key tables were kept at S3 entry ("save key for standby") and wait for
    /// firmware to restore them (`IA32_TME_ACTIVATE` key select = 1).
    private(set) var standbyKeysSaved = false

    private let dramShare: UInt64

    init(configuration: MachineConfiguration) {
        self.configuration = configuration
        controllers = (0..<configuration.packages).map {
            MemoryController(package: $0, maxKeys: configuration.maxKeys)
        }
        caches =
            configuration.cacheLines == 0
            ? [] : (0..<configuration.packages).map { _ in PackageCache(lines: configuration.cacheLines) }
        dramShare = configuration.memoryBytes / UInt64(configuration.packages)
    }

    /// The package whose controller owns DRAM address `address`.
    @inline(__always)
    func homePackage(of address: UInt64) -> Int {
        controllers.count == 1 ? 0 : min(Int(address / dramShare), controllers.count - 1)
    }

    /// The key protecting `keyID` traffic at `dramAddress`, or nil for plaintext (see ``MemoryController``).
    @inline(__always)
    func cipher(keyID: Int, dramAddress: UInt64, tme: TMEUnit) -> XTSKey? {
        controllers[homePackage(of: dramAddress)].cipher(keyID: keyID, dramAddress: dramAddress, tme: tme)
    }

    /// What the memory path needs from the KeyID layout, read once per operation (the layout lives in
    /// another module, so its methods would be calls).
    struct Geometry {
        /// Physical address bits below the KeyID: address >> this = KeyID.
        let keyIDShift: UInt64
        /// The DRAM address of a physical address: address & addressMask.
        let addressMask: UInt64
        let dramSize: UInt64

        init(_ layout: KeyIDLayout, dramSize: UInt64) {
            keyIDShift = UInt64(layout.keyIDShift)
            addressMask = layout.addressMask
            self.dramSize = dramSize
        }
    }

    /// `lines` consecutive lines through `cipher`, or copied when it is nil (plaintext).
    @inline(__always)
    private static func transform(
        _ cipher: XTSKey?,
        encrypt: Bool,
        from source: UnsafeRawPointer,
        to destination: UnsafeMutableRawPointer,
        firstSequence: UInt64,
        lines: Int
    ) {
        guard let cipher else {
            destination.copyMemory(from: source, byteCount: lines &* 64)
            return
        }
        if encrypt {
            cipher.encryptLines(from: source, to: destination, firstSequence: firstSequence, count: lines)
        } else {
            cipher.decryptLines(from: source, to: destination, firstSequence: firstSequence, count: lines)
        }
    }

    /// Calls `body(first, count)` for each run of consecutive set bits of `mask`.
    @inline(__always)
    private static func forEachRun(_ mask: UInt64, _ body: (Int, Int) -> Void) {
        var rest = mask
        while rest != 0 {
            let first = rest.trailingZeroBitCount
            let shifted = rest >> UInt64(first)
            let count = shifted == .max ? 64 - first : (~shifted).trailingZeroBitCount
            body(first, count)
            rest = count + first >= 64 ? 0 : rest & ~(((UInt64(1) << UInt64(count)) &- 1) << UInt64(first))
        }
    }

    // MARK: Loads and stores

    /// A load of `buffer.count` bytes at `address` (KeyID bits included) through `package`'s cache.
    /// Addresses beyond DRAM read as all ones (no memory responds); nothing faults.
    func load(_ address: PhysicalAddress, into buffer: UnsafeMutableRawBufferPointer, package: Int, machine: Machine) {
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return }
        access(address, base, buffer.count, store: false, package: package, machine: machine)
    }

    /// A store of `buffer` at `address` through `package`'s cache. Stores beyond DRAM are dropped.
    func store(_ address: PhysicalAddress, from buffer: UnsafeRawBufferPointer, package: Int, machine: Machine) {
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return }
        access(
            address,
            UnsafeMutableRawPointer(mutating: base),
            buffer.count,
            store: true,
            package: package,
            machine: machine
        )
    }

    private func access(
        _ address: PhysicalAddress,
        _ bytes: UnsafeMutableRawPointer,
        _ count: Int,
        store: Bool,
        package: Int,
        machine: Machine
    ) {
        let tme = machine.tme
        let layout = tme.keyIDLayout
        precondition(address.rawValue >> UInt64(layout.maxPhysAddr) == 0, "physical address above MAXPHYADDR")
        precondition(count <= 1 << 40, "access too large")
        let geometry = Geometry(layout, dramSize: machine.dram.size)
        let keyIDBits = address.rawValue & ~layout.addressMask
        let keyID = Int(truncatingIfNeeded: keyIDBits >> geometry.keyIDShift)
        let cache = caches.isEmpty ? nil : caches[package]
        let chunkBytes = UInt64(cache?.blocks.blockLines ?? 64) &* 64
        var dram = address.rawValue & layout.addressMask
        var done = 0
        var counts = (fills: 0, writebacks: 0)
        while done < count {
            let chunkEnd = (dram | (chunkBytes &- 1)) &+ 1
            let length = min(count - done, Int(truncatingIfNeeded: chunkEnd &- dram))
            if dram >= geometry.dramSize {
                if !store { memset(bytes + done, 0xFF, length) }
            } else if let cache {
                accessCached(
                    cache,
                    package: package,
                    keyID: keyID,
                    keyIDBits: keyIDBits,
                    dram: dram,
                    bytes: bytes + done,
                    length: length,
                    store: store,
                    geometry: geometry,
                    counts: &counts,
                    machine: machine
                )
            } else {
                accessUncached(
                    keyID: keyID,
                    dram: dram,
                    bytes: bytes + done,
                    length: length,
                    store: store,
                    counts: &counts,
                    machine: machine
                )
            }
            done &+= length
            dram &+= UInt64(length)
        }
        if counts.fills > 0 { machine.charge(.lineFill, count: UInt64(counts.fills)) }
        if counts.writebacks > 0 { machine.charge(.lineWriteback, count: UInt64(counts.writebacks)) }
    }

    /// One chunk through the cache: `[dram, dram + length)` lies in one cache block, in DRAM.
    private func accessCached(
        _ cache: PackageCache,
        package: Int,
        keyID: Int,
        keyIDBits: UInt64,
        dram: UInt64,
        bytes: UnsafeMutableRawPointer,
        length: Int,
        store: Bool,
        geometry: Geometry,
        counts: inout (fills: Int, writebacks: Int),
        machine: Machine
    ) {
        let blocks = cache.blocks
        let end = dram &+ UInt64(length)
        let shift = UInt64(blocks.blockShift)
        let blockLine = (dram >> 6) >> shift  // DRAM block number
        let tag = ((keyIDBits | dram) >> 6) >> shift
        let firstLine = Int(truncatingIfNeeded: (dram >> 6) & UInt64(blocks.blockLines &- 1))
        let lineCount = Int(truncatingIfNeeded: ((end &- 1) >> 6) &- (dram >> 6)) &+ 1
        let touched = (lineCount == 64 ? UInt64.max : (UInt64(1) << UInt64(lineCount)) &- 1) << UInt64(firstLine)
        let set = blocks.set(ofDRAMBlock: blockLine)

        // 1. Find the block, or replace a victim (writing its dirty lines back with their keys as of now).
        var slot = blocks.lookup(tag, set: set)
        if slot >= 0 {
            blocks.touch(slot, set: set)
        } else {
            slot = blocks.victim(set: set)
            if blocks.dirty[slot] != 0 {
                counts.writebacks &+= writeBack(blocks, slot, geometry: geometry, machine: machine)
            }
            blocks.install(tag, in: slot, set: set)
        }

        // 2. Coherence: dirty copies of these lines in other packages move here; a store drops clean copies.
        if caches.count > 1 { gather(tag, set: set, lines: touched, into: blocks, slot, store: store, except: package) }

        // 3. Fill what is missing (a store skips lines it overwrites whole): runs decrypted in one call each.
        var missing = touched & ~blocks.valid[slot]
        if store {
            var partial: UInt64 = 0
            if dram & 63 != 0 { partial |= UInt64(1) << UInt64(firstLine) }
            if end & 63 != 0 { partial |= UInt64(1) << UInt64(firstLine &+ lineCount &- 1) }
            missing &= partial
        }
        if missing != 0 {
            let blockAddress = blockLine << (shift &+ 6)
            let memory = machine.dram.pointer(blockAddress, count: blocks.blockLines &* 64, forWriting: false)
            let cipher = cipher(keyID: keyID, dramAddress: blockAddress & ~0xFFF, tme: machine.tme)
            Self.forEachRun(missing) { first, run in
                Self.transform(
                    cipher,
                    encrypt: false,
                    from: memory + first &* 64,
                    to: blocks.line(slot, first),
                    firstSequence: (blockAddress >> 6) &+ UInt64(first),
                    lines: run
                )
            }
            counts.fills &+= missing.nonzeroBitCount
        }
        blocks.valid[slot] |= touched

        // 4. The data: one copy (a block's lines are contiguous).
        let data = blocks.line(slot, firstLine) + Int(truncatingIfNeeded: dram & 63)
        if store {
            data.copyMemory(from: bytes, byteCount: length)
            blocks.dirty[slot] |= touched
        } else {
            bytes.copyMemory(from: data, byteCount: length)
        }
    }

    /// One chunk straight through the controller (no cache model): whole lines are transformed in one
    /// call between the caller's buffer and DRAM; a partial line is read (and for a store re-written).
    private func accessUncached(
        keyID: Int,
        dram: UInt64,
        bytes: UnsafeMutableRawPointer,
        length: Int,
        store: Bool,
        counts: inout (fills: Int, writebacks: Int),
        machine: Machine
    ) {
        let pageAddress = dram & ~0xFFF
        let cipher = cipher(keyID: keyID, dramAddress: pageAddress, tme: machine.tme)
        let page = machine.dram.pointer(pageAddress, count: 4096, forWriting: store)
        let end = dram &+ UInt64(length)
        var cursor = dram
        while cursor < end {
            let lineStart = cursor & ~63
            let user = bytes + Int(cursor &- dram)
            let memory = page + Int(lineStart & 0xFFF)
            if cursor == lineStart, end &- cursor >= 64 {
                let lines = Int((end &- cursor) >> 6)
                if store {
                    Self.transform(
                        cipher,
                        encrypt: true,
                        from: user,
                        to: memory,
                        firstSequence: cursor >> 6,
                        lines: lines
                    )
                    counts.writebacks &+= lines
                } else {
                    Self.transform(
                        cipher,
                        encrypt: false,
                        from: memory,
                        to: user,
                        firstSequence: cursor >> 6,
                        lines: lines
                    )
                    counts.fills &+= lines
                }
                cursor &+= UInt64(lines) << 6
                continue
            }
            let to = min(end, lineStart &+ 64)
            let part = Int(to &- cursor)
            let offset = Int(cursor &- lineStart)
            withUnsafeTemporaryAllocation(byteCount: 64, alignment: 64) { temp in
                let line = temp.baseAddress!
                Self.transform(cipher, encrypt: false, from: memory, to: line, firstSequence: lineStart >> 6, lines: 1)
                if store {
                    (line + offset).copyMemory(from: user, byteCount: part)
                    Self.transform(
                        cipher,
                        encrypt: true,
                        from: line,
                        to: memory,
                        firstSequence: lineStart >> 6,
                        lines: 1
                    )
                } else {
                    user.copyMemory(from: line + offset, byteCount: part)
                }
                memset(line, 0, 64)
            }
            counts.fills &+= 1
            if store { counts.writebacks &+= 1 }
            cursor = to
        }
    }

    // MARK: Coherence between packages (same alias only)

    /// Before `package` uses `lines` of block `tag` (now in `slot`): dirty copies of those lines in other
    /// packages' caches move into `slot` (a dirty line is the only copy of its alias, so they are taken over,
    /// not written back), and for a store the remaining (clean) copies elsewhere are dropped.
    private func gather(
        _ tag: UInt64,
        set: Int,
        lines: UInt64,
        into blocks: Blocks,
        _ slot: Int,
        store: Bool,
        except package: Int
    ) {
        for other in caches.indices where other != package {
            let theirs = caches[other].blocks
            let their = theirs.lookup(tag, set: set)
            guard their >= 0 else { continue }
            let moving = theirs.dirty[their] & lines
            if moving != 0 {
                Self.forEachRun(moving) { first, run in
                    blocks.line(slot, first).copyMemory(from: theirs.line(their, first), byteCount: run &* 64)
                }
                blocks.valid[slot] |= moving
                blocks.dirty[slot] |= moving
            }
            theirs.drop(store ? lines : moving, of: their)
        }
    }

    // MARK: Write-back

    /// Writes back the dirty lines of block `slot`, encrypted with the key its KeyID has **now** in the table
    /// of the block's home controller (one engine call per run of consecutive dirty lines), and marks them
    /// clean. Returns the number of lines written.
    private func writeBack(_ blocks: Blocks, _ slot: Int, geometry: Geometry, machine: Machine) -> Int {
        let dirty = blocks.dirty[slot]
        guard dirty != 0 else { return 0 }
        blocks.dirty[slot] = 0
        let address = (blocks.tags[slot] << UInt64(blocks.blockShift)) << 6
        let dram = address & geometry.addressMask
        // Only a corrupt image could cache a block outside DRAM: there is nothing to write to.
        guard dram < geometry.dramSize else { return 0 }
        let keyID = Int(truncatingIfNeeded: address >> geometry.keyIDShift)
        let cipher = cipher(keyID: keyID, dramAddress: dram & ~0xFFF, tme: machine.tme)
        let memory = machine.dram.pointer(dram, count: blocks.blockLines &* 64, forWriting: true)
        Self.forEachRun(dirty) { first, run in
            Self.transform(
                cipher,
                encrypt: true,
                from: blocks.line(slot, first),
                to: memory + first &* 64,
                firstSequence: (dram >> 6) &+ UInt64(first),
                lines: run
            )
        }
        return dirty.nonzeroBitCount
    }

    /// CLFLUSH of `lines` lines starting at the line of `address` (this exact alias): each is written back
    /// if dirty and invalidated in every package's cache. Returns the number of lines written back.
    @discardableResult
    func clflush(_ address: PhysicalAddress, lines: Int = 1, machine: Machine) -> Int {
        guard !caches.isEmpty, lines > 0 else { return 0 }
        let layout = machine.tme.keyIDLayout
        precondition(address.rawValue >> UInt64(layout.maxPhysAddr) == 0, "physical address above MAXPHYADDR")
        let geometry = Geometry(layout, dramSize: machine.dram.size)
        let keyIDBits = address.rawValue & ~layout.addressMask
        let shift = UInt64(caches[0].blocks.blockShift)
        let blockLines = caches[0].blocks.blockLines
        var line = (address.rawValue & layout.addressMask) >> 6
        let last = line &+ UInt64(lines) &- 1
        var written = 0
        while line <= last {
            let first = Int(truncatingIfNeeded: line & UInt64(blockLines &- 1))
            let count = min(blockLines &- first, Int(truncatingIfNeeded: last &- line) &+ 1)
            let mask = (count == 64 ? UInt64.max : (UInt64(1) << UInt64(count)) &- 1) << UInt64(first)
            let tag = ((keyIDBits >> 6) | line) >> shift
            for cache in caches {
                let blocks = cache.blocks
                let slot = blocks.lookup(tag, set: blocks.set(ofDRAMBlock: line >> shift))
                guard slot >= 0 else { continue }
                let flushing = blocks.dirty[slot] & mask
                if flushing != 0 {
                    // Write back just these lines: keep the block's other dirty lines dirty.
                    let others = blocks.dirty[slot] & ~mask
                    blocks.dirty[slot] = flushing
                    written &+= writeBack(blocks, slot, geometry: geometry, machine: machine)
                    blocks.dirty[slot] = others
                }
                blocks.drop(mask, of: slot)
            }
            line &+= UInt64(count)
        }
        if written > 0 { machine.charge(.lineWriteback, count: UInt64(written)) }
        return written
    }

    /// WBINVD: writes back every dirty line of `package`'s cache and invalidates all of it. Returns the
    /// number of lines written back (charged as `wbinvd_per_dirty_line`).
    @discardableResult
    func wbinvd(package: Int, machine: Machine) -> Int {
        guard !caches.isEmpty else { return 0 }
        let written = writeBackAndInvalidate(caches[package], machine: machine)
        if written > 0 { machine.charge(.wbinvdPerDirtyLine, count: UInt64(written)) }
        return written
    }

    private func writeBackAndInvalidate(_ cache: PackageCache, machine: Machine) -> Int {
        let geometry = Geometry(machine.tme.keyIDLayout, dramSize: machine.dram.size)
        let blocks = cache.blocks
        var written = 0
        for slot in 0..<cache.blockCount where blocks.tags[slot] != Blocks.free {
            written &+= writeBack(blocks, slot, geometry: geometry, machine: machine)
            blocks.drop(.max, of: slot)
        }
        return written
    }

    // MARK: Keys (TME activation, power)

    /// The algorithm of the TME key saved for standby, if keys were saved at S3 entry.
    var standbyKeyAlgorithm: TMEAlgorithm? {
        standbyKeysSaved ? controllers.first?.keyTable.tmeKey?.algorithm : nil
    }

    /// True when keys were saved for standby and wait to be restored.
    var hasStandbyKeys: Bool { standbyKeysSaved }

    /// True when every memory controller holds a TME key.
    var everyControllerHasATMEKey: Bool { controllers.allSatisfy { $0.keyTable.tmeKey != nil } }

    /// TME activation with key select = 0: every controller generates its own TME key; MKTME tables empty.
    func generateTMEKeys(policy: TMEAlgorithm, entropy: any EntropySource) {
        for controller in controllers { controller.keyTable.generateTMEKey(policy: policy, entropy: entropy) }
        standbyKeysSaved = false
    }

    /// TME activation with key select = 1: the keys kept across S3 are in service again.
    func restoreStandbyKeys() {
        precondition(standbyKeysSaved, "no keys were saved for standby")
        standbyKeysSaved = false
    }

    /// The hardware side of docs/contract.md §4 for caches and key tables:
    /// - S3 entry: every dirty line is written back (with the keys still in the tables), caches are lost;
    ///   the TME key and MKTME tables are kept only if `IA32_TME_ACTIVATE` has "save key for standby";
    /// - S4, S5 and warm reset: caches are lost without write-back (unflushed data is lost), key tables
    ///   are lost.
    func powerTransition(_ transition: PowerTransition, machine: Machine) {
        switch transition {
        case .suspendToRAM:
            var written = 0
            for cache in caches {
                written += writeBackAndInvalidate(cache, machine: machine)
                cache.invalidateAll()
            }
            if written > 0 { machine.charge(.wbinvdPerDirtyLine, count: UInt64(written)) }
            if machine.tme.savesKeyForStandby {
                standbyKeysSaved = true
            } else {
                wipeKeys()
            }
        case .hibernate, .powerOff, .warmReset:
            for cache in caches { cache.invalidateAll() }
            wipeKeys()
        case .firmwareInit:
            break
        }
    }

    private func wipeKeys() {
        for controller in controllers { controller.keyTable.wipe() }
        standbyKeysSaved = false
    }

    // MARK: Debug views (the monitor shows state, never key bytes)

    /// The packages whose caches hold `address` (this exact alias), and whether each copy is dirty.
    func cachedCopies(of address: PhysicalAddress, layout: KeyIDLayout) -> [(package: Int, dirty: Bool)] {
        let line = (address.rawValue & layout.addressMask) >> 6
        return caches.indices.compactMap { package in
            let blocks = caches[package].blocks
            let shift = UInt64(blocks.blockShift)
            let slot = blocks.lookup((address.rawValue >> 6) >> shift, set: blocks.set(ofDRAMBlock: line >> shift))
            let bit = UInt64(1) << (line & UInt64(blocks.blockLines - 1))
            guard slot >= 0, blocks.valid[slot] & bit != 0 else { return nil }
            return (package, blocks.dirty[slot] & bit != 0)
        }
    }

    // MARK: Image

    func encode(into writer: inout ImageWriter) {
        writer.section("memory", version: 1)
        writer.bool(standbyKeysSaved)
        writer.u32(UInt32(controllers.count))
        for controller in controllers { controller.keyTable.encode(into: &writer) }
        writer.u32(UInt32(caches.count))
        for cache in caches { cache.encode(into: &writer) }
    }

    func decode(from reader: inout ImageReader, machine: Machine) throws(HWKeysError) {
        try reader.section("memory", maxVersion: 1)
        standbyKeysSaved = try reader.bool()
        guard Int(try reader.u32()) == controllers.count else {
            throw .unreadableImage("machine image: memory controller count does not match the configuration")
        }
        for controller in controllers { try controller.keyTable.decode(from: &reader) }
        guard Int(try reader.u32()) == caches.count else {
            throw .unreadableImage("machine image: cache count does not match the configuration")
        }
        for cache in caches { try cache.decode(from: &reader) }
    }
}
