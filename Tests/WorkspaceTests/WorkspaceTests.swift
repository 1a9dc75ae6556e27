//===----------------------------------------------------------------------===//
//
// hwkeys: WorkspaceTests
//
//===----------------------------------------------------------------------===//

import Foundation
import HWKeysBase
import Platform
import Testing
import Workspace

/// The workspace's transaction rules (docs/workspace.md), on the in-memory store.
@Suite struct WorkspaceTests {
    static func seeded() -> MachineConfiguration {
        var configuration = MachineConfiguration()
        configuration.seed = 1
        configuration.memoryBytes = 16 << 20
        return configuration
    }

    @Test func aCreatedMachineIsStoredAndShown() throws {
        let store = MemoryWorkspaceStore()
        let workspace = Workspace(store: store)
        let created = try workspace.run(CreateMachine(configuration: Self.seeded()), machine: "m1")
        #expect(created.name == "m1")
        #expect(created.powerState == "running")
        let shown = try workspace.run(ShowMachine(), machine: "m1")
        #expect(shown.memoryBytes == 16 << 20)
        #expect(shown.seed == 1)
        #expect(try workspace.run(ListMachines()).machines.map(\.name) == ["m1"])
    }

    /// contract §12: a read-only request commits nothing.
    @Test func aReaderCommitsNothing() throws {
        let store = MemoryWorkspaceStore()
        let workspace = Workspace(store: store)
        _ = try workspace.run(CreateMachine(configuration: Self.seeded()))
        let before = try store.transaction(.read, createIfMissing: false) { (transaction) throws(HWKeysError) in try transaction.revision(of: "default") }
        _ = try workspace.run(ShowMachine())
        _ = try workspace.run(ReadKernelLog())
        _ = try workspace.run(ListCPUs())
        let after = try store.transaction(.read, createIfMissing: false) { (transaction) throws(HWKeysError) in try transaction.revision(of: "default") }
        #expect(before != nil)
        #expect(before == after)
        _ = try workspace.run(AdvanceClock(nanoseconds: 5))
        let written = try store.transaction(.read, createIfMissing: false) { (transaction) throws(HWKeysError) in try transaction.revision(of: "default") }
        #expect(written != after)
    }

    /// A failing writer changes nothing: the next request sees the stored state, not the half-done one.
    @Test func aFailingWriterLeavesNoTrace() throws {
        let workspace = Workspace(store: MemoryWorkspaceStore(), keepsMachinesLoaded: true)
        _ = try workspace.run(CreateMachine(configuration: Self.seeded()))
        let before = try workspace.run(ShowClock()).emulatedNanoseconds
        #expect(throws: HWKeysError(.ENODEV, "")) {
            _ = try workspace.run(SetCPUOnline(cpu: 99, online: false))
        }
        #expect(throws: HWKeysError(.EEXIST, "")) {
            _ = try workspace.run(CreateMachine(configuration: Self.seeded()))
        }
        #expect(try workspace.run(ShowClock()).emulatedNanoseconds == before)
    }

    /// A workspace that keeps machines loaded notices another workspace's commit and reloads.
    @Test func aLoadedMachineReloadsAfterAnotherCommit() throws {
        let store = MemoryWorkspaceStore()
        let server = Workspace(store: store, keepsMachinesLoaded: true)
        let cli = Workspace(store: store)
        _ = try cli.run(CreateMachine(configuration: Self.seeded()))
        let first = try server.run(ShowClock()).emulatedNanoseconds
        let advanced = try cli.run(AdvanceClock(nanoseconds: 1_000_000)).emulatedNanoseconds
        #expect(advanced >= first + 1_000_000)
        #expect(try server.run(ShowClock()).emulatedNanoseconds == advanced)
    }

    @Test func badMachineNamesAreUsageErrors() {
        let workspace = Workspace(store: MemoryWorkspaceStore())
        for name in ["", "a b", "../x", String(repeating: "x", count: 65), "é"] {
            do {
                _ = try workspace.run(ShowMachine(), machine: name)
                Issue.record("accepted \(String(reflecting: name))")
            } catch {
                #expect(error.isUsage)
                #expect(error.code == .errno(.EINVAL))
            }
        }
    }

    @Test func hostOnlyRequestsRefuseGuests() {
        let workspace = Workspace(store: MemoryWorkspaceStore())
        do {
            _ = try workspace.run(Power(.off), vm: "g")
            Issue.record("power ran under --vm")
        } catch {
            #expect(error.code == .errno(.EINVAL))
        }
    }

    /// Results encode with the project's JSON conventions: snake_case, "0x…" values, hex bytes, null fields.
    @Test func resultsEncodeWithTheProjectConventions() throws {
        struct Sample: CommandResult {
            var address: Hex
            var bytes: HexBytes
            @EncodesNil var missing: UInt64?
            var text: String { "" }
        }
        let json = ResultEncoding.json(Sample(address: Hex(0x1000), bytes: HexBytes([0xAB, 0x01]), missing: nil))
        #expect(json == #"{"address":"0x1000","bytes":"ab01","missing":null}"#)
    }
}
