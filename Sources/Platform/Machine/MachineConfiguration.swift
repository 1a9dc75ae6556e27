//===----------------------------------------------------------------------===//
//
// hwkeys: Platform
//
//===----------------------------------------------------------------------===//

import HWKeysBase
import KernelInterfaces
import X86

/// How a machine is built: topology, memory, firmware settings and which CPU features exist
/// (docs/contract.md §1). Fixed at creation; the defaults are docs/contract.md's bracketed values.
///
/// The configuration is not secret and is stored as JSON beside the machine image. Decoding tolerates
/// missing keys (they take their defaults), so images made by older versions keep loading.
public struct MachineConfiguration: Hashable, Sendable {
    // MARK: Topology and memory (docs/contract.md §1)

    /// Packages (sockets). [1]
    public var packages: Int = 1
    /// Logical processors per package. [2]
    public var cpusPerPackage: Int = 2
    /// DRAM size in bytes, split evenly across packages by address. [64 MiB]
    public var memoryBytes: UInt64 = 64 << 20
    /// Entropy seed: nil = the host CSPRNG; a value = byte-identical reruns.
    public var seed: UInt64? = nil
    /// Nominal core frequency used to turn modelled cycles into emulated nanoseconds. [3000 MHz]
    public var cpuFrequencyMHz: Int = 3000

    // MARK: TME / TME-MK (docs/contract.md §1–§2)

    /// Whether the CPU has TME at all: CPUID.(7,0):ECX[13] and the MSRs 981H–984H (`--no-tme` clears it). A
    /// CPU without it has no MKTME and no PCONFIG either. Distinct from ``tmeEnabled`` (`--tme off`: present,
    /// not activated by firmware). [present]
    public var tmePresent: Bool = true
    /// MAXPHYADDR. [46]
    public var maxPhysAddr: Int = 46
    /// MKTME KeyID bits k that firmware activates (`IA32_TME_ACTIVATE[35:32]`). [6]
    public var keyIDBits: Int = 6
    /// `MK_TME_MAX_KEYS` reported in `IA32_TME_CAPABILITY[50:36]`. [63]
    public var maxKeys: Int = 63
    /// Whether firmware enables TME at power-on (`--tme on|off`). [on]
    public var tmeEnabled: Bool = true
    /// KeyID-0 policy (`IA32_TME_ACTIVATE[7:4]`). [AES-XTS-128]
    public var tmePolicy: TMEAlgorithm = .aesXTS128
    /// Algorithms firmware enables for KeyIDs ≥ 1 (`IA32_TME_ACTIVATE[63:48]`). [both]
    public var mkAlgorithms: [TMEAlgorithm] = [.aesXTS128, .aesXTS256]
    /// TME encryption bypass for KeyID 0 (`IA32_TME_ACTIVATE[31]`). [off]
    public var tmeBypass: Bool = false
    /// The TME exclusion range firmware programs (`IA32_TME_EXCLUDE_BASE`/`_MASK`), if any.
    public var tmeExclude: TMEExclusion? = nil
    /// "Save TME key for standby" (`IA32_TME_ACTIVATE[3]`). [on]
    public var saveKeyForStandby: Bool = true
    /// Lines in each package cache (0 = no cache model). [16384]
    public var cacheLines: Int = 16384
    /// Whether PCONFIG exists (CPUID.(7,0):EDX[18]). [on]
    public var pconfig: Bool = true

    // MARK: Key Locker (docs/contract.md §3)

    /// Key Locker present (CPUID.(7,0):ECX[23]). [on]
    public var keyLocker: Bool = true
    /// WIDE_KL (CPUID.19H:EBX[2]). [on]
    public var wideKL: Bool = true
    /// IWKey backup MSRs (CPUID.19H:EBX[4]). [on]
    public var klBackup: Bool = true
    /// KeySource 1, random IWKeys (CPUID.19H:ECX[1]). [on]
    public var klRandom: Bool = true
    /// NoBackup supported (CPUID.19H:ECX[0]). [on]
    public var klNoBackup: Bool = true
    /// Handle restrictions supported (CPUID.19H:EAX[2:0]). [all]
    public var klRestrictions: KeyLockerRestrictions = [.cpl0Only, .noEncrypt, .noDecrypt]
    /// Emulated time until a backup written with `IA32_COPY_LOCAL_TO_PLATFORM` becomes valid. [0]
    public var klBackupLatencyNanoseconds: UInt64 = 0

