//===----------------------------------------------------------------------===//
//
// hwkeys: the executable. Only the entry point; the command tree lives in HWKeysCommands.
//
//===----------------------------------------------------------------------===//

import HWKeysCommands

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@main
struct Main {
    static func main() {
        exit(HWKeysCLI.main(Array(CommandLine.arguments.dropFirst())))
    }
}
