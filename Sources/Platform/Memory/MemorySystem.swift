//===----------------------------------------------------------------------===//
//
// hwkeys: Platform
//
//===----------------------------------------------------------------------===//

import HWCrypto
import X86

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The memory system: one write-back cache per package (``PackageCache``, tagged by full physical address,
/// KeyID included) and one memory controller per package (``MemoryController``) that encrypts its DRAM
/// range with its key table (spec.md §1–§2; docs/mktme.md "The cache model").
///
/// - Loads fill lines, decrypting with the key in the home controller's table **at fill time**; stores
///   dirty them. A store that covers a whole line allocates it without reading DRAM.
/// - Write-back (eviction, CLFLUSH, WBINVD, S3 entry) encrypts with the key in the table **at write-back
///   time**; clean lines are dropped, never written back.
/// - Coherence between packages holds for one alias only: a miss takes over a dirty copy of the same
///   alias from another package's cache (the data moves, still dirty; nothing is written to DRAM) and a
///   store invalidates clean copies elsewhere. Aliases with different KeyIDs are never coherent.
/// - `--cache-lines 0`: no caches; every access goes straight through the controller (a partial-line store
///   is a read-modify-write of the line).
///
/// Bulk (design.md rule 6): an access is cut into chunks of at most one page and at most one line per set;
/// the chunk's victims are written back with one engine call per key (``LineBatcher``), its fills decrypted
/// with one engine call, its data copied; nothing is allocated per line and key schedules live in the key
/// table entries.
final class MemorySystem {
    /// Lines per chunk: one page.
    static let chunkLines = 64

    let configuration: MachineConfiguration
    /// One per package.
    let controllers: [MemoryController]
    /// One per package, or none with `--cache-lines 0`.
    let caches: [PackageCache]
    /// The TME key and MKTME key tables were kept at S3 entry ("save key for standby") and wait for
    /// firmware to restore them (`IA32_TME_ACTIVATE` key select = 1).
    private(set) var standbyKeysSaved = false

    private let dramShare: UInt64
    private let writebacks = LineBatcher(encrypting: true)
    // Per-chunk scratch, allocated once.
    private let slots: UnsafeMutablePointer<Int>
    private let fillList: UnsafeMutablePointer<Int>
    private let fillIOs: UnsafeMutablePointer<LineIO>
    private let transferList: UnsafeMutablePointer<Int>
    private let transferSources: UnsafeMutablePointer<UnsafeRawPointer>

    init(configuration: MachineConfiguration) {
        self.configuration = configuration
        controllers = (0..<configuration.packages).map {
            MemoryController(package: $0, maxKeys: configuration.maxKeys)
        }
        caches =
            configuration.cacheLines == 0
            ? [] : (0..<configuration.packages).map { _ in PackageCache(lines: configuration.cacheLines) }
        dramShare = configuration.memoryBytes / UInt64(configuration.packages)
        slots = .allocate(capacity: Self.chunkLines)
        fillList = .allocate(capacity: Self.chunkLines)
        fillIOs = .allocate(capacity: Self.chunkLines)
        transferList = .allocate(capacity: Self.chunkLines)
        transferSources = .allocate(capacity: Self.chunkLines)
    }

    deinit {
        slots.deallocate()
        fillList.deallocate()
        fillIOs.deallocate()
        transferList.deallocate()
        transferSources.deallocate()
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
        let keyID = Int(layout.keyID(of: address))
        let keyTag = (address.rawValue & layout.keyIDMask) >> 6
        let dramSize = machine.dram.size
        let cache = caches.isEmpty ? nil : caches[package]
        let chunkBytes = UInt64(cache.map { min(Self.chunkLines, $0.sets) } ?? Self.chunkLines) * 64
        var dram = address.rawValue & layout.addressMask
        var done = 0
        var fills = 0
        var writebackCount = 0
        while done < count {
            let pageEnd = (dram | 0xFFF) &+ 1
            var length = min(count - done, Int(pageEnd - dram))
            if dram >= dramSize {
                if !store { memset(bytes + done, 0xFF, length) }
            } else if let cache {
                length = min(length, Int((dram & ~63) &+ chunkBytes - dram))
                let counts = accessCached(
                    cache,
                    package: package,
                    keyID: keyID,
                    keyTag: keyTag,
                    dram: dram,
                    bytes: bytes + done,
                    length: length,
                    store: store,
                    machine: machine
                )
                fills += counts.fills
                writebackCount += counts.writebacks
            } else {
                let counts = accessUncached(
                    keyID: keyID,
                    dram: dram,
                    bytes: bytes + done,
                    length: length,
                    store: store,
                    machine: machine
                )
                fills += counts.fills
                writebackCount += counts.writebacks
            }
            done += length
            dram &+= UInt64(length)
        }
        if fills > 0 { machine.charge(.lineFill, count: UInt64(fills)) }
        if writebackCount > 0 { machine.charge(.lineWriteback, count: UInt64(writebackCount)) }
    }

    /// One chunk through the cache: `[dram, dram + length)` lies in one page, in DRAM, and spans at most one
    /// line per set, so every line of the chunk has its own set and its own victim.
    private func accessCached(
        _ cache: PackageCache,
        package: Int,
        keyID: Int,
        keyTag: UInt64,
        dram: UInt64,
        bytes: UnsafeMutableRawPointer,
        length: Int,
        store: Bool,
        machine: Machine
    ) -> (fills: Int, writebacks: Int) {
        let end = dram &+ UInt64(length)
        let firstLine = dram >> 6
        let lineCount = Int(((end &- 1) >> 6) &- firstLine) &+ 1
        let multiPackage = caches.count > 1
        var fillCount = 0
        var transferCount = 0
        var writebackCount = 0

        // 1. Look every line up; on a miss queue the victim's write-back (if dirty) and install the tag.
        for index in 0..<lineCount {
            let line = firstLine &+ UInt64(index)
            let tag = keyTag | line
            let (hit, victim) = cache.find(tag, setBase: cache.setBase(ofDRAMLine: line))
            if hit >= 0 {
                slots[index] = hit
                cache.touch(hit)
                if store, multiPackage, !cache.dirty[hit] { invalidateCopies(of: tag, dramLine: line, except: package) }
                continue
            }
            if cache.tags[victim] != PackageCache.invalid, cache.dirty[victim] {
                queueWriteback(cache, victim, machine: machine)
                writebackCount += 1
            }
            cache.install(tag, in: victim)
            slots[index] = victim
            if multiPackage, let source = takeCopy(of: tag, dramLine: line, except: package, forStore: store) {
                cache.dirty[victim] = true
                transferList[transferCount] = index
                transferSources[transferCount] = source
                transferCount += 1
                continue
            }
            let lineStart = line << 6
            if store, dram <= lineStart, end >= lineStart &+ 64 { continue }  // whole line written: no fill
            fillList[fillCount] = index
            fillCount += 1
        }

        // 2. Write the victims back before their slots are refilled.
        writebacks.flush()

        // 3. Fill: copies taken over from other packages, then lines decrypted from DRAM in one call.
        for transfer in 0..<transferCount {
            cache.line(slots[transferList[transfer]]).copyMemory(from: transferSources[transfer], byteCount: 64)
        }
        if fillCount > 0 {
            let pageAddress = dram & ~0xFFF
            let page = machine.dram.pointer(pageAddress, count: 4096, forWriting: false)
            let cipher = cipher(keyID: keyID, dramAddress: pageAddress, tme: machine.tme)
            for fill in 0..<fillCount {
                let index = fillList[fill]
                let line = firstLine &+ UInt64(index)
                let source = page + Int(line & 63) &* 64
                if cipher != nil {
                    fillIOs[fill] = LineIO(source: source, destination: cache.line(slots[index]), sequence: line)
                } else {
                    cache.line(slots[index]).copyMemory(from: source, byteCount: 64)
                }
            }
            cipher?.decryptLines(UnsafeBufferPointer(start: fillIOs, count: fillCount))
        }

        // 4. Move the data.
        var offset = 0
        for index in 0..<lineCount {
            let lineStart = (firstLine &+ UInt64(index)) << 6
            let from = max(dram, lineStart)
            let count = Int(min(end, lineStart &+ 64) &- from)
            let slot = slots[index]
            let data = cache.line(slot) + Int(from &- lineStart)
            if store {
                data.copyMemory(from: bytes + offset, byteCount: count)
                cache.dirty[slot] = true
            } else {
                (bytes + offset).copyMemory(from: data, byteCount: count)
            }
            offset &+= count
        }
        return (fillCount, writebackCount)
    }

    /// One chunk straight through the controller (no cache model): whole lines are transformed in one
    /// call between the caller's buffer and DRAM; a partial line is read (and for a store re-written).
    private func accessUncached(
        keyID: Int,
        dram: UInt64,
        bytes: UnsafeMutableRawPointer,
        length: Int,
        store: Bool,
        machine: Machine
    ) -> (fills: Int, writebacks: Int) {
        let pageAddress = dram & ~0xFFF
        let cipher = cipher(keyID: keyID, dramAddress: pageAddress, tme: machine.tme)
        let page = machine.dram.pointer(pageAddress, count: 4096, forWriting: store)
        let end = dram &+ UInt64(length)
        var fills = 0
        var writebacks = 0
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
                    writebacks += lines
                } else {
                    Self.transform(
                        cipher,
                        encrypt: false,
                        from: memory,
                        to: user,
                        firstSequence: cursor >> 6,
                        lines: lines
                    )
                    fills += lines
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
            fills += 1
            if store { writebacks += 1 }
            cursor = to
        }
        return (fills, writebacks)
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

    // MARK: Coherence between packages (same alias only)

    /// On a miss in `package`: takes over a dirty copy of `tag` from another package's cache (returning its
    /// data, which stays valid until the next access), and for a store also drops clean copies elsewhere.
    private func takeCopy(of tag: UInt64, dramLine: UInt64, except package: Int, forStore: Bool) -> UnsafeRawPointer? {
        for other in caches.indices where other != package {
            let cache = caches[other]
            guard let slot = cache.lookup(tag, dramLine: dramLine) else { continue }
            if cache.dirty[slot] {
                // A dirty line is the only copy of its alias anywhere.
                cache.invalidate(slot)
                return UnsafeRawPointer(cache.line(slot))
            }
            if forStore { cache.invalidate(slot) }
        }
        return nil
    }

    /// A store to a clean line in `package`: other packages' (clean) copies of the alias are dropped.
    private func invalidateCopies(of tag: UInt64, dramLine: UInt64, except package: Int) {
        for other in caches.indices where other != package {
            if let slot = caches[other].lookup(tag, dramLine: dramLine) { caches[other].invalidate(slot) }
        }
    }

    // MARK: Write-back

    /// Queues the write-back of `slot`: encrypted with the key its KeyID has **now** in the table of the
    /// line's home controller.
    @inline(__always)
    private func queueWriteback(_ cache: PackageCache, _ slot: Int, machine: Machine) {
        let layout = machine.tme.keyIDLayout
        let address = cache.tags[slot] << 6
        let dram = address & layout.addressMask
        guard dram < machine.dram.size else { return }
        let keyID = Int(layout.keyID(of: PhysicalAddress(address)))
        writebacks.add(
            cipher(keyID: keyID, dramAddress: dram & ~0xFFF, tme: machine.tme),
            source: cache.line(slot),
            destination: machine.dram.pointer(dram, count: 64, forWriting: true),
            sequence: dram >> 6
        )
    }

    /// CLFLUSH of `lines` lines starting at the line of `address` (this exact alias): each is written back
    /// if dirty and invalidated in every package's cache. Returns the number of lines written back.
    @discardableResult
    func clflush(_ address: PhysicalAddress, lines: Int = 1, machine: Machine) -> Int {
        guard !caches.isEmpty, lines > 0 else { return 0 }
        let layout = machine.tme.keyIDLayout
        precondition(address.rawValue >> UInt64(layout.maxPhysAddr) == 0, "physical address above MAXPHYADDR")
        let keyTag = (address.rawValue & layout.keyIDMask) >> 6
        let firstLine = (address.rawValue & layout.addressMask) >> 6
        var written = 0
        for index in 0..<lines {
            let line = firstLine &+ UInt64(index)
            let tag = keyTag | line
            for cache in caches {
                guard let slot = cache.lookup(tag, dramLine: line) else { continue }
                if cache.dirty[slot] {
                    queueWriteback(cache, slot, machine: machine)
                    written += 1
                }
                cache.invalidate(slot)
            }
        }
        writebacks.flush()
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
        var written = 0
        for slot in 0..<cache.lineCount where cache.tags[slot] != PackageCache.invalid {
            if cache.dirty[slot] {
                queueWriteback(cache, slot, machine: machine)
                written += 1
            }
            cache.invalidate(slot)
        }
        writebacks.flush()
        return written
    }

    // MARK: Keys (TME activation, power)

    /// The algorithm of the TME key saved for standby, if keys were saved at S3 entry.
    var standbyKeyAlgorithm: TMEAlgorithm? {
        standbyKeysSaved ? controllers.first?.keyTable.tmeKey?.algorithm : nil
    }

    /// True when keys were saved for standby and wait to be restored.
    var hasStandbyKeys: Bool { standbyKeysSaved }

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

    /// The hardware side of spec.md §4 for caches and key tables:
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
        let tag = address.rawValue >> 6
        let line = (address.rawValue & layout.addressMask) >> 6
        return caches.indices.compactMap { package in
            caches[package].lookup(tag, dramLine: line).map { (package, caches[package].dirty[$0]) }
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

    func decode(from reader: inout ImageReader, machine: Machine) throws(ImageError) {
        try reader.section("memory", maxVersion: 1)
        standbyKeysSaved = try reader.bool()
        guard Int(try reader.u32()) == controllers.count else {
            throw ImageError("machine image: memory controller count does not match the configuration")
        }
        for controller in controllers { try controller.keyTable.decode(from: &reader) }
        guard Int(try reader.u32()) == caches.count else {
            throw ImageError("machine image: cache count does not match the configuration")
        }
        for cache in caches { try cache.decode(from: &reader) }
    }
}
