//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

import HWKeysBase

/// The modelled oops (docs/robustness.md; docs/contract.md §12 "Hostile input"): what the kernel does when
/// data that emulated software or an attacker controls — page tables, heap contents, key material, a
/// hibernation image, a stored kernel image — contradicts its own bookkeeping. Linux prints a `BUG:` line
/// (`print_bad_pte`, `pmd_ERROR`, "Bad page state") and carries on or kills the task; hwkeys prints the
/// same kind of line and fails the command with an errno, never trapping the host process.
extension Kernel {
    /// Logs `BUG: <what>` and returns the command's error: EFAULT (corrupted kernel memory) unless `errno`
    /// says otherwise (EIO for an image).
    func oops(_ what: String, errno: Errno = .EFAULT) -> HWKeysError {
        printk("BUG: \(what)")
        return HWKeysError(errno, "kernel oops: \(what)")
    }

    /// Logs `BUG: <what>` for a path that cannot fail (process exit, kernel-internal frees), which then
    /// skips the bad object: it is leaked rather than trusted, as Linux leaks a page after "Bad page map".
    func oopsAndContinue(_ what: String) {
        printk("BUG: \(what)")
    }
}
