//===----------------------------------------------------------------------===//
//
// hwkeys: Platform
//
//===----------------------------------------------------------------------===//

extension MachineConfiguration {
    /// The command line the bootloader passes to the kernel: ``kernelCommandLine``, plus `resume=swap` when
    /// the machine has a swap disk (``effectiveSwapBytes`` > 0) and the line has no `resume=` of its own —
    /// what an installer writes for the swap partition it created, since Linux finds its hibernation
    /// device only through `resume=` (kernel/power/hibernate.c `resume_setup`). An explicit `resume=`
    /// (even an empty one, which turns hibernation off) is left alone. Configurations stored before
    /// `resume=` existed get the same default, so their machines keep hibernating (docs/choices.md).
    ///
    /// Every boot and every resume check uses this line, never ``kernelCommandLine`` directly.
    public var effectiveKernelCommandLine: String {
        guard effectiveSwapBytes > 0, !Self.hasResumeParameter(kernelCommandLine) else { return kernelCommandLine }
        let parameter = "resume=\(Machine.swapDiskName)"
        return kernelCommandLine.allSatisfy(\.isWhitespace) ? parameter : "\(kernelCommandLine) \(parameter)"
    }

    /// Whether `line` has a `resume=` parameter (words split as the kernel splits them).
    static func hasResumeParameter(_ line: String) -> Bool {
        line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).contains { $0.hasPrefix("resume=") }
    }
}
