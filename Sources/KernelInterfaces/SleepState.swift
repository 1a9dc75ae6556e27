//===----------------------------------------------------------------------===//
//
// hwkeys: KernelInterfaces
//
//===----------------------------------------------------------------------===//

/// A sleep state the kernel can put the platform into (ACPI S3, S4).
public enum SleepState: String, Sendable, Codable {
    case suspendToRAM = "S3"
    case hibernate = "S4"
}
