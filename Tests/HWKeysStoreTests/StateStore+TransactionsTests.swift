//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysStore
//
//===----------------------------------------------------------------------===//

import Dispatch
import Foundation
import GRDB
import HWKeysBase
import Synchronization
import Testing

@testable import HWKeysStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - A counter machine

/// The 8-byte little-endian encoding of a count.
private func counterBytes(_ count: Int) -> Data {
    withUnsafeBytes(of: Int64(count).littleEndian) { Data($0) }
}

/// A DRAM page holding a count in its first 8 bytes (never all zero).
private func counterPage(_ count: Int) -> Data {
    var page = Data(repeating: 0xC3, count: 4096)
    page.replaceSubrange(0..<8, with: counterBytes(count))
    return page
}

/// The count in the first 8 bytes of a component or page.
private func count(in bytes: Data?) -> Int? {
    guard let bytes, bytes.count >= 8 else { return nil }
    return Int(bytes.prefix(8).withUnsafeBytes { Int64(littleEndian: $0.loadUnaligned(as: Int64.self)) })
}

/// Creates machine "m" whose component `counter` and DRAM page 0 both hold 0.
private func makeCounterMachine(in store: StateStore) throws {
    var update = MachineUpdate.create("m", configuration: Data("{}".utf8))
    update.setComponent("counter", to: counterBytes(0))
    update.declarePageSpace("dram", pageSize: 4096)
    update.writePage(0, in: "dram", bytes: counterPage(0))
    try store.commit(update)
}

/// What one consistent read of the counter machine saw: the component and the page (read through the
/// store, as a lazily loading page source does).
private struct CounterReading: Equatable, Sendable {
    var component: Int?
    var page: Int?
}

/// Reads the counter machine in one read transaction.
private func readCounter(_ store: StateStore) throws(HWKeysError) -> CounterReading {
    try store.withReadTransaction { transaction throws(HWKeysError) in
        let image = try transaction.loadMachine(named: "m")
        return CounterReading(
            component: count(in: image.components["counter"]),
            page: count(in: try store.page(0, in: "dram", of: "m"))
        )
    }
}

/// Raises the counter machine's count by one in one write transaction, component and page together.
///
/// - Returns: The new count.
@discardableResult
private func increment(_ store: StateStore) throws(HWKeysError) -> Int {
    try store.withWriteTransaction { transaction throws(HWKeysError) in
        let image = try transaction.loadMachine(named: "m")
        let current = count(in: image.components["counter"]) ?? -1
        var update = MachineUpdate.modify("m", expecting: image.revision)
        update.setComponent("counter", to: counterBytes(current + 1))
        update.writePage(0, in: "dram", bytes: counterPage(current + 1))
        try transaction.commit(update)
        return current + 1
    }
}

/// Runs `body(0..<count)` on `count` threads of their own, started together, and waits for all.
private func onSeparateThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let started = DispatchSemaphore(value: 0)
    let go = DispatchSemaphore(value: 0)
    let finished = DispatchGroup()
    for index in 0..<count {
        finished.enter()
        let thread = Thread {
            started.signal()
            go.wait()
            body(index)
            finished.leave()
        }
        thread.start()
    }
    for _ in 0..<count { started.wait() }
    for _ in 0..<count { go.signal() }
    finished.wait()
}

/// Long enough never to expire on a loaded machine: the tests wait for each other, never for time.
private let patience = Duration.seconds(120)

@Suite("Transactions and concurrency")
struct StateStoreTransactionsTests {
    // MARK: - Write transactions

    @Test func aWriteTransactionCommitsSeveralMachinesTogether() throws {
        let store = try StateStore.inMemory()
        try makeSampleMachine("a", in: store)
        let (moved, created, seen) = try store.withWriteTransaction { transaction throws(HWKeysError) in
            var moveOut = MachineUpdate.modify("a", expecting: nil)
            moveOut.removeComponent("kernel")
            var moveIn = MachineUpdate.create("b", configuration: Data("{}".utf8))
            moveIn.setComponent("kernel", to: Data("kernel-a".utf8))
            let moved = try transaction.commit(moveOut)
            let created = try transaction.commit(moveIn)
            // The transaction reads what it committed.
            let seen = (
                kernel: try transaction.loadMachine(named: "b").components["kernel"],
                revision: try transaction.revision(ofMachine: "a")
            )
            return (moved, created, seen)
        }
        #expect(seen.kernel == Data("kernel-a".utf8))
        #expect(seen.revision == moved)
        #expect(try store.loadMachine(named: "a").components["kernel"] == nil)
        #expect(try store.loadMachine(named: "b").components["kernel"] == Data("kernel-a".utf8))
        #expect(try store.revision(ofMachine: "a") == moved)
        #expect(try store.revision(ofMachine: "b") == created)
    }

