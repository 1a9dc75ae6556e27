//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase
import KernelInterfaces
import X86

/// What `crypt status` and `crypt list` show of a volume: never key bytes.
public struct CryptVolumeStatus: Sendable, Hashable {
    /// The volume's name, which is also its backing disk's name.
    public let name: String
    /// The cipher specification.
    public let cipher: CryptCipher
    /// Payload size in bytes.
    public let size: UInt64
    /// Bytes per sector, the XTS data unit: 512 or 4096.
    public let sectorSize: Int
    /// Where the payload starts on the disk (after the header), in bytes.
    public let payloadOffset: UInt64
    /// Whether the volume is open (mapped): reads and writes work.
    public let isOpen: Bool
    /// Whether the kernel holds the key in its memory (`aes-xts-plain64` while open).
    public let holdsKey: Bool
    /// Whether the kernel holds Key Locker handles (`aes-xts-kl-plain64` while open).
    public let holdsHandles: Bool
}

/// Crypt volumes: dm-crypt-like block devices encrypted with AES-256-XTS over 512- or 4096-byte sectors
/// and plain64 tweaks, with the key either in kernel memory or turned into Key Locker handles (docs/contract.md §7
/// "Key Locker users"; docs/crypt-volumes.md).
///
/// Each volume lives on its own emulated disk, named like the volume: a 4 KiB header without key
/// material (``CryptHeader``) and then the encrypted payload. The header makes the volume's metadata —
/// name, cipher, size — as non-volatile as the disk: after power off/on, boot finds the volume again,
/// closed. Open state and key material are kernel memory and die with it.
///
/// While a volume is open the kernel keeps, in emulated DRAM (rule 3): for `aes-xts-plain64` the 64-byte
/// key (as dm-crypt keeps `cc->key`); for `aes-xts-kl-plain64` two 64-byte CPL0-only handles, the key
/// having been wiped right after ENCODEKEY256. The subsystem's Swift state holds only addresses.
///
/// Every operation needs CAP_SYS_ADMIN (root), like the device-mapper ioctls (EACCES otherwise).
public final class CryptVolumes: KeyLockerUser {
    unowned let kernel: Kernel

    /// One volume's bookkeeping.
    struct Volume: Codable, Sendable, Hashable {
        var cipher: CryptCipher
        /// Payload size in sectors.
        var sectors: UInt64
        /// Bytes per sector: 512 or 4096. Saved only when not 512, so kernel states saved before 4 KiB
        /// sectors existed decode unchanged (their volumes are 512-byte volumes).
        var sectorSize: Int = 512
        /// The key K1 ‖ K2 in kernel memory (`aes-xts-plain64`, while open).
        var key: KernelAllocation?
        /// The data-key handle then the tweak-key handle, 128 bytes of kernel memory
        /// (`aes-xts-kl-plain64`, while open).
        var handles: KernelAllocation?

        var isOpen: Bool { key != nil || handles != nil }
        var size: UInt64 { sectors * UInt64(sectorSize) }
        /// How far the plain64 IV advances per sector: dm-crypt counts IVs in 512-byte units
        /// (`iv_large_sectors` off, as LUKS2 activates it), so a 4096-byte sector advances it by 8.
        var ivStep: UInt64 { UInt64(sectorSize / 512) }

        init(
            cipher: CryptCipher,
            sectors: UInt64,
            sectorSize: Int = 512,
            key: KernelAllocation? = nil,
            handles: KernelAllocation? = nil
        ) {
            self.cipher = cipher
            self.sectors = sectors
            self.sectorSize = sectorSize
            self.key = key
            self.handles = handles
        }

