//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

import HWKeysBase

/// Which `mktme` key API the kernel implements (docs/contract.md §6), chosen with `mktme.api=`.
public enum MKTMEAPIDesign: String, Codable, Sendable, CaseIterable {
    /// The RFC v2 documentation patch: key types user/cpu/clear/no-encrypt, one KeyID per key.
    case rfcV2 = "rfc-v2"
    /// What the review asked for: cpu keys (user only for pmem), virtualized KeyIDs, rotation.
    case revised
}

/// How Key Locker is keyed (docs/contract.md §7), chosen with `keylocker.policy=`.
public enum KeyLockerPolicy: String, Codable, Sendable, CaseIterable {
    /// Not initialized at boot; the administrator writes a mode to sysfs (Lutomirski's proposal).
    case admin
    /// A kernel-random key loaded at boot, wiped and backed up (Intel's v9 series).
    case boot
}

/// The parsed kernel command line. Unknown parameters are kept (and logged), as Linux does.
public struct KernelCommandLine: Codable, Sendable, Hashable {
    /// The raw text.
    public let raw: String
    /// `mktme.api=rfc-v2|revised` [revised].
    public var mktmeAPI: MKTMEAPIDesign = .revised
    /// `mktme_savekeys` (RFC v2): keep user-key material in kernel memory for CPU hotplug.
    public var mktmeSaveKeys = false
    /// `keylocker.policy=admin|boot` [admin].
    public var keyLockerPolicy: KeyLockerPolicy = .admin
    /// `resume=NAME` (or `resume=/dev/NAME`): the disk that takes the hibernation image and is checked for
    /// one at boot, as Linux's `resume_setup` (kernel/power/hibernate.c) records it. nil without
    /// `resume=` or with an empty value: no swap device, so hibernation is EOPNOTSUPP.
    public var resumeDevice: String?
    /// Parameters the kernel did not recognise.
    public var unknown: [String] = []

    /// Parses `text`. Throws EINVAL for a recognised parameter with a bad value.
    public init(_ text: String) throws(HWKeysError) {
        raw = text
        for word in text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }) {
            let parts = word.split(separator: "=", maxSplits: 1).map(String.init)
            let key = parts[0]
            let value = parts.count > 1 ? parts[1] : nil
            switch key {
            case "mktme.api":
                guard let value, let design = MKTMEAPIDesign(rawValue: value) else {
                    throw .einval("mktme.api must be rfc-v2 or revised")
                }
                mktmeAPI = design
            case "mktme_savekeys", "mktme_storekeys":
                mktmeSaveKeys = true
            case "keylocker.policy":
                guard let value, let policy = KeyLockerPolicy(rawValue: value) else {
                    throw .einval("keylocker.policy must be admin or boot")
                }
                keyLockerPolicy = policy
            case "resume" where value != nil:
                // Linux keeps the last `resume=`; the name is looked up when the device is needed.
                let name = value.map { $0.hasPrefix("/dev/") ? String($0.dropFirst(5)) : $0 } ?? ""
                resumeDevice = name.isEmpty ? nil : name
            default:
                unknown.append(String(word))
            }
        }
    }
}
