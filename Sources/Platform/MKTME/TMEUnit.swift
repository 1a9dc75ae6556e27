//===----------------------------------------------------------------------===//
//
// hwkeys: Platform
//
//===----------------------------------------------------------------------===//

import HWKeysBase
import X86

/// The platform's TME configuration registers: `IA32_TME_CAPABILITY`, `IA32_TME_ACTIVATE` and the exclusion
/// range (`IA32_TME_EXCLUDE_MASK`/`_BASE`), MSRs 981H–984H (MKTME spec 336907 §4.2; SDM Vol. 4 Table 2-2).
///
/// Real parts hold these per package and firmware must program every package alike (Linux refuses MKTME
/// otherwise); hwkeys models the one consistent value all packages report, so a WRMSR on any processor
/// configures the whole platform (docs/mktme.md).
///
/// The KeyID layout of physical addresses follows the **activated** value: k = MK_TME_KEYID_BITS once
/// `IA32_TME_ACTIVATE` is locked with TME enabled, and 0 before (so `--tme off` machines have no KeyID
/// bits until software activates TME by hand).
final class TMEUnit {
    /// MAXPHYADDR (CPUID.80000008H:EAX[7:0]).
    let maxPhysAddr: Int
    /// `IA32_TME_CAPABILITY`: AES-XTS-128 and AES-XTS-256, bypass supported,
    /// MK_TME_MAX_KEYID_BITS = max(6, configured k), MK_TME_MAX_KEYS from the configuration.
    let capability: UInt64
    /// What firmware writes at power-on.
    let configuration: MachineConfiguration

    /// `IA32_TME_ACTIVATE` (0 after every power loss: unlocked, disabled).
    private(set) var activate: UInt64 = 0
    /// `IA32_TME_EXCLUDE_MASK`.
    private(set) var excludeMask: UInt64 = 0
    /// `IA32_TME_EXCLUDE_BASE`.
    private(set) var excludeBase: UInt64 = 0
    /// Where the KeyID sits in physical addresses: k from the activated `IA32_TME_ACTIVATE`.
    private(set) var keyIDLayout: KeyIDLayout

    // Derived from the registers so that the memory path tests them cheaply.
    private var exclusionActive = false
    private var exclusionMaskBits: UInt64 = 0
    private var exclusionMatch: UInt64 = 0

    init(configuration: MachineConfiguration) {
        self.configuration = configuration
        self.maxPhysAddr = configuration.maxPhysAddr
        let maxKeyIDBits = max(6, configuration.keyIDBits)
        var capability = TMEAlgorithm.allCases.reduce(UInt64(0)) { $0 | TMECapability.algorithmBit($1) }
        capability |= TMECapability.bypassSupported
        capability |= UInt64(maxKeyIDBits) << TMECapability.maxKeyIDBitsShift
        capability |= UInt64(configuration.maxKeys) << TMECapability.maxKeysShift
        self.capability = capability
        self.keyIDLayout = KeyIDLayout(maxPhysAddr: configuration.maxPhysAddr, keyIDBits: 0)
    }

    // MARK: State the memory system and PCONFIG consult

    /// MK_TME_MAX_KEYID_BITS.
    var maxKeyIDBits: Int { TMECapability.maxKeyIDBits(capability) }
    /// MK_TME_MAX_KEYS.
    var maxKeys: Int { TMECapability.maxKeys(capability) }
    /// `IA32_TME_ACTIVATE.LOCK`.
    var isLocked: Bool { activate & TMEActivate.lock != 0 }
    /// TME is active: `IA32_TME_ACTIVATE` locked with TME enabled.
    var isActive: Bool { activate & (TMEActivate.lock | TMEActivate.enable) == TMEActivate.lock | TMEActivate.enable }
    /// The KeyID-0 algorithm (meaningful while active).
    var policy: TMEAlgorithm { TMEAlgorithm(rawValue: Int(TMEActivate.policy(activate))) ?? .aesXTS128 }
    /// MK_TME_CRYPTO_ALGS as an ENC_ALG bitmap (bit n = algorithm n): what PCONFIG accepts.
    var enabledAlgorithms: UInt16 { isActive ? TMEActivate.algorithms(activate) : 0 }
    /// "Save TME key for standby" as activated.
    var savesKeyForStandby: Bool { isActive && activate & TMEActivate.saveKeyForStandby != 0 }

    /// True when KeyID-0 traffic at DRAM address `dramAddress` is stored as plaintext: TME not active, TME
    /// bypass, or the address lies in the exclusion range (MKTME spec §4.2.3–4.2.4; docs/contract.md §2).
    @inline(__always)
    func keyID0IsPlaintext(at dramAddress: UInt64) -> Bool {
        guard isActive, activate & TMEActivate.bypass == 0 else { return true }
        return exclusionActive && dramAddress & exclusionMaskBits == exclusionMatch
    }

    // MARK: RDMSR / WRMSR

    /// RDMSR of 981H–984H. Every one of them is readable.
    func rdmsr(_ msr: UInt32, machine: Machine) throws(X86Fault) -> UInt64 {
        switch msr {
        case MSR.tmeCapability: return capability
        case MSR.tmeActivate: return activate
        case MSR.tmeExcludeMask: return excludeMask
        case MSR.tmeExcludeBase: return excludeBase
        default: throw .gp0("RDMSR of unmodelled MSR 0x\(String(msr, radix: 16))")
        }
    }

