//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

import HWKeysBase

/// `/proc/<pid>/maps` and `/proc/<pid>/smaps` (Linux `fs/proc/task_mmu.c`), with the `KeyID:` line the MKTME
/// selftests read from smaps (docs/contract.md §6).
extension MemoryManager {
    /// One VMA as `smaps` reports it.
    public struct VMAReport: Sendable, Hashable {
        public let vma: VMA
        /// Pages mapped (touched) in it.
        public let residentPages: Int
    }

    /// The VMAs of `pid` with their resident pages.
    public func report(pid: Int32) throws(HWKeysError) -> [VMAReport] {
        _ = try kernel.processes.process(pid)
        guard let space = spaces[pid] else { return [] }
        var reports: [VMAReport] = []
        for vma in space.vmas {
            reports.append(VMAReport(vma: vma, residentPages: try residentPages(space, vma.start, vma.end)))
        }
        return reports
    }

    func registerProcFiles(_ pid: Int32) {
        kernel.sysfs.register(
            "/proc/\(pid)/maps",
            SysfsAttribute(read: { (kernel: Kernel) throws(HWKeysError) -> String in
                try kernel.memoryManager.report(pid: pid).map { Self.mapsLine($0.vma) }.joined(separator: "\n")
            })
        )
        kernel.sysfs.register(
            "/proc/\(pid)/smaps",
            SysfsAttribute(read: { (kernel: Kernel) throws(HWKeysError) -> String in
                Self.smaps(try kernel.memoryManager.report(pid: pid))
            })
        )
    }

    /// `7effffff0000-7f0000000000 rw-p 00000000 00:00 0`.
    static func mapsLine(_ vma: VMA) -> String {
        "\(String(vma.start, radix: 16))-\(String(vma.end, radix: 16)) \(vma.permissions) 00000000 00:00 0"
    }

    /// The smaps text: per VMA the maps line, sizes in kB, and `KeyID:`.
    public static func smaps(_ reports: [VMAReport]) -> String {
        func field(_ name: String, _ value: String) -> String {
            let label = name + ":"
            return label + String(repeating: " ", count: max(1, 16 - label.count))
                + String(repeating: " ", count: max(0, 8 - value.count)) + value
        }
        return reports.map { report in
            let vma = report.vma
            var flags = [String]()
            if vma.protection.readable { flags.append("rd") }
            if vma.protection.writable { flags.append("wr") }
            if vma.protection.executable { flags.append("ex") }
            if vma.shared { flags.append("sh") }
            flags += ["mr", "mw", "me"]
            if vma.shared { flags.append("ms") }
            return [
                mapsLine(vma),
                field("Size", "\(vma.length / 1024)") + " kB",
                field("KernelPageSize", "4") + " kB",
                field("MMUPageSize", "4") + " kB",
                field("Rss", "\(report.residentPages * 4)") + " kB",
                field("Anonymous", "\(vma.shared ? 0 : report.residentPages * 4)") + " kB",
                field("KeyID", "\(vma.keyID)"),
                "VmFlags: " + flags.joined(separator: " "),
            ].joined(separator: "\n")
        }.joined(separator: "\n")
    }
}
