//===----------------------------------------------------------------------===//
//
// hwkeys: Platform
//
//===----------------------------------------------------------------------===//

import HWCrypto

/// Expanded AES keys of recently used handles, keyed by (handle bytes, IWKey generation).
///
/// Not architectural: silicon unwraps the handle on every AES*KL. The emulator may skip a repeated unwrap
/// only because the outcome is a pure function of the handle bytes and IWKey: an AES-GCM-SIV open of the
/// same bytes under the same key gives the same key or the same failure. So only successful unwraps are
/// cached, the legality checks that depend on CPL and on the instruction run before every lookup, and the
/// owner drops every entry whenever IWKey changes (``KeyLockerUnit``). Results, faults, flags and emulated
/// cycles are therefore identical with and without the cache; only host time differs.
///
/// The hit path is what AESENCWIDE256KL costs on the host, so it allocates nothing, retains nothing and
/// makes no exclusivity checks: entries live in manually managed memory, handle bytes are compared word
/// by word (a `memcmp` without the call), the most recent hit is tried first (XTS alternates between a data and a tweak handle), and
/// a hit is handed out unretained (the cache keeps it alive; nothing can evict it during the instruction,
/// which runs on the one thread that drives the machine). Replacement is round-robin.
final class UnwrapCache {
    /// Entries per logical processor.
    static let capacity = 8
    private static let slotSize = KeyLockerWrap.handle256Size

    private struct Entry {
        var length = 0
        var generation: UInt64 = 0
        /// Retained by the cache (passRetained on insert, released on removal).
        var cipher: Unmanaged<AESBlockCipher>?
    }

    /// `capacity` slots of 64 bytes: the handle bytes of each entry.
    private let handles: UnsafeMutableRawPointer
    private let entries: UnsafeMutablePointer<Entry>
    // Instantaneous accesses only, one thread per machine.
    @exclusivity(unchecked) private var mostRecent = 0
    @exclusivity(unchecked) private var nextVictim = 0

    /// Tests turn the cache off to show that results, cycles and state do not depend on it.
    @exclusivity(unchecked) var isEnabled = true
    /// Unwraps that missed the cache (for tests).
    private(set) var misses = 0

    init() {
        handles = UnsafeMutableRawPointer.allocate(byteCount: Self.capacity * Self.slotSize, alignment: 16)
        handles.initializeMemory(as: UInt8.self, repeating: 0, count: Self.capacity * Self.slotSize)
        entries = UnsafeMutablePointer<Entry>.allocate(capacity: Self.capacity)
        entries.initialize(repeating: Entry(), count: Self.capacity)
    }

    deinit {
        removeAll()
        entries.deinitialize(count: Self.capacity)
        entries.deallocate()
        handles.deallocate()
    }

    /// The cipher unwrapped from exactly these `handle` bytes under IWKey `generation`, unretained, or nil.
    @inline(__always)
    func lookup(_ handle: UnsafeRawBufferPointer, generation: UInt64) -> Unmanaged<AESBlockCipher>? {
        guard isEnabled else { return nil }
        if let hit = match(mostRecent, handle, generation) { return hit }
        for slot in 0..<Self.capacity where slot != mostRecent {
            if let hit = match(slot, handle, generation) {
                mostRecent = slot
                return hit
            }
        }
        return nil
    }

    /// Counts an unwrap that missed the cache.
    func recordMiss() { misses += 1 }

    /// Remembers a successful unwrap of `handle` under IWKey `generation`.
    func insert(_ handle: UnsafeRawBufferPointer, generation: UInt64, cipher: AESBlockCipher) {
        precondition(handle.count <= Self.slotSize)
        guard isEnabled else { return }
        let slot = nextVictim
        nextVictim = (nextVictim + 1) % Self.capacity
        entries[slot].cipher?.release()
        (handles + slot * Self.slotSize).copyMemory(from: handle.baseAddress!, byteCount: handle.count)
        entries[slot] = Entry(length: handle.count, generation: generation, cipher: .passRetained(cipher))
        mostRecent = slot
    }

    /// Drops every entry (their key schedules are zeroized as they are released).
    func removeAll() {
        for slot in 0..<Self.capacity {
            entries[slot].cipher?.release()
            entries[slot] = Entry()
        }
    }

    /// The number of live entries (for tests).
    var count: Int { (0..<Self.capacity).reduce(0) { $0 + (entries[$1].cipher == nil ? 0 : 1) } }

    @inline(__always)
    private func match(
        _ slot: Int,
        _ handle: UnsafeRawBufferPointer,
        _ generation: UInt64
    ) -> Unmanaged<AESBlockCipher>? {
        let entry = entries[slot]
        guard entry.length == handle.count, entry.generation == generation, let cipher = entry.cipher,
            Self.equal(handles + slot * Self.slotSize, handle.baseAddress!, count: handle.count)
        else { return nil }
        return cipher
    }

    /// `memcmp(a, b, count) == 0` for 48 or 64 bytes, inline: eight-byte words, no early exit.
    @inline(__always)
    private static func equal(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, count: Int) -> Bool {
        var difference: UInt64 = 0
        var offset = 0
        while offset < count {
            difference |=
                a.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
                ^ b.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            offset &+= 8
        }
        return difference == 0
    }
}