    // MARK: Storage

    /// Size of the swap disk attached at creation, which holds hibernation images (docs/contract.md §4 S4); nil
    /// means the DRAM size (`--swap`; 0 = no swap disk, so hibernation is EOPNOTSUPP). [DRAM size]
    public var swapBytes: UInt64? = nil

    // MARK: Kernel (docs/contract.md §5–§7)

    /// Whether power-on boots the modelled kernel. [on]
    public var bootKernel: Bool = true
    /// The kernel command line, e.g. `mktme.api=rfc-v2 mktme_savekeys keylocker.policy=boot`. Kernels boot
    /// with ``effectiveKernelCommandLine`` (this line plus the swap disk's `resume=`).
    public var kernelCommandLine: String = ""

    public init() {}

    /// The swap disk size in bytes: ``swapBytes``, or the DRAM size when that is nil. A swap disk as large
    /// as DRAM always holds an image (every frame outside the reserved first MiB plus its index).
    public var effectiveSwapBytes: UInt64 { swapBytes ?? memoryBytes }

    /// The total number of logical processors.
    public var logicalProcessorCount: Int { packages * cpusPerPackage }

    /// Where the KeyID sits in physical addresses (k = 0 when TME is off).
    public var keyIDLayout: KeyIDLayout {
        KeyIDLayout(maxPhysAddr: maxPhysAddr, keyIDBits: tmeEnabled ? keyIDBits : 0)
    }

    /// The DRAM range `[start, end)` that package `package`'s memory controller owns.
    public func dramRange(ofPackage package: Int) -> Range<UInt64> {
        let share = memoryBytes / UInt64(packages)
        let start = share * UInt64(package)
        let end = package == packages - 1 ? memoryBytes : start + share
        return start..<end
    }

    /// The package whose memory controller owns DRAM address `address` (KeyID bits already stripped).
    public func homePackage(ofDRAMAddress address: UInt64) -> Int {
        let share = memoryBytes / UInt64(packages)
        return min(Int(address / share), packages - 1)
    }
}

/// A TME exclusion range as firmware programs it (MKTME spec §4.2.3–4.2.4): KeyID-0 accesses with
/// `(PA & mask) == (base & mask)` are not encrypted.
public struct TMEExclusion: Hashable, Sendable, Codable {
    /// `IA32_TME_EXCLUDE_BASE` bits MAXPHYADDR-1:12.
    public var base: UInt64
    /// `IA32_TME_EXCLUDE_MASK` bits MAXPHYADDR-1:12 (contiguous ones from the top).
    public var mask: UInt64

    public init(base: UInt64, mask: UInt64) {
        self.base = base
        self.mask = mask
    }
}

extension MachineConfiguration {
    /// Largest supported DRAM: 64 GiB (the sparse model costs nothing for untouched pages, but the
    /// bookkeeping bitmaps grow with size).
    public static let maximumMemoryBytes: UInt64 = 64 << 30

