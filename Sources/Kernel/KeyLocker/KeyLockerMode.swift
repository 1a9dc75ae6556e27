//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

/// How the kernel keys Key Locker (docs/contract.md §7): the modes of Andy Lutomirski's May 2021 proposal
/// (docs/research/keylocker-research.md §3.3), written to `/sys/kernel/keylocker/mode` under `keylocker.policy=admin`,
/// and `boot`, the one fixed policy of Intel's v9 series (§2.2, §3.8), under `keylocker.policy=boot`.
public enum KeyLockerMode: String, Codable, Sendable, CaseIterable {
    /// LOADIWKEY KeySource 1 on one CPU, backed up and copied to the others through the platform backup.
    case nativeRandomKey = "native_random_key"
    /// A kernel-random software key loaded on every CPU and kept in kernel memory (DRAM) for reloads.
    case nativeKernelKeyRemember = "native_kernel_key_remember"
    /// A kernel-random software key loaded on every CPU, backed up to the platform and wiped.
    case nativeKernelKeyBackup = "native_kernel_key_backup"
    /// A kernel-random key loaded with NoBackup on every CPU and wiped; lost for good with IWKey.
    case nativeKernelKeyNorestore = "native_kernel_key_norestore"
    /// Let the hypervisor manage IWKey by any means (a guest-only mode; no paravirt interface exists).
    case paravirtAny = "paravirt_any"
    /// Ask the hypervisor for a random IWKey (a guest-only mode; no paravirt interface exists).
    case paravirtRandom = "paravirt_random"
    /// `keylocker.policy=boot` (Intel v9): a kernel-random key loaded at boot, wiped, backed up.
    case boot

    /// The modes the administrator may write under `keylocker.policy=admin`.
    public static let adminModes: [KeyLockerMode] = [
        .nativeRandomKey, .nativeKernelKeyRemember, .nativeKernelKeyBackup, .nativeKernelKeyNorestore,
        .paravirtAny, .paravirtRandom,
    ]

    /// How IWKey comes back after a power transition or on a CPU coming online.
    enum Restore {
        /// LOADIWKEY from the key kept in kernel memory.
        case remembered
        /// `IA32_COPY_PLATFORM_TO_LOCAL` from the platform backup.
        case platformBackup
        /// It does not: the key is gone.
        case none
    }

    var restore: Restore {
        switch self {
        case .nativeKernelKeyRemember: .remembered
        case .nativeRandomKey, .nativeKernelKeyBackup, .boot: .platformBackup
        case .nativeKernelKeyNorestore, .paravirtAny, .paravirtRandom: .none
        }
    }
}

/// `/sys/kernel/keylocker/status` (docs/contract.md §7).
public enum KeyLockerStatus: String, Codable, Sendable {
    /// Not initialized (admin policy before a mode is written, or the hardware cannot be used).
    case disabled
    /// IWKey is loaded on every online CPU; handles work.
    case valid
    /// Soft-disabled after a failed restore: every user gets ENODEV until reboot.
    case invalid
}
