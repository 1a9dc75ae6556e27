//===----------------------------------------------------------------------===//
//
// hwkeys: Platform
//
//===----------------------------------------------------------------------===//

/// A hardware operation with a modelled cost (design.md rule 5: costs are modelled, and said to be).
///
/// Every entry gives emulated cycles and the source of the figure; `docs/costs.md` renders this table.
/// Emulated cycles are kept apart from host wall time everywhere they are reported.
public enum CostItem: String, CaseIterable, Sendable, Codable {
    case pconfig
    case clflush
    case wbinvd
    case wbinvdPerDirtyLine = "wbinvd_per_dirty_line"
    case lineFill = "line_fill"
    case lineWriteback = "line_writeback"
    case loadiwkeySoftware = "loadiwkey_software"
    case loadiwkeyRandom = "loadiwkey_random"
    case encodekey
    case aesklBlock = "aeskl_block"
    case iwkeyBackup = "iwkey_backup"
    case iwkeyRestore = "iwkey_restore"
    case aesklHandle = "aeskl_handle"
    case msrAccess = "msr_access"
    case cr4Write = "cr4_write"
    case rdrand

    /// Modelled cost in core cycles.
    public var cycles: UInt64 {
        switch self {
        case .pconfig: 2_000
        case .clflush: 250
        case .wbinvd: 5_000
        case .wbinvdPerDirtyLine: 100
        case .lineFill: 300
        case .lineWriteback: 300
        case .loadiwkeySoftware: 120
        case .loadiwkeyRandom: 25_000
        case .encodekey: 500
        case .aesklBlock: 12
        case .iwkeyBackup: 20_000
        case .iwkeyRestore: 20_000
        case .aesklHandle: 100
        case .msrAccess: 100
        case .cr4Write: 100
        case .rdrand: 500
        }
    }

    /// Where the figure comes from.
    public var source: String {
        switch self {
        case .pconfig:
            "Not published. Modelled like a serializing WRMSR-class operation on the memory controller key table; "
                + "MKTME spec 336907 describes no latency (docs/costs.md)."
        case .clflush:
            "Agner Fog, instruction tables: CLFLUSH ~ 100–300 cycles on recent cores; dirty line write-back dominates."
        case .wbinvd: "Fixed part of WBINVD; the rest scales with dirty lines (design.md rule 5)."
        case .wbinvdPerDirtyLine: "One line written back through the memory encryption engine per dirty line."
        case .lineFill: "DRAM access plus AES-XTS decryption in the memory controller (~100 ns at 3 GHz)."
        case .lineWriteback: "DRAM write plus AES-XTS encryption in the memory controller (~100 ns at 3 GHz)."
        case .loadiwkeySoftware:
            "Chang S. Bae, LKML Dec 2020: LOADIWKEY about 110–130 cycles with a software key (keylocker-research.md §1.4)."
        case .loadiwkeyRandom:
            "Chang S. Bae, LKML Dec 2020: about 25K cycles with hardware randomisation (keylocker-research.md §1.4)."
        case .encodekey:
            "Not published. Modelled as one AES-256-GCM-SIV seal in the wrap unit, about five handle unwraps "
                + "(aeskl_handle); only the handle, not the cost, is architectural (SDM ENCODEKEY128/256)."
        case .aesklBlock:
            "Per 16-byte block of AES*KL (the WIDE forms charge 8): AES-256 throughput like AES-NI, about 12 "
                + "cycles per block from AES-NI XTS 6739 MiB/s on Raptor Lake (Bae, v6 cover letter, "
                + "keylocker-research.md §1.12). Charged only when the handle unwraps."
        case .iwkeyBackup:
            "WRMSR IA32_COPY_LOCAL_TO_PLATFORM, the processor side: not published; 'tens of thousands of cycles' "
                + "for platform copies (Christopherson, keylocker-research.md §1.8). The storage write completes "
                + "asynchronously after --kl-backup-latency of emulated time (spec.md §3), not in these cycles."
        case .iwkeyRestore:
            "WRMSR IA32_COPY_PLATFORM_TO_LOCAL: 'tens of thousands of cycles' (Christopherson) against 'less than "
                + "100 cycles' (Intel helper code); hwkeys takes the conservative figure (keylocker-research.md §1.8)."
        case .aesklHandle:
            "Per AES*KL instruction: load and authenticate the handle against IWKey, charged on every execution "
                + "(hits of hwkeys' host-side unwrap cache cost the same). From Bae's v6 cover letter: AES-KL XTS "
                + "3425 MiB/s = half of AES-NI, i.e. ~8 blocks' worth (~100 cycles) per AESENCWIDE256KL; "
                + "single-block CBC on Tiger Lake (505 MiB/s, ~140 cycles/block) agrees (keylocker-research.md §1.12)."
        case .msrAccess: "Agner Fog: RDMSR/WRMSR ~ 100 cycles (serializing)."
        case .cr4Write: "Agner Fog: MOV to CR4 ~ 100 cycles (serializing)."
        case .rdrand: "Agner Fog: RDRAND ~ 500 cycles latency on recent cores."
        }
    }
}

/// Emulated cycles spent, per cost item.
public struct CycleCounters: Hashable, Sendable {
    public private(set) var cycles: [CostItem: UInt64] = [:]
    public private(set) var counts: [CostItem: UInt64] = [:]

    public init() {}

    /// Total emulated cycles.
    public var total: UInt64 { cycles.values.reduce(0, &+) }

    mutating func add(_ item: CostItem, count: UInt64, cycles extra: UInt64) {
        counts[item, default: 0] &+= count
        cycles[item, default: 0] &+= extra
    }

    func encode(into writer: inout ImageWriter) {
        writer.section("counters", version: 1)
        let items = CostItem.allCases.filter { counts[$0] != nil }
        writer.u32(UInt32(items.count))
        for item in items {
            writer.string(item.rawValue)
            writer.u64(counts[item]!)
            writer.u64(cycles[item]!)
        }
    }

    static func decode(from reader: inout ImageReader) throws(ImageError) -> CycleCounters {
        try reader.section("counters", maxVersion: 1)
        var counters = CycleCounters()
        let count = try reader.u32()
        for _ in 0..<count {
            let name = try reader.string()
            guard let item = CostItem(rawValue: name) else {
                throw ImageError("machine image: unknown cost item \(name)")
            }
            counters.counts[item] = try reader.u64()
            counters.cycles[item] = try reader.u64()
        }
        return counters
    }
}
