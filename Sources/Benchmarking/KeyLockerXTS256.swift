//===----------------------------------------------------------------------===//
//
// hwkeys: Benchmarking
//
//===----------------------------------------------------------------------===//

import Kernel
import Platform
import X86

/// AES-XTS-256 composed from Key Locker instructions on one emulated logical processor: the kernel's
/// ``KeyLockerXTS`` (the crypt volumes' cipher, as the Linux `aeskl` driver composes it) over data units
/// of `unitLength` bytes, with its handles and work space held for repeated calls. The result equals
/// AES-256-XTS (IEEE 1619) with K1 ‖ K2. Nothing is allocated per call.
public final class KeyLockerXTS256 {
    /// The processor whose IWKey the handles were made under.
    public let processor: LogicalProcessor
    /// Bytes per data unit (a multiple of 128: no ciphertext stealing).
    public let unitLength: Int

    /// The data-key handle (K1) at 0, the tweak-key handle (K2) at 64.
    private let handles: UnsafeMutableRawBufferPointer
    /// ``KeyLockerXTS`` work space for ``chunk`` bytes.
    private let scratch: UnsafeMutableRawBufferPointer
    /// Bytes handed to ``KeyLockerXTS`` per call: eight data units.
    private let chunk: Int

    /// - Parameters:
    ///   - processor: runs the instructions; CR4.KL must be set and the handles made under its IWKey.
    ///   - dataHandle: the 64-byte AES-256 handle of K1 (ENCODEKEY256).
    ///   - tweakHandle: the 64-byte AES-256 handle of K2.
    ///   - unitLength: the data-unit size, a positive multiple of 128 bytes [4096].
    public init(processor: LogicalProcessor, dataHandle: [UInt8], tweakHandle: [UInt8], unitLength: Int = 4096) {
        precondition(dataHandle.count == 64 && tweakHandle.count == 64, "AES-256 Key Locker handles are 64 bytes")
        precondition(unitLength > 0 && unitLength % 128 == 0, "KL-XTS data units are whole groups of eight blocks")
        self.processor = processor
        self.unitLength = unitLength
        handles = .allocate(byteCount: 128, alignment: 16)
        handles.copyBytes(from: dataHandle + tweakHandle)
        chunk = 8 * unitLength
        scratch = .allocate(byteCount: KeyLockerXTS.scratchSize(for: chunk, unitSize: unitLength), alignment: 16)
    }

    deinit {
        handles.deallocate()
        scratch.deallocate()
    }

    /// Encrypts whole data units in place; unit u has sector number `firstSector + u`.
    ///
    /// - Returns: false if an instruction set ZF (a handle was rejected); the buffer is then partly processed.
    /// - Throws: the instructions' faults (#UD without Key Locker, CR4.KL, AESKLE or WIDE_KL).
    public func encrypt(_ data: UnsafeMutableRawBufferPointer, firstSector: UInt64) throws(X86Fault) -> Bool {
        try run(data, firstSector: firstSector, encrypt: true)
    }

    /// Decrypts whole data units in place; see ``encrypt(_:firstSector:)``.
    public func decrypt(_ data: UnsafeMutableRawBufferPointer, firstSector: UInt64) throws(X86Fault) -> Bool {
        try run(data, firstSector: firstSector, encrypt: false)
    }

    private func run(_ data: UnsafeMutableRawBufferPointer, firstSector: UInt64, encrypt: Bool) throws(X86Fault) -> Bool
    {
        precondition(data.count % unitLength == 0, "KL-XTS works on whole data units")
        var offset = 0
        while offset < data.count {
            let end = min(offset + chunk, data.count)
            let accepted = try KeyLockerXTS.crypt(
                on: processor,
                scratch: scratch,
                handles: UnsafeRawBufferPointer(handles),
                data: UnsafeMutableRawBufferPointer(rebasing: data[offset..<end]),
                firstSector: firstSector &+ UInt64(offset / unitLength),
                encrypt: encrypt,
                unitSize: unitLength
            )
            guard accepted else { return false }
            offset = end
        }
        return true
    }
}
