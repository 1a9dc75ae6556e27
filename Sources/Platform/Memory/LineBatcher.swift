//===----------------------------------------------------------------------===//
//
// hwkeys: Platform
//
//===----------------------------------------------------------------------===//

import HWCrypto

/// Gathers line transfers between cache slots and DRAM into scatter/gather ``LineIO`` lists, one list per
/// key, and hands each list to the line engine in one call (design.md rule 6: the hot path is bulk).
///
/// A few lists are open at once so that interleaved KeyIDs (a WBINVD over lines of several KeyIDs) still
/// batch well; when a line needs a key that has no list and all lists are in use, the fullest list is
/// flushed first. Plaintext lines (bypass, exclusion range, NO_ENCRYPT) are copied at once. Storage is
/// allocated once per memory system and reused.
///
/// Callers must ``flush()`` before anything reads the destinations or overwrites the sources.
final class LineBatcher {
    /// Lines per list before it is flushed.
    static let capacity = 256
    /// Lists open at once.
    static let lists = 4

    private let encrypting: Bool
    private let storage: UnsafeMutablePointer<LineIO>
    // Unsafe storage rather than arrays: no copy-on-write or exclusivity checks per line.
    private let ciphers: UnsafeMutablePointer<XTSKey?>
    private let counts: UnsafeMutablePointer<Int>

    /// A batcher that encrypts (write-backs) or decrypts (fills).
    init(encrypting: Bool) {
        self.encrypting = encrypting
        storage = .allocate(capacity: Self.capacity * Self.lists)
        ciphers = .allocate(capacity: Self.lists)
        ciphers.initialize(repeating: nil, count: Self.lists)
        counts = .allocate(capacity: Self.lists)
        counts.initialize(repeating: 0, count: Self.lists)
    }

    deinit {
        storage.deallocate()
        ciphers.deinitialize(count: Self.lists)
        ciphers.deallocate()
        counts.deallocate()
    }

    /// Queues one 64-byte line from `source` to `destination` with sequence number `sequence`, transformed
    /// under `cipher` (nil: copied as plaintext, immediately).
    @inline(__always)
    func add(_ cipher: XTSKey?, source: UnsafeRawPointer, destination: UnsafeMutableRawPointer, sequence: UInt64) {
        guard let cipher else {
            destination.copyMemory(from: source, byteCount: 64)
            return
        }
        var list = -1
        for index in 0..<Self.lists where ciphers[index] === cipher {
            list = index
            break
        }
        if list < 0 { list = openList(for: cipher) }
        (storage + list * Self.capacity + counts[list]).initialize(
            to: LineIO(source: source, destination: destination, sequence: sequence)
        )
        counts[list] += 1
        if counts[list] == Self.capacity { flush(list: list) }
    }

    private func openList(for cipher: XTSKey) -> Int {
        var fullest = 0
        for index in 0..<Self.lists {
            if ciphers[index] == nil {
                ciphers[index] = cipher
                return index
            }
            if counts[index] > counts[fullest] { fullest = index }
        }
        flush(list: fullest)
        ciphers[fullest] = cipher
        return fullest
    }

    /// Runs every queued line through the engine.
    func flush() {
        for list in 0..<Self.lists where ciphers[list] != nil { flush(list: list) }
    }

    private func flush(list: Int) {
        guard let cipher = ciphers[list] else { return }
        let lines = UnsafeBufferPointer(start: storage + list * Self.capacity, count: counts[list])
        if encrypting { cipher.encryptLines(lines) } else { cipher.decryptLines(lines) }
        ciphers[list] = nil
        counts[list] = 0
    }
}