    /// Checks every field and the relations between them. Throws the first problem found, as a usage error
    /// (`EINVAL`; the command line exits with status 2).
    public func validate() throws(HWKeysError) {
        guard (1...8).contains(packages) else { throw .usage("packages must be 1…8 (got \(packages))") }
        guard (1...64).contains(cpusPerPackage) else {
            throw .usage("cpus-per-package must be 1…64 (got \(cpusPerPackage))")
        }
        guard memoryBytes >= 1 << 20, memoryBytes % 4096 == 0 else {
            throw .usage("memory must be at least 1 MiB and a multiple of 4 KiB")
        }
        guard memoryBytes <= Self.maximumMemoryBytes else { throw .usage("memory must be at most 64 GiB") }
        guard (memoryBytes / UInt64(packages)) % 4096 == 0 else {
            throw .usage("memory must split into whole 4 KiB pages per package")
        }
        guard (100...10_000).contains(cpuFrequencyMHz) else {
            throw .usage("cpu frequency must be 100…10000 MHz")
        }
        guard (36...52).contains(maxPhysAddr) else {
            throw .usage("maxphyaddr must be 36…52 (got \(maxPhysAddr))")
        }
        guard (0...15).contains(keyIDBits) else {
            throw .usage("keyid-bits must be 0…15 (got \(keyIDBits))")
        }
        if !tmePresent {
            guard !tmeEnabled else { throw .usage("--no-tme: a CPU without TME cannot enable it (--tme on)") }
            guard keyIDBits == 0 else { throw .usage("--no-tme: a CPU without TME has no KeyID bits") }
            guard !pconfig else { throw .usage("--no-tme: a CPU without TME has no PCONFIG") }
            guard !tmeBypass, tmeExclude == nil else {
                throw .usage("--no-tme: a CPU without TME has no bypass or exclusion range")
            }
        }
        guard keyIDBits == 0 || tmeEnabled else {
            throw .usage(
                "keyid-bits > 0 needs TME enabled (IA32_TME_ACTIVATE: k > 0 without enable is #GP)"
            )
        }
        guard (0...32767).contains(maxKeys) else {
            throw .usage("max-keys must be 0…32767 (15-bit MK_TME_MAX_KEYS)")
        }
        let usable = maxPhysAddr - (tmeEnabled ? keyIDBits : 0)
        guard usable > 20, memoryBytes <= UInt64(1) << UInt64(usable) else {
            throw .usage(
                "memory does not fit below the KeyID bits (MAXPHYADDR \(maxPhysAddr) - k \(keyIDBits))"
            )
        }
        guard Set(mkAlgorithms).count == mkAlgorithms.count else {
            throw .usage("mk-algorithms lists an algorithm twice")
        }
        if let exclusion = tmeExclude {
            let field = ((UInt64(1) << UInt64(maxPhysAddr)) - 1) & ~UInt64(0xFFF)
            guard exclusion.base & ~field == 0, exclusion.mask & ~field == 0 else {
                throw .usage("tme-exclude base and mask use only bits \(maxPhysAddr - 1):12")
            }
            // The mask must be a run of ones from bit MAXPHYADDR-1 downward.
            let inverted = ~exclusion.mask & field
            guard inverted & (inverted &+ 0x1000) == 0 || inverted == 0 else {
                throw .usage("tme-exclude mask must be contiguous ones from bit \(maxPhysAddr - 1) down")
            }
        }
        guard (0...(1 << 22)).contains(cacheLines) else { throw .usage("cache-lines must be 0…4194304") }
        guard klRestrictions.rawValue & ~0x7 == 0 else { throw .usage("unknown Key Locker restriction") }
        if let swapBytes {
            guard swapBytes % 4096 == 0, swapBytes <= DiskLimits.maximumSize else {
                throw .usage("swap must be 0 or whole 4 KiB blocks, at most 64 GiB")
            }
        }
        guard kernelCommandLine.utf8.count <= 4096 else {
            throw .usage("kernel command line longer than 4096 bytes")
        }
    }
}

