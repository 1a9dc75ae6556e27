//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysCommands
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase
import Kernel
import Platform
import X86

/// AES-XTS-256 composed from Key Locker instructions on one emulated logical processor: the kernel's
/// ``KeyLockerXTS`` (the crypt volumes' cipher, as the Linux `aeskl` driver composes it) over data units
/// of `unitLength` bytes, with its handles and work space held for repeated calls. The result equals
/// AES-256-XTS (IEEE 1619) with K1 ‖ K2. Nothing is allocated per call.
public final class KeyLockerXTS256 {
    /// The processor whose IWKey the handles were made under.
    public let processor: LogicalProcessor
    /// Bytes per data unit (a multiple of 128: no ciphertext stealing).
    public let unitLength: Int

    /// The data-key handle (K1) at 0, the tweak-key handle (K2) at 64.
    private let handles: UnsafeMutableRawBufferPointer
    /// ``KeyLockerXTS`` work space for ``chunk`` bytes.
    private let scratch: UnsafeMutableRawBufferPointer
    /// Bytes handed to ``KeyLockerXTS`` per call: eight data units.
    private let chunk: Int

    /// - Parameters:
    ///   - processor: runs the instructions; CR4.KL must be set and the handles made under its IWKey.
    ///   - dataHandle: the 64-byte AES-256 handle of K1 (ENCODEKEY256).
    ///   - tweakHandle: the 64-byte AES-256 handle of K2.
    ///   - unitLength: the data-unit size, a positive multiple of 128 bytes [4096].
    public init(processor: LogicalProcessor, dataHandle: [UInt8], tweakHandle: [UInt8], unitLength: Int = 4096) {
        precondition(dataHandle.count == 64 && tweakHandle.count == 64, "AES-256 Key Locker handles are 64 bytes")
        precondition(unitLength > 0 && unitLength % 128 == 0, "KL-XTS data units are whole groups of eight blocks")
        self.processor = processor
        self.unitLength = unitLength
        handles = .allocate(byteCount: 128, alignment: 16)
        handles.copyBytes(from: dataHandle + tweakHandle)
        chunk = 8 * unitLength
        scratch = .allocate(byteCount: KeyLockerXTS.scratchSize(for: chunk, unitSize: unitLength), alignment: 16)
    }

    deinit {
        handles.deallocate()
        scratch.deallocate()
    }

    /// Encrypts whole data units in place; unit u has sector number `firstSector + u`.
    ///
    /// - Returns: false if an instruction set ZF (a handle was rejected); the buffer is then partly processed.
    /// - Throws: the instructions' faults (#UD without Key Locker, CR4.KL, AESKLE or WIDE_KL).
    public func encrypt(_ data: UnsafeMutableRawBufferPointer, firstSector: UInt64) throws(X86Fault) -> Bool {
        try run(data, firstSector: firstSector, encrypt: true)
    }

    /// Decrypts whole data units in place; see ``encrypt(_:firstSector:)``.
    public func decrypt(_ data: UnsafeMutableRawBufferPointer, firstSector: UInt64) throws(X86Fault) -> Bool {
        try run(data, firstSector: firstSector, encrypt: false)
    }

    private func run(_ data: UnsafeMutableRawBufferPointer, firstSector: UInt64, encrypt: Bool) throws(X86Fault) -> Bool
    {
        precondition(data.count % unitLength == 0, "KL-XTS works on whole data units")
        var offset = 0
        while offset < data.count {
            let end = min(offset + chunk, data.count)
            let accepted = try KeyLockerXTS.crypt(
                on: processor,
                scratch: scratch,
                handles: UnsafeRawBufferPointer(handles),
                data: UnsafeMutableRawBufferPointer(rebasing: data[offset..<end]),
                firstSector: firstSector &+ UInt64(offset / unitLength),
                encrypt: encrypt,
                unitSize: unitLength
            )
            guard accepted else { return false }
            offset = end
        }
        return true
    }
}

/// Host-time measurements of the emulated Key Locker (plain functions: `hwkeys benchmark` wires them up
/// beside OpenSSL). These report host wall time, never emulated cycles.
public enum KeyLockerBenchmarks {
    /// Throughput of one direction pair.
    public struct Throughput: Sendable {
        /// Encryption, in 10⁹ bytes per second of host time.
        public var encryptGBps: Double
        /// Decryption, in 10⁹ bytes per second of host time.
        public var decryptGBps: Double
        /// The buffer size processed per call.
        public var bufferBytes: Int
        /// The AES implementation under the emulated instructions.
        public var aesPath: AESPath
    }

