//===----------------------------------------------------------------------===//
//
// hwkeys: WorkspaceTests
//
//===----------------------------------------------------------------------===//

import Foundation
import HWKeysBase
import Platform
import TestSupport
import Testing
import Workspace
import X86

/// The debug monitor's typed requests on the in-memory store. The workspace does not keep machines loaded, so
/// every request reloads the machine from the store: what one request leaves (key tables, cache lines, XMM
/// registers, DRAM pages, IWKeys) must survive its commit for the next to see it.
@Suite struct HWRequestTests {
    /// A seeded machine without a kernel: 2 packages × 2 CPUs, 64 MiB (the MKTME fixtures' machine).
    static func workspace() throws -> (Workspace, MemoryWorkspaceStore) {
        var configuration = MachineConfiguration()
        configuration.seed = 1
        configuration.packages = 2
        configuration.memoryBytes = 64 << 20
        configuration.bootKernel = false
        let store = MemoryWorkspaceStore()
        let workspace = Workspace(store: store)
        _ = try workspace.run(CreateMachine(configuration: configuration))
        return (workspace, store)
    }

    static func revision(_ store: MemoryWorkspaceStore) throws -> StoredRevision? {
        try store.transaction(.read, createIfMissing: false) { (transaction) throws(HWKeysError) in
            try transaction.revision(of: "default")
        }
    }

    @Test func theFixturesAreThere() {
        #expect(MKTMELineVector.all.count >= 8)
        #expect(Set(MKTMELineVector.all.map(\.package)) == [0, 1])
        #expect(KeyLockerVector.all.count >= 48)
    }

    /// docs/contract.md §2: a line stored through a directly programmed KeyID sits in DRAM as AES-XTS(data key ‖
    /// tweak key, tweak = DRAM address >> 6) of the plaintext; loading it through the KeyID gives the plaintext
    /// back, through KeyID 0 it does not.
    @Test(arguments: MKTMELineVector.all)
    func storeFlushAndLoadThroughAKeyIDMatchTheIndependentCiphertext(fixture: MKTMELineVector) throws {
        let (workspace, _) = try Self.workspace()
        let algorithm = try #require(TMEAlgorithm(name: fixture.algorithm))
        let cpu = ProcessorSelection(cpu: fixture.package * 2)
        let programmed = try workspace.run(
            ExecutePCONFIG(
                processor: cpu,
                keyID: 7,
                keyIDControl: MKTMEKeyProgramLayout.keyIDControl(command: .setKeyDirect, algorithm: algorithm),
                keyField1: hexBytes(fixture.dataKey),
                keyField2: hexBytes(fixture.tweakKey)
            )
        )
        #expect(programmed.status == "PROG_SUCCESS")
        #expect(programmed.zf == 0)
        let table = try workspace.run(ShowKeyTable(package: fixture.package))
        #expect(table.keyIDs[6].keyID == 7)
        #expect(table.keyIDs[6].state == "direct")
        #expect(table.keyIDs[6].algorithm == fixture.algorithm)
        #expect(try workspace.run(ShowKeyTable(package: 1 - fixture.package)).keyIDs[6].state == "unprogrammed")

        let plaintext = hexBytes(fixture.plaintext)
        let address = MonitorAddress(pa: fixture.dramAddress, keyID: 7)
        let stored = try workspace.run(StoreThroughCache(processor: cpu, address: address, bytes: plaintext))
        #expect(stored.keyid == 7)
        #expect(stored.written == plaintext.count)
        #expect(stored.pa.value == fixture.dramAddress | 7 << 40)
        // Still in the cache (committed with the machine): DRAM does not hold the ciphertext yet.
        #expect(
            try workspace.run(ReadDRAM(address: fixture.dramAddress, length: plaintext.count)).bytes.bytes
                != hexBytes(fixture.ciphertext)
        )
        for line in stride(from: 0, to: plaintext.count, by: 64) {
            let flushed = try workspace.run(
                ExecuteCLFLUSH(
                    processor: cpu,
                    address: MonitorAddress(pa: fixture.dramAddress + UInt64(line), keyID: 7)
                )
            )
            #expect(flushed.writtenBack)
        }
        let dram = try workspace.run(ReadDRAM(address: fixture.dramAddress | 7 << 40, length: plaintext.count))
        #expect(dram.pa.value == fixture.dramAddress)
        #expect(dram.bytes.bytes == hexBytes(fixture.ciphertext))

