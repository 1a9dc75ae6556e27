//===----------------------------------------------------------------------===//
//
// hwkeys: KernelTests
//
//===----------------------------------------------------------------------===//

import Foundation
import HWCrypto
import HWKeysBase
import KernelInterfaces
import Platform
import X86

@testable import Kernel

/// Stored DRAM pages and disk blocks of a snapshot, served to a restored machine on first touch (what the
/// state file does for the CLI).
final class SnapshotPages: DRAMPageSource, BlockDevicePageSource {
    let frames: [UInt64: [UInt8]]
    let blocks: [String: [Int: [UInt8]]]

    init(frames: [UInt64: [UInt8]], blocks: [String: [Int: [UInt8]]]) {
        self.frames = frames
        self.blocks = blocks
    }

    func loadPage(_ frame: UInt64, into page: UnsafeMutableRawBufferPointer) throws -> Bool {
        guard let bytes = frames[frame] else { return false }
        bytes.withUnsafeBytes { page.copyMemory(from: $0) }
        return true
    }

    func loadBlock(disk: String, index: Int, into block: UnsafeMutableRawBufferPointer) throws -> Bool {
        guard let bytes = blocks[disk]?[index] else { return false }
        bytes.withUnsafeBytes { block.copyMemory(from: $0) }
        return true
    }
}

/// A machine with a running kernel frozen in the form the state file keeps (platform image, kernel state,
/// DRAM pages, disk blocks); ``restore()`` makes an independent live copy, cheaply (pages load on touch).
struct MachineSnapshot {
    let configuration: MachineConfiguration
    let image: PlatformImage
    let kernelState: Data
    let pages: SnapshotPages

    init(machine: Machine, kernel: Kernel) throws {
        configuration = machine.configuration
        image = machine.makeImage()
        kernelState = try kernel.encodeState()
        var frames: [UInt64: [UInt8]] = [:]
        for frame in machine.dram.dirtyFrames {
            frames[frame] = machine.dram.withPage(frame) { Array($0) }
        }
        var blocks: [String: [Int: [UInt8]]] = [:]
        for disk in machine.emulatedDisks {
            for index in disk.dirtyBlocks {
                blocks[disk.name, default: [:]][index] = disk.withBlock(index) { Array($0) }
            }
        }
        pages = SnapshotPages(frames: frames, blocks: blocks)
    }

    func restore() throws -> (Machine, Kernel) {
        let machine = try Machine.restore(
            configuration: configuration,
            image: image,
            pageSource: pages,
            diskSource: pages
        )
        return (machine, try Kernel.restore(platform: machine, state: kernelState))
    }
}
