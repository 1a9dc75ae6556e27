//===----------------------------------------------------------------------===//
//
// hwkeys: Workspace
//
//===----------------------------------------------------------------------===//

import Foundation
import HWKeysBase
import Kernel
import KernelInterfaces
import Platform

/// `dmesg`: the kernel log.
public struct ReadKernelLog: WorkspaceRequest {
    public static let access = RequestAccess.read

    public init() {}

    public func run(in context: RequestContext) throws(HWKeysError) -> KernelLog {
        let log = try context.kernel().log
        return KernelLog(
            lines: log.lines.map { KernelLog.Line(timeNanoseconds: $0.time, facility: $0.facility, text: $0.text) },
            dropped: log.dropped,
            formatted: log.lines.map(DmesgLog.format)
        )
    }
}

/// The kernel log.
public struct KernelLog: CommandResult {
    public struct Line: Codable, Sendable, Hashable {
        public var timeNanoseconds: UInt64
        public var facility: String
        public var text: String

        enum CodingKeys: String, CodingKey {
            case timeNanoseconds = "time_ns"
            case facility, text
        }
    }

    public var lines: [Line]
    public var dropped: Int
    /// The lines as `dmesg` prints them (text only).
    var formatted: [String]

    enum CodingKeys: String, CodingKey { case lines, dropped }

    public var text: String { formatted.joined(separator: "\n") }
}

/// `sysfs read PATH`: a pseudo-file under /proc or /sys.
public struct ReadPseudoFile: WorkspaceRequest {
    public static let access = RequestAccess.read

    public var path: String

    public init(path: String) { self.path = path }

    public func run(in context: RequestContext) throws(HWKeysError) -> PseudoFileValue {
        PseudoFileValue(path: path, value: try context.kernel().sysfsRead(path), wrote: false)
    }
}

/// `sysfs write PATH VALUE` (root only).
public struct WritePseudoFile: WorkspaceRequest {
    public static let access = RequestAccess.write

    public var path: String
    public var value: String
    /// The process that writes.
    public var pid: Int32

    public init(path: String, value: String, pid: Int32 = 100) {
        self.path = path
        self.value = value
        self.pid = pid
    }

    public func run(in context: RequestContext) throws(HWKeysError) -> PseudoFileValue {
        let kernel = try context.kernel()
        try kernel.sysfsWrite(path, value, as: pid)
        let now = (try? kernel.sysfsRead(path)) ?? value
        return PseudoFileValue(path: path, value: now, wrote: true)
    }
}

/// A pseudo-file's value.
public struct PseudoFileValue: CommandResult {
    public var path: String
    public var value: String
    /// Text form: `PATH = VALUE` after a write, the value alone after a read.
    var wrote: Bool

    enum CodingKeys: String, CodingKey { case path, value }

    public var text: String { wrote ? "\(path) = \(value)" : value }
}

/// `sysfs ls PATH`: a pseudo-directory.
public struct ListPseudoDirectory: WorkspaceRequest {
    public static let access = RequestAccess.read

    public var path: String

    public init(path: String) { self.path = path }

    public func run(in context: RequestContext) throws(HWKeysError) -> PseudoDirectory {
        PseudoDirectory(path: path, entries: try context.kernel().sysfsList(path))
    }
}

/// A pseudo-directory's entries.
public struct PseudoDirectory: CommandResult {
    public var path: String
    public var entries: [String]

    public var text: String { entries.joined(separator: "\n") }
}

/// `clock show`: emulated time.
public struct ShowClock: WorkspaceRequest {
    public static let access = RequestAccess.read

    public init() {}

    public func run(in context: RequestContext) throws(HWKeysError) -> ClockReading {
        ClockReading(advancedNanoseconds: nil, emulatedNanoseconds: try context.machine().nanoseconds)
    }
}

/// `clock advance`: move emulated time forward (key expiry, gc_delay, backup latency); the kernel's timers
/// fire as time passes.
public struct AdvanceClock: WorkspaceRequest {
    public static let access = RequestAccess.write

    public var nanoseconds: UInt64

    public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    public func run(in context: RequestContext) throws(HWKeysError) -> ClockReading {
        let machine = try context.machine()
        machine.advance(nanoseconds: nanoseconds)
        // The kernel's timers fire as time passes (the key gc, and the KeyIDs it releases).
        if context.kernelIsRunning { try context.kernel().runDueWork() }
        return ClockReading(advancedNanoseconds: nanoseconds, emulatedNanoseconds: machine.nanoseconds)
    }
}

/// Emulated time.
public struct ClockReading: CommandResult {
    /// How far `clock advance` moved time (absent for `clock show`).
    public var advancedNanoseconds: UInt64?
    public var emulatedNanoseconds: UInt64

    enum CodingKeys: String, CodingKey {
        case advancedNanoseconds = "advanced_ns"
        case emulatedNanoseconds = "emulated_ns"
    }

    public var text: String {
        (advancedNanoseconds.map { "advanced_ns: \($0)\n" } ?? "") + "emulated_ns: \(emulatedNanoseconds)"
    }
}

/// `cpu online|offline N`: CPU hotplug.
public struct SetCPUOnline: WorkspaceRequest {
    public static let access = RequestAccess.write

    public var cpu: Int
    public var online: Bool

    public init(cpu: Int, online: Bool) {
        self.cpu = cpu
        self.online = online
    }

    public func run(in context: RequestContext) throws(HWKeysError) -> CPUState {
        try context.kernel().setCPU(cpu, online: online)
        return CPUState(cpu: cpu, online: online)
    }
}

/// One CPU's hotplug state.
public struct CPUState: CommandResult {
    public var cpu: Int
    public var online: Bool

    public var text: String { "CPU\(cpu) is \(online ? "online" : "offline")" }
}

/// `cpu list`: CPUs, their packages and hotplug state.
public struct ListCPUs: WorkspaceRequest {
    public static let access = RequestAccess.read

    public init() {}

    public func run(in context: RequestContext) throws(HWKeysError) -> CPUList {
        let kernel = try context.kernel()
        return CPUList(
            cpus: kernel.onlineCPUs.enumerated().map { cpu, online in
                CPUList.Entry(cpu: cpu, package: kernel.platform.package(ofCPU: cpu), online: online)
            }
        )
    }
}

/// The CPUs.
public struct CPUList: CommandResult {
    public struct Entry: Codable, Sendable, Hashable {
        public var cpu: Int
        public var package: Int
        public var online: Bool
    }

    public var cpus: [Entry]

    public var text: String {
        cpus.map { "cpu\($0.cpu)\tpackage \($0.package)\t\($0.online ? "online" : "offline")" }.joined(separator: "\n")
    }
}
