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
import TestSupport
import Testing
import X86

@testable import Kernel

/// docs/contract.md §12 "Hostile input", docs/robustness.md: nothing emulated software or an attacker
/// controls may trap the host. Each case corrupts a few words of kernel memory — page tables, the heap, key
/// payloads, the `mktme_savekeys` store, the remembered IWKey, crypt key material, any DRAM word — or of a
/// hibernation image on swap or of the kernel's stored image, then runs commands through the Kernel API:
/// every one must end in success or an `HWKeysError` (a trap kills the test process), and the commands that
/// follow on the same state must too.
///
/// Deterministic (SplitMix64 from a fixed seed); cheap per case: a prepared machine is restored from its
/// snapshot (pages load on touch) and takes a batch of cases before the next restore.
@Suite(.serialized) struct KernelFuzzTests {
    /// Cases per design; two designs make the ≥ 10,000 cases the contract asks for (`HWKEYS_FUZZ_CASES`
    /// and `HWKEYS_FUZZ_SEED` run longer or other sequences; `HWKEYS_FUZZ_VERBOSE` prints the outcomes).
    static let casesPerDesign = Int(ProcessInfo.processInfo.environment["HWKEYS_FUZZ_CASES"] ?? "") ?? 5_000
    /// Cases run on one restored copy before a fresh one (corruption accumulates within a batch).
    static let batch = 25

    @Test(arguments: [MKTMEAPIDesign.rfcV2, .revised])
    func corruptedKernelDataNeverTrapsTheHost(_ design: MKTMEAPIDesign) throws {
        let snapshot = try FuzzWorld.prepare(design)
        let seed = UInt64(ProcessInfo.processInfo.environment["HWKEYS_FUZZ_SEED"] ?? "") ?? 0
        var rng = SplitMix64(seed: (design == .rfcV2 ? 0x1111_0011 : 0x2222_0022) ^ seed)
        var stats = FuzzStats()
        var done = 0
        while done < Self.casesPerDesign {
            let (machine, kernel) = try snapshot.restore()
            let world = FuzzWorld(machine: machine, kernel: kernel, design: design)
            for _ in 0..<Self.batch where done < Self.casesPerDesign {
                done += 1
                world.caseNumber = done
                world.corrupt(&rng, &stats)
                world.command(&rng, &stats)
                world.command(&rng, &stats)
                if world.rebooted { break }
            }
            world.persist(&stats)
        }
        if ProcessInfo.processInfo.environment["HWKEYS_FUZZ_VERBOSE"] != nil { print("\(design): \(stats.summary)") }
        #expect(stats.unexpected.isEmpty, "\(stats.unexpected.prefix(5))")
        // The corruption reached the code under test: some commands failed on it, with the oops errnos.
        #expect(stats.failures[.EFAULT, default: 0] > 0, "\(stats.summary)")
        #expect(stats.successes > 0, "\(stats.summary)")
        #expect(stats.oopses > 0, "\(stats.summary)")
    }
}

/// What the fuzz run saw.
struct FuzzStats {
    var successes = 0
    var failures: [Errno: Int] = [:]
    var otherFailures = 0
    /// Errors that are not `HWKeysError` (the contract allows none).
    var unexpected: [String] = []
    /// dmesg lines with `BUG:` (the modelled oops).
    var oopses = 0

    var summary: String {
        "ok \(successes), "
            + failures.sorted { $0.value > $1.value }.map { "\($0.key.name) \($0.value)" }
            .joined(separator: ", ") + ", oopses \(oopses)"
    }

    mutating func record(_ body: () throws -> Void) {
        do {
            try body()
            successes += 1
        } catch let error as HWKeysError {
            if let errno = error.errno { failures[errno, default: 0] += 1 } else { otherFailures += 1 }
        } catch let fault as X86Fault {
            // Instructions a test runs itself may fault (user Key Locker at CPL3): architectural, not a trap.
            _ = fault
            otherFailures += 1
        } catch {
            unexpected.append("\(error)")
        }
    }
}

