//===----------------------------------------------------------------------===//
//
// hwkeys: Platform
//
//===----------------------------------------------------------------------===//

import HWCrypto

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Expanded AES keys of recently used handles, keyed by (handle bytes, IWKey generation).
///
/// Not architectural: silicon unwraps the handle on every AES*KL. The emulator may skip a repeated unwrap
/// only because the outcome is a pure function of the handle bytes and IWKey: an AES-GCM-SIV open of the
/// same bytes under the same key gives the same key or the same failure. So only successful unwraps are
/// cached, the legality checks that depend on CPL and on the instruction run before every lookup, and the
/// owner drops every entry whenever IWKey changes (``KeyLockerUnit``). Results, faults, flags and emulated
/// cycles are therefore identical with and without the cache; only host time differs.
///
/// A lookup compares handle bytes with `memcmp`, allocates nothing, and tries the most recent hit first
/// (XTS alternates between two handles: data and tweak). Replacement is round-robin over a few entries.
final class UnwrapCache {
    /// Entries per logical processor.
    static let capacity = 8
    private static let slotSize = KeyLockerWrap.handle256Size

    /// `capacity` slots of 64 bytes: the handle bytes of each entry.
    private let handles: UnsafeMutableRawPointer
    private var lengths = [Int](repeating: 0, count: capacity)
    private var generations = [UInt64](repeating: 0, count: capacity)
    private var ciphers = [AESBlockCipher?](repeating: nil, count: capacity)
    private var mostRecent = 0
    private var nextVictim = 0

    /// Tests turn the cache off to show that results, cycles and state do not depend on it.
    var isEnabled = true

    init() {
        handles = UnsafeMutableRawPointer.allocate(byteCount: Self.capacity * Self.slotSize, alignment: 16)
        handles.initializeMemory(as: UInt8.self, repeating: 0, count: Self.capacity * Self.slotSize)
    }

    deinit { handles.deallocate() }

    /// The cipher unwrapped from exactly these `handle` bytes under IWKey `generation`, or nil.
    func lookup(_ handle: UnsafeRawBufferPointer, generation: UInt64) -> AESBlockCipher? {
        guard isEnabled else { return nil }
        if matches(mostRecent, handle, generation) { return ciphers[mostRecent] }
        for slot in 0..<Self.capacity where slot != mostRecent && matches(slot, handle, generation) {
            mostRecent = slot
            return ciphers[slot]
        }
        return nil
    }

    /// Remembers a successful unwrap of `handle` under IWKey `generation`.
    func insert(_ handle: UnsafeRawBufferPointer, generation: UInt64, cipher: AESBlockCipher) {
        precondition(handle.count <= Self.slotSize)
        guard isEnabled else { return }
        let slot = nextVictim
        nextVictim = (nextVictim + 1) % Self.capacity
        (handles + slot * Self.slotSize).copyMemory(from: handle.baseAddress!, byteCount: handle.count)
        lengths[slot] = handle.count
        generations[slot] = generation
        ciphers[slot] = cipher
        mostRecent = slot
    }

    /// Drops every entry (their key schedules are zeroized as they are released).
    func removeAll() {
        for slot in 0..<Self.capacity {
            ciphers[slot] = nil
            lengths[slot] = 0
        }
    }

    /// The number of live entries (for tests).
    var count: Int { ciphers.reduce(0) { $0 + ($1 == nil ? 0 : 1) } }

    private func matches(_ slot: Int, _ handle: UnsafeRawBufferPointer, _ generation: UInt64) -> Bool {
        lengths[slot] == handle.count && generations[slot] == generation && ciphers[slot] != nil
            && memcmp(handles + slot * Self.slotSize, handle.baseAddress!, handle.count) == 0
    }
}
