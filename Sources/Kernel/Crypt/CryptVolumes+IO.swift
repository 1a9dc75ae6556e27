//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase
import KernelInterfaces
import X86

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension CryptVolumes {
    /// `crypt write`: encrypts `data` into the volume at byte `offset`.
    ///
    /// Sectors are the unit of encryption (512 or 4096 bytes, the IV = plain64 of the sector's first
    /// 512-byte unit). dm-crypt only ever sees whole sectors because the block layer aligns requests; hwkeys
    /// accepts any offset and length and does the block layer's read-modify-write: a partly written first
    /// or last sector is read and decrypted, patched, and encrypted again with everything else in one bulk
    /// pass. Nothing reaches the disk unless the whole request encrypted.
    ///
    /// - Throws: EACCES, ENOENT, ENXIO (not open), EINVAL (empty or above 16 MiB), ENOSPC (past the end),
    ///   ENODEV (Key Locker lost or the handles rejected: reopen with the key).
    public func write(_ name: String, offset: UInt64, data: UnsafeRawBufferPointer, as pid: Int32) throws(HWKeysError) {
        let (volume, disk) = try prepareIO(name, as: pid)
        guard !data.isEmpty, data.count <= Self.maximumIO else {
            throw .einval("a write moves 1 to \(Self.maximumIO) bytes, got \(data.count)")
        }
        guard offset <= volume.size, UInt64(data.count) <= volume.size - offset else {
            throw HWKeysError(
                .ENOSPC,
                "write of \(data.count) bytes at \(offset) ends past the volume (\(volume.size) bytes)"
            )
        }
        let unit = volume.sectorSize
        let sectorSize = UInt64(unit)
        let first = offset / sectorSize
        let last = (offset + UInt64(data.count) - 1) / sectorSize
        let count = Int(last - first + 1)
        let head = Int(offset % sectorSize)
        let tail = Int((offset + UInt64(data.count)) % sectorSize)
        // Whole sectors leave only ciphertext (or the caller's own data) behind; partial ones decrypt other
        // plaintext into the buffer, so it is wiped.
        try withSectorBuffer(count * unit, wipe: head != 0 || tail != 0) { (buffer) throws(HWKeysError) in
            if head != 0 {
                try readSectors(
                    volume,
                    disk,
                    first: first,
                    into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<unit])
                )
            }
            if tail != 0, last != first || head == 0 {
                try readSectors(
                    volume,
                    disk,
                    first: last,
                    into: UnsafeMutableRawBufferPointer(rebasing: buffer[(count - 1) * unit..<count * unit])
                )
            }
            (buffer.baseAddress! + head).copyMemory(from: data.baseAddress!, byteCount: data.count)
            try transform(volume, buffer, firstSector: first, encrypt: true)
            disk.write(UInt64(CryptHeader.size) + first * sectorSize, from: UnsafeRawBufferPointer(buffer))
        }
    }

    /// `crypt read`: decrypts `count` bytes of the volume from byte `offset` (any alignment).
    ///
    /// - Throws: EACCES, ENOENT, ENXIO (not open), EINVAL (empty, above 16 MiB, or past the end),
    ///   ENODEV (Key Locker lost or the handles rejected).
    public func read(_ name: String, offset: UInt64, count: Int, as pid: Int32) throws(HWKeysError) -> [UInt8] {
        let (volume, disk) = try prepareIO(name, as: pid)
        guard count > 0, count <= Self.maximumIO else {
            throw .einval("a read moves 1 to \(Self.maximumIO) bytes, got \(count)")
        }
        guard offset <= volume.size, UInt64(count) <= volume.size - offset else {
            throw .einval("read of \(count) bytes at \(offset) ends past the volume (\(volume.size) bytes)")
        }
        let unit = volume.sectorSize
        let sectorSize = UInt64(unit)
        let first = offset / sectorSize
        let last = (offset + UInt64(count) - 1) / sectorSize
        if offset % sectorSize == 0, count % unit == 0 {
            // Whole sectors: decrypt straight into the result.
            var failure: HWKeysError?
            let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
                let raw = UnsafeMutableRawBufferPointer(buffer)
                do throws(HWKeysError) {
                    try readSectors(volume, disk, first: first, into: raw)
                } catch {
                    raw.initializeMemory(as: UInt8.self, repeating: 0)
                    failure = error
                }
                initialized = count
            }
            if let failure { throw failure }
            return bytes
        }
        return try withSectorBuffer(Int(last - first + 1) * unit, wipe: true) {
            (buffer) throws(HWKeysError) -> [UInt8] in
            try readSectors(volume, disk, first: first, into: buffer)
            let head = Int(offset % sectorSize)
            return Array(UnsafeRawBufferPointer(rebasing: buffer[head..<head + count]))
        }
    }

    // MARK: The sector path

    /// The open volume and its disk, after the checks every I/O makes.
    private func prepareIO(_ name: String, as pid: Int32) throws(HWKeysError) -> (Volume, any BlockDevice) {
        try requireAdmin(pid)
        let volume = try self.volume(name)
        guard volume.isOpen else {
            throw HWKeysError(.ENXIO, "volume \(name) is not open (crypt open \(name) --key …)")
        }
        if let cached = lastDisk, cached.name == name { return (volume, cached.disk) }
        guard let disk = kernel.platform.disk(named: name) else {
            throw HWKeysError(.EIO, "the disk of volume \(name) is missing")
        }
        lastDisk = (name, disk)
        return (volume, disk)
    }

    /// A scratch buffer of `bytes` bytes (every byte is written before it is read), wiped afterwards when
    /// it may hold plaintext: when `wipe` is set, and always after a failure.
    private func withSectorBuffer<R>(
        _ bytes: Int,
        wipe: Bool,
        _ body: (UnsafeMutableRawBufferPointer) throws(HWKeysError) -> R
    ) throws(HWKeysError) -> R {
        let buffer = scratch.sectorBuffer(bytes)
        do {
            let result = try body(buffer)
            if wipe { buffer.initializeMemory(as: UInt8.self, repeating: 0) }
            return result
        } catch {
            // A failed request may leave plaintext half-processed in the buffer.
            buffer.initializeMemory(as: UInt8.self, repeating: 0)
            throw error
        }
    }

    /// Reads whole sectors from the disk and decrypts them into `buffer`.
    private func readSectors(
        _ volume: Volume,
        _ disk: any BlockDevice,
        first: UInt64,
        into buffer: UnsafeMutableRawBufferPointer
    ) throws(HWKeysError) {
        disk.read(UInt64(CryptHeader.size) + first * UInt64(volume.sectorSize), into: buffer)
        try transform(volume, buffer, firstSector: first, encrypt: false)
    }

    /// AES-256-XTS of whole sectors in place, volume sector `firstSector + s` with the plain64 IV
    /// `(firstSector + s) · sectorSize / 512` (dm-crypt without `iv_large_sectors`, as LUKS2 activates 4 KiB
    /// sectors: docs/crypt-volumes.md "Sector size and IV"), with the volume's cipher: the key read from
    /// kernel memory and the AES-NI engine, or the handles read from kernel memory and AES*KL instructions
    /// on the kernel's CPU. The work space that held tweaks is wiped before this returns (issue 11: the
    /// encrypted tweaks are derived from K2 and never outlive the request).
    func transform(
        _ volume: Volume,
        _ buffer: UnsafeMutableRawBufferPointer,
        firstSector: UInt64,
        encrypt: Bool
    ) throws(HWKeysError) {
        let unit = volume.sectorSize
        let ivStep = volume.ivStep
        let firstIV = firstSector &* ivStep
        if let key = volume.key {
            let secret = self.kernel.readKernelMemory(key)
            defer { secret.wipe() }
            let xts = XTSKey(combined: secret)
            let source = UnsafeRawBufferPointer(buffer)
            if ivStep == 1 {
                if encrypt {
                    xts.encrypt(units: source, into: buffer, unitLength: unit, firstSequence: firstIV)
                } else {
                    xts.decrypt(units: source, into: buffer, unitLength: unit, firstSequence: firstIV)
                }
                return
            }
            // IVs step by sectorSize / 512: each unit gets its 16-byte tweak input (plain64, little-endian,
            // zero-extended).
            let units = buffer.count / unit
            let tweaks = scratch.tweakBuffer(16 * units)
            defer { memset(tweaks.baseAddress!, 0, tweaks.count) }
            for index in 0..<units {
                tweaks.storeBytes(
                    of: (firstIV &+ UInt64(index) &* ivStep).littleEndian,
                    toByteOffset: 16 * index,
                    as: UInt64.self
                )
                tweaks.storeBytes(of: 0, toByteOffset: 16 * index + 8, as: UInt64.self)
            }
            if encrypt {
                xts.encrypt(units: source, into: buffer, unitLength: unit, tweaks: UnsafeRawBufferPointer(tweaks))
            } else {
                xts.decrypt(units: source, into: buffer, unitLength: unit, tweaks: UnsafeRawBufferPointer(tweaks))
            }
            return
        }
        guard let handles = volume.handles else { preconditionFailure("transform of a closed volume") }
        let kernel = self.kernel  // one strong reference for the request, not one per access
        guard let keyLocker = kernel.keyLocker else { throw HWKeysError(.ENODEV, "Key Locker is not available") }
        try keyLocker.requireValid()
        let cpu = kernel.cpu
        try withUnsafeTemporaryAllocation(byteCount: 128, alignment: 16) { (handleBytes) throws(HWKeysError) in
            defer { memset(handleBytes.baseAddress!, 0, 128) }
            var position = 0
            for segment in handles.segments {
                cpu.load(
                    kernel.physical.alias(segment.address, keyID: 0),
                    into: UnsafeMutableRawBufferPointer(rebasing: handleBytes[position..<position + segment.length])
                )
                position += segment.length
            }
            let accepted: Bool
            do throws(X86Fault) {
                // KeyLockerXTS leaves its work space all zero, whatever the outcome.
                accepted = try KeyLockerXTS.crypt(
                    on: cpu,
                    scratch: scratch.tweakBuffer(KeyLockerXTS.scratchSize(for: buffer.count, unitSize: unit)),
                    handles: UnsafeRawBufferPointer(handleBytes),
                    data: buffer,
                    firstSector: firstIV,
                    ivStep: ivStep,
                    encrypt: encrypt,
                    unitSize: unit
                )
            } catch {
                throw Self.keyLockerError(error)
            }
            guard accepted else {
                throw HWKeysError(
                    .ENODEV,
                    "Key Locker rejected the volume's handles (IWKey changed or lost); reopen it with its key"
                )
            }
        }
    }
}
