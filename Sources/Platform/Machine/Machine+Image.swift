//===----------------------------------------------------------------------===//
//
// hwkeys: Platform
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase

/// A machine's state outside DRAM, in two parts (docs/design.md "Persistence"):
/// - `volatile`: what a power loss may erase (processors, caches, key tables, TME MSRs, power state,
///   counters, armed faults);
/// - `nonVolatile`: what outlives power events (the IWKey backup storage, the emulated clock, the entropy
///   position, the list of disks).
/// DRAM pages are saved separately, page by page (``DRAM/dirtyFrames``), and so are disk blocks
/// (``EmulatedDisk/dirtyBlocks``).
///
/// Both parts hold emulated-hardware secrets (key tables, IWKeys): they go only to the 0600 state file.
public struct PlatformImage {
    public var volatile: [UInt8]
    public var nonVolatile: [UInt8]

    public init(volatile: [UInt8], nonVolatile: [UInt8]) {
        self.volatile = volatile
        self.nonVolatile = nonVolatile
    }

    /// Zeroes both parts (they hold IWKeys, MKTME keys, XMM registers and cached plaintext) once the caller
    /// has stored or decoded them. Works in place on buffers this image alone refers to, as those
    /// ``Machine/makeImage()`` returns: a copy someone kept is that holder's to wipe.
    public mutating func wipe() {
        for part in [\PlatformImage.volatile, \PlatformImage.nonVolatile] {
            self[keyPath: part].withUnsafeMutableBytes { bytes in
                for index in bytes.indices { bytes[index] = 0 }
            }
        }
    }
}

extension Machine {
    /// Encodes the machine's state (not DRAM). The same state always gives the same bytes. The encoder's
    /// outgrown buffers are zeroed (``ImageWriter``); the caller wipes the image (``PlatformImage/wipe()``)
    /// when it has stored it.
    public func makeImage() -> PlatformImage { makeImage(retiredBufferObserver: nil) }

    /// ``makeImage()`` with a test seam that sees each buffer the encoders outgrew (zeroed).
    func makeImage(retiredBufferObserver: ((UnsafeRawBufferPointer) -> Void)?) -> PlatformImage {
        var volatile = ImageWriter()
        volatile.retiredBufferObserver = retiredBufferObserver
        volatile.section("machine", version: 1)
        volatile.string(powerState.rawValue)
        volatile.u32(UInt32(processors.count))
        for processor in processors { processor.encode(into: &volatile) }
        memory.encode(into: &volatile)
        tme.encode(into: &volatile)
        counters.encode(into: &volatile)
        faults.encode(into: &volatile)

        var nonVolatile = ImageWriter()
        nonVolatile.retiredBufferObserver = retiredBufferObserver
        nonVolatile.section("platform-nv", version: 2)
        nonVolatile.u64(nanoseconds)
        nonVolatile.optional((entropy as? SeededEntropySource)?.blocksConsumed) { $0.u64($1) }
        iwKeyBackup.encode(into: &nonVolatile)
        blockDevices.encode(into: &nonVolatile)
        return PlatformImage(volatile: volatile.bytes, nonVolatile: nonVolatile.bytes)
    }

    /// Rebuilds a machine from its configuration, an image made by ``makeImage()``, its stored DRAM and its
    /// stored disk blocks. Images of `platform-nv` version 1 (before disks existed) load with no disks.
    public static func restore(
        configuration: MachineConfiguration,
        image: PlatformImage,
        pageSource: (any DRAMPageSource)?,
        diskSource: (any BlockDevicePageSource)? = nil
    ) throws(HWKeysError) -> Machine {
        do {
            try configuration.validate()
        } catch {
            throw .unreadableImage("stored machine configuration is invalid: \(error.message)")
        }
        var nv = ImageReader(image.nonVolatile)
        let nvVersion = try nv.section("platform-nv", maxVersion: 2)
        let clock = try nv.u64()
        let blocks = try nv.optional { (reader: inout ImageReader) throws(HWKeysError) in try reader.u64() }
        let entropy: any EntropySource
        switch (configuration.seed, blocks) {
        case (let seed?, let blocks?): entropy = SeededEntropySource(seed: seed, blocksConsumed: blocks)
        case (nil, nil): entropy = SystemEntropySource()
        default: throw .unreadableImage("machine image entropy state does not match its configuration")
        }
        let machine = Machine(
            restoring: configuration,
            entropy: entropy,
            pageSource: pageSource,
            diskSource: diskSource
        )
        machine.nanoseconds = clock
        try machine.iwKeyBackup.decode(from: &nv)
        if nvVersion >= 2 { machine.blockDevices = try BlockDeviceSet.decode(from: &nv, pageSource: diskSource) }
        try nv.expectEnd()

        var v = ImageReader(image.volatile)
        try v.section("machine", maxVersion: 1)
        guard let state = PowerState(rawValue: try v.string()) else {
            throw .unreadableImage("machine image: unknown power state")
        }
        machine.powerState = state
        guard Int(try v.u32()) == machine.processors.count else {
            throw .unreadableImage("machine image processor count does not match its configuration")
        }
        for processor in machine.processors { try processor.decode(from: &v) }
        try machine.memory.decode(from: &v, machine: machine)
        // Firmware restores keys saved for standby with key select = 1 under the configured policy; saved keys
        // it could not restore would make that WRMSR fault (a stored image is attacker-writable).
        if configuration.tmeEnabled, let saved = machine.memory.standbyKeyAlgorithm,
            saved != configuration.tmePolicy || !machine.memory.everyControllerHasATMEKey
        {
            throw .unreadableImage("machine image: the keys saved for standby do not match the TME policy")
        }
        try machine.tme.decode(from: &v)
        machine.counters = try CycleCounters.decode(from: &v)
        machine.faults = try FaultInjection.decode(from: &v, packages: configuration.packages)
        try v.expectEnd()
        return machine
    }
}
