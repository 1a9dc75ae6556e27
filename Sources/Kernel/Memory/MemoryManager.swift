//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase
import X86

#if _endian(big)
#error("page-table entries are read and written as host integers: hwkeys needs a little-endian host, as x86 is")
#endif

/// The memory manager (Linux `mm/`, with the MKTME series' changes; docs/contract.md §6): per-process address spaces
/// of VMAs and 4-level page tables kept **in emulated DRAM**, lazily allocated anonymous pages, and the page
/// rules that keep KeyID aliases from corrupting each other.
///
/// - **New page** (Linux `prep_encrypted_page`): the allocator returns the KeyID the frame was last used
///   with; the page is flushed through that old alias (CLFLUSH of every line), then zeroed through the new
///   KeyID's alias, so no dirty line of the old alias can be written back over the new contents later.
/// - **Freed page** (`free_encrypted_page`): flushed through its KeyID's alias, then freed.
/// - **References** (``MemoryEncryptionKeys``): one per VMA and one per allocated page with a non-zero
///   KeyID; every operation retains what it adds before it releases what it drops, so a KeyID in use never
///   transiently reaches zero users.
///
/// The bookkeeping (VMAs, table roots and frames, reference counts) is saved with the kernel image; page
/// contents and page-table entries only ever live in DRAM.
public final class MemoryManager {
    unowned let kernel: Kernel

    /// Address spaces by pid (a process that never mapped anything has none).
    public internal(set) var spaces = StableDictionary<Int32, AddressSpace>()
    /// Users of each non-zero KeyID: the references this manager holds.
    public internal(set) var keyIDUse = StableDictionary<UInt16, KeyIDUse>()
    /// Shared anonymous memory objects (Linux: the shmem file behind `MAP_SHARED|MAP_ANONYMOUS`), by id.
    public internal(set) var sharedObjects = StableDictionary<UInt32, SharedObject>()
    /// The next shared object id.
    var nextSharedObject: UInt32 = 1

    /// **Test only.** Skips the flush of the old alias on allocation and of the KeyID alias on free, so a
    /// test can observe the corruption the page rules prevent. Never set by the kernel itself.
    var debugSkipPageFlush = false