/// One restored machine under fuzzing: its kernel, and the corruptions and commands a case picks from.
final class FuzzWorld {
    let machine: Machine
    var kernel: Kernel
    let design: MKTMEAPIDesign
    /// Set when a power transition booted a fresh kernel (the prepared processes and keys are gone).
    var rebooted = false
    var caseNumber = 0

    init(machine: Machine, kernel: Kernel, design: MKTMEAPIDesign) {
        self.machine = machine
        self.kernel = kernel
        self.design = design
    }

    // MARK: The prepared machine

    static func configuration(_ design: MKTMEAPIDesign) -> MachineConfiguration {
        var config = MachineConfiguration()
        config.seed = 77
        config.memoryBytes = 8 << 20
        config.packages = 2
        config.cpusPerPackage = 1
        config.cacheLines = 512
        config.keyIDBits = 3
        config.kernelCommandLine = design == .rfcV2 ? "mktme.api=rfc-v2 mktme_savekeys" : "mktme.api=revised"
        return config
    }

    /// A machine with something of everything the kernel keeps in DRAM: page tables of three processes
    /// (private, shared, PROT_NONE and MKTME-encrypted mappings, a fork), user, logon, keyring and `mktme`
    /// keys (rfc-v2: a user key in the `mktme_savekeys` store), a remembered IWKey and two open crypt
    /// volumes (a volume key and Key Locker handles in kernel memory).
    static func prepare(_ design: MKTMEAPIDesign) throws -> MachineSnapshot {
        let config = configuration(design)
        let machine = try Machine.create(configuration: config)
        let kernel = try Kernel.boot(platform: machine, commandLine: config.effectiveKernelCommandLine)
        try kernel.keyLockerManager.setMode("native_kernel_key_remember")
        let shell = ProcessTable.shellPID
        _ = try kernel.add("user", "token", "correct horse battery staple")
        _ = try kernel.add("logon", "svc:fuzz", "logon secret")
        let ring = try kernel.newring("vault")
        _ = try kernel.add("user", "inner", "kept in a keyring", ring)
        let hex = String(repeating: "0123456789abcdef", count: 2)
        let mktme: Int32
        switch design {
        case .rfcV2:
            mktme = try kernel.addMKTME("tenant", "type=cpu algorithm=aes-xts-128")
            _ = try kernel.addMKTME("stored", "type=user algorithm=aes-xts-128 key=\(hex) tweak=\(hex)")
        case .revised:
            mktme = try kernel.addMKTME("tenant", "type=cpu")
        }
        let privateMap = try kernel.mmap(pid: shell, length: 0x10000, protection: .rw, shared: false)
        try kernel.write(shell, privateMap, [UInt8](repeating: 0x5A, count: 0x6000))
        let shared = try kernel.mmap(pid: shell, length: 0x4000, protection: .rw, shared: true)
        try kernel.write(shell, shared, text: "shared page")
        _ = try kernel.mmap(pid: shell, length: 0x2000, protection: .none, shared: false)
        let encrypted = try kernel.mmap(pid: shell, length: 0x4000, protection: .rw, shared: false)
        try kernel.encryptMprotect(pid: shell, address: encrypted, length: 0x4000, protection: .rw, serial: mktme)
        try kernel.write(shell, encrypted, text: "tenant secret")
        let user = try kernel.createProcess(parent: shell, uid: 1000, exec: true)
        let mine = try kernel.mmap(pid: user, length: 0x8000, protection: .rw, shared: false)
        try kernel.write(user, mine + 0x3000, text: "user data")
        _ = try kernel.createProcess(parent: shell, exec: false)
        let key = SecretBytes((0..<64).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) })
        try kernel.crypt.create("plain", size: 0x8000, cipher: .aesXTSPlain64, key: key, as: shell)
        try kernel.crypt.create("locked", size: 0x8000, cipher: .aesXTSKLPlain64, key: key, as: shell)
        for name in ["plain", "locked"] {
            try Array("volume data".utf8).withUnsafeBytes {
                try kernel.crypt.write(name, offset: 512, data: $0, as: shell)
            }
        }
        return try MachineSnapshot(machine: machine, kernel: kernel)
    }

    // MARK: Picking

    var pids: [Int32] { kernel.processes.processes.keys.sorted() }
    var serials: [Int32] { kernel.keys.keys.keys.sorted() }

    func pick<T>(_ items: [T], _ rng: inout SplitMix64) -> T? {
        items.isEmpty ? nil : items[Int(rng.next() % UInt64(items.count))]
    }

    /// A range in one of `pid`'s VMAs (sometimes straddling its end, sometimes anywhere).
    func range(in pid: Int32, _ rng: inout SplitMix64, pageAligned: Bool) -> (UInt64, UInt64) {
        let vmas = kernel.memoryManager.spaces[pid]?.vmas ?? []
        guard rng.next() % 8 != 0, let vma = pick(vmas, &rng) else {
            let address = rng.next() % AddressSpace.taskSize
            return (pageAligned ? address & ~0xFFF : address, rng.next() % 0x5000)
        }
        let pages = vma.length >> 12
        let first = vma.start + (rng.next() % pages) << 12
        let length = ((rng.next() % (pages + 1)) + 1) << 12
        if pageAligned { return (first, length) }
        return (first + rng.next() % 0x1000, rng.next() % 0x3000 + 1)
    }

    /// A word replacing one in kernel memory: random, an all-zeros or all-ones word, a flipped bit, or a
    /// plausible paging entry naming another frame (allocated or not, beyond DRAM, frame 0) and KeyID.
    func corruptWord(_ old: UInt64, _ rng: inout SplitMix64) -> UInt64 {
        switch rng.next() % 8 {
        case 0: return rng.next()
        case 1: return 0
        case 2: return ~0
        case 3, 4: return old ^ (1 << (rng.next() % 64))
        default:
            let frames = Array(kernel.pages.allocated.keys)
            let frame: UInt64 =
                switch rng.next() % 4 {
                case 0: 0
                case 1: rng.next() % (machine.configuration.memoryBytes >> 12 + 64)
                default: pick(frames, &rng) ?? 0
                }
            let keyID = kernel.keyIDLayout.keyIDBits == 0 ? 0 : rng.next() % UInt64(kernel.keyIDLayout.keyIDCount)
            let flags: UInt64 = rng.next() % 4 == 0 ? rng.next() & 0x8000_0000_0000_0FFF : old & 0xFFF | 1
            return frame << 12 | keyID << UInt64(kernel.keyIDLayout.keyIDShift) | flags
        }
    }

    /// Overwrites one 8-byte word of DRAM at `address` (DRAM address, KeyID-0 alias) the way a kernel
    /// write primitive would: through the cache (a store), or behind it (raw DRAM, `hw poke-dram`).
    func poke(_ address: UInt64, _ rng: inout SplitMix64) {
        let address = address & ~7
        guard address + 8 <= machine.configuration.memoryBytes else { return }
        let old = kernel.physical.readUInt64(address)
        let new = corruptWord(old, &rng)
        if rng.next() % 4 == 0 {
            withUnsafeBytes(of: new.littleEndian) { machine.dram.write(address, from: $0) }
        } else {
            kernel.physical.writeUInt64(address, new)
        }
    }

    /// Frames with `owner`.
    func frames(_ owner: PageAllocator.Owner) -> [UInt64] {
        kernel.pages.allocated.sorted.filter { $0.value.owner == owner }.map(\.key)
    }

    // MARK: Corruption

    func corrupt(_ rng: inout SplitMix64, _ stats: inout FuzzStats) {
        let words = 1 + Int(rng.next() % 3)
        for _ in 0..<words {
            switch rng.next() % 10 {
            case 0, 1, 2:
                // Page tables: any process's table frames.
                let tables = kernel.memoryManager.spaces.values.flatMap(\.tableFrames)
                if let frame = pick(tables, &rng) { poke(frame << 12 + (rng.next() % 512) * 8, &rng) }
            case 3:
                if let frame = pick(frames(.kernelHeap), &rng) { poke(frame << 12 + rng.next() % 4096, &rng) }
            case 4:
                // Key payloads and the kernel's own secrets in the heap.
                var allocations: [KernelAllocation] = kernel.keys.keys.values.compactMap { $0.payload.data }
                if let remembered = kernel.keyLockerManager.rememberedKey { allocations.append(remembered) }
                if let mktme = kernel.mktme { allocations += mktme.entries.compactMap(\.savedKey) }
                for volume in kernel.crypt.volumes.values {
                    allocations += [volume.key, volume.handles].compactMap { $0 }
                }
                if let allocation = pick(allocations, &rng), let segment = pick(allocation.segments, &rng) {
                    poke(segment.address + rng.next() % UInt64(max(segment.length, 1)), &rng)
                }
            case 5:
                if let frame = pick(frames(.user), &rng) { poke(frame << 12 + rng.next() % 4096, &rng) }
            case 6:
                poke(rng.next() % machine.configuration.memoryBytes, &rng)
            case 7:
                corruptStoredKernelImage(&rng, &stats)
            default:
                // A leaf entry of a mapped page, aimed: the classic "write a couple of words".
                if let pid = pick(Array(kernel.memoryManager.spaces.keys), &rng) {
                    let (address, _) = range(in: pid, &rng, pageAligned: true)
                    if let entry = try? kernel.translate(pid: pid, address: address) {
                        _ = entry
                        leafSlot(pid, address).map { poke($0, &rng) }
                    }
                }
            }
        }
    }

    /// The DRAM address of the leaf entry of `address` in `pid`'s tables, walking them as they are.
    func leafSlot(_ pid: Int32, _ address: UInt64) -> UInt64? {
        guard var table = kernel.memoryManager.spaces[pid]?.root else { return nil }
        for level in stride(from: 3, to: 0, by: -1) {
            let entry = kernel.physical.readUInt64(
                table << 12 + UInt64(PageTableEntry.index(address, level: level) * 8)
            )
            guard entry & PageTableEntry.present != 0 else { return nil }
            table = kernel.keyIDLayout.frame(ofEntry: entry)
            guard table < machine.configuration.memoryBytes >> 12 else { return nil }
        }
        return table << 12 + UInt64(PageTableEntry.index(address, level: 0) * 8)
    }

    /// The kernel as the state file stores it, with one number in its JSON changed (same length, so the
    /// JSON stays valid): the next command runs on the kernel restored from it, if it restores.
    func corruptStoredKernelImage(_ rng: inout SplitMix64, _ stats: inout FuzzStats) {
        guard var state = try? kernel.encodeState() else {
            stats.unexpected.append("case \(caseNumber): encodeState failed")
            return
        }
        Self.mutateDigits(&state, &rng)
        stats.record {
            kernel = try Kernel.restore(platform: machine, state: state)
        }
    }

    /// Replaces a run of digits in `data` (a JSON number) with random digits of the same length, sometimes
    /// with a minus sign.
    static func mutateDigits(_ data: inout Data, _ rng: inout SplitMix64) {
        let bytes = [UInt8](data)
        var runs: [Range<Int>] = []
        var index = 0
        while index < bytes.count {
            guard (0x30...0x39).contains(bytes[index]) else {
                index += 1
                continue
            }
            let start = index
            while index < bytes.count, (0x30...0x39).contains(bytes[index]) { index += 1 }
            // Skip digits inside strings (preceded by a letter or quote-adjacent text).
            if start > 0, bytes[start - 1] == 0x3A || bytes[start - 1] == 0x2C || bytes[start - 1] == 0x5B {
                runs.append(start..<index)
            }
        }
        guard !runs.isEmpty else { return }
        var mutated = bytes
        for _ in 0..<(1 + Int(rng.next() % 2)) {
            let run = runs[Int(rng.next() % UInt64(runs.count))]
            for position in run { mutated[position] = 0x30 + UInt8(rng.next() % 10) }
            if rng.next() % 5 == 0 { mutated[run.lowerBound] = 0x2D }  // "-"
            if run.count > 1, mutated[run.lowerBound] == 0x30 { mutated[run.lowerBound] = 0x31 }
        }
        data = Data(mutated)
    }

    // MARK: Commands

    func command(_ rng: inout SplitMix64, _ stats: inout FuzzStats) {
        let kernel = self.kernel
        let shell = ProcessTable.shellPID
        let pid = pick(pids, &rng) ?? shell
        let serial = pick(serials, &rng) ?? 1
        kernel.runDueWork()
        switch rng.next() % 24 {
        case 0: stats.record { _ = try kernel.keys.read(serial, pid: pick([shell, pid], &rng)!) }
        case 1:
            stats.record {
                let key = kernel.keys.keys[serial]
                let payload =
                    key?.type == "mktme"
                    ? (design == .rfcV2 ? "type=cpu algorithm=aes-xts-128" : "type=cpu") : "new payload \(rng.next())"
                try kernel.keys.updateKey(serial, payload: SecretBytes(Array(payload.utf8)), pid: shell)
            }
        case 2: stats.record { try kernel.keys.revoke(serial, pid: shell) }
        case 3:
            let (address, length) = range(in: pid, &rng, pageAligned: false)
            stats.record { _ = try kernel.readMemory(pid: pid, address: address, count: Int(length)) }
        case 4:
            let (address, length) = range(in: pid, &rng, pageAligned: false)
            stats.record {
                try kernel.writeMemory(pid: pid, address: address, SecretBytes(count: Int(min(length, 0x3000))))
            }
        case 5:
            let (address, length) = range(in: pid, &rng, pageAligned: true)
            stats.record { try kernel.munmap(pid: pid, address: address, length: length) }
        case 6:
            let (address, length) = range(in: pid, &rng, pageAligned: true)
            let protection = pick(Protection.allCases, &rng)!
            stats.record { try kernel.mprotect(pid: pid, address: address, length: length, protection: protection) }
        case 7: stats.record { try kernel.createProcess(parent: pid, exec: false) }
        case 8:
            if pid != ProcessTable.initPID, pid != shell || rng.next() % 8 == 0 {
                stats.record { try kernel.exitProcess(pid) }
            }
        case 9:
            let (address, length) = range(in: pid, &rng, pageAligned: true)
            let mktme = serials.filter { kernel.keys.keys[$0]?.type == "mktme" } + [0]
            let key = pick(mktme, &rng)!
            stats.record {
                try kernel.encryptMprotect(pid: pid, address: address, length: length, protection: .rw, serial: key)
            }
        case 10:
            let name = pick(["plain", "locked"], &rng)!
            let offset = rng.next() % 0x9000
            stats.record {
                _ = try kernel.crypt.read(name, offset: offset, count: Int(rng.next() % 2048) + 1, as: shell)
            }
        case 11:
            let name = pick(["plain", "locked"], &rng)!
            let offset = rng.next() % 0x9000
            let data = [UInt8](repeating: 0xC3, count: Int(rng.next() % 1500) + 1)
            stats.record {
                try data.withUnsafeBytes { try kernel.crypt.write(name, offset: offset, data: $0, as: shell) }
            }
        case 12: suspendAndResume(&rng, &stats)
        case 13: if rng.next() % 3 == 0 { hibernateAndPowerOn(&rng, &stats) }
        case 14:
            let cpu = Int(rng.next() % UInt64(kernel.processors.count))
            stats.record { try kernel.setCPU(cpu, online: !kernel.onlineCPUs[cpu]) }
        case 15, 16:
            let paths = [
                "/proc/keys", "/proc/key-users", "/proc/\(pid)/smaps", "/proc/\(pid)/maps", "/proc/meminfo",
                "/sys/kernel/mm/mktme/keyid_map", "/sys/kernel/mm/mktme/keyids_used", "/sys/kernel/keylocker/status",
                "/sys/kernel/keylocker/mode",
            ]
            let path = pick(paths, &rng)!
            stats.record { _ = try kernel.sysfsRead(path) }
        case 17:
            let (address, _) = range(in: pid, &rng, pageAligned: false)
            stats.record { _ = try kernel.translate(pid: pid, address: address) }
        case 18:
            stats.record {
                _ = try kernel.mmap(
                    pid: pid,
                    length: (rng.next() % 8 + 1) << 12,
                    protection: .rw,
                    shared: rng.next() % 3 == 0
                )
            }
        case 19: stats.record { _ = try kernel.keys.describe(serial, pid: shell) }
        case 20:
            let mode = pick(["native_kernel_key_remember", "native_kernel_key_backup", "disabled"], &rng)!
            stats.record { try kernel.keyLockerManager.setMode(mode) }
        case 21:
            stats.record {
                _ = try kernel.add("user", "fresh\(rng.next() % 4)", "payload \(rng.next())")
            }
        case 22:
            machine.advance(nanoseconds: 400_000_000_000)
            stats.record { kernel.runDueWork() }
        default:
            let name = pick(["plain", "locked"], &rng)!
            let key = SecretBytes((0..<64).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
            stats.record { try kernel.crypt.open(name, key: key, as: shell) }
        }
        stats.oopses = max(stats.oopses, 0)
    }

    /// S3 as the workspace sequences it, with DRAM corrupted while the machine sleeps now and then.
    func suspendAndResume(_ rng: inout SplitMix64, _ stats: inout FuzzStats) {
        stats.record {
            try kernel.prepareForSleep(.suspendToRAM)
            try machine.power(.suspend)
            if rng.next() % 2 == 0, let frame = pick(frames(.kernelHeap), &rng) {
                let address = frame << 12 + (rng.next() % 512) * 8
                withUnsafeBytes(of: rng.next()) { machine.dram.write(address, from: $0) }
            }
            try machine.power(.resume)
            try kernel.resumed(from: .suspendToRAM)
        }
    }

    /// S4 and power-on as the workspace sequences them (`RequestContext.powerTransition`), with words of the
    /// image on swap corrupted in between: a resume that fails discards the image, resets the platform and
    /// boots afresh.
    func hibernateAndPowerOn(_ rng: inout SplitMix64, _ stats: inout FuzzStats) {
        do {
            try kernel.prepareForSleep(.hibernate)
        } catch {
            stats.record { throw error }
            return
        }
        stats.record { try machine.power(.hibernate) }
        if let swap = machine.emulatedDisk(named: "swap"), let header = Self.imageBlocks(swap) {
            for _ in 0..<(1 + Int(rng.next() % 4)) {
                let block: UInt64 =
                    switch rng.next() % 4 {
                    case 0: 0
                    case 1: 1 + rng.next() % max(header.tableBlock - 1, 1)
                    case 2: header.tableBlock + rng.next() % max(header.dataBlock - header.tableBlock, 1)
                    default: header.dataBlock + rng.next() % max(header.blocksUsed - header.dataBlock, 1)
                    }
                let offset = block * 4096 + (rng.next() % 512) * 8
                guard offset + 8 <= swap.size else { continue }
                if block >= 1, block < header.tableBlock, rng.next() % 2 == 0 {
                    // The kernel state (JSON): a number changed in place.
                    var state = Data(count: 4096)
                    state.withUnsafeMutableBytes { swap.read(block * 4096, into: $0) }
                    Self.mutateDigits(&state, &rng)
                    state.withUnsafeBytes { swap.write(block * 4096, from: $0) }
                } else {
                    withUnsafeBytes(of: corruptWord(rng.next(), &rng)) { swap.write(offset, from: $0) }
                }
            }
        }
        let commandLine = machine.configuration.effectiveKernelCommandLine
        stats.record {
            try machine.power(.on)
            do {
                if let resumed = try Kernel.resumeFromHibernation(platform: machine, commandLine: commandLine) {
                    kernel = resumed
                    return
                }
            } catch {
                // A refused image (an HWKeysError: typed throws) is discarded and the machine boots afresh.
                Kernel.discardHibernationImage(on: machine, commandLine: commandLine)
                try machine.power(.reset)
            }
            kernel = try Kernel.boot(platform: machine, commandLine: commandLine)
            rebooted = true
        }
    }

    /// The block layout of the valid image on `swap`, if any.
    static func imageBlocks(_ swap: EmulatedDisk) -> SwapHibernation.Header? { SwapHibernation.header(on: swap) }

    /// What a successful command commits: the kernel's and the platform's images must encode.
    func persist(_ stats: inout FuzzStats) {
        stats.oopses += kernel.log.lines.filter { $0.text.hasPrefix("BUG:") }.count
        do {
            _ = try kernel.encodeState()
        } catch {
            stats.unexpected.append("case \(caseNumber): encodeState failed: \(error)")
        }
        var image = machine.makeImage()
        image.wipe()
    }
}
