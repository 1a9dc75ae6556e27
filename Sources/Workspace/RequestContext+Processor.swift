//===----------------------------------------------------------------------===//
//
// hwkeys: Workspace
//
//===----------------------------------------------------------------------===//

import HWKeysBase
import Platform
import X86

extension RequestContext {
    /// The logical processor numbered `cpu` that a request's instructions execute on: the one place a
    /// request picks a processor, so that under `--vm` it can become the guest's virtual CPU.
    ///
    /// Today this is always the target machine's bare-metal `LogicalProcessor` (KVM, a later phase, makes
    /// it return the guest's vCPU `cpu` when the request targets a guest).
    ///
    /// - Throws: `EHOSTDOWN` unless the machine is running; `EINVAL` (usage) for a CPU number the machine
    ///   does not have.
    public func processor(_ cpu: Int) throws(HWKeysError) -> any X86Processor {
        let machine = try machine()
        try machine.requireRunning()
        guard let processor = machine.processor(cpu) else {
            throw HWKeysError.usage("no CPU \(cpu): the machine has CPUs 0…\(machine.processors.count - 1)")
        }
        return processor
    }
}
