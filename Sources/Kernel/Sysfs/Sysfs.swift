//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

import HWKeysBase

/// One attribute file under `/proc` or `/sys`.
public struct SysfsAttribute {
    /// Produces the file's contents (without a trailing newline).
    public let read: (Kernel) throws(HWKeysError) -> String
    /// Accepts a write, or nil for a read-only file (EACCES for anyone; files are 0444).
    public let write: ((Kernel, String) throws(HWKeysError) -> Void)?

    public init(
        read: @escaping (Kernel) throws(HWKeysError) -> String,
        write: ((Kernel, String) throws(HWKeysError) -> Void)? = nil
    ) {
        self.read = read
        self.write = write
    }
}

/// The kernel's pseudo-file trees (`/proc/sys/…`, `/sys/…`): a registry of attributes that subsystems
/// fill at boot. Writable files are 0644 (root only); reads are open to all.
public struct SysfsTree {
    private(set) var attributes: [String: SysfsAttribute] = [:]

    public init() {}

    /// Registers `path` (absolute, no trailing slash).
    public mutating func register(_ path: String, _ attribute: SysfsAttribute) {
        precondition(path.hasPrefix("/") && !path.hasSuffix("/"), "sysfs paths are absolute files")
        attributes[path] = attribute
    }

    /// Removes every attribute under `prefix`.
    public mutating func unregister(prefix: String) {
        for path in attributes.keys where path == prefix || path.hasPrefix(prefix + "/") { attributes[path] = nil }
    }

    static func normalize(_ path: String) -> String {
        var normalized = path
        while normalized.count > 1 && normalized.hasSuffix("/") { normalized.removeLast() }
        return normalized
    }

    func attribute(_ path: String) throws(HWKeysError) -> SysfsAttribute {
        let path = Self.normalize(path)
        if let attribute = attributes[path] { return attribute }
        if attributes.keys.contains(where: { $0.hasPrefix(path + "/") }) {
            throw HWKeysError(.EISDIR, "\(path) is a directory")
        }
        throw HWKeysError(.ENOENT, "no such file: \(path)")
    }

    /// The entries directly under directory `path`, sorted; directories end with `/`.
    func list(_ path: String) throws(HWKeysError) -> [String] {
        let path = Self.normalize(path)
        if attributes[path] != nil { throw HWKeysError(.ENOTDIR, "\(path) is a file") }
        let prefix = path == "/" ? "/" : path + "/"
        var entries = Set<String>()
        for key in attributes.keys where key.hasPrefix(prefix) {
            let rest = key.dropFirst(prefix.count)
            if let slash = rest.firstIndex(of: "/") {
                entries.insert(String(rest[..<slash]) + "/")
            } else {
                entries.insert(String(rest))
            }
        }
        guard !entries.isEmpty else { throw HWKeysError(.ENOENT, "no such directory: \(path)") }
        return entries.sorted()
    }
}

extension Kernel {
    /// Reads a pseudo-file.
    public func sysfsRead(_ path: String) throws(HWKeysError) -> String {
        try sysfs.attribute(path).read(self)
    }

    /// Writes a pseudo-file as process `pid` (root only).
    public func sysfsWrite(_ path: String, _ value: String, as pid: Int32) throws(HWKeysError) {
        let attribute = try sysfs.attribute(path)
        guard let write = attribute.write else { throw .eacces("\(SysfsTree.normalize(path)) is read-only") }
        guard try processes.process(pid).credentials.isPrivileged else {
            throw .eacces("only root may write \(SysfsTree.normalize(path))")
        }
        try write(self, value.trimmingTrailingNewlines())
    }

    /// Lists a pseudo-directory.
    public func sysfsList(_ path: String) throws(HWKeysError) -> [String] {
        try sysfs.list(path)
    }

    /// Registers a read/write integer attribute with bounds.
    func registerInteger(
        _ path: String,
        in range: ClosedRange<Int64>,
        get: @escaping (Kernel) -> Int64,
        set: @escaping (Kernel, Int64) -> Void
    ) {
        sysfs.register(
            path,
            SysfsAttribute(
                read: { kernel in String(get(kernel)) },
                write: { (kernel: Kernel, text: String) throws(HWKeysError) in
                    guard let value = Int64(text.trimmingCharacters()), range.contains(value) else {
                        throw .einval("\(path) takes an integer in \(range.lowerBound)…\(range.upperBound)")
                    }
                    set(kernel, value)
                }
            )
        )
    }
}

extension String {
    func trimmingTrailingNewlines() -> String {
        var text = self
        while text.last == "\n" || text.last == "\r" { text.removeLast() }
        return text
    }

    func trimmingCharacters() -> String {
        var text = Substring(self)
        while text.first?.isWhitespace == true { text.removeFirst() }
        while text.last?.isWhitespace == true { text.removeLast() }
        return String(text)
    }
}
