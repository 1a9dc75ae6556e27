//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommands
//
//===----------------------------------------------------------------------===//

import HWCrypto
import Kernel
import Platform

/// One direction of crypt-volume I/O through the modelled kernel, measured in slices of host time:
/// `hwkeys benchmark` alternates slices of this with slices of OpenSSL's AES-256-XTS so both see the same
/// host load. Host wall time only, never emulated cycles.
///
/// Each operation is one 4 KiB write or read (eight 512-byte sectors) at the next offset of a 16 MiB
/// volume, through ``CryptVolumes`` exactly as `crypt write|read` runs it: the key or the handles are
/// read from kernel memory (emulated DRAM, through the cache and the TME engine), the sectors are
/// encrypted — by HWCrypto's AES-NI/VAES XTS engine for `aes-xts-plain64`, by one AESENC256KL and four
/// AESENCWIDE256KL/AESDECWIDE256KL per sector for `aes-xts-kl-plain64` — and copied to or from the sparse
/// disk.
public final class CryptIOWorkload {
    /// The cipher measured.
    public let cipher: CryptCipher
    /// Write (true) or read.
    public let write: Bool
    /// Bytes per operation.
    public static let ioSize = 4096
    /// The volume size the offsets cycle through.
    public static let volumeSize = 16 << 20

    private let machine: Machine
    private let kernel: Kernel
    private let buffer: [UInt8]
    private var offset: UInt64 = 0

    /// A seeded machine with a booted kernel and an open 16 MiB volume, fully written once (so reads
    /// decrypt stored ciphertext). For the Key Locker cipher the kernel first initializes Key Locker with
    /// `native_kernel_key_backup` through sysfs (docs/contract.md §7).
    ///
    /// - Throws: when the volume cannot be created (e.g. ENODEV: no Key Locker manager or hardware).
    public init(cipher: CryptCipher, write: Bool) throws {
        self.cipher = cipher
        self.write = write
        var configuration = MachineConfiguration()
        configuration.seed = 0x4352_5950_54
        configuration.swapBytes = 0
        machine = try Machine.create(configuration: configuration)
        kernel = try Kernel.boot(platform: machine, commandLine: configuration.effectiveKernelCommandLine)
        if cipher.usesKeyLocker {
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
            key: key,
            as: ProcessTable.shellPID
        )
        var data = [UInt8](repeating: 0, count: Self.ioSize)
        data.withUnsafeMutableBytes { entropy.fill($0) }
        buffer = data
        for _ in 0..<(Self.volumeSize / Self.ioSize) { try step() }
    }

    /// Runs 4 KiB operations for at least `duration` of host time; returns the bytes moved and the time taken.
    public func run(for duration: Duration) throws -> (bytes: Int, elapsed: Duration) {
        let clock = ContinuousClock()
        let start = clock.now
        var operations = 0
        var elapsed: Duration = .zero
        repeat {
            for _ in 0..<16 { try step() }
            operations += 16
            elapsed = clock.now - start
        } while elapsed < duration
        return (operations * Self.ioSize, elapsed)
    }

    private func step() throws {
        defer { offset = (offset + UInt64(Self.ioSize)) % UInt64(Self.volumeSize) }
        if write {
            try buffer.withUnsafeBytes {
                try kernel.crypt.write("bench", offset: offset, data: $0, as: ProcessTable.shellPID)
            }
        } else {
            _ = try kernel.crypt.read("bench", offset: offset, count: Self.ioSize, as: ProcessTable.shellPID)
        }
    }
}
