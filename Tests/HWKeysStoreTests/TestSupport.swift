//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysStore
//
//===----------------------------------------------------------------------===//

import Foundation
import HWKeysBase

@testable import HWKeysStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A fresh directory, removed with everything in it when the value goes away.
final class TemporaryDirectory: Sendable {
    let path: String

    init() {
        var template = Array("\(NSTemporaryDirectory())/hwkeys-store-XXXXXX".utf8CString)
        let result = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(result != nil, "mkdtemp failed")
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    deinit {
        // A test may have made something unwritable; give it back before removing.
        _ = chmod(path, 0o700)
        try? FileManager.default.removeItem(atPath: path)
    }

    /// A path inside the directory.
    func file(_ name: String = "hwkeys.sqlite") -> String { "\(path)/\(name)" }

    /// The names in the directory, sorted.
    var entries: [String] { ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted() }
}

/// A 4 KiB page, different for every (index, seed) and never all zero.
func samplePage(_ index: Int, seed: UInt8 = 1, size: Int = 4096) -> Data {
    var bytes = Data(repeating: seed, count: size)
    withUnsafeBytes(of: UInt64(index).littleEndian) { bytes.replaceSubrange(0..<8, with: $0) }
    bytes[size - 1] = 0xA5
    return bytes
}

/// The permission bits of a file.
func fileMode(_ path: String) -> mode_t? {
    var info = stat()
    return stat(path, &info) == 0 ? info.st_mode & 0o7777 : nil
}

/// A file's modification time in nanoseconds since the epoch.
func modificationTime(_ path: String) -> Int64? {
    var info = stat()
    guard stat(path, &info) == 0 else { return nil }
    #if canImport(Darwin)
    let time = info.st_mtimespec
    #else
    let time = info.st_mtim
    #endif
    return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
}

/// Runs `body`, which must throw an `HWKeysError`, and returns that error.
func storeError(_ body: () throws -> Void) -> HWKeysError? {
    do {
        try body()
        return nil
    } catch let error as HWKeysError {
        return error
    } catch {
        return nil
    }
}

/// A machine with two components and a few DRAM pages, committed to `store`.
@discardableResult
func makeSampleMachine(_ name: String, in store: StateStore, pages: [Int] = [0, 5, 1000]) throws -> MachineRevision {
    var update = MachineUpdate.create(name, configuration: Data(#"{"dram":"64M"}"#.utf8))
    update.setComponent("platform.volatile", to: Data("volatile-\(name)".utf8))
    update.setComponent("kernel", to: Data("kernel-\(name)".utf8))
    update.declarePageSpace("dram", pageSize: 4096)
    for index in pages { update.writePage(index, in: "dram", bytes: samplePage(index)) }
    return try store.commit(update)
}

/// Everything observable about a machine, pages included.
struct Snapshot: Equatable {
    var image: MachineImage
    var pages: [String: [Int: Data]]

    init(_ name: String, in store: StateStore) throws {
        image = try store.loadMachine(named: name)
        pages = [:]
        for space in image.pageSpaces.keys {
            for index in try store.storedPageIndices(in: space, of: name) {
                pages[space, default: [:]][index] = try store.page(index, in: space, of: name)
            }
        }
    }
}
