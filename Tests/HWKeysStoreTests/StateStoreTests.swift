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

@Suite("Machines, components and pages")
struct StateStoreTests {
    @Test func newStoreHasNoMachines() throws {
        let store = try StateStore.inMemory()
        #expect(try store.machines().isEmpty)
        #expect(try store.machineExists(named: "default") == false)
    }

    @Test func createdMachinesAreListedByNameWithTheirConfiguration() throws {
        let store = try StateStore.inMemory()
        let created = Date(timeIntervalSince1970: 1_700_000_000)
        try store.commit(.create("zeta", configuration: Data("z".utf8), createdAt: created))
        try store.commit(.create("alpha", configuration: Data("a".utf8), createdAt: created))

        let machines = try store.machines()
        #expect(machines.map(\.name) == ["alpha", "zeta"])
        #expect(machines.map(\.configuration) == [Data("a".utf8), Data("z".utf8)])
        #expect(machines.allSatisfy { abs($0.createdAt.timeIntervalSince(created)) < 0.001 })
        #expect(try store.machineExists(named: "alpha"))
        #expect(try store.machineExists(named: "beta") == false)
    }

    @Test func loadReturnsConfigurationComponentsAndPageSpaces() throws {
        let store = try StateStore.inMemory()
        let revision = try makeSampleMachine("m", in: store)

        let image = try store.loadMachine(named: "m")
        #expect(image.name == "m")
        #expect(image.configuration == Data(#"{"dram":"64M"}"#.utf8))
        #expect(image.revision == revision)
        #expect(
            image.components == [
                "platform.volatile": Data("volatile-m".utf8), "kernel": Data("kernel-m".utf8),
            ]
        )
        #expect(image.pageSpaces == ["dram": 4096])
    }

    @Test func loadingAMissingMachineFailsWithENOENT() throws {
        let store = try StateStore.inMemory()
        #expect(storeError { _ = try store.loadMachine(named: "nope") }?.errno == .ENOENT)
        #expect(storeError { _ = try store.page(0, in: "dram", of: "nope") }?.errno == .ENOENT)
        #expect(storeError { _ = try store.storedPageIndices(in: "dram", of: "nope") }?.errno == .ENOENT)
    }

    @Test func deleteRemovesTheMachineAndAllItsData() throws {
        let store = try StateStore.inMemory()
        try makeSampleMachine("gone", in: store)
        try makeSampleMachine("kept", in: store)

        try store.deleteMachine(named: "gone")
        #expect(try store.machines().map(\.name) == ["kept"])
        #expect(storeError { _ = try store.loadMachine(named: "gone") }?.errno == .ENOENT)
        #expect(storeError { try store.deleteMachine(named: "gone") }?.errno == .ENOENT)

        // Nothing of the deleted machine is left behind in any table.
        let counts = try store.writer.read { db in
            try ["component", "pageSpace", "page"].map { try Int.fetchOne(db, sql: "SELECT count(*) FROM \($0)")! }
        }
        #expect(counts == [2, 1, 3])
        #expect(try store.loadMachine(named: "kept").components.count == 2)
    }

    @Test func componentsRoundTripAndChangeIndividually() throws {
        let store = try StateStore.inMemory()
        let big = Data((0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        var create = MachineUpdate.create("m", configuration: Data("{}".utf8))
        create.setComponent("platform.volatile", to: Data("v1".utf8))
        create.setComponent("platform.nonvolatile", to: big)
        create.setComponent("kernel", to: Data())
        let first = try store.commit(create)
        #expect(
            try store.loadMachine(named: "m").components == [
                "platform.volatile": Data("v1".utf8), "platform.nonvolatile": big, "kernel": Data(),
            ]
        )

        var modify = MachineUpdate.modify("m", expecting: first)
        modify.setComponent("platform.volatile", to: Data("v2".utf8))
        modify.removeComponent("kernel")
        modify.removeComponent("never-stored")
        try store.commit(modify)
        #expect(
            try store.loadMachine(named: "m").components == [
                "platform.volatile": Data("v2".utf8), "platform.nonvolatile": big,
            ]
        )
    }

    @Test func onlyNonZeroPagesAreStored() throws {
        let store = try StateStore.inMemory()
        var update = MachineUpdate.create("m", configuration: Data("{}".utf8))
        update.declarePageSpace("dram", pageSize: 4096)
        update.writePage(0, in: "dram", bytes: samplePage(0))
        update.writePage(7, in: "dram", bytes: Data(count: 4096))
        update.writePage(1 << 40, in: "dram", bytes: samplePage(1 << 40))
        try store.commit(update)

        #expect(try store.storedPageIndices(in: "dram", of: "m") == [0, 1 << 40])
        #expect(try store.page(0, in: "dram", of: "m") == samplePage(0))
        #expect(try store.page(1 << 40, in: "dram", of: "m") == samplePage(1 << 40))
        #expect(try store.page(7, in: "dram", of: "m") == nil)
        #expect(try store.page(3, in: "dram", of: "m") == nil)
        #expect(try store.page(0, in: "disk:root", of: "m") == nil)
        #expect(try store.storedPageIndices(in: "disk:root", of: "m") == [])

        // Overwriting a stored page with zeros deletes it; deleting an absent page is harmless.
        var zero = MachineUpdate.modify("m", expecting: nil)
        zero.writePage(0, in: "dram", bytes: Data(count: 4096))
        zero.deletePage(12, in: "dram")
        try store.commit(zero)
        #expect(try store.storedPageIndices(in: "dram", of: "m") == [1 << 40])
        #expect(try store.page(0, in: "dram", of: "m") == nil)
    }

    @Test func pagesAreReadWhenAskedNotWhenLoaded() throws {
        let store = try StateStore.inMemory()
        try makeSampleMachine("m", in: store)
        let image = try store.loadMachine(named: "m")

        // Another writer changes a page after the load: a lazy read sees the committed bytes, and
        // the loader's own commit is refused because its image is stale.
        var other = MachineUpdate.modify("m", expecting: image.revision)
        other.writePage(5, in: "dram", bytes: samplePage(5, seed: 9))
        try store.commit(other)
        #expect(try store.page(5, in: "dram", of: image.name) == samplePage(5, seed: 9))
        var stale = MachineUpdate.modify("m", expecting: image.revision)
        stale.setComponent("kernel", to: Data("late".utf8))
        #expect(storeError { try store.commit(stale) }?.errno == .EAGAIN)
        #expect(try store.loadMachine(named: "m").components["kernel"] == Data("kernel-m".utf8))
    }

    @Test func eachCommitGivesANewRevision() throws {
        let store = try StateStore.inMemory()
        let first = try makeSampleMachine("m", in: store)
        let second = try store.commit(.modify("m", expecting: first))
        let third = try store.commit(.modify("m", expecting: second))
        #expect(Set([first, second, third]).count == 3)
        #expect(try store.loadMachine(named: "m").revision == third)
        #expect(storeError { try store.commit(.modify("m", expecting: second)) }?.errno == .EAGAIN)
        try store.commit(.modify("m", expecting: nil))
    }

    @Test func errorMessagesNeverQuoteStatementsOrArguments() {
        let secret = "5ec12e7-page-bytes"
        let error = DatabaseError(
            resultCode: .SQLITE_CONSTRAINT,
            message: "CHECK constraint failed: pageIndex >= 0",
            sql: "INSERT INTO page (spaceId, pageIndex, bytes) VALUES (?, ?, ?)",
            arguments: [1, -1, secret]
        )
        let wrapped = HWKeysError.wrapping(error, path: "/tmp/x.sqlite")
        #expect(wrapped.errno == .EINVAL)
        #expect(!wrapped.message.contains(secret))
        #expect(!wrapped.message.contains("INSERT"))
        #expect(!wrapped.description.contains(secret))
    }

    @Test(arguments: [
        (Data(count: 4096), true), (Data(count: 4095), true), (Data(), true),
        (Data(count: 4096) + Data([1]), false), (Data([0, 0, 0, 0, 0, 0, 0, 0, 0, 2]), false),
        (samplePage(0), false),
    ])
    func zeroPagesAreRecognized(bytes: Data, isZero: Bool) {
        #expect(StateStore.isAllZero(bytes) == isZero)
    }
}
