//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysStore
//
//===----------------------------------------------------------------------===//

import Foundation
import GRDB
import HWKeysBase
import Testing

@testable import HWKeysStore

@Suite("Committing updates")
struct StateStoreCommitTests {
    @Test func creatingAnExistingMachineFailsWithEEXISTAndChangesNothing() throws {
        let store = try StateStore.inMemory()
        try makeSampleMachine("m", in: store)
        let before = try Snapshot("m", in: store)
        var again = MachineUpdate.create("m", configuration: Data("other".utf8))
        again.setComponent("kernel", to: Data("other".utf8))
        #expect(storeError { try store.commit(again) }?.errno == .EEXIST)
        #expect(try Snapshot("m", in: store) == before)
    }

    @Test func modifyingAMissingMachineFailsWithENOENT() throws {
        let store = try StateStore.inMemory()
        #expect(storeError { try store.commit(.modify("m", expecting: nil)) }?.errno == .ENOENT)
        #expect(try store.machines().isEmpty)
    }

    @Test func replaceStartsOverWithNothingOfTheOldMachine() throws {
        let store = try StateStore.inMemory()
        let old = try makeSampleMachine("m", in: store)
        try makeSampleMachine("neighbour", in: store)
        let neighbour = try Snapshot("neighbour", in: store)

        let later = Date(timeIntervalSince1970: 1_800_000_000)
        var replace = MachineUpdate.replace("m", configuration: Data("new".utf8), createdAt: later)
        replace.declarePageSpace("dram", pageSize: 4096)
        replace.writePage(2, in: "dram", bytes: samplePage(2, seed: 3))
        let new = try store.commit(replace)

        let image = try store.loadMachine(named: "m")
        #expect(image.configuration == Data("new".utf8))
        #expect(abs(image.createdAt.timeIntervalSince(later)) < 0.001)
        #expect(image.components.isEmpty)
        #expect(try store.storedPageIndices(in: "dram", of: "m") == [2])
        #expect(new != old)
        // A revision of the replaced machine never matches the new one.
        #expect(storeError { try store.commit(.modify("m", expecting: old)) }?.errno == .EAGAIN)
        #expect(try Snapshot("neighbour", in: store) == neighbour)

        // Replacing a machine that does not exist simply creates it.
        try store.commit(.replace("fresh", configuration: Data("f".utf8)))
        #expect(try store.machineExists(named: "fresh"))
    }

    @Test func modifyKeepsWhatTheUpdateDoesNotMention() throws {
        let store = try StateStore.inMemory()
        let revision = try makeSampleMachine("m", in: store)
        let before = try Snapshot("m", in: store)
        var update = MachineUpdate.modify("m", expecting: revision)
        update.configuration = Data("changed".utf8)
        try store.commit(update)
        let after = try Snapshot("m", in: store)
        #expect(after.image.configuration == Data("changed".utf8))
        #expect(after.image.components == before.image.components)
        #expect(after.pages == before.pages)
        #expect(after.image.createdAt == before.image.createdAt)
    }

    @Test func droppingAPageSpaceDeletesItsPagesAndCanRecreateIt() throws {
        let store = try StateStore.inMemory()
        try makeSampleMachine("m", in: store)
        var update = MachineUpdate.modify("m", expecting: nil)
        update.writePage(9, in: "dram", bytes: samplePage(9))  // discarded by the drop below
        update.dropPageSpace("dram")
        update.declarePageSpace("dram", pageSize: 512)
        update.writePage(1, in: "dram", bytes: samplePage(1, size: 512))
        update.declarePageSpace("disk:root", pageSize: 4096)
        try store.commit(update)

        #expect(try store.loadMachine(named: "m").pageSpaces == ["dram": 512, "disk:root": 4096])
        #expect(try store.storedPageIndices(in: "dram", of: "m") == [1])
        #expect(try store.page(1, in: "dram", of: "m") == samplePage(1, size: 512))

        var drop = MachineUpdate.modify("m", expecting: nil)
        drop.declarePageSpace("disk:root", pageSize: 4096)
        drop.dropPageSpace("disk:root")
        try store.commit(drop)
        #expect(try store.loadMachine(named: "m").pageSpaces == ["dram": 512])
        let orphans = try store.writer.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM page")! }
        #expect(orphans == 1)
    }

    @Test func pagesMustFitTheirSpace() throws {
        let store = try StateStore.inMemory()
        try makeSampleMachine("m", in: store)
        let before = try Snapshot("m", in: store)

        var wrongSize = MachineUpdate.modify("m", expecting: nil)
        wrongSize.writePage(1, in: "dram", bytes: samplePage(1, size: 4095))
        var undeclared = MachineUpdate.modify("m", expecting: nil)
        undeclared.writePage(1, in: "disk:root", bytes: samplePage(1))
        var redeclared = MachineUpdate.modify("m", expecting: nil)
        redeclared.declarePageSpace("dram", pageSize: 8192)
        var hugePages = MachineUpdate.modify("m", expecting: nil)
        hugePages.declarePageSpace("big", pageSize: (1 << 20) + 1)
        var negative = MachineUpdate.modify("m", expecting: nil)
        negative.deletePage(-1, in: "dram")

        for update in [wrongSize, undeclared, redeclared, hugePages, negative] {
            #expect(storeError { try store.commit(update) }?.errno == .EINVAL)
        }
        #expect(try Snapshot("m", in: store) == before)
    }