    @Test func aWriteTransactionWhoseBodyThrowsChangesNothing() throws {
        let directory = TemporaryDirectory()
        let store = try StateStore.open(atPath: directory.file())
        try makeSampleMachine("a", in: store)
        let before = try Snapshot("a", in: store)
        let error = storeError {
            try store.withWriteTransaction { transaction throws(HWKeysError) in
                var update = MachineUpdate.modify("a", expecting: nil)
                update.writePage(3, in: "dram", bytes: samplePage(3, seed: 9))
                try transaction.commit(update)
                try transaction.commit(.create("b", configuration: Data()))
                try transaction.deleteMachine(named: "a")
                throw HWKeysError.invalidUpdate("the caller changed its mind")
            }
        }
        #expect(error?.errno == .EINVAL)
        #expect(error?.message == "the caller changed its mind")
        #expect(try Snapshot("a", in: store) == before)
        #expect(try store.machines().map(\.name) == ["a"])
    }

    @Test func aCommitThatFailsInsideATransactionUndoesOnlyItself() throws {
        var store = try StateStore.inMemory()
        try makeSampleMachine("a", in: store)
        try makeSampleMachine("b", in: store)
        let b = try Snapshot("b", in: store)
        struct Injected: Error {}
        store.testHooks.afterPageChange = { count in
            if count == 2 { throw Injected() }
        }
        let failures = try store.withWriteTransaction { transaction throws(HWKeysError) in
            var first = MachineUpdate.modify("a", expecting: nil)
            first.setComponent("kernel", to: Data("changed".utf8))
            try transaction.commit(first)
            var failing = MachineUpdate.modify("b", expecting: nil)
            failing.setComponent("kernel", to: Data("never".utf8))
            for index in 0..<3 { failing.writePage(index, in: "dram", bytes: samplePage(index, seed: 8)) }
            let failures = [
                storeError { try transaction.commit(failing) }?.errno,
                storeError { try transaction.commit(.create("a", configuration: Data())) }?.errno,
            ]
            try transaction.commit(.create("c", configuration: Data()))
            return failures
        }
        #expect(failures == [.EIO, .EEXIST])
        #expect(try store.loadMachine(named: "a").components["kernel"] == Data("changed".utf8))
        #expect(try Snapshot("b", in: store) == b)
        #expect(try store.machines().map(\.name) == ["a", "b", "c"])
    }

    @Test func callsOnTheStoreInsideATransactionJoinIt() throws {
        let directory = TemporaryDirectory()
        let store = try StateStore.open(atPath: directory.file())
        try makeSampleMachine("m", in: store)
        // What a lazily loading page source keeps: a copy of the store, not the transaction.
        let pageSource = store
        let (revision, page, loaded, indices, names) = try store.withWriteTransaction {
            transaction throws(HWKeysError) in
            var update = MachineUpdate.modify("m", expecting: nil)
            update.writePage(5, in: "dram", bytes: samplePage(5, seed: 4))
            let revision = try transaction.commit(update)
            let page = try pageSource.page(5, in: "dram", of: "m")
            let loaded = try pageSource.loadMachine(named: "m").revision
            let indices = try pageSource.storedPageIndices(in: "dram", of: "m")
            // A commit through the store, and nested transactions, join it too.
            try pageSource.commit(.create("n", configuration: Data()))
            let names = try pageSource.withReadTransaction { nested throws(HWKeysError) in
                try nested.machines().map(\.name)
            }
            try pageSource.withWriteTransaction { nested throws(HWKeysError) in try nested.deleteMachine(named: "n") }
            return (revision, page, loaded, indices, names)
        }
        #expect(page == samplePage(5, seed: 4))
        #expect(loaded == revision)
        #expect(indices == [0, 5, 1000])
        #expect(names == ["m", "n"])
        #expect(try store.machines().map(\.name) == ["m"])
        #expect(try store.page(5, in: "dram", of: "m") == samplePage(5, seed: 4))
    }

