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

    func savedState() -> SavedState {
        SavedState(spaces: spaces, keyIDUse: keyIDUse, sharedObjects: sharedObjects, nextSharedObject: nextSharedObject)
    }

    func restore(_ saved: SavedState) {
        spaces = saved.spaces
        keyIDUse = saved.keyIDUse
        sharedObjects = saved.sharedObjects
        nextSharedObject = saved.nextSharedObject
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

    /// Frees a user or page-table frame: flush through its KeyID's alias, then free.
    func freePage(_ frame: UInt64, cpu: any X86Processor) {
        let keyID = kernel.pages.frame(frame)?.keyID ?? 0
        if !debugSkipPageFlush { cpu.clflush(alias(frame, keyID), length: PageAllocator.pageSize) }
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

    // MARK: Page-table walk (SDM Vol. 3A §4.5)

    /// The page table (level 1 table, 512 PTEs) covering `address`, creating missing tables when `allocate`.
    /// Without one, also returns where the region without tables ends, so walks skip it whole.
    func pageTable(
        _ space: inout AddressSpace,
        _ address: UInt64,
        allocate: Bool
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

    /// How many page-table frames mapping `[start, end)` would need that do not exist yet.
    func missingTables(_ space: AddressSpace, _ start: UInt64, _ end: UInt64) -> Int {
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
        _ body: (UInt64, UInt64, UnsafeMutableBufferPointer<UInt64>?) throws(HWKeysError) -> Bool
    ) throws(HWKeysError) {
        var address = start
        while address < end {
            let (table, regionEnd) = try pageTable(&space, address, allocate: allocate)
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

    /// ``forEachLeafRun(_:_:_:allocate:_:)`` over existing tables only, with a body that cannot fail.
    func forEachExistingLeafRun(
        _ space: inout AddressSpace,
        _ start: UInt64,
        _ end: UInt64,
        _ body: (UInt64, UnsafeMutableBufferPointer<UInt64>) -> Bool
    ) {
        do {
            try forEachLeafRun(&space, start, end, allocate: false) { address, _, entries in
                guard let entries else { return false }
                return body(address, entries)
            }
        } catch {
            preconditionFailure("a walk that allocates nothing cannot fail: \(error)")
        }
    }

    /// Unmaps every page of `[start, end)` and frees it (unless it belongs to a shared object, which keeps
    /// it: `freeing` false), recording the dropped page references.
    func zap(
        _ space: inout AddressSpace,
        _ start: UInt64,
        _ end: UInt64,
        freeing: Bool = true,
        _ delta: inout ReferenceDelta
    ) {
        let layout = self.layout
        let cpu = kernel.cpu
        forEachExistingLeafRun(&space, start, end) { _, entries in
            var changed = false
            for index in entries.indices where PageTableEntry.mapsFrame(entries[index]) {
                let entry = entries[index]
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
    /// frame and KeyID.
    func changeProtection(_ space: inout AddressSpace, _ start: UInt64, _ end: UInt64, to protection: Protection) {
        let addressBits = ((UInt64(1) << UInt64(layout.maxPhysAddr)) - 1) & ~UInt64(0xFFF)
        let flags = PageTableEntry.leafFlags(protection)
        forEachExistingLeafRun(&space, start, end) { _, entries in
            var changed = false
            for index in entries.indices where PageTableEntry.mapsFrame(entries[index]) {
                entries[index] = entries[index] & addressBits | flags
                changed = true
            }
            return changed
        }
    }

    /// The number of mapped pages in `[start, end)`.
    func residentPages(_ space: AddressSpace, _ start: UInt64, _ end: UInt64) -> Int {
        var copy = space
        var count = 0
        forEachExistingLeafRun(&copy, start, end) { _, entries in
            count += entries.reduce(0) { $0 + (PageTableEntry.mapsFrame($1) ? 1 : 0) }
            return false
        }
        return count
    }

    /// Frees everything `space` holds: pages (with the flush rule), then its page tables.
    func tearDown(_ space: inout AddressSpace, _ delta: inout ReferenceDelta) {
        for vma in space.vmas { zap(&space, vma.start, vma.end, freeing: vma.sharedObject == nil, &delta) }
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
        // The parent's mapped pages, read from its page tables.
        var mapped: [(address: UInt64, entry: UInt64)] = []
        // Shared VMAs are not copied: the child maps the same object and faults its pages from there.
        for vma in source.vmas where vma.sharedObject == nil {
            forEachExistingLeafRun(&source, vma.start, vma.end) { address, entries in
                for index in entries.indices where PageTableEntry.mapsFrame(entries[index]) {
                    mapped.append((address + UInt64(index) << 12, entries[index]))
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
        do {
            while index < mapped.count {
                let first = mapped[index].address
                guard let vmaIndex = space.index(containing: first) else { preconditionFailure("page outside VMAs") }
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