    /// Leaf entries of one page table, read and written in one access each.
    private let entryScratch = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: PageTableEntry.entriesPerTable)
    /// A page of zeros, stored to zero a page in one access.
    private let zeroPage: UnsafeRawBufferPointer = {
        let page = UnsafeMutableRawBufferPointer.allocate(byteCount: PageAllocator.pageSize, alignment: 64)
        page.initializeMemory(as: UInt8.self, repeating: 0)
        return UnsafeRawBufferPointer(page)
    }()

    /// The pages of one shared mapping, kept while any VMA maps it (KeyID 0: `encrypt_mprotect` refuses
    /// shared memory).
    public struct SharedObject: Codable, Sendable, Hashable {
        /// Page index → frame, for the pages written so far.
        public internal(set) var frames = StableDictionary<UInt64, UInt64>()
        /// VMAs mapping (part of) it, in every process.
        public internal(set) var mappings = 0
    }

    /// How many VMAs and pages use a KeyID.
    public struct KeyIDUse: Codable, Sendable, Hashable {
        public var vmas = 0
        public var pages = 0
        public var total: Int { vmas + pages }
    }

    init(kernel: Kernel) { self.kernel = kernel }

    deinit {
        entryScratch.deallocate()
        zeroPage.deallocate()
    }

    var layout: KeyIDLayout { kernel.keyIDLayout }
    var physical: PhysicalMemory { kernel.physical }

    // MARK: Start-up and persistence

    /// Registers the manager as a process observer and as the kernel's ``KeyIDMappings``, and the per-process
    /// `/proc/<pid>/maps` and `smaps` files.
    func start(booting: Bool) {
        kernel.processObservers.append(self)
        kernel.keyIDMappings = self
        for pid in kernel.processes.processes.keys { registerProcFiles(pid) }
    }

    /// The saved form.
    struct SavedState: Codable {
        var spaces: StableDictionary<Int32, AddressSpace>
        var keyIDUse: StableDictionary<UInt16, KeyIDUse>
        var sharedObjects: StableDictionary<UInt32, SharedObject>
        var nextSharedObject: UInt32
    }

    /// Bound on restored counters, far above anything a machine of at most 64 GiB can reach, so that
    /// arithmetic on them cannot overflow.
    static let counterLimit = 1 << 40

    func savedState() -> SavedState {
        SavedState(spaces: spaces, keyIDUse: keyIDUse, sharedObjects: sharedObjects, nextSharedObject: nextSharedObject)
    }

    func restore(_ saved: SavedState) {
        spaces = saved.spaces
        keyIDUse = saved.keyIDUse
        sharedObjects = saved.sharedObjects
        nextSharedObject = saved.nextSharedObject
    }

    /// Why restored memory-manager state is impossible for the processes `pids`, the page allocator `pages`
    /// and `keyIDCount` KeyIDs, or nil (a saved kernel is attacker-writable: docs/robustness.md). Checks what
    /// later code relies on: VMAs sorted, disjoint, page-aligned, inside user space, under a KeyID that exists,
    /// at most `max_map_count`, shared exactly when they map an existing shared object; page-table frames
    /// allocated as page tables and owned by one process, the root among them; shared objects' frames
    /// allocated user frames; counters in range.
    static func problem(
        _ saved: SavedState,
        pages: PageAllocator,
        keyIDCount: Int,
        pids: Set<Int32>
    ) -> String? {
        var tables = Set<UInt64>()
        for (pid, space) in saved.spaces.storage {
            guard pids.contains(pid) else { return "address space of missing process \(pid)" }
            guard space.vmas.count <= AddressSpace.maxMapCount else { return "too many VMAs in \(pid)" }
            var previousEnd: UInt64 = 0
            for vma in space.vmas {
                guard vma.start & 0xFFF == 0, vma.end & 0xFFF == 0, vma.start >= previousEnd, vma.start < vma.end,
                    vma.end <= AddressSpace.taskSize, Int(vma.keyID) < keyIDCount,
                    vma.shared == (vma.sharedObject != nil)
                else { return "VMA [\(hex(vma.start)), \(hex(vma.end))) of \(pid)" }
                if let mapping = vma.sharedObject {
                    guard saved.sharedObjects[mapping.object] != nil, mapping.firstPage < UInt64(counterLimit) else {
                        return "shared mapping of \(pid)"
                    }
                }
                previousEnd = vma.end
            }
            guard Set(space.tableFrames).count == space.tableFrames.count,
                space.root.map({ space.tableFrames.contains($0) }) ?? space.tableFrames.isEmpty
            else { return "page-table frames of \(pid)" }
            for frame in space.tableFrames {
                guard pages.frame(frame)?.owner == .pageTable, tables.insert(frame).inserted else {
                    return "page-table frame \(frame) of \(pid)"
                }
            }
        }
        for (keyID, use) in saved.keyIDUse.storage {
            guard keyID != 0, Int(keyID) < keyIDCount, (0...counterLimit).contains(use.vmas),
                (0...counterLimit).contains(use.pages)
            else { return "KeyID \(keyID) use counts" }
        }
        for (id, object) in saved.sharedObjects.storage {
            guard (0...counterLimit).contains(object.mappings) else { return "shared object \(id) mappings" }
            for (page, frame) in object.frames.storage {
                guard page < UInt64(counterLimit), pages.frame(frame)?.owner == .user else {
                    return "shared object \(id) page \(page)"
                }
            }
        }
        return nil
    }

    /// A new, empty shared object with no mappings yet (the caller's VMA adds the first).
    func createSharedObject() -> UInt32 {
        let id = nextSharedObject
        nextSharedObject &+= 1
        if nextSharedObject == 0 { nextSharedObject = 1 }
        sharedObjects[id] = SharedObject()
        return id
    }

    // MARK: References

    /// KeyID users added and dropped by one operation, handed to the key type at its end.
    struct ReferenceDelta {
        var vmas: [UInt16: Int] = [:]
        var pages: [UInt16: Int] = [:]
        /// Mappings of shared objects gained and lost.
        var objects: [UInt32: Int] = [:]

        mutating func pages(_ keyID: UInt16, _ count: Int) {
            if keyID != 0 { pages[keyID, default: 0] += count }
        }

        /// The change of per-KeyID VMA counts and shared-object mappings from VMAs `before` to `after`.
        mutating func vmas(from before: [VMA], to after: [VMA]) {
            for vma in after {
                if vma.keyID != 0 { vmas[vma.keyID, default: 0] += 1 }
                if let shared = vma.sharedObject { objects[shared.object, default: 0] += 1 }
            }
            for vma in before {
                if vma.keyID != 0 { vmas[vma.keyID, default: 0] -= 1 }
                if let shared = vma.sharedObject { objects[shared.object, default: 0] -= 1 }
            }
        }
    }

    /// Applies `delta`: retains every KeyID that gained users, then releases every one that lost some, and
    /// keeps ``keyIDUse`` in step.
    func apply(_ delta: ReferenceDelta) {
        let cpu = kernel.cpu
        for (object, count) in delta.objects.sorted(by: { $0.key < $1.key }) where count != 0 {
            sharedObjects[object]?.mappings += count
            if let gone = sharedObjects[object], gone.mappings <= 0 {
                // The last mapping went: the object's pages are freed with the flush rule.
                for (_, frame) in gone.frames.sorted { freePage(frame, cpu: cpu) }
                sharedObjects.removeValue(forKey: object)
            }
        }
        var net: [UInt16: Int] = [:]
        for (keyID, count) in delta.vmas where count != 0 {
            net[keyID, default: 0] += count
            keyIDUse[keyID, default: KeyIDUse()].vmas += count
        }
        for (keyID, count) in delta.pages where count != 0 {
            net[keyID, default: 0] += count
            keyIDUse[keyID, default: KeyIDUse()].pages += count
        }
        let changed = net.keys.sorted()
        for keyID in changed where keyIDUse[keyID].map({ $0.vmas == 0 && $0.pages == 0 }) == true {
            keyIDUse.removeValue(forKey: keyID)
        }
        for keyID in changed where net[keyID]! > 0 {
            kernel.memoryEncryption?.retainKeyID(keyID, count: net[keyID]!)
        }
        for keyID in changed where net[keyID]! < 0 {
            kernel.memoryEncryption?.releaseKeyID(keyID, count: -net[keyID]!)
        }
    }

    // MARK: Page rules (docs/contract.md §6)

    /// A zeroed user page for `keyID`: flush the frame's previous alias, then zero it through the new one.
    /// `cpu` is the CPU the caller runs on (fetched once per operation).
    func allocateUserPage(keyID: UInt16, cpu: any X86Processor) throws(HWKeysError) -> UInt64 {
        let (frame, previous) = try kernel.pages.allocate(owner: .user, keyID: keyID)
        if !debugSkipPageFlush { cpu.clflush(alias(frame, previous), length: PageAllocator.pageSize) }
        cpu.store(alias(frame, keyID), from: zeroPage)
        return frame
    }

    /// A user page whose every byte the caller writes at once (a fork copy): flushed through its previous
    /// alias; the full-page write through the new alias then stands for the zeroing.
    func allocateUserPageForCopy(keyID: UInt16, cpu: any X86Processor) throws(HWKeysError) -> UInt64 {
        let (frame, previous) = try kernel.pages.allocate(owner: .user, keyID: keyID)
        if !debugSkipPageFlush { cpu.clflush(alias(frame, previous), length: PageAllocator.pageSize) }
        return frame
    }

    /// Frees a user or page-table frame: flush through its KeyID's alias, then free. A frame that is not
    /// allocated (the bookkeeping that named it was corrupted) is reported and left alone.
    func freePage(_ frame: UInt64, cpu: any X86Processor) {
        guard let record = kernel.pages.frame(frame) else {
            kernel.oopsAndContinue("Bad page state: freeing frame \(frame), which is not allocated")
            return
        }
        if !debugSkipPageFlush { cpu.clflush(alias(frame, record.keyID), length: PageAllocator.pageSize) }
        kernel.pages.free(frame)
    }

    /// The CPU-visible address of `frame` through the alias of `keyID`.
    @inline(__always)
    func alias(_ frame: UInt64, _ keyID: UInt16) -> PhysicalAddress {
        PhysicalAddress(frame << 12 | UInt64(keyID) << UInt64(layout.keyIDShift))
    }

    /// A zeroed page-table frame (KeyID 0), recorded in `space`.
    func allocateTable(_ space: inout AddressSpace) throws(HWKeysError) -> UInt64 {
        let cpu = kernel.cpu
        let (frame, previous) = try kernel.pages.allocate(owner: .pageTable, keyID: 0)
        if !debugSkipPageFlush { cpu.clflush(alias(frame, previous), length: PageAllocator.pageSize) }
        cpu.store(alias(frame, 0), from: zeroPage)
        space.tableFrames.append(frame)
        return frame
    }

    // MARK: What DRAM says, checked (docs/robustness.md)

    /// What a walk does with a paging entry that contradicts the kernel's bookkeeping: fail the operation
    /// with an oops (EFAULT) before it changed anything, or — on paths that cannot fail, such as exit —
    /// report it and skip the region or page (leaking what it named, as Linux does after "Bad page map").
    enum BadEntryPolicy {
        case fail
        case skip
    }

    /// Bits 51:MAXPHYADDR of a paging entry: reserved (SDM Vol. 3A §4.5, Tables 4-15 to 4-20; the hardware
    /// raises #PF with RSVD for them).
    var reservedAddressBits: UInt64 {
        ((UInt64(1) << 52) - 1) & ~((UInt64(1) << UInt64(layout.maxPhysAddr)) - 1)
    }

    /// Why the present table entry `entry` (PML4E, PDPTE or PDE) cannot be followed, or nil: the kernel
    /// writes only entries that name one of the space's own page-table frames through KeyID 0, with no
    /// reserved bits and no page-size bit (hwkeys maps no large pages).
    func badTableEntry(_ entry: UInt64, in space: AddressSpace) -> String? {
        if entry & reservedAddressBits != 0 { return "reserved bits set" }
        if entry & PageTableEntry.pageSize != 0 { return "page-size bit set" }
        if entry & layout.keyIDMask != 0 { return "a KeyID in a table entry" }
        let frame = layout.frame(ofEntry: entry)
        guard space.tableFrames.contains(frame) else { return "frame \(frame) is not a page table of this process" }
        return nil
    }

    /// Why the leaf `entry`, which maps a frame, does not name a user page the kernel allocated with the
    /// entry's KeyID, or nil.
    func badLeaf(_ entry: UInt64) -> String? {
        if entry & reservedAddressBits != 0 { return "reserved bits set" }
        let frame = layout.frame(ofEntry: entry)
        guard let record = kernel.pages.frame(frame) else { return "frame \(frame) is not allocated" }
        guard record.owner == .user else { return "frame \(frame) is a \(record.owner.rawValue) frame" }
        let keyID = layout.keyID(ofEntry: entry)
        guard record.keyID == keyID else { return "frame \(frame) has KeyID \(record.keyID), the entry \(keyID)" }
        return nil
    }

    /// The oops for a bad leaf at `address`.
    func badPageMap(_ entry: UInt64, at address: UInt64, _ problem: String) -> String {
        "Bad page map: pte \(hex(entry)) for \(hex(address)): \(problem)"
    }

    /// Walks `[start, end)` without changing anything and fails on the first bad table entry, or — with
    /// `leaves` — on the first mapped leaf that ``badLeaf(_:)`` rejects in a VMA that `leaves` accepts. Run
    /// before an operation that frees pages or rewrites entries, so that it fails before changing anything.
    func check(
        _ space: inout AddressSpace,
        _ start: UInt64,
        _ end: UInt64,
        leaves: ((VMA) -> Bool)? = nil
    ) throws(HWKeysError) {
        let vmas = space.vmas
        try forEachExistingLeafRun(&space, start, end) { (runStart, entries) throws(HWKeysError) -> Bool in
            guard let leaves else { return false }
            for index in entries.indices where PageTableEntry.mapsFrame(entries[index]) {
                let address = runStart + UInt64(index) << 12
                guard let vma = vmas.first(where: { $0.start <= address && address < $0.end }), leaves(vma),
                    let problem = badLeaf(entries[index])
                else { continue }
                throw kernel.oops(badPageMap(entries[index], at: address, problem))
            }
            return false
        }
    }

    // MARK: Page-table walk (SDM Vol. 3A §4.5)

    /// The page table (level 1 table, 512 PTEs) covering `address`, creating missing tables when `allocate`.
    /// Without one, also returns where the region without tables ends, so walks skip it whole. Every table
    /// entry followed is checked (``badTableEntry(_:in:)``): a bad one fails the walk with an oops (EFAULT),
    /// or under ``BadEntryPolicy/skip`` is reported and its region treated as having no tables.
    func pageTable(
        _ space: inout AddressSpace,
        _ address: UInt64,
        allocate: Bool,
        policy: BadEntryPolicy = .fail
    ) throws(HWKeysError) -> (table: UInt64?, regionEnd: UInt64) {
        var table: UInt64
        if let root = space.root {
            table = root
        } else {
            guard allocate else { return (nil, PageTableEntry.span(level: 4)) }
            table = try allocateTable(&space)
            space.root = table
        }
        for level in stride(from: 3, to: 0, by: -1) {
            let slot = (table << 12) + UInt64(PageTableEntry.index(address, level: level) * 8)
            let entry = physical.readUInt64(slot)
            if entry & PageTableEntry.present != 0 {
                if let problem = badTableEntry(entry, in: space) {
                    let what = "Bad page table entry \(hex(entry)) (level \(level)) for \(hex(address)): \(problem)"
                    guard policy == .skip else { throw kernel.oops(what) }
                    kernel.oopsAndContinue(what)
                    return (nil, (address | (PageTableEntry.span(level: level) - 1)) + 1)
                }
                table = layout.frame(ofEntry: entry)
                continue
            }
            guard allocate else {
                return (nil, (address | (PageTableEntry.span(level: level) - 1)) + 1)
            }
            let next = try allocateTable(&space)
            physical.writeUInt64(slot, PageTableEntry.table(next))
            table = next
        }
        return (table, (address | (PageTableEntry.span(level: 1) - 1)) + 1)
    }

    /// How many page-table frames mapping `[start, end)` would need that do not exist yet. Fails with an
    /// oops on a bad table entry (``badTableEntry(_:in:)``).
    func missingTables(_ space: AddressSpace, _ start: UInt64, _ end: UInt64) throws(HWKeysError) -> Int {
        guard let root = space.root else {
            // Root, and per 512 GiB / 1 GiB / 2 MiB region one PDPT / PD / PT.
            var count = 1
            for level in 1...3 {
                let span = PageTableEntry.span(level: level)
                count += Int(((end - 1) / span) - (start / span) + 1)
            }
            return count
        }
        var missing = Set<UInt64>()
        var address = start
        while address < end {
            var table = root
            var level = 3
            while level > 0 {
                let entry = physical.readUInt64((table << 12) + UInt64(PageTableEntry.index(address, level: level) * 8))
                guard entry & PageTableEntry.present != 0 else { break }
                if let problem = badTableEntry(entry, in: space) {
                    throw kernel.oops(
                        "Bad page table entry \(hex(entry)) (level \(level)) for \(hex(address)): \(problem)"
                    )
                }
                table = layout.frame(ofEntry: entry)
                level -= 1
            }
            // Tables at levels level-1 … 0 below the missing entry, each named by its level and region.
            if level > 0 {
                for below in 0..<level {
                    missing.insert(UInt64(below) << 60 | address >> UInt64(12 + 9 * (below + 1)))
                }
            }
            address = (address | (PageTableEntry.span(level: max(level, 1)) - 1)) + 1
        }
        return missing.count
    }

    /// Calls `body` for each run of leaf entries of `[start, end)` (page-aligned) that share one page table,
    /// with the run's first and end address and its entries (nil where no table exists and `allocate` is false). The
    /// entries are read in one access and written back in one when `body` returns true.
    func forEachLeafRun(
        _ space: inout AddressSpace,
        _ start: UInt64,
        _ end: UInt64,
        allocate: Bool,
        policy: BadEntryPolicy = .fail,
        _ body: (UInt64, UInt64, UnsafeMutableBufferPointer<UInt64>?) throws(HWKeysError) -> Bool
    ) throws(HWKeysError) {
        var address = start
        while address < end {
            let (table, regionEnd) = try pageTable(&space, address, allocate: allocate, policy: policy)
            let runEnd = min(end, regionEnd)
            if let table {
                let count = Int((runEnd - address) >> 12)
                let entries = UnsafeMutableBufferPointer(rebasing: entryScratch[0..<count])
                let base = (table << 12) + UInt64(PageTableEntry.index(address, level: 0) * 8)
                physical.read(base, into: UnsafeMutableRawBufferPointer(entries))
                if try body(address, runEnd, entries) { physical.write(base, from: UnsafeRawBufferPointer(entries)) }
            } else {
                _ = try body(address, runEnd, nil)
            }
            address = runEnd
        }
    }

    /// ``forEachLeafRun(_:_:_:allocate:policy:_:)`` over existing tables only.
    func forEachExistingLeafRun(
        _ space: inout AddressSpace,
        _ start: UInt64,
        _ end: UInt64,
        policy: BadEntryPolicy = .fail,
        _ body: (UInt64, UnsafeMutableBufferPointer<UInt64>) throws(HWKeysError) -> Bool
    ) throws(HWKeysError) {
        try forEachLeafRun(&space, start, end, allocate: false, policy: policy) {
            (address, _, entries) throws(HWKeysError) -> Bool in
            guard let entries else { return false }
            return try body(address, entries)
        }
    }

    /// Unmaps every page of `[start, end)` and frees it (unless it belongs to a shared object, which keeps
    /// it: `freeing` false), recording the dropped page references. A leaf that ``badLeaf(_:)`` rejects is
    /// an oops: under ``BadEntryPolicy/fail`` the walk stops there (callers ``check(_:_:_:leaves:)`` the range
    /// first, so nothing has changed), under ``BadEntryPolicy/skip`` the entry is cleared and its frame left
    /// alone.
    func zap(
        _ space: inout AddressSpace,
        _ start: UInt64,
        _ end: UInt64,
        freeing: Bool = true,
        policy: BadEntryPolicy = .fail,
        _ delta: inout ReferenceDelta
    ) throws(HWKeysError) {
        let layout = self.layout
        let cpu = kernel.cpu
        try forEachExistingLeafRun(&space, start, end, policy: policy) {
            (runStart, entries) throws(HWKeysError) -> Bool in
            var changed = false
            for index in entries.indices where PageTableEntry.mapsFrame(entries[index]) {
                let entry = entries[index]
                if freeing, let problem = badLeaf(entry) {
                    let what = badPageMap(entry, at: runStart + UInt64(index) << 12, problem)
                    guard policy == .skip else { throw kernel.oops(what) }
                    kernel.oopsAndContinue(what)
                    entries[index] = 0
                    changed = true
                    continue
                }
                entries[index] = 0
                changed = true
                guard freeing else { continue }
                freePage(layout.frame(ofEntry: entry), cpu: cpu)
                delta.pages(layout.keyID(ofEntry: entry), -1)
            }
            return changed
        }
    }

    /// Rewrites the protection of every mapped page of `[start, end)` (Linux `change_protection`), keeping
    /// frame and KeyID. Callers ``check(_:_:_:leaves:)`` the range first.
    func changeProtection(
        _ space: inout AddressSpace,
        _ start: UInt64,
        _ end: UInt64,
        to protection: Protection
    ) throws(HWKeysError) {
        let addressBits = ((UInt64(1) << UInt64(layout.maxPhysAddr)) - 1) & ~UInt64(0xFFF)
        let flags = PageTableEntry.leafFlags(protection)
        try forEachExistingLeafRun(&space, start, end) { _, entries in
            var changed = false
            for index in entries.indices where PageTableEntry.mapsFrame(entries[index]) {
                entries[index] = entries[index] & addressBits | flags
                changed = true
            }
            return changed
        }
    }

    /// The number of mapped pages in `[start, end)`.
    func residentPages(_ space: AddressSpace, _ start: UInt64, _ end: UInt64) throws(HWKeysError) -> Int {
        var copy = space
        var count = 0
        try forEachExistingLeafRun(&copy, start, end) { _, entries in
            count += entries.reduce(0) { $0 + (PageTableEntry.mapsFrame($1) ? 1 : 0) }
            return false
        }
        return count
    }

    /// Frees everything `space` holds: pages (with the flush rule), then its page tables. Cannot fail: bad
    /// entries are reported and skipped (``BadEntryPolicy/skip``).
    func tearDown(_ space: inout AddressSpace, _ delta: inout ReferenceDelta) {
        for vma in space.vmas {
            // The skipping walk throws nothing.
            try? zap(&space, vma.start, vma.end, freeing: vma.sharedObject == nil, policy: .skip, &delta)
        }
        delta.vmas(from: space.vmas, to: [])
        space.vmas = []
        let cpu = kernel.cpu
        for frame in space.tableFrames { freePage(frame, cpu: cpu) }
        space.tableFrames = []
        space.root = nil
    }
}

