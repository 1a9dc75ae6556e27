//===----------------------------------------------------------------------===//
//
// hwkeys: Benchmarking
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase
import Kernel
import Platform
import X86

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

    /// The machine the Key Locker measurements run on unless told otherwise: seeded, without a kernel.
    public static var defaultConfiguration: MachineConfiguration {
        var configuration = MachineConfiguration()
        configuration.seed = 1
        configuration.bootKernel = false
        return configuration
    }

    /// A machine (no kernel) with CR4.KL set on CPU 0, a random IWKey (KeySource 1), and a
    /// ``KeyLockerXTS256`` for `key` = K1 ‖ K2 (64 bytes) whose handles are CPL0-only, as Linux makes them.
    ///
    /// - Parameters:
    ///   - key: K1 ‖ K2.
    ///   - unitLength: the XTS data unit.
    ///   - configuration: the machine [``defaultConfiguration``]; its kernel is never booted.
    /// - Returns: the machine (keep it alive while using the XTS object) and the XTS object.
    /// - Throws: EOPNOTSUPP for a CPU without Key Locker or WIDE_KL, the fault of an instruction that
    ///   faults anyway, EIO when LOADIWKEY gets no random IWKey.
    public static func makeXTS256(
        key: [UInt8],
        unitLength: Int = 4096,
        configuration: MachineConfiguration = defaultConfiguration
    ) throws(HWKeysError) -> (machine: Machine, xts: KeyLockerXTS256) {
        precondition(key.count == 64, "AES-256-XTS keys are 64 bytes (K1 ‖ K2)")
        var configuration = configuration
        configuration.bootKernel = false
        let machine = try Machine.create(configuration: configuration)
        let cpu = machine.processors[0]
        // The hardware the measurement needs (SDM Vol. 2A CPUID: leaf 07H ECX[23] KL, leaf 19H EBX[0]
        // AESKLE and EBX[2] WIDE_KL, after CR4.KL is set): without it the row is unavailable, not a fault.
        guard cpu.cpuid(leaf: CPUIDLeaf.structuredExtendedFeatures, subleaf: 0).ecx & CPUIDBit.keyLockerECX != 0 else {
            throw HWKeysError(.EOPNOTSUPP, "the CPU has no Key Locker (CPUID.(7,0):ECX[23] = 0)")
        }
        func handle(_ part: ArraySlice<UInt8>) throws(X86Fault) -> [UInt8] {
            cpu.withXMMRegisters { $0.copyBytes(from: part) }
            _ = try cpu.encodekey256(src: KeyLockerEncoding.restrictCPL0)
            return cpu.withXMMRegisters { Array($0[0..<64]) }
        }
        /// The XTS object, or nil when LOADIWKEY got no random IWKey (ZF).
        func build() throws(X86Fault) -> KeyLockerXTS256? {
            try cpu.writeCR4(CR4.keyLocker)
            let zeros = [UInt8](repeating: 0, count: 48)
            cpu.withXMMRegisters { $0.copyBytes(from: zeros) }
            guard try !cpu.loadiwkey(eax: 1 << KeyLockerEncoding.loadKeySourceShift, src1: 2, src2: 1) else {
                return nil
            }
            return KeyLockerXTS256(
                processor: cpu,
                dataHandle: try handle(key[0..<32]),
                tweakHandle: try handle(key[32..<64]),
                unitLength: unitLength
            )
        }
        let built: KeyLockerXTS256?
        do throws(X86Fault) {
            built = try build()
        } catch {
            throw HWKeysError(error)
        }
        guard let xts = built else { throw HWKeysError(.EIO, "LOADIWKEY could not get a random IWKey") }
        guard cpu.cpuid(leaf: CPUIDLeaf.keyLockerLeaf, subleaf: 0).ebx & CPUIDBit.klWideEBX != 0 else {
            throw HWKeysError(.EOPNOTSUPP, "the CPU has no WIDE Key Locker instructions (CPUID.19H:EBX[2] = 0)")
        }
        return (machine, xts)
    }

    /// AES-XTS-256 from AESENCWIDE256KL/AESDECWIDE256KL on 4 KiB data units over a `bufferBytes` buffer
    /// (16 KiB: the size `openssl speed` reports), each direction repeated for at least `minimumSeconds`
    /// of host time after a warm-up.
    ///
    /// - Throws: what ``KeyLockerXTSWorkload`` throws (a rejected handle, a fault).
    public static func xts256(bufferBytes: Int = 16 << 10, minimumSeconds: Double = 1) throws(HWKeysError) -> Throughput
    {
        let encrypt = try KeyLockerXTSWorkload(encrypt: true, bufferBytes: bufferBytes)
        let decrypt = try KeyLockerXTSWorkload(encrypt: false, bufferBytes: bufferBytes)
        let duration = Duration.nanoseconds(Int64(max(minimumSeconds, 0) * 1e9))
        // A warm-up pass each (the first unwrap of each handle).
        _ = try encrypt.run(for: .zero)
        _ = try decrypt.run(for: .zero)
        return Throughput(
            encryptGBps: Alternation.throughput(try encrypt.run(for: duration)),
            decryptGBps: Alternation.throughput(try decrypt.run(for: duration)),
            bufferBytes: bufferBytes,
            aesPath: AESEngine.defaultPath
        )
    }
}
