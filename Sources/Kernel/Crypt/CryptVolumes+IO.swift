//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase
import KernelInterfaces
import X86

extension CryptVolumes {
    /// `crypt write`: encrypts `data` into the volume at byte `offset`.
    ///
    /// Sectors are the unit of encryption (512 bytes, tweak = plain64 sector number). dm-crypt only ever
    /// sees whole sectors because the block layer aligns requests; hwkeys accepts any offset and length and
    /// does the block layer's read-modify-write: a partly written first or last sector is read and
    /// decrypted, patched, and encrypted again with everything else in one bulk pass.
    /// Nothing reaches the disk unless the whole request encrypted.
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
        let sectorSize = UInt64(CryptHeader.sectorSize)
        let first = offset / sectorSize
        let last = (offset + UInt64(data.count) - 1) / sectorSize
        let count = Int(last - first + 1)
        let head = Int(offset % sectorSize)
        let tail = Int((offset + UInt64(data.count)) % sectorSize)
        // Whole sectors leave only ciphertext (or the caller's own data) behind; partial ones decrypt other
        // plaintext into the buffer, so it is wiped.
        try withSectorBuffer(count, wipe: head != 0 || tail != 0) { (buffer) throws(HWKeysError) in
            if head != 0 {
                try readSectors(
                    volume,
                    disk,
                    first: first,
                    into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<512])
                )
            }
            if tail != 0, last != first || head == 0 {
                try readSectors(
                    volume,
                    disk,
                    first: last,
                    into: UnsafeMutableRawBufferPointer(rebasing: buffer[(count - 1) * 512..<count * 512])
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
        let sectorSize = UInt64(CryptHeader.sectorSize)
        let first = offset / sectorSize
        let last = (offset + UInt64(count) - 1) / sectorSize
        if offset % sectorSize == 0, count % CryptHeader.sectorSize == 0 {
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
        return try withSectorBuffer(Int(last - first + 1), wipe: true) { (buffer) throws(HWKeysError) -> [UInt8] in
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
        guard let disk = kernel.platform.disk(named: name) else {
            throw HWKeysError(.EIO, "the disk of volume \(name) is missing")
        }
        return (volume, disk)
    }

    /// A scratch buffer of `sectors` sectors (every byte is written before it is read), wiped afterwards
    /// when it may hold plaintext: when `wipe` is set, and always after a failure.
    private func withSectorBuffer<R>(
        _ sectors: Int,
        wipe: Bool,
        _ body: (UnsafeMutableRawBufferPointer) throws(HWKeysError) -> R
    ) throws(HWKeysError) -> R {
        let buffer = scratch.sectorBuffer(sectors * CryptHeader.sectorSize)
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
        disk.read(UInt64(CryptHeader.size) + first * UInt64(CryptHeader.sectorSize), into: buffer)
        try transform(volume, buffer, firstSector: first, encrypt: false)
    }

    /// AES-256-XTS of whole sectors in place, sector s with tweak `firstSector + s`, with the volume's
    /// cipher: the key read from kernel memory and the AES-NI engine, or the handles read from kernel
    /// memory and AES*KL instructions on the kernel's CPU.
    func transform(
        _ volume: Volume,
        _ buffer: UnsafeMutableRawBufferPointer,
        firstSector: UInt64,
        encrypt: Bool
    ) throws(HWKeysError) {
        if let key = volume.key {
            let secret = self.kernel.readKernelMemory(key)
            defer { secret.wipe() }
            let xts = XTSKey(combined: secret)
            if encrypt {
                xts.encrypt(
                    units: UnsafeRawBufferPointer(buffer),
                    into: buffer,
                    unitLength: CryptHeader.sectorSize,
                    firstSequence: firstSector
                )
            } else {
                xts.decrypt(
                    units: UnsafeRawBufferPointer(buffer),
                    into: buffer,
                    unitLength: CryptHeader.sectorSize,
                    firstSequence: firstSector
                )
            }
            return
        }
        guard let handles = volume.handles else { preconditionFailure("transform of a closed volume") }
        let kernel = self.kernel  // one strong reference for the request, not one per access
        guard let keyLocker = kernel.keyLocker else { throw HWKeysError(.ENODEV, "Key Locker is not available") }
        try keyLocker.requireValid()
        let cpu = kernel.cpu
        try withUnsafeTemporaryAllocation(byteCount: 128, alignment: 16) { (handleBytes) throws(HWKeysError) in
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
                accepted = try KeyLockerXTS.crypt(
                    on: cpu,
                    scratch: scratch.tweakBuffer(KeyLockerXTS.scratchSize(for: buffer.count)),
                    handles: UnsafeRawBufferPointer(handleBytes),
                    data: buffer,
                    firstSector: firstSector,
                    encrypt: encrypt
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
