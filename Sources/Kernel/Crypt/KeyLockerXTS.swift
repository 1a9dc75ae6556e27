//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

import HWCrypto
import X86

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// AES-256-XTS over 512- or 4096-byte sectors from Key Locker instructions, as the Linux `aeskl` driver
/// composes it (v9a 14/14, docs/research/keylocker-research.md §2.5; docs/contract.md §7):
///
/// - per sector, T₀ = AES-256 of the plain64 IV under the **tweak-key handle** (K2). The
///   `aeskl` driver runs one AESENC256KL per request for it; hwkeys computes the T₀ of eight
///   consecutive sectors with one AESENCWIDE256KL (the same instruction on eight blocks);
/// - the data goes eight blocks at a time through AESENCWIDE256KL / AESDECWIDE256KL under the
///   **data-key handle** (K1) in XMM0–7, each block XORed with Tⱼ = T₀·αʲ before and after
///   (IEEE 1619 §5.3).
///
/// A 512-byte sector is 32 blocks: four WIDE instructions, plus one WIDE instruction per eight sectors for
/// the tweaks (a 4 KiB request: 33 instructions; one 4096-byte sector: 32 + 1). Handles are CPL0-only
/// (restriction bit 0); the caller runs at CPL0 on a CPU whose IWKey made them.
public enum KeyLockerXTS {
    /// Bytes per sector (the XTS data unit).
    public static let sectorSize = 512

    /// Encrypts or decrypts whole data units (sectors) in place; unit s of `data` uses the plain64 IV
    /// `firstSector + s · ivStep` (modulo 2⁶⁴).
    ///
    /// The instruction sequence, run through the processor's bulk form of the WIDE loop
    /// (``X86Processor/aeswidekl(_:handle:groups:)``: architecturally the same MOVDQU/AES*WIDE*KL/MOVDQU
    /// sequence, instruction by instruction):
    /// 1. the plain64 IVs of all sectors, eight per 128-byte group, through AESENCWIDE256KL under the
    ///    tweak handle: every sector's T₀;
    /// 2. every block XORed with its Tⱼ = T₀·αʲ (HWCrypto's ``XTSTweaks``);
    /// 3. all groups through AESENCWIDE256KL / AESDECWIDE256KL under the data handle;
    /// 4. every block XORed with its Tⱼ again, clearing the tweaks as it goes; XMM0–7 cleared
    ///    (`kernel_fpu_end`). The scratch is left all zero, whatever the outcome.
    ///
    /// - Parameters:
    ///   - processor: runs the instructions (CR4.KL set, the IWKey that made the handles loaded).
    ///   - scratch: ``scratchSize(for:)`` bytes of work space for the tweaks.
    ///   - handles: 128 bytes: the data-key handle (K1) at 0, the tweak-key handle (K2) at 64.
    ///   - data: whole sectors.
    ///   - firstSector: the plain64 IV of the first sector.
    ///   - ivStep: how far the IV advances per sector [1]: `unitSize / 512` for dm-crypt's default IV
    ///     (512-byte units, `iv_large_sectors` off), 1 to count in whole sectors.
    ///   - encrypt: encrypt (true) or decrypt.
    ///   - unitSize: bytes per data unit [512], a positive multiple of 128 (no ciphertext stealing).
    /// - Returns: false if an instruction set ZF (a handle was rejected: IWKey changed or lost); `data` may
    ///   then be partly processed, so callers work on a scratch copy.
    /// - Throws: the instructions' faults (#UD with CR4.KL = 0 or without Key Locker / WIDE_KL).
    public static func crypt(
        on processor: any X86Processor,
        scratch: UnsafeMutableRawBufferPointer,
        handles: UnsafeRawBufferPointer,
        data: UnsafeMutableRawBufferPointer,
        firstSector: UInt64,
        ivStep: UInt64 = 1,
        encrypt: Bool,
        unitSize sectorSize: Int = sectorSize
    ) throws(X86Fault) -> Bool {
        precondition(handles.count == 128, "two AES-256 handles")
        precondition(sectorSize > 0 && sectorSize % 128 == 0, "KL-XTS data units are whole groups of eight blocks")
        precondition(data.count % sectorSize == 0, "KL-XTS works on whole sectors")
        guard data.count > 0 else { return true }
        let dataHandle = UnsafeRawBufferPointer(rebasing: handles[0..<64])
        let tweakHandle = UnsafeRawBufferPointer(rebasing: handles[64..<128])
        let sectors = data.count / sectorSize
        let groups = (sectors + 7) / 8
        defer {
            // kernel_fpu_end(): nothing of the request stays in XMM0–7 for the next user of the FPU.
            processor.withXMMRegisters {
                _ = $0.baseAddress!.initializeMemory(as: UInt8.self, repeating: 0, count: 128)
            }
        }
        precondition(scratch.count >= scratchSize(for: data.count, unitSize: sectorSize), "KL-XTS scratch too small")
        // The work space holds tweaks derived from K2: nothing of it outlives the call (issue 11). On success
        // the last XOR clears the tweaks as it consumes them and only the encrypted IVs are left to wipe.
        var tweaksCleared = false
        defer {
            let used = tweaksCleared ? 128 * groups : 128 * groups + data.count
            memset(scratch.baseAddress!, 0, used)
        }
        do {
            let firstTweaks = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<128 * groups])
            let tweaks = UnsafeMutableRawBufferPointer(rebasing: scratch[128 * groups..<128 * groups + data.count])
            for index in 0..<8 * groups {
                let number = index < sectors ? firstSector &+ UInt64(index) &* ivStep : 0
                firstTweaks.storeBytes(of: number.littleEndian, toByteOffset: 16 * index, as: UInt64.self)
                firstTweaks.storeBytes(of: 0, toByteOffset: 16 * index + 8, as: UInt64.self)
            }
            guard try !processor.aeswidekl(.encrypt256, handle: tweakHandle, groups: firstTweaks) else { return false }
            for sector in 0..<sectors {
                let range = sector * sectorSize..<(sector + 1) * sectorSize
                XTSTweaks.apply(
                    to: UnsafeMutableRawBufferPointer(rebasing: data[range]),
                    first: UnsafeRawBufferPointer(rebasing: firstTweaks[16 * sector..<16 * sector + 16]),
                    saving: UnsafeMutableRawBufferPointer(rebasing: tweaks[range])
                )
            }
            guard try !processor.aeswidekl(encrypt ? .encrypt256 : .decrypt256, handle: dataHandle, groups: data)
            else { return false }
            XTSTweaks.xorClearing(data, with: tweaks)
            tweaksCleared = true
            return true
        }
    }

    /// Work space ``crypt(on:scratch:handles:data:firstSector:ivStep:encrypt:unitSize:)`` needs for `count` bytes
    /// of data: the encrypted tweak inputs (16 bytes per unit, in whole 128-byte groups) and every block's
    /// tweak.
    public static func scratchSize(for count: Int, unitSize: Int = sectorSize) -> Int {
        128 * ((count / unitSize + 7) / 8) + count
    }
}