    @Test(arguments: ["", String(repeating: "x", count: 256), "a\nb", "tab\there"])
    func badNamesFailWithEINVAL(name: String) throws {
        let store = try StateStore.inMemory()
        try makeSampleMachine("m", in: store)
        var component = MachineUpdate.modify("m", expecting: nil)
        component.setComponent(name, to: Data([1]))
        var space = MachineUpdate.modify("m", expecting: nil)
        space.declarePageSpace(name, pageSize: 4096)
        for update in [.create(name, configuration: Data()), component, space] {
            #expect(storeError { try store.commit(update) }?.errno == .EINVAL)
        }
        #expect(try store.machines().map(\.name) == ["m"])
    }

    @Test func aRefusedCommitLeavesTheFileUntouched() throws {
        let directory = TemporaryDirectory()
        let path = directory.file()
        let store = try StateStore.open(atPath: path)
        let stale = try makeSampleMachine("m", in: store)
        try store.commit(.modify("m", expecting: stale))
        let bytes = FileManager.default.contents(atPath: path)
        let modified = modificationTime(path)

        var wrongSize = MachineUpdate.modify("m", expecting: nil)
        wrongSize.writePage(1, in: "dram", bytes: samplePage(1, size: 100))
        let refusals: [(MachineUpdate, Errno)] = [
            (.create("m", configuration: Data()), .EEXIST),
            (.modify("nobody", expecting: nil), .ENOENT),
            (.modify("m", expecting: stale), .EAGAIN),
            (wrongSize, .EINVAL),
            (.create("", configuration: Data()), .EINVAL),
        ]
        for (update, code) in refusals {
            #expect(storeError { try store.commit(update) }?.errno == code)
        }
        #expect(storeError { try store.deleteMachine(named: "nobody") }?.errno == .ENOENT)
        #expect(FileManager.default.contents(atPath: path) == bytes)
        #expect(modificationTime(path) == modified)
        #expect(directory.entries == ["hwkeys.sqlite"])
    }

    @Test func creatingNeedsAConfiguration() throws {
        let store = try StateStore.inMemory()
        let update = MachineUpdate(machine: "m", mode: .create)
        #expect(storeError { try store.commit(update) }?.errno == .EINVAL)
        #expect(try store.machines().isEmpty)
    }

    /// An update that touches everything: configuration, components, page spaces and 2000 pages.
    private func sweepingUpdate(_ revision: MachineRevision) -> MachineUpdate {
        var update = MachineUpdate.modify("m", expecting: revision)
        update.configuration = Data("changed".utf8)
        update.setComponent("kernel", to: Data("changed".utf8))
        update.removeComponent("platform.volatile")
        update.declarePageSpace("disk:root", pageSize: 4096)
        update.writePage(0, in: "disk:root", bytes: samplePage(0))
        update.deletePage(0, in: "dram")
        for index in 1...2000 { update.writePage(index, in: "dram", bytes: samplePage(index, seed: 7)) }
        return update
    }

    @Test(arguments: [1, 1000, 2001])
    func anUpdateThatFailsPartWayChangesNothing(failAfter: Int) throws {
        var store = try StateStore.inMemory()
        let revision = try makeSampleMachine("m", in: store)
        let before = try Snapshot("m", in: store)

        struct Injected: Error {}
        store.testHooks.afterPageChange = { count in
            if count == failAfter { throw Injected() }
        }
        #expect(throws: HWKeysError.self) { try store.commit(sweepingUpdate(revision)) }
        #expect(try Snapshot("m", in: store) == before)

        // The same update commits once nothing interferes.
        store.testHooks.afterPageChange = nil
        try store.commit(sweepingUpdate(revision))
        #expect(try store.storedPageIndices(in: "dram", of: "m").count == 2000)
    }

    @Test func aConstraintViolationAfterManyPagesChangesNothing() throws {
        let store = try StateStore.inMemory()
        let revision = try makeSampleMachine("m", in: store)
        let before = try Snapshot("m", in: store)

        // Spaces apply in name order: all of "dram" is written before "zz" hits a page of the wrong size.
        var update = sweepingUpdate(revision)
        update.declarePageSpace("zz", pageSize: 4096)
        update.writePage(0, in: "zz", bytes: samplePage(0, size: 100))
        #expect(storeError { try store.commit(update) }?.errno == .EINVAL)
        #expect(try Snapshot("m", in: store) == before)
    }

    @Test(arguments: [
        "(1, 4096, 99, x'00ff')",  // length differs from the row's page size: CHECK
        "(1, 2, 99, x'00ff')",  // page size differs from the space's: composite foreign key
    ])
    func theSchemaRejectsPagesOfTheWrongSizeOnItsOwn(values: String) throws {
        let store = try StateStore.inMemory()
        try makeSampleMachine("m", in: store)
        let error = #expect(throws: DatabaseError.self) {
            try store.writer.write { db in
                try db.execute(sql: "INSERT INTO page (spaceId, pageSize, pageIndex, bytes) VALUES \(values)")
            }
        }
        #expect(error?.resultCode == .SQLITE_CONSTRAINT)
        #expect(try store.storedPageIndices(in: "dram", of: "m") == [0, 5, 1000])
    }
}
