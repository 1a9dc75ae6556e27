//===----------------------------------------------------------------------===//
//
// hwkeys: Kernel
//
//===----------------------------------------------------------------------===//

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Host-side work space for the sector path, kept between requests so a 4 KiB I/O allocates nothing
/// (two fresh 4 KiB buffers per request cost as much as a tenth of the Key Locker path). Holds only
/// transient data — sectors being encrypted or decrypted, XTS tweaks — never key material. Callers wipe
/// what may hold plaintext after use, and the tweak region after every request (encrypted tweaks are
/// derived from K2, issue 11); everything is wiped when the kernel goes. Grows to the largest request
/// seen (at most 16 MiB plus its tweaks).
final class CryptScratch {
    // One thread uses a kernel at a time and no two accesses overlap: no dynamic exclusivity checks.
    @exclusivity(unchecked) private var sectors = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    @exclusivity(unchecked) private var tweaks = UnsafeMutableRawBufferPointer(start: nil, count: 0)

    deinit {
        Self.release(sectors)
        Self.release(tweaks)
    }

    /// `count` bytes for sector data (contents undefined).
    func sectorBuffer(_ count: Int) -> UnsafeMutableRawBufferPointer {
        Self.ensure(&sectors, count)
        return UnsafeMutableRawBufferPointer(rebasing: sectors[0..<count])
    }

    /// `count` bytes for XTS tweaks (contents undefined).
    func tweakBuffer(_ count: Int) -> UnsafeMutableRawBufferPointer {
        Self.ensure(&tweaks, count)
        return UnsafeMutableRawBufferPointer(rebasing: tweaks[0..<count])
    }

    /// Every byte of the tweak region, for tests that check it is wiped between requests.
    var tweakRegion: [UInt8] { Array(UnsafeRawBufferPointer(tweaks)) }

    private static func ensure(_ buffer: inout UnsafeMutableRawBufferPointer, _ count: Int) {
        guard buffer.count < count else { return }
        release(buffer)
        buffer = .allocate(byteCount: max(count, 4096), alignment: 64)
        // Fresh memory may hold anything the allocator had; the regions callers wipe are then all there is.
        memset(buffer.baseAddress!, 0, buffer.count)
    }

    private static func release(_ buffer: UnsafeMutableRawBufferPointer) {
        guard let base = buffer.baseAddress else { return }
        memset(base, 0, buffer.count)
        buffer.deallocate()
    }
}