        enum CodingKeys: String, CodingKey {
            case cipher, sectors, sectorSize, key, handles
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            cipher = try container.decode(CryptCipher.self, forKey: .cipher)
            sectors = try container.decode(UInt64.self, forKey: .sectors)
            sectorSize = try container.decodeIfPresent(Int.self, forKey: .sectorSize) ?? 512
            key = try container.decodeIfPresent(KernelAllocation.self, forKey: .key)
            handles = try container.decodeIfPresent(KernelAllocation.self, forKey: .handles)
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(cipher, forKey: .cipher)
            try container.encode(sectors, forKey: .sectors)
            if sectorSize != 512 { try container.encode(sectorSize, forKey: .sectorSize) }
            try container.encodeIfPresent(key, forKey: .key)
            try container.encodeIfPresent(handles, forKey: .handles)
        }
    }

    /// Volumes by name. (A kernel runs on one thread at a time, and no access to this table overlaps
    /// another: the per-request dynamic exclusivity check is skipped.)
    @exclusivity(unchecked) private(set) var volumes = StableDictionary<String, Volume>()
    /// The disk of the volume the last request used: disks are never detached (``KernelPlatform`` has no
    /// detach), so a name keeps its disk, and the next request on the same volume skips the platform's
    /// lookup by name.
    @exclusivity(unchecked) var lastDisk: (name: String, disk: any BlockDevice)?
    /// True once ``restore(_:)`` loaded saved state (otherwise start-up scans the disks).
    private var restoredState = false
    /// Work space of the sector path (host-side, transient data only).
    let scratch = CryptScratch()

    /// The most bytes one read or write may move (the CLI's 16 MiB limit for raw views).
    public static let maximumIO = 16 << 20

    init(kernel: Kernel) {
        self.kernel = kernel
    }

    // MARK: Start-up and saved state

    /// Registers the subsystem. On boot (or when restoring a kernel saved before crypt volumes existed)
    /// every disk with a valid header becomes a closed volume, as udev and crypttab find volumes at boot.
    func start(booting: Bool) {
        kernel.keyLockerUsers.append(self)
        guard booting || !restoredState else { return }
        volumes = StableDictionary()
        for disk in kernel.platform.disks where disk.size > UInt64(CryptHeader.size) {
            var bytes = [UInt8](repeating: 0, count: CryptHeader.size)
            bytes.withUnsafeMutableBytes { disk.read(0, into: $0) }
            guard let header = CryptHeader(bytes) else { continue }
            let available = (disk.size - UInt64(CryptHeader.size)) / UInt64(header.sectorSize)
            guard header.sectors <= available else {
                kernel.printk(
                    "device-mapper: crypt",
                    "\(disk.name): header claims more sectors than the disk has; ignored"
                )
                continue
            }
            volumes[disk.name] = Volume(cipher: header.cipher, sectors: header.sectors, sectorSize: header.sectorSize)
            if booting {
                kernel.printk(
                    "device-mapper: crypt",
                    "found volume \(disk.name) (\(header.cipher.rawValue), \(header.sectors) sectors of "
                        + "\(header.sectorSize) bytes), closed"
                )
            }
        }
    }

    /// The saved form: names, ciphers, sizes and where key material lives — never key bytes.
    struct SavedState: Codable, Sendable, Hashable {
        var volumes: StableDictionary<String, Volume>
    }

    func savedState() -> SavedState { SavedState(volumes: volumes) }

    func restore(_ saved: SavedState) throws(HWKeysError) {
        for (name, volume) in saved.volumes.sorted {
            // The saved state may come from an attacker-writable disk (the hibernation image): check the
            // sector count against the disk before computing any size from it.
            guard CryptHeader.sectorSizes.contains(volume.sectorSize) else {
                throw HWKeysError(.EINVAL, "saved crypt volume \(name) has sector size \(volume.sectorSize)")
            }
            guard let disk = kernel.platform.disk(named: name), disk.size >= UInt64(CryptHeader.size),
                volume.sectors > 0,
                volume.sectors <= (disk.size - UInt64(CryptHeader.size)) / UInt64(volume.sectorSize)
            else { throw HWKeysError(.EINVAL, "saved crypt volume \(name) has no matching disk") }
            guard volume.cipher.usesKeyLocker ? volume.key == nil : volume.handles == nil,
                volume.key.map({ $0.length == CryptCipher.keyLength }) ?? true,
                volume.handles.map({ $0.length == 128 }) ?? true
            else { throw HWKeysError(.EINVAL, "saved crypt volume \(name) is inconsistent") }
        }
        volumes = saved.volumes
        restoredState = true
    }