    // MARK: - Read transactions

    @Test func aReadTransactionCommitsNothing() throws {
        let directory = TemporaryDirectory()
        let path = directory.file()
        try makeSampleMachine("m", in: StateStore.open(atPath: path))
        let bytes = FileManager.default.contents(atPath: path)
        let modified = modificationTime(path)

        let store = try StateStore.open(atPath: path)
        let (names, exists, nobody, page5, page6, indices, image) = try store.withReadTransaction {
            transaction throws(HWKeysError) in
            (
                try transaction.machines().map(\.name),
                try transaction.machineExists(named: "m"),
                try transaction.revision(ofMachine: "nobody"),
                try transaction.page(5, in: "dram", of: "m"),
                try store.page(6, in: "dram", of: "m"),
                try transaction.storedPageIndices(in: "dram", of: "m"),
                try transaction.loadMachine(named: "m")
            )
        }
        #expect(names == ["m"])
        #expect(exists)
        #expect(nobody == nil)
        #expect(page5 == samplePage(5))
        #expect(page6 == nil)
        #expect(indices == [0, 5, 1000])
        #expect(image.components["kernel"] == Data("kernel-m".utf8))
        #expect(FileManager.default.contents(atPath: path) == bytes)
        #expect(modificationTime(path) == modified)
        #expect(directory.entries == ["hwkeys.sqlite"])
    }

    @Test func aReadTransactionKeepsItsSnapshotWhileAWriterWaits() throws {
        let directory = TemporaryDirectory()
        let path = directory.file()
        let reader = try StateStore.open(atPath: path)
        try makeCounterMachine(in: reader)
        let writer = try StateStore.open(atPath: path, busyTimeout: .milliseconds(20))
        let (before, writing, after) = try reader.withReadTransaction { _ throws(HWKeysError) in
            let before = try readCounter(reader)
            // The writer may start, but cannot commit while the snapshot is open; it gives up.
            let writing = storeError { try increment(writer) }?.errno
            return (before, writing, try readCounter(reader))
        }
        #expect(before == CounterReading(component: 0, page: 0))
        #expect(writing == .EBUSY)
        #expect(after == before)
        #expect(try increment(writer) == 1)
        #expect(try readCounter(reader) == CounterReading(component: 1, page: 1))
    }

    @Test func aReaderWaitsForACommittingWriterInsteadOfFailing() throws {
        let directory = TemporaryDirectory()
        let path = directory.file()
        let reader = try StateStore.open(atPath: path, busyTimeout: patience)
        try makeCounterMachine(in: reader)

        // Another connection in the middle of a commit: it holds SQLite's exclusive lock.
        let committer = try DatabaseQueue(path: path)
        let holding = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let committed = DispatchGroup()
        let committerError = Mutex<String?>(nil)
        DispatchQueue.global().async(group: committed) {
            do {
                try committer.writeWithoutTransaction { db in
                    try db.execute(sql: "BEGIN EXCLUSIVE")
                    try db.execute(
                        sql: "UPDATE component SET bytes = ? WHERE name = 'counter'",
                        arguments: [counterBytes(7)]
                    )
                    try db.execute(sql: "UPDATE page SET bytes = ? WHERE pageIndex = 0", arguments: [counterPage(7)])
                    holding.signal()
                    release.wait()
                    try db.execute(sql: "COMMIT")
                }
            } catch {
                committerError.withLock { $0 = "\(error)" }
                holding.signal()
            }
        }
        holding.wait()

        let waiting = DispatchSemaphore(value: 0)
        reader.connection.onBusyWait.withLock { $0 = { _ in waiting.signal() } }
        let reading = Mutex<Result<CounterReading, HWKeysError>?>(nil)
        let read = DispatchGroup()
        DispatchQueue.global().async(group: read) {
            let result = Result { () throws(HWKeysError) in try readCounter(reader) }
            reading.withLock { $0 = result }
        }
        waiting.wait()  // the reader found the file locked and is waiting
        release.signal()
        read.wait()
        committed.wait()

        #expect(committerError.withLock { $0 } == nil)
        #expect(reading.withLock { $0 } == .success(CounterReading(component: 7, page: 7)))
    }

