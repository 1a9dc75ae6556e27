//===----------------------------------------------------------------------===//
//
// hwkeys: Platform
//
//===----------------------------------------------------------------------===//

import HWKeysBase

/// A hardware operation with a modelled cost (docs/design.md rule 5: costs are modelled, and said to be).
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
    case aesklWide = "aeskl_wide"
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
        case .aesklBlock: 140
        case .iwkeyBackup: 20_000
        case .iwkeyRestore: 20_000
        case .aesklWide: 200
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
        case .wbinvd: "Fixed part of WBINVD; the rest scales with dirty lines (docs/design.md rule 5)."
        case .wbinvdPerDirtyLine: "One line written back through the memory encryption engine per dirty line."
        case .lineFill: "DRAM access plus AES-XTS decryption in the memory controller (~100 ns at 3 GHz)."
        case .lineWriteback: "DRAM write plus AES-XTS encryption in the memory controller (~100 ns at 3 GHz)."
        case .loadiwkeySoftware:
            "Chang S. Bae, LKML Dec 2020: LOADIWKEY about 110–130 cycles with a software key (docs/research/keylocker-research.md §1.4)."
        case .loadiwkeyRandom:
            "Chang S. Bae, LKML Dec 2020: about 25K cycles with hardware randomisation (docs/research/keylocker-research.md §1.4)."
        case .encodekey:
            "Not published. Modelled as one AES-256-GCM-SIV seal in the wrap unit, a few single-block AES*KL "
                + "(aeskl_block); only the handle, not the cost, is architectural (SDM ENCODEKEY128/256)."
        case .aesklBlock:
            "One AESENC*KL/AESDEC*KL (one block, handle loaded and authenticated each time): Tiger Lake AES-KL "
                + "CBC encryption, one serial AESENC256KL per block, 505 MiB/s = ~140 cycles per block (Bae, v4 cover "
                + "letter, docs/research/keylocker-research.md §1.12). Charged on every execution, whatever ZF."
        case .iwkeyBackup:
            "WRMSR IA32_COPY_LOCAL_TO_PLATFORM, the processor side: not published; 'tens of thousands of cycles' "
                + "for platform copies (Christopherson, docs/research/keylocker-research.md §1.8). The storage write completes "
                + "asynchronously after --kl-backup-latency of emulated time (docs/contract.md §3), not in these cycles."
        case .iwkeyRestore:
            "WRMSR IA32_COPY_PLATFORM_TO_LOCAL: 'tens of thousands of cycles' (Christopherson) against 'less than "
                + "100 cycles' (Intel helper code); hwkeys takes the conservative figure (docs/research/keylocker-research.md §1.8)."
        case .aesklWide:
            "One AESENCWIDE*KL/AESDECWIDE*KL (eight blocks): Raptor Lake AES-KL XTS 3425 MiB/s, about half of "
                + "AES-NI (6739 MiB/s) = ~200 cycles per eight blocks, tweak work included (Bae, v6 cover letter, "
                + "docs/research/keylocker-research.md §1.12). Charged on every execution, whatever ZF."
        case .msrAccess: "Agner Fog: RDMSR/WRMSR ~ 100 cycles (serializing)."
        case .cr4Write: "Agner Fog: MOV to CR4 ~ 100 cycles (serializing)."
        case .rdrand: "Agner Fog: RDRAND ~ 500 cycles latency on recent cores."
        }
    }
}

extension CostItem {
    /// The item's position in `allCases` (declaration order). A payload-free enum is stored as exactly
    /// that case index, so this is a load, not a search.
    @inline(__always) var index: Int { Int(unsafeBitCast(self, to: UInt8.self)) }
}

/// Emulated cycles spent, per cost item.
///
/// Stored as a flat array indexed by ``CostItem/index`` rather than dictionaries: `Machine.charge` runs for
/// every modelled instruction (e.g. once per AESENCWIDE256KL), so adding must cost a few nanoseconds, not
/// two hash-table updates. The public view is unchanged: `counts`/`cycles` list exactly the items ever
/// charged.
public struct CycleCounters: Hashable, Sendable {
    /// `[count₀, cycles₀, count₁, cycles₁, …]` in `CostItem.allCases` order.
    private var values = [UInt64](repeating: 0, count: 2 * CostItem.allCases.count)
    /// Bit `index` set: the item has been charged at least once.
    private var charged: UInt64 = 0

    public init() {
        precondition(CostItem.allCases.count <= 64, "CycleCounters keeps a 64-bit charged mask")
    }

    /// Emulated cycles per item ever charged.
    public var cycles: [CostItem: UInt64] { view(offset: 1) }
    /// Operations per item ever charged.
    public var counts: [CostItem: UInt64] { view(offset: 0) }

    /// Total emulated cycles.
    public var total: UInt64 { stride(from: 1, to: values.count, by: 2).reduce(0) { $0 &+ values[$1] } }

    mutating func add(_ item: CostItem, count: UInt64, cycles extra: UInt64) {
        let index = item.index
        values.withUnsafeMutableBufferPointer { buffer in
            buffer[2 &* index] &+= count
            buffer[2 &* index &+ 1] &+= extra
        }
        charged |= 1 << UInt64(index)
    }

    private func view(offset: Int) -> [CostItem: UInt64] {
        var result: [CostItem: UInt64] = [:]
        for item in CostItem.allCases where charged & (1 << UInt64(item.index)) != 0 {
            result[item] = values[2 * item.index + offset]
        }
        return result
    }

    private mutating func set(_ item: CostItem, count: UInt64, cycles: UInt64) {
        values[2 * item.index] = count
        values[2 * item.index + 1] = cycles
        charged |= 1 << UInt64(item.index)
    }

    func encode(into writer: inout ImageWriter) {
        writer.section("counters", version: 1)
        let items = CostItem.allCases.filter { charged & (1 << UInt64($0.index)) != 0 }
        writer.u32(UInt32(items.count))
        for item in items {
            writer.string(item.rawValue)
            writer.u64(values[2 * item.index])
            writer.u64(values[2 * item.index + 1])
        }
    }

    static func decode(from reader: inout ImageReader) throws(HWKeysError) -> CycleCounters {
        try reader.section("counters", maxVersion: 1)
        var counters = CycleCounters()
        let count = try reader.u32()
        for _ in 0..<count {
            let name = try reader.string()
            guard let item = CostItem(rawValue: name) else {
                throw .unreadableImage("machine image: unknown cost item \(name)")
            }
            counters.set(item, count: try reader.u64(), cycles: try reader.u64())
        }
        return counters
    }
}