    /// A seeded machine (no kernel) with CR4.KL set on CPU 0, a random IWKey (KeySource 1), and a
    /// ``KeyLockerXTS256`` for `key` = K1 ‖ K2 (64 bytes) whose handles are CPL0-only, as Linux makes them.
    ///
    /// - Returns: the machine (keep it alive while using the XTS object) and the XTS object.
    public static func makeXTS256(
        key: [UInt8],
        unitLength: Int = 4096,
        seed: UInt64 = 1
    ) throws -> (machine: Machine, xts: KeyLockerXTS256) {
        precondition(key.count == 64, "AES-256-XTS keys are 64 bytes (K1 ‖ K2)")
        var configuration = MachineConfiguration()
        configuration.seed = seed
        configuration.bootKernel = false
        let machine = try Machine.create(configuration: configuration)
        let cpu = machine.processors[0]
        try cpu.writeCR4(CR4.keyLocker)
        let zeros = [UInt8](repeating: 0, count: 48)
        cpu.withXMMRegisters { $0.copyBytes(from: zeros) }
        guard try !cpu.loadiwkey(eax: 1 << KeyLockerEncoding.loadKeySourceShift, src1: 2, src2: 1) else {
            throw HWKeysError(.EIO, "LOADIWKEY could not get a random IWKey")
        }
        func handle(_ part: ArraySlice<UInt8>) throws -> [UInt8] {
            cpu.withXMMRegisters { $0.copyBytes(from: part) }
            _ = try cpu.encodekey256(src: KeyLockerEncoding.restrictCPL0)
            return cpu.withXMMRegisters { Array($0[0..<64]) }
        }
        let xts = KeyLockerXTS256(
            processor: cpu,
            dataHandle: try handle(key[0..<32]),
            tweakHandle: try handle(key[32..<64]),
            unitLength: unitLength
        )
        return (machine, xts)
    }

    /// AES-XTS-256 from AESENCWIDE256KL/AESDECWIDE256KL on 4 KiB data units over a `bufferBytes` buffer
    /// (16 KiB: the size `openssl speed` reports), each direction repeated for at least `minimumSeconds`
    /// of host time after a warm-up pass.
    public static func xts256(bufferBytes: Int = 16 << 10, minimumSeconds: Double = 1) throws -> Throughput {
        let encrypt = try KeyLockerXTSWorkload(encrypt: true, bufferBytes: bufferBytes)
        let decrypt = try KeyLockerXTSWorkload(encrypt: false, bufferBytes: bufferBytes)
        let duration = Duration.nanoseconds(Int64(max(minimumSeconds, 0) * 1e9))
        func gbps(_ run: (bytes: Int, elapsed: Duration)) -> Double {
            let seconds = Double(run.elapsed.components.seconds) + Double(run.elapsed.components.attoseconds) * 1e-18
            return Double(run.bytes) / max(seconds, 1e-9) / 1e9
        }
        return Throughput(
            encryptGBps: gbps(try encrypt.run(for: duration)),
            decryptGBps: gbps(try decrypt.run(for: duration)),
            bufferBytes: bufferBytes,
            aesPath: AESEngine.defaultPath
        )
    }
}

/// One direction of KL-XTS-256 over a fixed buffer, measured in slices: `hwkeys benchmark` alternates
/// slices of this with slices of OpenSSL's AES-256-XTS so both see the same host load.
public final class KeyLockerXTSWorkload {
    /// Encrypt (true) or decrypt.
    public let encrypt: Bool
    private let machine: Machine
    private let xts: KeyLockerXTS256
    private let buffer: UnsafeMutableRawBufferPointer
    private var nextSector: UInt64 = 0

    /// A seeded machine with a random IWKey, handles for a fixed random XTS key, and a `bufferBytes`
    /// buffer (whole 4 KiB data units) of random data; one warm-up pass fills the unwrap cache.
    public init(encrypt: Bool, bufferBytes: Int = 16 << 10) throws {
        precondition(bufferBytes > 0 && bufferBytes % 4096 == 0, "the buffer is whole 4 KiB units")
        self.encrypt = encrypt
        let entropy = SeededEntropySource(seed: 0x4B4C_5854_5321)
        var key = [UInt8](repeating: 0, count: 64)
        key.withUnsafeMutableBytes { entropy.fill($0) }
        (machine, xts) = try KeyLockerBenchmarks.makeXTS256(key: key)
        buffer = .allocate(byteCount: bufferBytes, alignment: 64)
        entropy.fill(buffer)
        guard try pass() else { throw HWKeysError(.EIO, "a Key Locker handle was rejected") }
    }

    deinit { buffer.deallocate() }

    /// Processes the buffer repeatedly (each pass its own run of sector numbers) for at least
    /// `duration` of host time; returns the bytes processed and the time taken.
    public func run(for duration: Duration) throws -> (bytes: Int, elapsed: Duration) {
        let clock = ContinuousClock()
        let start = clock.now
        var passes = 0
        var elapsed: Duration = .zero
        repeat {
            for _ in 0..<8 { _ = try pass() }
            passes += 8
            elapsed = clock.now - start
        } while elapsed < duration
        return (passes * buffer.count, elapsed)
    }

    private func pass() throws(X86Fault) -> Bool {
        defer { nextSector &+= UInt64(buffer.count / xts.unitLength) }
        return encrypt
            ? try xts.encrypt(buffer, firstSector: nextSector) : try xts.decrypt(buffer, firstSector: nextSector)
    }
}
