//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

import HWKeysBase

/// A process's credentials. Root (uid 0) holds every capability; nobody else holds any (hwkeys does not
/// model capability sets beyond that).
public struct Credentials: Codable, Sendable, Hashable {
    public var uid: UInt32
    public var gid: UInt32

    public init(uid: UInt32, gid: UInt32) {
        self.uid = uid
        self.gid = gid
    }

    public static let root = Credentials(uid: 0, gid: 0)

    /// CAP_SYS_ADMIN / CAP_SYS_RESOURCE / CAP_SETUID: root only.
    public var isPrivileged: Bool { uid == 0 }
}

/// A process: identity and lineage. Subsystems keep their per-process state (keyrings, address space)
/// keyed by pid and are told about fork and exit.
public struct Process: Codable, Sendable, Hashable {
    public let pid: Int32
    public var parent: Int32
    public var credentials: Credentials
    public var name: String
}

/// The process table. pid 1 is init; pid 100 is the root shell that commands act as by default.
public struct ProcessTable: Codable, Sendable, Hashable {
    public private(set) var processes = StableDictionary<Int32, Process>()
    private var nextPID: Int32 = 101

    public init() {}

    /// The pid of init.
    public static let initPID: Int32 = 1
    /// The pid of the root shell.
    public static let shellPID: Int32 = 100

    public subscript(pid: Int32) -> Process? { processes[pid] }

    /// Looks up a live process or fails with ESRCH.
    public func process(_ pid: Int32) throws(HWKeysError) -> Process {
        guard let process = processes[pid] else { throw HWKeysError(.ESRCH, "no process \(pid)") }
        return process
    }

    mutating func insert(_ process: Process) { processes[process.pid] = process }

    /// Why a restored table is impossible, or nil: init is there, every entry sits under its own pid,
    /// pids are positive and below the next one to hand out, which is within the pid space.
    var problem: String? {
        guard processes[Self.initPID] != nil else { return "no init process" }
        guard (Self.shellPID + 1...4_194_304).contains(nextPID) else { return "next pid \(nextPID)" }
        for (pid, process) in processes.storage where process.pid != pid || pid <= 0 || pid >= nextPID {
            return "process \(pid)"
        }
        return nil
    }

    mutating func allocatePID() throws(HWKeysError) -> Int32 {
        guard nextPID < 4_194_304 else { throw HWKeysError(.EAGAIN, "pid space exhausted") }
        defer { nextPID += 1 }
        return nextPID
    }

    mutating func remove(_ pid: Int32) {
        processes.removeValue(forKey: pid)
        for (other, process) in processes.sorted where process.parent == pid {
            processes[other]?.parent = Self.initPID
        }
    }
}

/// A part of the kernel that keeps per-process state.
public protocol ProcessLifecycleObserver: AnyObject {
    /// `child` was created from `parent` (fork, or spawn when `exec` is true: a fresh address space).
    func processCreated(_ child: Int32, parent: Int32, exec: Bool) throws(HWKeysError)
    /// `pid` is exiting; release everything it holds.
    func processExiting(_ pid: Int32)
}

extension Kernel {
    /// Creates a process as a child of `parent`. With `exec` it starts a fresh program (new address space);
    /// otherwise it is a fork. A different `uid` needs a privileged parent (EPERM).
    @discardableResult
    public func createProcess(
        parent: Int32,
        uid: UInt32? = nil,
        name: String? = nil,
        exec: Bool
    ) throws(HWKeysError) -> Int32 {
        let parentProcess = try processes.process(parent)
        var credentials = parentProcess.credentials
        if let uid, uid != credentials.uid {
            guard credentials.isPrivileged else { throw .eperm("only root can start a process as another user") }
            credentials = Credentials(uid: uid, gid: uid)
        }
        let pid = try processes.allocatePID()
        processes.insert(Process(pid: pid, parent: parent, credentials: credentials, name: name ?? parentProcess.name))
        do {
            for observer in processObservers { try observer.processCreated(pid, parent: parent, exec: exec) }
        } catch {
            for observer in processObservers { observer.processExiting(pid) }
            processes.remove(pid)
            throw error
        }
        return pid
    }

    /// Ends a process. init cannot exit (EPERM).
    public func exitProcess(_ pid: Int32) throws(HWKeysError) {
        _ = try processes.process(pid)
        guard pid != ProcessTable.initPID else { throw .eperm("init cannot exit") }
        for observer in processObservers.reversed() { observer.processExiting(pid) }
        processes.remove(pid)
    }
}
