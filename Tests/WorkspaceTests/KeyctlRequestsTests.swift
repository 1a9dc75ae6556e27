//===----------------------------------------------------------------------===//
//
// hwkeys: WorkspaceTests
//
//===----------------------------------------------------------------------===//

import Foundation
import HWCrypto
import HWKeysBase
import Kernel
import Platform
import TestSupport
import Testing
import Workspace

/// The keyctl requests as typed values (Sources/Workspace/Requests/Keyctl*.swift): which are readers, and
/// their results' JSON.
@Suite struct KeyctlRequestsTests {
    func workspace() throws -> (MemoryWorkspaceStore, Workspace) {
        let store = MemoryWorkspaceStore()
        let workspace = Workspace(store: store)
        _ = try workspace.run(CreateMachine(configuration: WorkspaceTests.seeded()))
        return (store, workspace)
    }

    func revision(_ store: MemoryWorkspaceStore) throws -> StoredRevision? {
        try store.transaction(.read, createIfMissing: false) { (transaction) throws(HWKeysError) in
            try transaction.revision(of: "default")
        }
    }

    /// contract §12 and docs/workspace.md: the inspections read bookkeeping only and commit nothing.
    @Test func inspectionsAreReaders() throws {
        let (store, workspace) = try workspace()
        let key = try workspace.run(
            AddKey(
                type: "user",
                description: "lizard",
                payload: SecretBytes(Array("gizzard".utf8)),
                keyring: .serial(-3)
            )
        ).serial
        let before = try revision(store)
        let session = try workspace.run(KeyringID(key: .serial(KeySpecial.session))).serial
        #expect(try workspace.run(DescribeKey(key: .serial(key))).description == "lizard")
        #expect(
            try workspace.run(DescribeKeyRaw(key: .named(type: "user", description: "lizard"))).raw.hasPrefix("user;")
        )
        #expect(try workspace.run(ListKeyringSerials(keyring: .serial(session))).serials.contains(key))
        #expect(try workspace.run(ListKeyring(keyring: .serial(KeySpecial.session))).keys.count == 2)
        #expect(try workspace.run(ShowKeyTree()).keyring == session)
        #expect(
            try workspace.run(SearchKey(keyring: .serial(session), type: "user", description: "lizard")).serial == key
        )
        #expect(try workspace.run(KeyCapabilities()).raw == HexBytes([0x21, 0x00]))
        #expect(try revision(store) == before)
        // A payload read goes through DRAM: a writer.
        #expect(ReadKeyPayload.access == .write)
        _ = try workspace.run(ReadKeyPayload(key: .serial(key), form: .printable))
        #expect(try revision(store) != before)
    }

    /// An inspection naming `@us` (or `@u`), which the kernel may have to create, runs as a writer, so the
    /// keyring it creates — and the serial it reports — is committed; so does a search that links.
    @Test func namingAKeyringTheKernelMayCreateMakesAWriter() throws {
        let (store, workspace) = try workspace()
        #expect(DescribeKey(key: .serial(KeySpecial.userSession)).requiredAccess == .write)
        #expect(DescribeKey(key: .serial(KeySpecial.user)).requiredAccess == .write)
        #expect(DescribeKey(key: .serial(KeySpecial.session)).requiredAccess == .read)
        #expect(SearchKey(keyring: .serial(-3), type: "user", description: "x").requiredAccess == .read)
        #expect(
            SearchKey(keyring: .serial(-3), type: "user", description: "x", destination: .serial(-3)).requiredAccess
                == .write
        )
        #expect(
            SearchKey(keyring: .serial(-3), type: "user", description: "x", destination: .serial(0)).requiredAccess
                == .read
        )
        let before = try revision(store)
        let first = try workspace.run(KeyringID(key: .serial(KeySpecial.userSession))).serial
        #expect(try revision(store) != before)
        // A new workspace (a new CLI invocation) finds the same keyring.
        let again = try Workspace(store: store).run(DescribeKey(key: .serial(KeySpecial.userSession)))
        #expect(again.serial == first)
        #expect(again.description == "_uid_ses.0")
    }

    @Test func resultsEncodeAsTheCLIPrintedThem() throws {
        let (_, workspace) = try workspace()
        let key = try workspace.run(
            AddKey(
                type: "user",
                description: "lizard",
                payload: SecretBytes(Array("gizzard".utf8)),
                keyring: .serial(-3)
            )
        ).serial
        let chgrp = try workspace.run(ChangeKeyOwnership(key: .serial(key), .gid, to: nil))
        #expect(ResultEncoding.json(chgrp) == #"{"gid":null,"serial":\#(key)}"#)
        let chown = try workspace.run(ChangeKeyOwnership(key: .serial(key), .uid, to: 7))
        #expect(ResultEncoding.json(chown) == #"{"serial":\#(key),"uid":7}"#)
        let described = try workspace.run(DescribeKey(key: .serial(key)))
        #expect(
            ResultEncoding.json(described)
                == #"{"description":"lizard","gid":0,"perm":"0x3f010000","serial":\#(key),"type":"user","uid":7}"#
        )
        let printed = try workspace.run(ReadKeyPayload(key: .serial(key), form: .printable))
        #expect(ResultEncoding.json(printed) == #"{"bytes":"67697a7a617264","printable":true,"serial":\#(key)}"#)
        #expect(printed.rawOutput == nil)
        let piped = try workspace.run(ReadKeyPayload(key: .serial(key), form: .raw))
        #expect(piped.rawOutput == Array("gizzard".utf8))
        let unlinked = try workspace.run(UnlinkKey(key: .serial(key), from: nil))
        #expect(ResultEncoding.json(unlinked) == #"{"links_removed":1,"serial":\#(key)}"#)
        #expect(unlinked.text == "1 links removed")
    }
}