    // MARK: - Busy

    @Test func aWriterWaitingPastItsTimeoutFailsWithEBUSYAndSaysWhy() throws {
        let directory = TemporaryDirectory()
        let path = directory.file()
        let holder = try StateStore.open(atPath: path)
        try makeCounterMachine(in: holder)
        let impatient = try StateStore.open(atPath: path, busyTimeout: .milliseconds(20))

        let (errors, names, reading) = try holder.withWriteTransaction { transaction throws(HWKeysError) in
            try transaction.commit(.create("other", configuration: Data()))
            let errors = [
                storeError { try increment(impatient) },
                storeError { try impatient.commit(.modify("m", expecting: nil)) },
            ]
            // Readers do not wait for a writer that is not committing: they see the state before it.
            return (errors, try impatient.machines().map(\.name), try readCounter(impatient))
        }
        for error in errors {
            #expect(error?.errno == .EBUSY)
            let message = error?.message ?? ""
            #expect(message.hasPrefix("another hwkeys process holds state file '\(path)'; gave up after waiting "))
            #expect(message.hasSuffix(" ms for it"))
            // The busy handler gives up only once the timeout has passed.
            let waited = message.split(separator: " ").dropLast(3).last.flatMap { Int($0) }
            #expect((waited ?? 0) >= 20, "\(message)")
        }
        #expect(names == ["m"])
        #expect(reading == CounterReading(component: 0, page: 0))
        #expect(try impatient.machines().map(\.name) == ["m", "other"])
        #expect(try increment(impatient) == 1)
    }

    @Test func aWriterWithNoBusyTimeoutFailsAtOnce() throws {
        let directory = TemporaryDirectory()
        let path = directory.file()
        let holder = try StateStore.open(atPath: path)
        try makeCounterMachine(in: holder)
        let impatient = try StateStore.open(atPath: path, busyTimeout: .zero)
        let error = try holder.withWriteTransaction { _ throws(HWKeysError) in
            storeError { try impatient.withWriteTransaction { _ in } }
        }
        #expect(error?.errno == .EBUSY)
        #expect(error?.message.hasSuffix("gave up after waiting 0 ms for it") == true)
    }

    // MARK: - Many at once

    @Test func twentyWritersOnSeparateConnectionsAllSucceed() throws {
        let directory = TemporaryDirectory()
        let path = directory.file()
        try makeCounterMachine(in: StateStore.open(atPath: path))
        let results = Mutex<[Result<Int, HWKeysError>]>([])
        onSeparateThreads(20) { _ in
            let result = Result { () throws(HWKeysError) in
                try increment(StateStore.open(atPath: path, busyTimeout: patience))
            }
            results.withLock { $0.append(result) }
        }
        let counts = results.withLock { $0 }.map { result in (try? result.get()) ?? -1 }
        // Every writer saw the one before it: no update was lost.
        #expect(counts.sorted() == Array(1...20), "\(results.withLock { $0 })")
        #expect(try readCounter(StateStore.open(atPath: path)) == CounterReading(component: 20, page: 20))
    }