// MARK: Processes

extension MemoryManager: ProcessLifecycleObserver {
    /// A new program starts with an empty address space; a fork copies the parent's (Linux `dup_mmap`): every
    /// VMA with its KeyID (one more reference each) and every mapped page copied into a fresh frame under the
    /// same KeyID (one more page reference each). Checks memory before changing anything (ENOMEM).
    public func processCreated(_ child: Int32, parent: Int32, exec: Bool) throws(HWKeysError) {
        registerProcFiles(child)
        guard !exec, var source = spaces[parent], !source.vmas.isEmpty else { return }
        // The parent's mapped pages, read from its page tables and checked (an oops fails the fork before
        // anything is allocated).
        var mapped: [(address: UInt64, entry: UInt64)] = []
        // Shared VMAs are not copied: the child maps the same object and faults its pages from there.
        for vma in source.vmas where vma.sharedObject == nil {
            try forEachExistingLeafRun(&source, vma.start, vma.end) { (address, entries) throws(HWKeysError) -> Bool in
                for index in entries.indices where PageTableEntry.mapsFrame(entries[index]) {
                    let page = address + UInt64(index) << 12
                    if let problem = badLeaf(entries[index]) {
                        throw kernel.oops(badPageMap(entries[index], at: page, problem))
                    }
                    mapped.append((page, entries[index]))
                }
                return false
            }
        }
        var space = AddressSpace()
        space.vmas = source.vmas
        // Tables: a root, and one PDPT / PD / PT per 512 GiB / 1 GiB / 2 MiB region with a mapped page.
        var tables = Set<UInt64>()
        for page in mapped {
            for level in 0..<3 { tables.insert(UInt64(level) << 60 | page.address >> UInt64(12 + 9 * (level + 1))) }
        }
        let needed = mapped.count + tables.count + (mapped.isEmpty ? 0 : 1)
        guard needed <= kernel.pages.freeFrames else {
            throw .enomem("fork of \(parent) needs \(needed) free pages")
        }
        var delta = ReferenceDelta()
        delta.vmas(from: [], to: space.vmas)
        let layout = self.layout
        let cpu = kernel.cpu
        let buffer = SecretBytes(count: PageAllocator.pageSize)
        var index = 0
        do throws(HWKeysError) {
            while index < mapped.count {
                let first = mapped[index].address
                guard let vmaIndex = space.index(containing: first) else {
                    throw kernel.oops("fork: page \(hex(first)) of process \(parent) lies outside its VMAs")
                }
                let vma = space.vmas[vmaIndex]
                let regionEnd = min((first | (PageTableEntry.span(level: 1) - 1)) + 1, vma.end)
                try forEachLeafRun(&space, first, regionEnd, allocate: true) {
                    (runStart, _, entries) throws(HWKeysError) -> Bool in
                    guard let entries else { return false }
                    while index < mapped.count, mapped[index].address < regionEnd {
                        let (address, entry) = mapped[index]
                        let keyID = layout.keyID(ofEntry: entry)
                        let frame = try allocateUserPageForCopy(keyID: keyID, cpu: cpu)
                        buffer.withUnsafeMutableBytes { page in
                            cpu.load(
                                layout.address(PhysicalAddress(layout.frame(ofEntry: entry) << 12), withKeyID: keyID),
                                into: page
                            )
                            cpu.store(
                                layout.address(PhysicalAddress(frame << 12), withKeyID: keyID),
                                from: UnsafeRawBufferPointer(page)
                            )
                        }
                        entries[Int((address - runStart) >> 12)] = layout.leafEntry(
                            frame: frame,
                            keyID: keyID,
                            protection: vma.protection
                        )
                        delta.pages(keyID, 1)
                        index += 1
                    }
                    return true
                }
            }
        } catch {
            // Memory was checked first; keep what was copied consistent for the exit that follows.
            spaces[child] = space
            apply(delta)
            throw error
        }
        spaces[child] = space
        apply(delta)
    }

    /// Tears the address space down: frees every page (flushing it through its KeyID's alias), releases the
    /// KeyID references and frees the page-table frames (Linux `exit_mmap`).
    public func processExiting(_ pid: Int32) {
        kernel.sysfs.unregister(prefix: "/proc/\(pid)")
        guard var space = spaces.removeValue(forKey: pid) else { return }
        var delta = ReferenceDelta()
        tearDown(&space, &delta)
        apply(delta)
    }
}