extension MachineConfiguration: Codable {
    private enum CodingKeys: String, CodingKey {
        case packages
        case cpusPerPackage = "cpus_per_package"
        case memoryBytes = "memory_bytes"
        case seed
        case cpuFrequencyMHz = "cpu_frequency_mhz"
        case tmePresent = "tme_present"
        case maxPhysAddr = "maxphyaddr"
        case keyIDBits = "keyid_bits"
        case maxKeys = "max_keys"
        case tmeEnabled = "tme"
        case tmePolicy = "tme_policy"
        case mkAlgorithms = "mk_algorithms"
        case tmeBypass = "tme_bypass"
        case tmeExclude = "tme_exclude"
        case saveKeyForStandby = "save_key_for_standby"
        case cacheLines = "cache_lines"
        case pconfig
        case keyLocker = "keylocker"
        case wideKL = "wide_kl"
        case klBackup = "kl_backup"
        case klRandom = "kl_random"
        case klNoBackup = "kl_nobackup"
        case klRestrictions = "kl_restrictions"
        case klBackupLatencyNanoseconds = "kl_backup_latency_ns"
        case swapBytes = "swap_bytes"
        case bootKernel = "kernel"
        case kernelCommandLine = "cmdline"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        var d = MachineConfiguration()
        func take<T: Decodable>(_ key: CodingKeys, _ value: inout T) throws {
            if let decoded = try c.decodeIfPresent(T.self, forKey: key) { value = decoded }
        }
        try take(.packages, &d.packages)
        try take(.cpusPerPackage, &d.cpusPerPackage)
        try take(.memoryBytes, &d.memoryBytes)
        d.seed = try c.decodeIfPresent(UInt64.self, forKey: .seed)
        try take(.cpuFrequencyMHz, &d.cpuFrequencyMHz)
        try take(.tmePresent, &d.tmePresent)
        try take(.maxPhysAddr, &d.maxPhysAddr)
        try take(.keyIDBits, &d.keyIDBits)
        try take(.maxKeys, &d.maxKeys)
        try take(.tmeEnabled, &d.tmeEnabled)
        try take(.tmePolicy, &d.tmePolicy)
        try take(.mkAlgorithms, &d.mkAlgorithms)
        try take(.tmeBypass, &d.tmeBypass)
        d.tmeExclude = try c.decodeIfPresent(TMEExclusion.self, forKey: .tmeExclude)
        try take(.saveKeyForStandby, &d.saveKeyForStandby)
        try take(.cacheLines, &d.cacheLines)
        try take(.pconfig, &d.pconfig)
        try take(.keyLocker, &d.keyLocker)
        try take(.wideKL, &d.wideKL)
        try take(.klBackup, &d.klBackup)
        try take(.klRandom, &d.klRandom)
        try take(.klNoBackup, &d.klNoBackup)
        try take(.klRestrictions, &d.klRestrictions)
        try take(.klBackupLatencyNanoseconds, &d.klBackupLatencyNanoseconds)
        d.swapBytes = try c.decodeIfPresent(UInt64.self, forKey: .swapBytes)
        try take(.bootKernel, &d.bootKernel)
        try take(.kernelCommandLine, &d.kernelCommandLine)
        self = d
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(packages, forKey: .packages)
        try c.encode(cpusPerPackage, forKey: .cpusPerPackage)
        try c.encode(memoryBytes, forKey: .memoryBytes)
        try c.encode(seed, forKey: .seed)
        try c.encode(cpuFrequencyMHz, forKey: .cpuFrequencyMHz)
        try c.encode(tmePresent, forKey: .tmePresent)
        try c.encode(maxPhysAddr, forKey: .maxPhysAddr)
        try c.encode(keyIDBits, forKey: .keyIDBits)
        try c.encode(maxKeys, forKey: .maxKeys)
        try c.encode(tmeEnabled, forKey: .tmeEnabled)
        try c.encode(tmePolicy, forKey: .tmePolicy)
        try c.encode(mkAlgorithms, forKey: .mkAlgorithms)
        try c.encode(tmeBypass, forKey: .tmeBypass)
        try c.encode(tmeExclude, forKey: .tmeExclude)
        try c.encode(saveKeyForStandby, forKey: .saveKeyForStandby)
        try c.encode(cacheLines, forKey: .cacheLines)
        try c.encode(pconfig, forKey: .pconfig)
        try c.encode(keyLocker, forKey: .keyLocker)
        try c.encode(wideKL, forKey: .wideKL)
        try c.encode(klBackup, forKey: .klBackup)
        try c.encode(klRandom, forKey: .klRandom)
        try c.encode(klNoBackup, forKey: .klNoBackup)
        try c.encode(klRestrictions, forKey: .klRestrictions)
        try c.encode(klBackupLatencyNanoseconds, forKey: .klBackupLatencyNanoseconds)
        try c.encodeIfPresent(swapBytes, forKey: .swapBytes)
        try c.encode(bootKernel, forKey: .bootKernel)
        try c.encode(kernelCommandLine, forKey: .kernelCommandLine)
    }
}