    // MARK: KeyLockerUser

    /// True while any `aes-xts-kl-plain64` volume is open (it holds handles): the Key Locker mode cannot
    /// change then (docs/contract.md §7, EBUSY).
    public var holdsKeyLockerHandles: Bool { volumes.values.contains { $0.handles != nil } }

    // MARK: Queries

    /// Status of one volume (ENOENT if there is none).
    public func status(_ name: String, as pid: Int32) throws(HWKeysError) -> CryptVolumeStatus {
        try requireAdmin(pid)
        return Self.status(name, try volume(name))
    }

    /// Every volume, by name.
    public func list(as pid: Int32) throws(HWKeysError) -> [CryptVolumeStatus] {
        try requireAdmin(pid)
        return volumes.sorted.map { Self.status($0.key, $0.value) }
    }

    private static func status(_ name: String, _ volume: Volume) -> CryptVolumeStatus {
        CryptVolumeStatus(
            name: name,
            cipher: volume.cipher,
            size: volume.size,
            sectorSize: volume.sectorSize,
            payloadOffset: UInt64(CryptHeader.size),
            isOpen: volume.isOpen,
            holdsKey: volume.key != nil,
            holdsHandles: volume.handles != nil
        )
    }

    // MARK: create, open, close

    /// `crypt create`: attaches a new disk of header + `size` bytes, writes the header and opens the volume
    /// with `key` (cryptsetup's format-then-open in one step). Checks everything before changing anything.
    ///
    /// - Parameters:
    ///   - sectorSize: the encryption sector (XTS data unit), 512 or 4096 bytes (cryptsetup `--sector-size`,
    ///     dm-crypt `sector_size:`); the plain64 IV counts 512-byte units either way.
    /// - Throws: EACCES (not root); EINVAL (bad name, sector size not 512 or 4096, size not whole sectors or
    ///   above 64 GiB, key not 64 bytes); EEXIST (a volume or disk of that name); ENODEV
    ///   (`aes-xts-kl-plain64` without a valid Key Locker); EOPNOTSUPP (Key Locker cannot make CPL0-only
    ///   handles); ENOMEM.
    public func create(
        _ name: String,
        size: UInt64,
        cipher: CryptCipher,
        sectorSize: Int = 512,
        key: SecretBytes,
        as pid: Int32
    ) throws(HWKeysError) {
        try requireAdmin(pid)
        guard CryptHeader.sectorSizes.contains(sectorSize) else {
            throw .einval("the sector size is 512 or 4096 bytes, not \(sectorSize)")
        }
        guard size > 0, size % UInt64(sectorSize) == 0,
            size <= DiskLimits.maximumSize - UInt64(CryptHeader.size)
        else {
            throw .einval(
                "volume sizes are whole \(sectorSize)-byte sectors, at most 64 GiB less the 4 KiB header"
            )
        }
        try Self.checkKey(key)
        guard volumes[name] == nil, kernel.platform.disk(named: name) == nil else {
            throw HWKeysError(.EEXIST, "a volume or disk named '\(name)' exists")
        }
        // The disk name rules are the volume name rules; ask before anything changes.
        if let problem = DiskLimits.nameProblem(name) { throw .einval(problem) }
        // The swap device is found by the name `resume=` gives (even when no such disk exists yet): a
        // volume of that name would be overwritten by the next hibernation image.
        guard name != kernel.resumeDevice else {
            throw .einval("'\(name)' is reserved for the swap device (resume=)")
        }

        let material = try prepareKeyMaterial(cipher: cipher, key: key)
        let disk: any BlockDevice
        do {
            disk = try kernel.platform.attachDisk(named: name, size: UInt64(CryptHeader.size) + size)
        } catch {
            // Name and size were checked above; what is left is the machine's disk limit.
            release(material)
            throw HWKeysError(.ENOSPC, error.message)
        }
        let sectors = size / UInt64(sectorSize)
        let header = CryptHeader(cipher: cipher, sectors: sectors, sectorSize: sectorSize).encoded()
        header.withUnsafeBytes { disk.write(0, from: $0) }
        volumes[name] = Volume(
            cipher: cipher,
            sectors: sectors,
            sectorSize: sectorSize,
            key: material.key,
            handles: material.handles
        )
        kernel.printk(
            "device-mapper: crypt",
            "created \(name): \(cipher.rawValue), \(sectors) sectors"
                + (sectorSize == 512 ? "" : " of \(sectorSize) bytes") + ", opened"
        )
    }

