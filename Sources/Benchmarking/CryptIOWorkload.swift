//===----------------------------------------------------------------------===//
//
// hwkeys: Benchmarking
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase
import Kernel
import Platform

/// One direction of crypt-volume I/O through the modelled kernel, measured in slices of host time:
/// `hwkeys benchmark` alternates slices of this with slices of OpenSSL's AES-256-XTS on the same sector size
/// so both see the same host load. Host wall time only, never emulated cycles.
///
/// Each operation is one 4 KiB write or read (eight 512-byte sectors, or one 4096-byte sector) at the next
/// offset of a 16 MiB volume, through ``CryptVolumes`` exactly as `crypt write|read` runs it: the key or the
/// handles are read from kernel memory (emulated DRAM, through the cache and the TME engine), the sectors
/// are encrypted — by HWCrypto's AES-NI/VAES XTS engine for `aes-xts-plain64`, by AESENCWIDE256KL (tweaks)
/// and AESENCWIDE256KL/AESDECWIDE256KL (data) for `aes-xts-kl-plain64` — and copied to or from the sparse
/// disk. A failed operation (a rejected handle is ENODEV) stops the run with its error; nothing of the
/// slice is counted.
public final class CryptIOWorkload {
    /// The cipher measured.
    public let cipher: CryptCipher
    /// The volume's sector size.
    public let sectorSize: Int
    /// Write (true) or read.
    public let write: Bool
    /// Bytes per operation.
    public static let ioSize = 4096
    /// The volume size the offsets cycle through.
    public static let volumeSize = 16 << 20
    /// The machine the workload runs on unless told otherwise: seeded, no swap disk.
    public static var defaultConfiguration: MachineConfiguration {
        var configuration = MachineConfiguration()
        configuration.seed = 0x4352_5950_54
        configuration.swapBytes = 0
        return configuration
    }

    /// The machine (tests change its Key Locker state under the volume).
    let machine: Machine
    /// Its kernel.
    let kernel: Kernel
    private let buffer: [UInt8]
    private var offset: UInt64 = 0

    /// A machine with a booted kernel and an open 16 MiB volume (``fill()`` writes it). For the Key Locker
    /// cipher the kernel first initializes Key Locker with `native_kernel_key_backup` through sysfs
    /// (docs/contract.md §7).
    ///
    /// - Parameters:
    ///   - cipher: the volume's cipher.
    ///   - sectorSize: the volume's sector size, 512 or 4096.
    ///   - write: measure writes (true) or reads.
    ///   - configuration: the machine [``defaultConfiguration``].
    /// - Throws: what booting, the Key Locker mode or `crypt create` throws: ENODEV or EOPNOTSUPP when the
    ///   machine lacks Key Locker or its WIDE instructions.
    public init(
        cipher: CryptCipher,
        sectorSize: Int = 512,
        write: Bool,
        configuration: MachineConfiguration = CryptIOWorkload.defaultConfiguration
    ) throws(HWKeysError) {
        self.cipher = cipher
        self.sectorSize = sectorSize
        self.write = write
        machine = try Machine.create(configuration: configuration)
        kernel = try Kernel.boot(platform: machine, commandLine: configuration.effectiveKernelCommandLine)
        // Without Key Locker hardware there is no manager to configure; `crypt create` then says ENODEV.
        if cipher.usesKeyLocker, kernel.keyLocker != nil {
            try kernel.sysfsWrite("/sys/kernel/keylocker/mode", "native_kernel_key_backup", as: ProcessTable.shellPID)
        }
        let entropy = SeededEntropySource(seed: 0x4352_5950_5432)
        let key = SecretBytes(count: CryptCipher.keyLength)
        key.withUnsafeMutableBytes { entropy.fill($0) }
        defer { key.wipe() }
        try kernel.crypt.create(
            "bench",
            size: UInt64(Self.volumeSize),
            cipher: cipher,
            sectorSize: sectorSize,
            key: key,
            as: ProcessTable.shellPID
        )
        var data = [UInt8](repeating: 0, count: Self.ioSize)
        data.withUnsafeMutableBytes { entropy.fill($0) }
        buffer = data
    }

    /// Writes the whole volume once, untimed, so reads decrypt stored ciphertext and the sparse disk's
    /// blocks exist before anything is measured.
    ///
    /// - Throws: the first operation's error.
    public func fill() throws(HWKeysError) {
        for _ in 0..<(Self.volumeSize / Self.ioSize) { try step(writing: true) }
    }

    /// Runs 4 KiB operations for at least `duration` of host time; returns the bytes moved and the time taken.
    ///
    /// - Throws: the first operation's error (ENODEV when Key Locker rejected the handles); nothing of the
    ///   slice is counted.
    public func run(for duration: Duration) throws(HWKeysError) -> MeasuredSlice {
        let clock = ContinuousClock()
        let start = clock.now
        var operations = 0
        var elapsed: Duration = .zero
        repeat {
            for _ in 0..<16 { try step(writing: write) }
            operations += 16
            elapsed = clock.now - start
        } while elapsed < duration
        return (operations * Self.ioSize, elapsed)
    }

    /// One 4 KiB operation at the next offset.
    func step(writing: Bool) throws(HWKeysError) {
        defer { offset = (offset + UInt64(Self.ioSize)) % UInt64(Self.volumeSize) }
        if writing {
            var failure: HWKeysError?
            buffer.withUnsafeBytes { data in
                do throws(HWKeysError) {
                    try kernel.crypt.write("bench", offset: offset, data: data, as: ProcessTable.shellPID)
                } catch {
                    failure = error
                }
            }
            if let failure { throw failure }
        } else {
            _ = try kernel.crypt.read("bench", offset: offset, count: Self.ioSize, as: ProcessTable.shellPID)
        }
    }
}
