//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

import X86

/// AES-256-XTS over 512-byte sectors from Key Locker instructions, as the Linux `aeskl` driver composes it
/// (v9a 14/14, keylocker-research.md §2.5; spec.md §7):
///
/// - per sector, T₀ = AES-256 of the plain64 sector number under the **tweak-key handle** (K2). The
///   `aeskl` driver runs one AESENC256KL per request for it; hwkeys computes the T₀ of up to eight
///   consecutive sectors with one AESENCWIDE256KL (the same instruction on eight blocks);
/// - the data goes eight blocks at a time through AESENCWIDE256KL / AESDECWIDE256KL under the
///   **data-key handle** (K1) in XMM0–7, each block XORed with Tⱼ = T₀·αʲ before and after
///   (IEEE 1619 §5.3).
///
/// A sector is 32 blocks: four WIDE instructions, plus one WIDE instruction per eight sectors for the
/// tweaks (a 4 KiB request: 33 instructions). The eight current
/// tweaks stay in vector lanes and advance by α⁸ per group, as the driver keeps them in XMM8–15. Handles
/// are CPL0-only (restriction bit 0); the caller runs at CPL0 on a CPU whose IWKey made them.
enum KeyLockerXTS {
    /// Bytes per sector (the XTS data unit).
    static let sectorSize = 512

    /// Eight tweaks Tⱼ … Tⱼ₊₇ as 64-bit halves, so advancing all eight by α⁸ is a few vector operations.
    struct TweakLanes {
        var low: SIMD8<UInt64>
        var high: SIMD8<UInt64>

        /// T, T·α, …, T·α⁷ (IEEE 1619 §5.2: shift left one bit, fold bit 127 back as 87H).
        @inline(__always)
        init(first: SIMD2<UInt64>) {
            low = .zero
            high = .zero
            var (l, h) = (first[0], first[1])
            for lane in 0..<8 {
                low[lane] = l
                high[lane] = h
                (l, h) = ((l << 1) ^ ((h >> 63) &* 0x87), (h << 1) | (l >> 63))
            }
        }

        /// Every lane times α⁸: shift left one byte, fold the byte shifted out as c·(x⁷ + x² + x + 1).
        @inline(__always)
        mutating func advance() {
            let carry = high &>> 56
            high = (high &<< 8) | (low &>> 56)
            low = (low &<< 8) ^ carry ^ (carry &<< 1) ^ (carry &<< 2) ^ (carry &<< 7)
        }

        @inline(__always)
        subscript(lane: Int) -> SIMD2<UInt64> { SIMD2(low[lane], high[lane]) }
    }

    /// Encrypts or decrypts whole sectors in place; sector s of `data` uses tweak `firstSector + s`.
    ///
    /// - Parameters:
    ///   - processor: runs the instructions (CR4.KL set, the IWKey that made the handles loaded).
    ///   - handles: 128 bytes: the data-key handle (K1) at 0, the tweak-key handle (K2) at 64.
    ///   - data: whole 512-byte sectors.
    ///   - firstSector: the plain64 sector number of the first sector.
    ///   - encrypt: encrypt (true) or decrypt.
    /// - Returns: false if an instruction set ZF (a handle was rejected: IWKey changed or lost); `data` is
    ///   then partly processed, so callers work on a scratch copy.
    /// - Throws: the instructions' faults (#UD with CR4.KL = 0 or without Key Locker / WIDE_KL).
    static func crypt<Processor: X86Processor>(
        on processor: Processor,
        handles: UnsafeRawBufferPointer,
        data: UnsafeMutableRawBufferPointer,
        firstSector: UInt64,
        encrypt: Bool
    ) throws(X86Fault) -> Bool {
        precondition(handles.count == 128, "two AES-256 handles")
        precondition(data.count % sectorSize == 0, "KL-XTS works on whole sectors")
        guard let base = data.baseAddress else { return true }
        let dataHandle = UnsafeRawBufferPointer(rebasing: handles[0..<64])
        let tweakHandle = UnsafeRawBufferPointer(rebasing: handles[64..<128])
        let operation: AESKLOperation = encrypt ? .encrypt256 : .decrypt256
        let count = data.count
        // Software moves operands between memory and XMM registers around each instruction; holding the
        // register file's address for the whole request stands for those MOVDQU instructions.
        return try processor.withXMMRegisters { (xmm) throws(X86Fault) -> Bool in
            let blocks = xmm.baseAddress!
            defer {
                // kernel_fpu_end(): nothing of the request stays in XMM0–8 for the next user of the FPU.
                blocks.initializeMemory(as: UInt8.self, repeating: 0, count: 144)
            }
            var firstTweaks = TweakLanes(first: .zero)
            var sectorStart = 0
            var sector = firstSector
            while sectorStart < count {
                // T₀ of up to eight sectors with one AESENCWIDE256KL under the tweak handle.
                let group = min(8, (count - sectorStart) / sectorSize)
                for lane in 0..<8 {
                    let number = lane < group ? sector &+ UInt64(lane) : 0
                    blocks.storeBytes(
                        of: SIMD2(number.littleEndian, 0),
                        toByteOffset: 16 * lane,
                        as: SIMD2<UInt64>.self
                    )
                }
                guard try !processor.aeswidekl(.encrypt256, handle: tweakHandle) else { return false }
                for lane in 0..<group {
                    let tweak = blocks.load(fromByteOffset: 16 * lane, as: SIMD2<UInt64>.self)
                    firstTweaks.low[lane] = tweak[0]
                    firstTweaks.high[lane] = tweak[1]
                }
                for member in 0..<group {
                    var tweaks = TweakLanes(first: firstTweaks[member])
                    var offset = sectorStart + member * sectorSize
                    let end = offset + sectorSize
                    while offset < end {
                        let chunk = base + offset
                        for lane in 0..<8 {
                            let input = chunk.loadUnaligned(fromByteOffset: 16 * lane, as: SIMD2<UInt64>.self)
                            blocks.storeBytes(of: input ^ tweaks[lane], toByteOffset: 16 * lane, as: SIMD2<UInt64>.self)
                        }
                        guard try !processor.aeswidekl(operation, handle: dataHandle) else { return false }
                        for lane in 0..<8 {
                            let output = blocks.load(fromByteOffset: 16 * lane, as: SIMD2<UInt64>.self)
                            chunk.storeBytes(of: output ^ tweaks[lane], toByteOffset: 16 * lane, as: SIMD2<UInt64>.self)
                        }
                        tweaks.advance()
                        offset += 128
                    }
                }
                sectorStart += group * sectorSize
                sector &+= UInt64(group)
            }
            return true
        }
    }
}
