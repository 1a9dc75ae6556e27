//===----------------------------------------------------------------------===//
//
// hwkeys: WorkspaceTests
//
//===----------------------------------------------------------------------===//

import HWKeysBase
import Kernel
import Platform
import TestSupport
import Testing
import Workspace

/// `proc` and `crypt` as typed requests on the in-memory store: which are readers, and what a writer keeps.
@Suite struct ProcCryptRequestTests {
    static let key = RequestSecret(copying: (0..<64).map { UInt8($0) })

    private func revision(_ store: MemoryWorkspaceStore) throws -> StoredRevision? {
        try store.transaction(.read, createIfMissing: false) { (transaction) throws(HWKeysError) in
            try transaction.revision(of: "default")
        }
    }

    private func workspaceWithVolume() throws -> (MemoryWorkspaceStore, Workspace) {
        let store = MemoryWorkspaceStore()
        let workspace = Workspace(store: store)
        var configuration = MachineConfiguration()
        configuration.seed = 3
        configuration.memoryBytes = 16 << 20
        _ = try workspace.run(CreateMachine(configuration: configuration))
        let created = try workspace.run(
            CreateCryptVolume(name: "vol", size: 64 << 10, cipher: .aesXTSPlain64, sectorSize: 4096, key: Self.key)
        )
        #expect(created.sectorSize == 4096 && created.open && created.keyHeld)
        #expect(created.text.hasPrefix("created vol\nvol: open"))
        return (store, workspace)
    }

    @Test func listsAndStatusAreReadersAndCommitNothing() throws {
        #expect(ListProcesses.access == .read)
        #expect(ShowCryptVolume.access == .read && ListCryptVolumes.access == .read)
        // Page-table walks and the cipher run on the kernel's CPU: writers.
        #expect(ShowProcessMappings.access == .write && TranslateAddress.access == .write)
        #expect(ReadCryptVolume.access == .write && ReadProcessMemory.access == .write)

        let (store, workspace) = try workspaceWithVolume()
        let before = try revision(store)
        #expect(try workspace.run(ListProcesses()).processes.map(\.pid).contains(100))
        #expect(try workspace.run(ShowCryptVolume(name: "vol")).sectorSize == 4096)
        #expect(try workspace.run(ListCryptVolumes()).volumes.map(\.name) == ["vol"])
        #expect(try revision(store) == before)
    }

    @Test func writesPersistAndReadBackThroughAnotherRequest() throws {
        let (store, workspace) = try workspaceWithVolume()
        let data = Array("four kilobyte sectors".utf8)
        #expect(try workspace.run(WriteCryptVolume(name: "vol", offset: 4090, bytes: data)).written == data.count)
        let before = try revision(store)
        #expect(try workspace.run(ReadCryptVolume(name: "vol", offset: 4090, length: data.count)).bytes.bytes == data)
        // The read ran the cipher on the kernel's CPU: a writer, committed.
        #expect(try revision(store) != before)
    }

    @Test func processMemoryRequestsRoundTrip() throws {
        let (_, workspace) = try workspaceWithVolume()
        let pid = try workspace.run(SpawnProcess(name: "worker")).pid
        let mapped = try workspace.run(MapMemory(pid: pid, length: 8192))
        let text = Array("typed".utf8)
        _ = try workspace.run(WriteProcessMemory(pid: pid, address: mapped.addr.value, bytes: text))
        #expect(
            try workspace.run(ReadProcessMemory(pid: pid, address: mapped.addr.value, length: 5)).bytes.bytes == text
        )
        let mappings = try workspace.run(ShowProcessMappings(pid: pid)).vmas
        #expect(mappings.map(\.rss) == [4096])
        #expect(try workspace.run(ListProcesses()).processes.contains { $0.pid == pid && $0.name == "worker" })
        #expect(try workspace.run(ExitProcess(pid: pid)).exited == pid)
        #expect(throws: HWKeysError(.ESRCH, "")) { _ = try workspace.run(ShowProcessMappings(pid: pid)) }
    }
}