        let loaded = try workspace.run(LoadThroughCache(processor: cpu, address: address, length: plaintext.count))
        #expect(loaded.bytes.bytes == plaintext)
        let throughTME = try workspace.run(
            LoadThroughCache(processor: cpu, address: MonitorAddress(pa: fixture.dramAddress), length: plaintext.count)
        )
        #expect(throughTME.keyid == 0)
        #expect(throughTME.bytes.bytes != plaintext)
    }

    /// Key Locker spec §3 (docs/contract.md §3): LOADIWKEY with KeySource 0 makes ENCODEKEY deterministic; the
    /// handle and the AES results match values computed independently; a restriction makes the refused
    /// direction set ZF and leave the block unchanged.
    @Test(arguments: KeyLockerVector.all)
    func loadiwkeyEncodekeyAndAESKLMatchTheIndependentVectors(fixture: KeyLockerVector) throws {
        let (workspace, _) = try Self.workspace()
        let cpu = ProcessorSelection(cpu: 1)
        let cr4 = try workspace.run(ExecuteRDCR4(processor: cpu)).value.value
        _ = try workspace.run(ExecuteWRCR4(processor: cpu, value: cr4 | CR4.keyLocker))
        let loaded = try workspace.run(
            ExecuteLOADIWKEY(
                processor: cpu,
                encryptionKey: hexBytes(fixture.iwkeyEncryptionKey),
                integrityKey: hexBytes(fixture.iwkeyIntegrityKey)
            )
        )
        #expect(loaded.zf == 0)
        let key = hexBytes(fixture.key)
        let encoded = try workspace.run(
            ExecuteENCODEKEY(processor: cpu, key: key, source: fixture.restrictions)
        )
        #expect(encoded.handle.bytes == hexBytes(fixture.handle))

        let blocks = hexBytes(fixture.blocks)
        let handle = encoded.handle.bytes
        let restrictions = KeyLockerRestrictions(rawValue: fixture.restrictions)
        let aes256 = key.count == 32
        for (operation, expected, refused) in [
            (
                aes256 ? AESKLOperation.encrypt256 : .encrypt128, hexBytes(fixture.encrypted),
                restrictions.contains(.noEncrypt)
            ),
            (
                aes256 ? AESKLOperation.decrypt256 : .decrypt128, hexBytes(fixture.decrypted),
                restrictions.contains(.noDecrypt)
            ),
        ] {
            let one = try workspace.run(
                ExecuteAESKL(processor: cpu, operation: operation, handle: handle, block: Array(blocks[0..<16]))
            )
            let wide = try workspace.run(
                ExecuteAESWIDEKL(processor: cpu, operation: operation, handle: handle, blocks: blocks)
            )
            #expect(one.zf == (refused ? 1 : 0), "\(operation)")
            #expect(wide.zf == (refused ? 1 : 0), "\(operation)")
            #expect(one.block.bytes == (refused ? Array(blocks[0..<16]) : Array(expected[0..<16])), "\(operation)")
            #expect(wide.blocks.bytes == (refused ? blocks : expected), "\(operation)")
        }
        // The IWKey is per logical processor: CPU 0 loaded none and still holds the all-zero IWKey of a cold
        // boot, so it accepts only handles made under that key.
        _ = try workspace.run(ExecuteWRCR4(processor: ProcessorSelection(cpu: 0), value: cr4 | CR4.keyLocker))
        let elsewhere = try workspace.run(
            ExecuteAESKL(
                processor: ProcessorSelection(cpu: 0),
                operation: aes256 ? .encrypt256 : .encrypt128,
                handle: handle,
                block: Array(blocks[0..<16])
            )
        )
        let zeroIWKey = (fixture.iwkeyEncryptionKey + fixture.iwkeyIntegrityKey).allSatisfy { $0 == "0" }
        #expect(elsewhere.zf == (zeroIWKey && !restrictions.contains(.noEncrypt) ? 0 : 1))
    }

    /// docs/workspace.md "Readers and writers": the inspection requests commit nothing; a CPU load is a writer
    /// (it fills a cache line and charges cycles) and commits.
    @Test func inspectionRequestsAreReadersAndCPUAccessesAreWriters() throws {
        let (workspace, store) = try Self.workspace()
        _ = try workspace.run(WriteDisk(name: "swap", offset: 4096, bytes: [1, 2, 3]))
        let before = try Self.revision(store)
        #expect(try workspace.run(ReadDRAM(address: 0, length: 64)).bytes.bytes.count == 64)
        #expect(try workspace.run(ShowKeyTable()).keyIDs.count == 63)
        #expect(try workspace.run(ListDisks()).disks.map(\.name) == ["swap"])
        #expect(try workspace.run(ReadDisk(name: "swap", offset: 4095, length: 5)).bytes.bytes == [0, 1, 2, 3, 0])
        #expect(try Self.revision(store) == before)
        #expect(ReadDRAM.access == .read && ShowKeyTable.access == .read)
        #expect(ListDisks.access == .read && ReadDisk.access == .read)

        _ = try workspace.run(LoadThroughCache(address: MonitorAddress(pa: 0x1000), length: 1))
        #expect(try Self.revision(store) != before)
    }

    /// Raw DRAM and disk writes persist through the store and bypass caches and encryption.
    @Test func rawWritesPersistAndBypassTheCache() throws {
        let (workspace, _) = try Self.workspace()
        let written = try workspace.run(WriteDRAM(address: 0x3000 | 5 << 40, bytes: [0xAB, 0xCD]))
        #expect(written.pa.value == 0x3000)
        #expect(written.written == 2)
        #expect(try workspace.run(ReadDRAM(address: 0x3000, length: 2)).bytes.bytes == [0xAB, 0xCD])
        let disk = try workspace.run(WriteDisk(name: "swap", offset: 10, bytes: [9, 8, 7]))
        #expect(disk.text == "wrote 3 raw bytes to disk 'swap' at offset 10")
        #expect(try workspace.run(ReadDisk(name: "swap", offset: 10, length: 3)).bytes.bytes == [9, 8, 7])
    }

    /// Armed failures are machine state: the next PCONFIG on that package reports them (DEVICE_BUSY, SDM Vol. 2B
    /// PCONFIG status 5) and consumes them.
    @Test func anInjectedPCONFIGFailureIsReportedOnceOnItsPackage() throws {
        let (workspace, _) = try Self.workspace()
        let injected = try workspace.run(InjectHardwareFault(.pconfigBusy(package: 1, count: 1)))
        #expect(ResultEncoding.json(injected) == #"{"count":1,"kind":"pconfig-busy","package":1}"#)
        let program = { (cpu: Int) throws(HWKeysError) in
            try workspace.run(
                ExecutePCONFIG(
                    processor: ProcessorSelection(cpu: cpu),
                    keyID: 3,
                    keyIDControl: MKTMEKeyProgramLayout.keyIDControl(command: .setKeyRandom, algorithm: .aesXTS128)
                )
            ).status
        }
        #expect(try program(0) == "PROG_SUCCESS")
        #expect(try program(2) == "DEVICE_BUSY")
        #expect(try program(3) == "PROG_SUCCESS")
    }

    /// Results encode with today's field names and shapes (the CLI's `--format json`).
    @Test func resultsKeepTheCLIsJSON() throws {
        let (workspace, _) = try Self.workspace()
        #expect(
            ResultEncoding.json(try workspace.run(ExecuteWBINVD(processor: ProcessorSelection(cpu: 3))))
                == #"{"lines_written_back":0,"package":1}"#
        )
        let table = ResultEncoding.json(try workspace.run(ShowKeyTable(package: 1)))
        #expect(
            table.hasPrefix(
                #"{"keyids":[{"alg":null,"keyid":1,"state":"unprogrammed"},"#
            )
        )
        #expect(
            table.hasSuffix(
                #""package":1,"tme":{"alg":"aes-xts-128","keyid_bits":6,"standby_keys_saved":false,"state":"active"}}"#
            )
        )
        #expect(
            ResultEncoding.json(try workspace.run(ExecuteRDMSR(msr: 0x982)))
                .hasPrefix(#"{"msr":"0x982","value":"0x"#)
        )
        #expect(ResultEncoding.json(try workspace.run(ListDisks())) == #"{"disks":[{"name":"swap","size":67108864}]}"#)
        #expect(
            ResultEncoding.json(try workspace.run(InjectHardwareFault(.iwkeyBackupError(armed: false))))
                == #"{"armed":false,"kind":"iwkey-backup-error"}"#
        )
    }

    /// Typed requests can carry what the CLI parser never produces; each gets an errno error, never a trap, and
    /// changes nothing.
    @Test func badTypedArgumentsAreErrorsAndChangeNothing() throws {
        let (workspace, store) = try Self.workspace()
        let before = try Self.revision(store)
        func expectError<R: WorkspaceRequest>(
            _ errno: Errno,
            _ request: R,
            sourceLocation: SourceLocation = #_sourceLocation
        ) {
            #expect(throws: HWKeysError(errno, ""), sourceLocation: sourceLocation) { _ = try workspace.run(request) }
        }
        expectError(.EINVAL, ReadDRAM(address: 0, length: -1))
        expectError(.EINVAL, ReadDRAM(address: 0, length: 0))
        expectError(.EINVAL, ReadDRAM(address: 0, length: MonitorLimits.maximumRead + 1))
        expectError(.EFAULT, ReadDRAM(address: UInt64.max - 3, length: 16))
        expectError(.EINVAL, WriteDRAM(address: 0, bytes: []))
        expectError(.EFAULT, WriteDRAM(address: 64 << 20, bytes: [1]))
        expectError(.EINVAL, InjectHardwareFault(.pconfigBusy(package: -1, count: 1)))
        expectError(.EINVAL, InjectHardwareFault(.pconfigEntropy(package: 2, count: 1)))
        expectError(.EINVAL, InjectHardwareFault(.rdseedFailures(count: Int(Int32.max) + 1)))
        expectError(.EINVAL, InjectHardwareFault(.rdseedFailures(count: -1)))
        expectError(.EINVAL, ShowKeyTable(package: -1))
        expectError(.EINVAL, ExecuteCPUID(processor: ProcessorSelection(cpu: -1), leaf: 0))
        expectError(.EINVAL, ExecuteCPUID(processor: ProcessorSelection(cpu: 4), leaf: 0))
        expectError(.EINVAL, ExecuteCPUID(processor: ProcessorSelection(cpl: 1), leaf: 0))
        expectError(.EINVAL, ExecuteLOADIWKEY(encryptionKey: [1], integrityKey: [2]))
        expectError(.EINVAL, ExecuteENCODEKEY(key: Array(repeating: 1, count: 24)))
        expectError(.EINVAL, ExecuteAESKL(operation: .encrypt128, handle: [], block: Array(repeating: 0, count: 16)))
        expectError(
            .EINVAL,
            ExecuteAESWIDEKL(operation: .decrypt256, handle: Array(repeating: 0, count: 64), blocks: [])
        )
        expectError(.EINVAL, ExecutePCONFIG(keyID: 1, keyIDControl: 0, keyField1: Array(repeating: 0, count: 65)))
        expectError(.EINVAL, StoreThroughCache(address: MonitorAddress(pa: 0x1000, keyID: 64), bytes: [1]))
        expectError(.EINVAL, StoreThroughCache(address: MonitorAddress(pa: 1 << 46), bytes: [1]))
        expectError(.EINVAL, StoreThroughCache(address: MonitorAddress(pa: 0x1000 | 2 << 40, keyID: 3), bytes: [1]))
        expectError(.EFAULT, LoadThroughCache(address: MonitorAddress(pa: 64 << 20), length: 1))
        expectError(.EINVAL, LoadThroughCache(address: MonitorAddress(pa: 0), length: 0))
        expectError(.ENODEV, ReadDisk(name: "nope", offset: 0, length: 1))
        expectError(.EFAULT, ReadDisk(name: "swap", offset: UInt64.max, length: 1))
        expectError(.EINVAL, WriteDisk(name: "swap", offset: 0, bytes: []))
        #expect(try Self.revision(store) == before)
    }

    /// An architectural fault leaves as its `HWKeysError` (design rule 2) and the request changes nothing.
    @Test func faultsAreErrorsWithTheirMnemonic() throws {
        let (workspace, store) = try Self.workspace()
        let before = try Self.revision(store)
        do {
            _ = try workspace.run(ExecuteRDMSR(processor: ProcessorSelection(cpl: 3), msr: 0x982))
            Issue.record("RDMSR at CPL3 did not fault")
        } catch {
            #expect(error.code.name == "#GP(0)")
        }
        do {
            _ = try workspace.run(
                ExecutePCONFIG(processor: ProcessorSelection(cpl: 3), keyID: 1, keyIDControl: 0)
            )
            Issue.record("PCONFIG at CPL3 did not fault")
        } catch {
            #expect(error.code.name == "#UD")
        }
        #expect(try Self.revision(store) == before)
        // The processor is back at CPL0 for the next request.
        #expect(try workspace.run(ExecuteRDMSR(msr: 0x982)).msr.value == 0x982)
    }

    /// Processor requests need a running machine (EHOSTDOWN); raw DRAM does not.
    @Test func processorRequestsNeedARunningMachine() throws {
        let (workspace, _) = try Self.workspace()
        _ = try workspace.run(Power(.off))
        #expect(throws: HWKeysError(.EHOSTDOWN, "")) { _ = try workspace.run(ExecuteCPUID(leaf: 0)) }
        #expect(throws: HWKeysError(.EHOSTDOWN, "")) {
            _ = try workspace.run(StoreThroughCache(address: MonitorAddress(pa: 0), bytes: [1]))
        }
        #expect(try workspace.run(ReadDRAM(address: 0, length: 1)).bytes.bytes.count == 1)
    }

    /// contract §8: raw DRAM, key tables, disks and fault injection act on the host; under `--vm` they are
    /// EINVAL (usage). The processor requests may run in guests.
    @Test func hostOnlyMonitorRequestsRefuseGuests() throws {
        let (workspace, store) = try Self.workspace()
        let before = try Self.revision(store)
        func expectRefused<R: WorkspaceRequest>(_ request: R, sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(!R.runsInGuest, sourceLocation: sourceLocation)
            do {
                _ = try workspace.run(request, vm: "x")
                Issue.record("\(R.self) ran under --vm", sourceLocation: sourceLocation)
            } catch {
                #expect(error.code == .errno(.EINVAL), sourceLocation: sourceLocation)
                #expect(error.isUsage, sourceLocation: sourceLocation)
            }
        }
        expectRefused(ReadDRAM(address: 0, length: 16))
        expectRefused(WriteDRAM(address: 0, bytes: [1]))
        expectRefused(InjectHardwareFault(.rdseedFailures(count: 1)))
        expectRefused(ShowKeyTable())
        expectRefused(ListDisks())
        expectRefused(ReadDisk(name: "swap", offset: 0, length: 16))
        expectRefused(WriteDisk(name: "swap", offset: 0, bytes: [1]))
        #expect(try Self.revision(store) == before)

        let guestCapable: [any WorkspaceRequest.Type] = [
            ExecuteCPUID.self, ExecuteRDMSR.self, ExecuteWRMSR.self, ExecuteRDCR4.self, ExecuteWRCR4.self,
            ExecuteLOADIWKEY.self, ExecuteENCODEKEY.self, ExecuteAESKL.self, ExecuteAESWIDEKL.self,
            ExecutePCONFIG.self, StoreThroughCache.self, LoadThroughCache.self, ExecuteCLFLUSH.self,
            ExecuteWBINVD.self,
        ]
        for type in guestCapable {
            let (runsInGuest, access) = (type.runsInGuest, type.access)
            #expect(runsInGuest, "\(type)")
            #expect(access == .write, "\(type)")
        }
    }

    /// Secrets in requests (IWKey, AES and MKTME keys) never show in their descriptions (docs/design.md rule 3).
    @Test func requestsDoNotPrintTheirKeys() {
        let secret = [UInt8](repeating: 0xA7, count: 32)
        let requests: [any WorkspaceRequest] = [
            ExecuteLOADIWKEY(encryptionKey: secret, integrityKey: Array(secret[0..<16])),
            ExecuteENCODEKEY(key: secret),
            ExecutePCONFIG(keyID: 1, keyIDControl: 0, keyField1: secret, keyField2: secret),
        ]
        for request in requests {
            var dumped = ""
            dump(request, to: &dumped)
            for text in [String(describing: request), String(reflecting: request), dumped] {
                #expect(!text.contains("167"), "\(text)")
                #expect(!text.lowercased().contains("a7a7"), "\(text)")
                #expect(text.contains("redacted"), "\(text)")
            }
        }
    }
}
