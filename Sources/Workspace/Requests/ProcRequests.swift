//===----------------------------------------------------------------------===//
//
// hwkeys: Workspace
//
//===----------------------------------------------------------------------===//

import HWCrypto
import HWKeysBase
import Kernel
import X86

// `proc spawn|fork|exit|list` and `proc kl-encode|kl-encrypt|kl-decrypt`: processes of the modelled kernel,
// and a process using Key Locker at CPL3 (docs/contract.md §3, §7). The memory verbs are in
// ProcMemoryRequests.swift.

/// `proc spawn [--uid N] [--parent P] [--name S]`: start a new program (fresh address space).
public struct SpawnProcess: WorkspaceRequest {
    public static let access = RequestAccess.write

    /// The parent (default: the root shell, pid 100).
    public var parent: Int32
    /// The new process's uid (a different uid needs a root parent); nil: the parent's.
    public var uid: UInt32?
    /// The process name.
    public var name: String

    public init(parent: Int32 = 100, uid: UInt32? = nil, name: String = "proc") {
        self.parent = parent
        self.uid = uid
        self.name = name
    }

    public func run(in context: RequestContext) throws(HWKeysError) -> ProcessCreated {
        ProcessCreated(pid: try context.kernel().createProcess(parent: parent, uid: uid, name: name, exec: true))
    }
}

/// `proc fork P`: duplicate a process (its address space copied, Linux `dup_mmap`).
public struct ForkProcess: WorkspaceRequest {
    public static let access = RequestAccess.write

    public var pid: Int32

    public init(pid: Int32) { self.pid = pid }

    public func run(in context: RequestContext) throws(HWKeysError) -> ProcessCreated {
        ProcessCreated(pid: try context.kernel().createProcess(parent: pid, exec: false))
    }
}

/// A new process.
public struct ProcessCreated: CommandResult {
    public var pid: Int32

    public var text: String { "\(pid)" }
}

/// `proc exit P`.
public struct ExitProcess: WorkspaceRequest {
    public static let access = RequestAccess.write

    public var pid: Int32

    public init(pid: Int32) { self.pid = pid }

    public func run(in context: RequestContext) throws(HWKeysError) -> ProcessExited {
        try context.kernel().exitProcess(pid)
        return ProcessExited(exited: pid)
    }
}

/// A process that ended.
public struct ProcessExited: CommandResult {
    public var exited: Int32

    public var text: String { "process \(exited) exited" }
}

/// `proc list`: the process table. A reader: it looks at the kernel's process table and runs no instruction.
public struct ListProcesses: WorkspaceRequest {
    public static let access = RequestAccess.read

    public init() {}

    public func run(in context: RequestContext) throws(HWKeysError) -> ProcessList {
        let processes = try context.kernel().processes.processes.sorted.map(\.value)
        return ProcessList(
            processes: processes.map {
                ProcessList.Entry(pid: $0.pid, parent: $0.parent, uid: $0.credentials.uid, name: $0.name)
            }
        )
    }
}

/// The processes, by pid.
public struct ProcessList: CommandResult {
    public struct Entry: Codable, Sendable, Hashable {
        public var pid: Int32
        public var parent: Int32
        public var uid: UInt32
        public var name: String
    }

    public var processes: [Entry]

    public var text: String {
        (["PID\tPPID\tUID\tNAME"] + processes.map { "\($0.pid)\t\($0.parent)\t\($0.uid)\t\($0.name)" })
            .joined(separator: "\n")
    }
}

// MARK: Key Locker at CPL3

/// `proc kl-encode P --key HEX [--restrict LIST] [--cpu N]`: process P runs ENCODEKEY128 (16-byte key) or
/// ENCODEKEY256 (32-byte key) at CPL3 (SDM Vol. 2A ENCODEKEY128/256). With CR4.KL clear it faults (#UD)
/// and the request fails with that code.
public struct UserEncodeKey: WorkspaceRequest {
    public static let access = RequestAccess.write

