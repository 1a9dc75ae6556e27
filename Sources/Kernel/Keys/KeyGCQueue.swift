//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

/// When each key next needs the garbage collector: an indexed binary min-heap of (time, serial), one
/// entry per key, with O(log n) schedule, reschedule and cancel (Linux keeps one `key_gc_next_run` timer
/// and scans every key, `security/keys/gc.c`; hwkeys must not scan).
///
/// The time is the moment a key became collectable — revoked, expired or unreferenced — *without* the
/// `gc_delay`; the collector adds the current delay when it compares, so changing
/// `/proc/sys/kernel/keys/gc_delay` moves every pending collection, as in Linux. Ties go to the lower
/// serial, so the order is deterministic. Not saved: the service rebuilds it from the keys on restore.
struct KeyGCQueue: Sendable {
    private struct Entry: Sendable {
        var time: UInt64
        var serial: Int32

        static func < (lhs: Entry, rhs: Entry) -> Bool { (lhs.time, lhs.serial) < (rhs.time, rhs.serial) }
    }

    private var heap: [Entry] = []
    private var position: [Int32: Int] = [:]

    var count: Int { heap.count }

    /// The earliest entry.
    var first: (time: UInt64, serial: Int32)? { heap.first.map { ($0.time, $0.serial) } }

    /// The time scheduled for `serial`, if any.
    func time(of serial: Int32) -> UInt64? { position[serial].map { heap[$0].time } }

    /// Schedules `serial` at `time`, replacing any earlier schedule.
    mutating func schedule(_ serial: Int32, at time: UInt64) {
        if let index = position[serial] {
            let old = heap[index].time
            heap[index].time = time
            if time < old { siftUp(index) } else { siftDown(index) }
        } else {
            heap.append(Entry(time: time, serial: serial))
            position[serial] = heap.count - 1
            siftUp(heap.count - 1)
        }
    }

    /// Removes `serial`'s entry, if any.
    mutating func cancel(_ serial: Int32) {
        guard let index = position.removeValue(forKey: serial) else { return }
        let last = heap.removeLast()
        guard index < heap.count else { return }
        heap[index] = last
        position[last.serial] = index
        siftUp(index)
        siftDown(position[last.serial]!)
    }

    /// Removes and returns the earliest entry.
    mutating func removeFirst() -> (time: UInt64, serial: Int32)? {
        guard let top = heap.first else { return nil }
        cancel(top.serial)
        return (top.time, top.serial)
    }

    private mutating func swapAt(_ i: Int, _ j: Int) {
        heap.swapAt(i, j)
        position[heap[i].serial] = i
        position[heap[j].serial] = j
    }

    private mutating func siftUp(_ start: Int) {
        var child = start
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child] < heap[parent] else { return }
            swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < heap.count, heap[left] < heap[smallest] { smallest = left }
            if right < heap.count, heap[right] < heap[smallest] { smallest = right }
            guard smallest != parent else { return }
            swapAt(parent, smallest)
            parent = smallest
        }
    }
}