    /// `crypt open`: maps the volume with `key`. Opening an open volume replaces its key material (like
    /// `cryptsetup refresh`): that is how an `aes-xts-kl-plain64` volume recovers after its handles stopped
    /// working (IWKey changed); after a reboot volumes start closed. There is no key check (dm-crypt plain
    /// mode keeps no digest): a wrong key opens and reads garbage.
    ///
    /// - Throws: EACCES, ENOENT, EINVAL (key not 64 bytes), ENODEV / EOPNOTSUPP (Key Locker), ENOMEM.
    public func open(_ name: String, key: SecretBytes, as pid: Int32) throws(HWKeysError) {
        try requireAdmin(pid)
        var volume = try volume(name)
        try Self.checkKey(key)
        let material = try prepareKeyMaterial(cipher: volume.cipher, key: key)
        let wasOpen = volume.isOpen
        release((volume.key, volume.handles))
        volume.key = material.key
        volume.handles = material.handles
        volumes[name] = volume
        kernel.printk("device-mapper: crypt", "\(wasOpen ? "reopened" : "opened") \(name) (\(volume.cipher.rawValue))")
    }

    /// `crypt close`: unmaps the volume and wipes its key material from kernel memory (`kfree_sensitive`).
    ///
    /// - Throws: EACCES, ENOENT, ENXIO (not open).
    public func close(_ name: String, as pid: Int32) throws(HWKeysError) {
        try requireAdmin(pid)
        var volume = try volume(name)
        guard volume.isOpen else { throw HWKeysError(.ENXIO, "volume \(name) is not open") }
        release((volume.key, volume.handles))
        volume.key = nil
        volume.handles = nil
        volumes[name] = volume
        kernel.printk("device-mapper: crypt", "closed \(name)")
    }

    // MARK: Helpers

    func volume(_ name: String) throws(HWKeysError) -> Volume {
        guard let volume = volumes[name] else { throw HWKeysError(.ENOENT, "no crypt volume named '\(name)'") }
        return volume
    }

    func requireAdmin(_ pid: Int32) throws(HWKeysError) {
        guard try kernel.processes.process(pid).credentials.isPrivileged else {
            throw .eacces("crypt volumes need CAP_SYS_ADMIN")
        }
    }

    private static func checkKey(_ key: SecretBytes) throws(HWKeysError) {
        guard key.count == CryptCipher.keyLength else {
            throw .einval("AES-256-XTS takes a \(CryptCipher.keyLength)-byte key (K1 ‖ K2), got \(key.count) bytes")
        }
    }

    /// Frees (zeroes) key material. Released handles also take their unwrapped keys with them: every
    /// processor drops the AES key schedules its Key Locker unit unwrapped and kept (a host-side cache that
    /// silicon does not have, ``X86/X86Processor/discardUnwrappedKeys()``), so a closed volume's key
    /// schedule does not outlive the volume in host memory (issue 11).
    private func release(_ material: (key: KernelAllocation?, handles: KernelAllocation?)) {
        if let key = material.key { kernel.freeKernelMemory(key) }
        if let handles = material.handles {
            kernel.freeKernelMemory(handles)
            for processor in kernel.processors { processor.discardUnwrappedKeys() }
        }
    }

