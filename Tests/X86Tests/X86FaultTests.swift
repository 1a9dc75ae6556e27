//===----------------------------------------------------------------------===//
//
// hwkeys: X86Tests
//
//===----------------------------------------------------------------------===//

import HWKeysBase
import Testing
import X86

/// Architectural faults (docs/design.md rule 2; SDM Vol. 3A §6.15 and Table 6-1: #UD is vector 6, #NM vector 7,
/// #GP vector 13; docs/contract.md §2–§3 name the faults `#UD`, `#GP(0)`, `#NM`).
@Suite struct X86FaultTests {
    @Test(
        arguments: [
            (X86Fault.ud("CR4.KL = 0"), X86Fault.Vector.invalidOpcode, 6, "#UD"),
            (.nm("CR0.TS = 1"), .deviceNotAvailable, 7, "#NM"),
            (.gp0("CPL > 0"), .generalProtection, 13, "#GP(0)"),
        ] as [(X86Fault, X86Fault.Vector, UInt8, String)]
    )
    func faultsHaveTheirSDMVectorAndMnemonic(fault: X86Fault, vector: X86Fault.Vector, number: UInt8, mnemonic: String)
    {
        #expect(fault.vector == vector)
        #expect(vector.rawValue == number)
        #expect(fault.errorCode == 0)
        #expect(fault.mnemonic == mnemonic)
    }

    /// The description is the mnemonic then the guard that fired.
    @Test func descriptionNamesTheFaultAndTheReason() {
        #expect(
            X86Fault.gp0("IA32_TME_CAPABILITY is read-only").description == "#GP(0): IA32_TME_CAPABILITY is read-only"
        )
        #expect(X86Fault.ud("KL absent").description == "#UD: KL absent")
        #expect(X86Fault.ud("KL absent").reason == "KL absent")
    }

    /// Equality and hashing compare the vector and error code only: the reason is for people reading logs.
    @Test func equalityIgnoresTheReason() {
        #expect(X86Fault.gp0("one reason") == X86Fault.gp0("another"))
        #expect(X86Fault.gp0("x") == X86Fault(.generalProtection, errorCode: 0, reason: "y"))
        #expect(Set([X86Fault.ud("a"), .ud("b"), .gp0("c"), .nm("d"), .gp0("e")]).count == 3)
        #expect(X86Fault.gp0("x").hashValue == X86Fault.gp0("y").hashValue)
    }

    /// Different vectors, or #GP with a different error code, are different faults.
    @Test func equalityComparesVectorAndErrorCode() {
        #expect(X86Fault.ud("x") != X86Fault.gp0("x"))
        #expect(X86Fault.ud("x") != X86Fault.nm("x"))
        #expect(X86Fault.nm("x") != X86Fault.gp0("x"))
        #expect(X86Fault(.generalProtection, errorCode: 8, reason: "x") != X86Fault.gp0("x"))
    }

    /// Tests match a thrown fault by kind, whatever reason the guard gave (docs/design.md rule 2: faults are
    /// thrown).
    @Test func thrownFaultsMatchByKind() {
        func wrmsrToReadOnlyRegister() throws(X86Fault) { throw .gp0("IA32_TME_CAPABILITY is read-only") }
        #expect(throws: X86Fault.gp0("")) { try wrmsrToReadOnlyRegister() }
        #expect(throws: X86Fault.self) { try wrmsrToReadOnlyRegister() }
        let caught = #expect(throws: X86Fault.self) { try wrmsrToReadOnlyRegister() }
        #expect(caught?.mnemonic == "#GP(0)")
        #expect(caught != X86Fault.ud(""))
    }

    /// The fault's error code is its vector and error code; its name, the mnemonic.
    @Test func theCodeIsTheVectorAndErrorCode() {
        #expect(X86Fault.ud("x").code == .fault(vector: 6, errorCode: 0))
        #expect(X86Fault.nm("x").code == .fault(vector: 7, errorCode: 0))
        #expect(X86Fault.gp0("x").code == .fault(vector: 13, errorCode: 0))
        #expect(X86Fault(.generalProtection, errorCode: 8, reason: "x").code.name == "#GP(8)")
        #expect(X86Fault(.generalProtection, errorCode: 8, reason: "x").mnemonic == "#GP(8)")
    }

    /// Where a fault leaves the hardware layer it becomes an `HWKeysError`: code the fault, message the reason.
    @Test func aFaultBecomesAnHWKeysErrorWithItsCodeAndReason() {
        let error = HWKeysError(X86Fault.gp0("LOADIWKEY at CPL 3"))
        #expect(error.code == .fault(vector: 13, errorCode: 0))
        #expect(error.code.name == "#GP(0)")
        #expect(error.message == "LOADIWKEY at CPL 3")
        #expect(!error.isUsage)
        #expect(error.description == X86Fault.gp0("LOADIWKEY at CPL 3").description)
        #expect(HWKeysError(X86Fault.nm("CR0.TS = 1")) != HWKeysError(X86Fault.ud("CR0.TS = 1")))
        #expect(HWKeysError(X86Fault.ud("a")) == HWKeysError(.fault(vector: 6, errorCode: 0), "b"))
    }
}
