//===----------------------------------------------------------------------===//
//
// hwkeys: KernelInterfaces
//
//===----------------------------------------------------------------------===//

/// The rules every hwkeys disk follows, whichever platform offers it: the kernel checks a crypt volume's
/// name and size against them before it asks the platform for a disk, so a refusal changes nothing.
public enum DiskLimits {
    /// Bytes per sector: the logical block size a kernel addresses.
    public static let sectorSize = 512
    /// Longest disk name.
    public static let maximumNameLength = 64
    /// Largest disk: 64 GiB.
    public static let maximumSize: UInt64 = 64 << 30
    /// Most disks per machine.
    public static let maximumCount = 64

    /// Why `name` cannot name a disk, or nil if it can: 1–64 letters, digits, `.`, `_` and `-`.
    public static func nameProblem(_ name: String) -> String? {
        guard !name.isEmpty, name.utf8.count <= maximumNameLength, name != ".", name != "..",
            name.unicodeScalars.allSatisfy(isNameCharacter)
        else {
            return "disk names are 1–\(maximumNameLength) characters of letters, digits, '.', '_' and '-'"
        }
        return nil
    }

    /// Why `size` cannot be a disk's size, or nil if it can: whole sectors, 1 sector to 64 GiB.
    public static func sizeProblem(_ size: UInt64) -> String? {
        guard size > 0, size % UInt64(sectorSize) == 0, size <= maximumSize else {
            return "disk sizes are whole 512-byte sectors, at most 64 GiB (got \(size) bytes)"
        }
        return nil
    }

    private static func isNameCharacter(_ scalar: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
            || scalar == "." || scalar == "_" || scalar == "-"
    }
}
