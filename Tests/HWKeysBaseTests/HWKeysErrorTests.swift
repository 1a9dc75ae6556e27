//===----------------------------------------------------------------------===//
//
// hwkeys: HWKeysBaseTests
//
//===----------------------------------------------------------------------===//

import Testing

@testable import HWKeysBase

@Suite struct HWKeysErrorTests {
    /// SDM Vol. 3A, Table 6-1: each exception's mnemonic, and whether it pushes an error code.
    @Test(
        arguments: [
            (0, 0, "#DE"), (1, 0, "#DB"), (3, 0, "#BP"), (4, 0, "#OF"), (5, 0, "#BR"), (6, 0, "#UD"), (7, 0, "#NM"),
            (8, 0, "#DF(0)"), (10, 8, "#TS(8)"), (11, 16, "#NP(16)"), (12, 0, "#SS(0)"), (13, 0, "#GP(0)"),
            (13, 24, "#GP(24)"), (14, 5, "#PF(5)"), (16, 0, "#MF"), (17, 0, "#AC(0)"), (18, 0, "#MC"), (19, 0, "#XM"),
            (20, 0, "#VE"), (21, 3, "#CP(3)"), (2, 0, "VECTOR_2"), (9, 0, "VECTOR_9"), (15, 0, "VECTOR_15"),
            (32, 0, "VECTOR_32"),
        ] as [(UInt8, UInt32, String)]
    )
    func faultNamesAreTheSDMMnemonics(vector: UInt8, errorCode: UInt32, name: String) {
        #expect(ErrorCode.fault(vector: vector, errorCode: errorCode).name == name)
    }

    /// docs/contract.md §2 (the original PCONFIG generation): RAX 0…5 and their names, as the MKTME spec and Linux
    /// spell them.
    @Test func pconfigNamesAreTheMKTMESpecs() {
        let names = PCONFIGStatus.allCases.map { (Int($0.rawValue), ErrorCode.pconfig($0).name) }
        #expect(names.map(\.0) == [0, 1, 2, 3, 4, 5])
        #expect(
            names.map(\.1) == [
                "PROG_SUCCESS", "INVALID_PROG_CMD", "ENTROPY_ERROR", "INVALID_KEYID", "INVALID_ENC_ALG", "DEVICE_BUSY",
            ]
        )
    }

    @Test func errnoCodesAreNamedByTheErrno() {
        #expect(ErrorCode.errno(.ENOKEY).name == "ENOKEY")
        #expect(HWKeysError(.ENOKEY, "gone").code == .errno(.ENOKEY))
        #expect(HWKeysError(.ENOKEY, "gone").errno == .ENOKEY)
        #expect(HWKeysError(.fault(vector: 13, errorCode: 0), "CR4.KL = 0").errno == nil)
        #expect(HWKeysError(.pconfig(.invalidKeyID), "KeyID 0").errno == nil)
    }

    @Test func descriptionIsCodeThenMessage() {
        #expect(HWKeysError(.EKEYREVOKED, "key 5 was revoked").description == "EKEYREVOKED: key 5 was revoked")
        #expect(
            HWKeysError(.fault(vector: 6, errorCode: 0), "CPUID.7.0:ECX.KL = 0").description
                == "#UD: CPUID.7.0:ECX.KL = 0"
        )
        #expect("\(HWKeysError(.pconfig(.deviceBusy), "retry"))" == "DEVICE_BUSY: retry")
    }

    @Test func equalityAndHashingLookAtTheCodeOnly() {
        #expect(HWKeysError(.ENOKEY, "one") == HWKeysError(.ENOKEY, "another"))
        #expect(HWKeysError(.ENOKEY, "same") != HWKeysError(.EKEYEXPIRED, "same"))
        #expect(HWKeysError.usage("bad") == HWKeysError(.EINVAL, "also bad"))
        #expect(
            HWKeysError(.fault(vector: 13, errorCode: 0), "") != HWKeysError(.fault(vector: 13, errorCode: 1), "")
        )
        #expect(Set([HWKeysError(.EIO, "a"), HWKeysError(.EIO, "b"), HWKeysError(.EBUSY, "c")]).count == 2)
    }

    @Test func usageErrorsAreEINVALAndMarked() {
        let usage = HWKeysError.usage("--cpl must be 0 or 3")
        #expect(usage.code == .errno(.EINVAL))
        #expect(usage.isUsage)
        #expect(usage.message == "--cpl must be 0 or 3")
        #expect(!HWKeysError.einval("bad").isUsage)
        #expect(!HWKeysError(.EINVAL, "bad").isUsage)
        #expect(HWKeysError(.ENOENT, "no script", isUsage: true).isUsage)
    }

    @Test func factoriesCarryTheirErrno() {
        #expect(HWKeysError.einval("x").errno == .EINVAL)
        #expect(HWKeysError.eacces("x").errno == .EACCES)
        #expect(HWKeysError.eperm("x").errno == .EPERM)
        #expect(HWKeysError.enomem("x").errno == .ENOMEM)
        #expect(HWKeysError.enomem("out of pages").message == "out of pages")
    }
}