    /// WRMSR of 981H–984H: `IA32_TME_CAPABILITY` is read-only (#GP(0)); the others follow
    /// ``writeActivate(_:machine:)`` and ``writeExclusion(_:_:)``.
    func wrmsr(_ msr: UInt32, _ value: UInt64, machine: Machine) throws(X86Fault) {
        switch msr {
        case MSR.tmeCapability: throw .gp0("IA32_TME_CAPABILITY is read-only")
        case MSR.tmeActivate: try writeActivate(value, machine: machine)
        case MSR.tmeExcludeMask, MSR.tmeExcludeBase: try writeExclusion(msr, value)
        default: throw .gp0("WRMSR to unmodelled MSR 0x\(String(msr, radix: 16))")
        }
    }

    /// Commits a validated `IA32_TME_ACTIVATE` value (see TMEUnit+Activate.swift).
    func commitActivate(_ value: UInt64) {
        activate = value | TMEActivate.lock
        keyIDLayout = KeyIDLayout(
            maxPhysAddr: maxPhysAddr,
            keyIDBits: value & TMEActivate.enable != 0 ? TMEActivate.keyIDBits(value) : 0
        )
    }

    /// Commits a validated exclusion register value (see TMEUnit+Exclusion.swift).
    func commitExclusion(_ msr: UInt32, _ value: UInt64) {
        if msr == MSR.tmeExcludeMask { excludeMask = value } else { excludeBase = value }
        let field = TMEExclude.addressField(maxPhysAddr: maxPhysAddr)
        exclusionActive = excludeMask & TMEExclude.enable != 0
        exclusionMaskBits = excludeMask & field
        exclusionMatch = excludeBase & exclusionMaskBits
    }

    // MARK: Firmware and power (docs/contract.md §4)

    /// Power loss clears the registers; on the way back to S0 firmware programs them from the configuration.
    ///
    /// **`--tme off`:** firmware leaves `IA32_TME_ACTIVATE` unlocked and disabled (and the exclusion range
    /// unprogrammed), so software can exercise every WRMSR rule and activate TME by hand; the first
    /// successful write locks it. **`--tme on`:** firmware programs the exclusion range (if configured), then
    /// writes `IA32_TME_ACTIVATE` once: enable, policy, bypass, save-for-standby, k and the KeyID ≥ 1
    /// algorithms, with key select = 1 (restore) when resuming from S3 with keys saved for standby.
    func powerTransition(_ transition: PowerTransition, machine: Machine) {
        switch transition {
        case .suspendToRAM, .hibernate, .powerOff, .warmReset:
            reset()
        case .firmwareInit(let fromStandby):
            reset()
            guard configuration.tmeEnabled else { return }
            let value = TMEActivate.value(
                enable: true,
                keySelect: fromStandby && machine.memory.hasStandbyKeys,
                saveKeyForStandby: configuration.saveKeyForStandby,
                policy: configuration.tmePolicy,
                bypass: configuration.tmeBypass,
                keyIDBits: configuration.keyIDBits,
                algorithms: configuration.mkAlgorithms
            )
            do {
                if let exclusion = configuration.tmeExclude {
                    try writeExclusion(MSR.tmeExcludeBase, exclusion.base)
                    try writeExclusion(MSR.tmeExcludeMask, exclusion.mask | TMEExclude.enable)
                }
                try writeActivate(value, machine: machine)
            } catch {
                // The configuration was validated at creation against the same rules.
                preconditionFailure("firmware TME activation failed: \(error)")
            }
        }
    }

    private func reset() {
        activate = 0
        commitExclusion(MSR.tmeExcludeMask, 0)
        commitExclusion(MSR.tmeExcludeBase, 0)
        keyIDLayout = KeyIDLayout(maxPhysAddr: maxPhysAddr, keyIDBits: 0)
    }

    // MARK: Image

    func encode(into writer: inout ImageWriter) {
        writer.section("tme", version: 1)
        writer.u64(activate)
        writer.u64(excludeMask)
        writer.u64(excludeBase)
    }

    func decode(from reader: inout ImageReader) throws(HWKeysError) {
        try reader.section("tme", maxVersion: 1)
        let activate = try reader.u64()
        let mask = try reader.u64()
        let base = try reader.u64()
        guard activate & ~(TMEActivate.writableMask | TMEActivate.lock) == 0,
            TMEActivate.keyIDBits(activate) <= maxKeyIDBits,
            TMEActivate.keyIDBits(activate) == 0 || activate & TMEActivate.enable != 0,
            TMEAlgorithm(rawValue: Int(TMEActivate.policy(activate))) != nil,
            activate & TMEActivate.lock != 0 || activate == 0
        else { throw .unreadableImage("machine image: invalid IA32_TME_ACTIVATE 0x\(String(activate, radix: 16))") }
        let field = TMEExclude.addressField(maxPhysAddr: maxPhysAddr)
        guard mask & ~(field | TMEExclude.enable) == 0, base & ~field == 0 else {
            throw .unreadableImage("machine image: invalid TME exclusion registers")
        }
        commitExclusion(MSR.tmeExcludeMask, mask)
        commitExclusion(MSR.tmeExcludeBase, base)
        if activate == 0 {
            self.activate = 0
            keyIDLayout = KeyIDLayout(maxPhysAddr: maxPhysAddr, keyIDBits: 0)
        } else {
            commitActivate(activate & ~TMEActivate.lock)
        }
    }
}