    public var pid: Int32
    /// The AES key, 16 or 32 bytes.
    public var key: RequestSecret
    public var restrictions: KeyLockerRestrictions
    /// The CPU the process runs on; nil: the kernel's current CPU.
    public var cpu: Int?

    public init(pid: Int32, key: RequestSecret, restrictions: KeyLockerRestrictions = [], cpu: Int? = nil) {
        self.pid = pid
        self.key = key
        self.restrictions = restrictions
        self.cpu = cpu
    }

    public func run(in context: RequestContext) throws(HWKeysError) -> UserHandle {
        let kernel = try context.kernel()
        let (eax, handle) = try kernelCall {
            try kernel.userEncodeKey(pid: pid, cpu: cpu, key: key.bytes, restrictions: restrictions)
        }
        return UserHandle(eax: Hex(eax), handle: HexBytes(handle))
    }
}

/// What ENCODEKEY returned: EAX and the handle.
public struct UserHandle: CommandResult {
    public var eax: Hex
    public var handle: HexBytes

    public var text: String { handle.description }
}

/// `proc kl-encrypt|kl-decrypt P --handle HEX|--key HEX [--restrict LIST] --block HEX [--cpu N]`: process P
/// runs AESENC128KL/AESENC256KL or the decrypt form (by handle size) on one block at CPL3 (SDM Vol. 2A
/// AESENC128KL …). With `--key` the process first wraps the key with ENCODEKEY, as a program that keeps only
/// the handle would. A rejected handle is not an error: ZF = 1 and the block unchanged.
public struct UserAESKL: WorkspaceRequest {
    public static let access = RequestAccess.write

    /// The handle to use, or the key the process wraps first.
    public enum Operand: Sendable {
        /// A 48- or 64-byte handle.
        case handle([UInt8])
        /// A 16- or 32-byte key, wrapped with these restrictions.
        case key(RequestSecret, KeyLockerRestrictions)
    }

    public var pid: Int32
    public var encrypt: Bool
    public var operand: Operand
    /// The 16-byte block.
    public var block: [UInt8]
    /// The CPU the process runs on; nil: the kernel's current CPU.
    public var cpu: Int?

    public init(pid: Int32, encrypt: Bool, operand: Operand, block: [UInt8], cpu: Int? = nil) {
        self.pid = pid
        self.encrypt = encrypt
        self.operand = operand
        self.block = block
        self.cpu = cpu
    }

    public func run(in context: RequestContext) throws(HWKeysError) -> UserAESKLBlock {
        let kernel = try context.kernel()
        let handle: [UInt8]
        var wrapped = false
        switch operand {
        case .handle(let bytes):
            handle = bytes
        case .key(let key, let restrictions):
            handle = try kernelCall {
                try kernel.userEncodeKey(pid: pid, cpu: cpu, key: key.bytes, restrictions: restrictions).handle
            }
            wrapped = true
        }
        let result = try kernelCall {
            try kernel.userAESKL(pid: pid, cpu: cpu, encrypt: encrypt, handle: handle, block: block)
        }
        return UserAESKLBlock(
            zf: result.zf ? 1 : 0,
            block: HexBytes(result.block),
            handle: wrapped ? HexBytes(handle) : nil
        )
    }
}

/// ZF and XMM0 after an AES*KL at CPL3; with `--key`, the handle the process made.
public struct UserAESKLBlock: CommandResult {
    public var zf: Int
    public var block: HexBytes
    /// Present when the process wrapped a key first.
    public var handle: HexBytes?

    public var text: String { "zf=\(zf) block=\(block)" }
}

/// Runs a kernel call that throws untyped errors (the CPL3 Key Locker paths: ``HWKeysBase/HWKeysError`` or an
/// architectural fault) and reports its error as an ``HWKeysBase/HWKeysError``: a fault by its code (`#UD`).
func kernelCall<R>(_ body: () throws -> R) throws(HWKeysError) -> R {
    do {
        return try body()
    } catch let error as HWKeysError {
        throw error
    } catch let fault as X86Fault {
        throw HWKeysError(fault)
    } catch {
        throw HWKeysError(.EIO, "\(error)")
    }
}
