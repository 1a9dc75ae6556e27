//===----------------------------------------------------------------------===//
//
// hwkeys: Platform
//
//===----------------------------------------------------------------------===//

import X86

extension LogicalProcessor {
    public func loadiwkey(eax: UInt32, src1: Int, src2: Int) throws(X86Fault) -> Bool {
        throw .ud("LOADIWKEY is not implemented yet")
    }

    public func encodekey128(src: UInt32) throws(X86Fault) -> UInt32 {
        throw .ud("ENCODEKEY128 is not implemented yet")
    }

    public func encodekey256(src: UInt32) throws(X86Fault) -> UInt32 {
        throw .ud("ENCODEKEY256 is not implemented yet")
    }

    public func aeskl(_ operation: AESKLOperation, xmm: Int, handle: UnsafeRawBufferPointer) throws(X86Fault) -> Bool {
        throw .ud("\(operation.rawValue) is not implemented yet")
    }

    public func aeswidekl(_ operation: AESKLOperation, handle: UnsafeRawBufferPointer) throws(X86Fault) -> Bool {
        throw .ud("\(operation.wideMnemonic) is not implemented yet")
    }

    func readKeyLockerMSR(_ msr: UInt32) throws(X86Fault) -> UInt64 {
        throw .gp0("Key Locker MSRs are not implemented yet")
    }

    func writeKeyLockerMSR(_ msr: UInt32, _ value: UInt64) throws(X86Fault) {
        throw .gp0("Key Locker MSRs are not implemented yet")
    }
}