    @Test func twentyReadersAlongsideTwentyWritersAllSucceedWithConsistentSnapshots() throws {
        let directory = TemporaryDirectory()
        let path = directory.file()
        try makeCounterMachine(in: StateStore.open(atPath: path))
        let failures = Mutex<[String]>([])
        let readings = Mutex<[[CounterReading]]>([])
        let rounds = 3
        onSeparateThreads(40) { index in
            do {
                let store = try StateStore.open(atPath: path, busyTimeout: patience)
                if index.isMultiple(of: 2) {
                    for _ in 0..<rounds { try increment(store) }
                } else {
                    var seen: [CounterReading] = []
                    for _ in 0..<rounds { seen.append(try readCounter(store)) }
                    readings.withLock { $0.append(seen) }
                }
            } catch {
                failures.withLock { $0.append("\(index): \(error)") }
            }
        }
        #expect(failures.withLock { $0 } == [])
        let all = readings.withLock { $0 }
        #expect(all.count == 20)
        for seen in all {
            // Component and page were committed together, so one snapshot holds both or neither.
            #expect(seen.allSatisfy { $0.component != nil && $0.component == $0.page }, "\(seen)")
            // Snapshots of one reader never go back in time.
            #expect(seen.map { $0.component ?? -1 } == seen.map { $0.component ?? -1 }.sorted(), "\(seen)")
        }
        #expect(
            try readCounter(StateStore.open(atPath: path)) == CounterReading(component: 20 * rounds, page: 20 * rounds)
        )
    }

    @Test func twentyWritersInSeparateProcessesAllSucceed() async throws {
        let directory = TemporaryDirectory()
        let path = directory.file()
        try makeCounterMachine(in: StateStore.open(atPath: path))
        await withTaskGroup { group in
            for _ in 0..<20 {
                group.addTask {
                    await #expect(processExitsWith: .success) { [path = path as String] in
                        try increment(StateStore.open(atPath: path, busyTimeout: .seconds(120)))
                    }
                }
            }
        }
        #expect(try readCounter(StateStore.open(atPath: path)) == CounterReading(component: 20, page: 20))
    }

    // MARK: - Misuse

    @Test func committingInsideAReadTransactionIsAPreconditionFailure() async {
        await #expect(processExitsWith: .failure) {
            let store = try StateStore.inMemory()
            try makeSampleMachine("m", in: store)
            _ = try store.withReadTransaction { _ throws(HWKeysError) in
                try store.commit(.modify("m", expecting: nil))
            }
        }
    }

    @Test func usingATransactionAfterItsClosureIsAPreconditionFailure() async {
        await #expect(processExitsWith: .failure) {
            let store = try StateStore.inMemory()
            var escaped: StateReadTransaction?
            try store.withReadTransaction { escaped = $0 }
            _ = try escaped?.machines()
        }
    }

    // MARK: - Generations

    @Test(arguments: [(Int64(1), Int64(2)), (41, 42), (.max - 1, .max), (.max, 1), (0, 1), (-5, 1), (.min, 1)])
    func theNextGenerationNeverTraps(stored: Int64, next: Int64) {
        #expect(MachineRevision.generation(after: stored) == next)
    }

    @Test(arguments: [Int64.max, 0, Int64.min])
    func aFileWithAnExtremeGenerationStillCommits(generation: Int64) throws {
        let directory = TemporaryDirectory()
        let path = directory.file()
        try makeSampleMachine("m", in: StateStore.open(atPath: path))
        // A crafted file: the schema's CHECK (generation >= 1) bypassed for the values below 1.
        try DatabaseQueue(path: path).writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA ignore_check_constraints = ON")
            try db.execute(sql: "UPDATE machine SET generation = ?", arguments: [generation])
        }

        let store = try StateStore.open(atPath: path)
        let loaded = try store.loadMachine(named: "m").revision
        #expect(loaded.generation == generation)
        let next = try store.commit(.modify("m", expecting: loaded))
        #expect(next.generation == 1)
        #expect(next != loaded)
        #expect(try store.revision(ofMachine: "m") == next)
        // The revision before the wrap is stale, as any earlier revision.
        #expect(storeError { try store.commit(.modify("m", expecting: loaded)) }?.errno == .EAGAIN)
        #expect(try store.commit(.modify("m", expecting: next)).generation == 2)
    }

    @Test func theRevisionOfAMachineIsTheOneLoadedUntilSomeoneCommits() throws {
        let directory = TemporaryDirectory()
        let path = directory.file()
        let mine = try StateStore.open(atPath: path)
        let theirs = try StateStore.open(atPath: path)
        try makeSampleMachine("m", in: mine)
        let loaded = try mine.loadMachine(named: "m").revision
        #expect(try mine.revision(ofMachine: "m") == loaded)
        #expect(try mine.revision(ofMachine: "nobody") == nil)
        let theirCommit = try theirs.commit(.modify("m", expecting: nil))
        let seen = try mine.withReadTransaction { transaction throws(HWKeysError) in
            try transaction.revision(ofMachine: "m")
        }
        #expect(seen == theirCommit)
        #expect(seen != loaded)
    }
}
