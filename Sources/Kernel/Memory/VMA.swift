//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

/// The access a mapping allows (`PROT_NONE`, `PROT_READ`, `PROT_READ|PROT_WRITE`,
/// `PROT_READ|PROT_WRITE|PROT_EXEC`; mmap(2)). Write-only and execute-only combinations are not modelled.
public enum Protection: String, Codable, Sendable, CaseIterable {
    case none
    case r
    case rw
    case rwx

    public var readable: Bool { self != .none }
    public var writable: Bool { self == .rw || self == .rwx }
    public var executable: Bool { self == .rwx }

    /// The `rwx` part of a `/proc/<pid>/maps` permission field (`rw-`).
    var mapsString: String {
        (readable ? "r" : "-") + (writable ? "w" : "-") + (executable ? "x" : "-")
    }
}

/// A virtual memory area (Linux `struct vm_area_struct`): a page-aligned range of a process's address space
/// with one protection, one sharing mode and one KeyID (docs/contract.md §6; the KeyID lives in the KeyID bits of
/// Linux's `vm_page_prot` in the MKTME series).
///
/// Every page mapped in a VMA uses the VMA's KeyID: `encrypt_mprotect` discards the pages when it changes it,
/// and rotation moves pages and VMA together.
public struct VMA: Codable, Sendable, Hashable {
    /// First byte (page-aligned).
    public var start: UInt64
    /// One past the last byte (page-aligned).
    public var end: UInt64
    public var protection: Protection
    /// `MAP_SHARED` (otherwise `MAP_PRIVATE`).
    public var shared: Bool
    /// Anonymous memory (`MAP_ANONYMOUS`). Every mapping hwkeys creates is anonymous; the field exists
    /// because `encrypt_mprotect` is defined on it (`vma_is_anonymous`).
    public var anonymous: Bool
    /// The MKTME KeyID of the mapping's pages (0: the TME key).
    public var keyID: UInt16
    /// For a shared mapping: the shared-memory object holding its pages (Linux maps `MAP_SHARED|MAP_ANONYMOUS`
    /// to a shmem file), so a fork child sees the same pages.
    public var sharedObject: SharedMapping?

    /// Where a shared VMA's pages live: object `object`, page `firstPage` of it at the VMA's start.
    public struct SharedMapping: Codable, Sendable, Hashable {
        public var object: UInt32
        public var firstPage: UInt64
    }

    public init(
        start: UInt64,
        end: UInt64,
        protection: Protection,
        shared: Bool,
        anonymous: Bool = true,
        keyID: UInt16 = 0
    ) {
        self.start = start
        self.end = end
        self.protection = protection
        self.shared = shared
        self.anonymous = anonymous
        self.keyID = keyID
    }

    /// Bytes covered.
    public var length: UInt64 { end - start }

    /// Whether `next` directly follows and is alike in everything (Linux `vma_merge`; the MKTME series adds
    /// the KeyID to the comparison, so VMAs of different KeyIDs never merge).
    func canMerge(with next: VMA) -> Bool {
        guard
            end == next.start && protection == next.protection && shared == next.shared
                && anonymous == next.anonymous && keyID == next.keyID
        else { return false }
        switch (sharedObject, next.sharedObject) {
        case (nil, nil): return true
        case (let mine?, let theirs?):
            return mine.object == theirs.object && mine.firstPage + length / 4096 == theirs.firstPage
        default: return false
        }
    }

    /// The page of the shared object behind `address` (a page of this VMA).
    func sharedPage(_ address: UInt64) -> (object: UInt32, page: UInt64)? {
        sharedObject.map { ($0.object, $0.firstPage + (address - start) / 4096) }
    }

    /// The `/proc/<pid>/maps` permission field (`rw-p`).
    var permissions: String { protection.mapsString + (shared ? "s" : "p") }
}