    /// The key material an open volume keeps: the key itself in kernel memory (`aes-xts-plain64`), or two
    /// CPL0-only handles made with ENCODEKEY256 on the kernel's CPU, the key wiped (`aes-xts-kl-plain64`).
    private func prepareKeyMaterial(
        cipher: CryptCipher,
        key: SecretBytes
    ) throws(HWKeysError) -> (key: KernelAllocation?, handles: KernelAllocation?) {
        guard cipher.usesKeyLocker else { return (try kernel.storeInKernelMemory(key), nil) }
        guard let keyLocker = kernel.keyLocker else {
            throw HWKeysError(.ENODEV, "Key Locker is not available (no Key Locker hardware or manager)")
        }
        try keyLocker.requireValid()
        // The aeskl cipher is built from the WIDE instructions (the Linux driver requires them,
        // docs/research/keylocker-research.md §2.5): without WIDE_KL there is no such cipher.
        guard kernel.cpu.cpuid(leaf: CPUIDLeaf.keyLockerLeaf, subleaf: 0).ebx & CPUIDBit.klWideEBX != 0 else {
            throw HWKeysError(
                .EOPNOTSUPP,
                "aes-xts-kl-plain64 needs the WIDE Key Locker instructions (CPUID.19H:EBX[2])"
            )
        }
        // The key arrives in kernel memory (the dm ioctl buffer), goes into XMM registers for ENCODEKEY256
        // and is wiped right after (kfree_sensitive).
        let stored = try kernel.storeInKernelMemory(key)
        defer { kernel.freeKernelMemory(stored) }
        let handles = try kernel.allocateKernelMemory(128)
        do {
            try encodeHandles(from: stored, into: handles)
        } catch {
            kernel.freeKernelMemory(handles)
            throw error
        }
        return (nil, handles)
    }

    /// ENCODEKEY256 of K1 then K2 (each 32 bytes: XMM0 = bytes 0–15, XMM1 = bytes 16–31) with the CPL0-only
    /// restriction; each 64-byte handle (XMM0–3) is stored to kernel memory, and XMM0–6 are cleared.
    private func encodeHandles(from key: KernelAllocation, into handles: KernelAllocation) throws(HWKeysError) {
        let cpu = kernel.cpu
        let secret = kernel.readKernelMemory(key)
        defer { secret.wipe() }
        let handle = SecretBytes(count: 64)
        defer { handle.wipe() }
        for half in 0..<2 {
            do {
                cpu.withXMMRegisters { xmm in
                    secret.withUnsafeBytes { bytes in
                        xmm.baseAddress!.copyMemory(from: bytes.baseAddress! + 32 * half, byteCount: 32)
                    }
                }
                _ = try cpu.encodekey256(src: KeyLockerEncoding.restrictCPL0)
                handle.withUnsafeMutableBytes { out in
                    cpu.withXMMRegisters { xmm in out.copyMemory(from: UnsafeRawBufferPointer(rebasing: xmm[0..<64])) }
                }
                cpu.withXMMRegisters { xmm in
                    _ = xmm.baseAddress!.initializeMemory(as: UInt8.self, repeating: 0, count: 112)
                }
            } catch {
                cpu.withXMMRegisters { xmm in
                    _ = xmm.baseAddress!.initializeMemory(as: UInt8.self, repeating: 0, count: 112)
                }
                throw Self.keyLockerError(error)
            }
            kernel.writeKernelMemory(handles, handle, offset: 64 * half)
        }
    }

    /// A Key Locker instruction fault as the crypt target reports it: #UD (CR4.KL clear, Key Locker gone)
    /// is ENODEV; #GP (CPL0-only restriction unsupported) is EOPNOTSUPP.
    static func keyLockerError(_ fault: X86Fault) -> HWKeysError {
        switch fault.vector {
        case .generalProtection:
            HWKeysError(.EOPNOTSUPP, "Key Locker refused CPL0-only handles (\(fault.mnemonic))")
        default:
            HWKeysError(.ENODEV, "Key Locker is not usable on the kernel's CPU (\(fault.mnemonic))")
        }
    }
}
