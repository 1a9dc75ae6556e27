//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

/// `/proc/sys/kernel/keys/*` (`security/keys/sysctl.c`), `/proc/keys` and `/proc/key-users`
/// (`security/keys/proc.c`).
extension KeyRetentionService {
    func registerProcFiles() {
        let limit = Int64(Int32.max)
        let settings: [(String, ClosedRange<Int64>, WritableKeyPath<KeyLimits, Int64>)] = [
            ("gc_delay", 0...limit, \.gcDelay),
            ("maxkeys", 1...limit, \.maxKeys),
            ("maxbytes", 1...limit, \.maxBytes),
            ("root_maxkeys", 1...limit, \.rootMaxKeys),
            ("root_maxbytes", 1...limit, \.rootMaxBytes),
        ]
        for (name, range, path) in settings {
            kernel.registerInteger(
                "/proc/sys/kernel/keys/\(name)",
                in: range,
                get: { kernel in kernel.keys.limits[keyPath: path] },
                set: { kernel, value in kernel.keys.limits[keyPath: path] = value }
            )
        }
        kernel.sysfs.register(
            "/proc/keys",
            SysfsAttribute(read: { kernel in kernel.keys.procKeys() })
        )
        kernel.sysfs.register(
            "/proc/key-users",
            SysfsAttribute(read: { kernel in kernel.keys.procKeyUsers() })
        )
    }

    /// `/proc/keys`: one line per key in serial order —
    /// `serial flags usage expiry perm uid gid type description` — in Linux's format
    /// (`proc_keys_show`). Flags: `I` instantiated, `R` revoked, `D` dead, `Q` charged to quota, `U` and
    /// `N` (never), `i` invalidated. The reader is taken to be the administrator: every key is listed
    /// (Linux lists only keys the reader may view).
    func procKeys() -> String {
        collectGarbage()
        let now = kernel.now
        return keys.values.sorted { $0.serial < $1.serial }.map { key in
            let flags = [
                "I",
                key.revokedAt != nil ? "R" : "-",
                key.unreferencedAt != nil ? "D" : "-",
                "Q", "-", "-",
                key.invalidated ? "i" : "-",
            ].joined()
            let description = types[key.type]?.describe(key) ?? key.description
            let type = String(key.type.prefix(9))
            let columns = [
                Self.hex8(UInt32(bitPattern: key.serial)), flags, Self.padLeft("\(key.referenceCount)", 5),
                Self.padLeft(Self.timeout(key.expiry, now: now), 4), Self.hex8(key.permissions.rawValue),
                Self.padLeft("\(key.uid)", 5), Self.padLeft("\(key.displayGID)", 5),
                type + String(repeating: " ", count: 9 - type.count), description,
            ]
            return columns.joined(separator: " ")
        }.joined(separator: "\n")
    }

    /// `%08x`.
    static func hex8(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }

    static func padLeft(_ text: String, _ width: Int) -> String {
        String(repeating: " ", count: max(0, width - text.count)) + text
    }

    /// `perm`, `expd`, or the time left in the largest unit: `59s`, `4m`, `2h`, `3d`, `1w`.
    static func timeout(_ expiry: UInt64?, now: UInt64) -> String {
        guard let expiry else { return "perm" }
        guard now < expiry else { return "expd" }
        let seconds = (expiry - now) / 1_000_000_000
        switch seconds {
        case ..<60: return "\(seconds)s"
        case ..<3600: return "\(seconds / 60)m"
        case ..<86400: return "\(seconds / 3600)h"
        case ..<604_800: return "\(seconds / 86400)d"
        default: return "\(seconds / 604_800)w"
        }
    }

    /// `/proc/key-users`: `uid: usage nkeys/nikeys qnkeys/maxkeys qnbytes/maxbytes` per uid with keys
    /// (`proc_key_users_show`). Usage is the number of keys (Linux counts references to its per-uid
    /// record, which each key holds).
    func procKeyUsers() -> String {
        collectGarbage()
        return users.sorted { $0.key < $1.key }.map { uid, use in
            let (maxKeys, maxBytes) = limits.quota(for: uid)
            return Self.padLeft("\(uid)", 5) + ": " + Self.padLeft("\(use.keys)", 5)
                + " \(use.keys)/\(use.keys) \(use.keys)/\(maxKeys) \(use.bytes)/\(maxBytes)"
        }.joined(separator: "\n")
    }
}
