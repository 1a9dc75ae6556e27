//===----------------------------------------------------------------------===//
//
// hwkeys: crypt-profile, a fixed amount of crypt-volume work for profilers (docs/crypt-volumes.md
// "Measured"). `hwkeys benchmark` runs for a time; callgrind and `perf stat` need a fixed amount of work.
//
//     swift build -c release --product crypt-profile
//     valgrind --tool=callgrind --toggle-collect='*hotLoop*' .build/release/crypt-profile kl write 1000 512
//     perf stat -e task-clock .build/release/crypt-profile openssl read 100000 4096
//
// Arguments: `plain|kl|openssl write|read REQUESTS [SECTOR_SIZE]`. Each request is 4 KiB: through
// `CryptVolumes` on a 16 MiB volume (VOLUME_MIB overrides), or OpenSSL's EVP AES-256-XTS on units of
// SECTOR_SIZE bytes with the IV set per unit, as `OpenSSLReference` measures it. Prints ns per request
// (wall time) to stderr. (valgrind 3.19 cannot read the toolchain's DWARF 5: strip the debug information
// first with `objcopy --strip-debug`.)
//
//===----------------------------------------------------------------------===//

import Foundation
import HWCrypto
import Kernel
import Platform

#if canImport(Glibc)
import Glibc
#endif

let arguments = CommandLine.arguments
guard arguments.count >= 4, let requests = Int(arguments[3]) else {
    FileHandle.standardError.write(
        Data("usage: crypt-profile plain|kl|openssl write|read REQUESTS [SECTOR_SIZE]\n".utf8)
    )
    exit(2)
}
let mode = arguments[1]
let write = arguments[2] == "write"
let sectorSize = arguments.count > 4 ? Int(arguments[4]) ?? 512 : 512
let requestSize = 4096

/// The measured loop (the symbol callgrind's `--toggle-collect` names).
@MainActor @inline(never) func hotLoop(_ body: () throws -> Void) rethrows {
    let start = ContinuousClock.now
    for _ in 0..<requests { try body() }
    let elapsed = ContinuousClock.now - start
    let nanoseconds = Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9
    FileHandle.standardError.write(Data("ns/request \(Int(nanoseconds / Double(requests)))\n".utf8))
}

if mode == "openssl" {
    typealias NewContext = @convention(c) () -> OpaquePointer?
    typealias GetCipher = @convention(c) () -> OpaquePointer?
    typealias CipherInit =
        @convention(c) (
            OpaquePointer?, OpaquePointer?, OpaquePointer?, UnsafePointer<UInt8>?, UnsafePointer<UInt8>?, Int32
        ) -> Int32
    typealias CipherUpdate =
        @convention(c) (
            OpaquePointer?, UnsafeMutablePointer<UInt8>?, UnsafeMutablePointer<Int32>?, UnsafePointer<UInt8>?, Int32
        ) -> Int32
    guard let library = dlopen("libcrypto.so.3", RTLD_NOW) ?? dlopen("libcrypto.so", RTLD_NOW) else {
        FileHandle.standardError.write(Data("libcrypto not found\n".utf8))
        exit(1)
    }
    let newContext = unsafeBitCast(dlsym(library, "EVP_CIPHER_CTX_new")!, to: NewContext.self)
    let aes256XTS = unsafeBitCast(dlsym(library, "EVP_aes_256_xts")!, to: GetCipher.self)
    let cipherInit = unsafeBitCast(dlsym(library, "EVP_CipherInit_ex")!, to: CipherInit.self)
    let cipherUpdate = unsafeBitCast(dlsym(library, "EVP_CipherUpdate")!, to: CipherUpdate.self)
    let context = newContext()
    let key = (0..<64).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
    _ = cipherInit(context, aes256XTS(), nil, key, nil, write ? 1 : 0)
    var source = [UInt8](repeating: 7, count: sectorSize)
    var destination = [UInt8](repeating: 0, count: sectorSize)
    var tweak: UInt64 = 0
    var written: Int32 = 0
    hotLoop {
        for _ in 0..<(requestSize / sectorSize) {
            var iv = (tweak, UInt64(0))
            tweak &+= 1
            withUnsafeBytes(of: &iv) { ivBytes in
                _ = cipherInit(context, nil, nil, nil, ivBytes.baseAddress!.assumingMemoryBound(to: UInt8.self), -1)
                _ = cipherUpdate(context, &destination, &written, &source, Int32(sectorSize))
            }
        }
    }
    exit(written == Int32(sectorSize) ? 0 : 1)
}

var configuration = MachineConfiguration()
configuration.seed = 0x4352_5950_54
configuration.swapBytes = 0
let machine = try Machine.create(configuration: configuration)
let kernel = try Kernel.boot(platform: machine, commandLine: configuration.effectiveKernelCommandLine)
let cipher: CryptCipher = mode == "kl" ? .aesXTSKLPlain64 : .aesXTSPlain64
if cipher.usesKeyLocker {
    try kernel.sysfsWrite("/sys/kernel/keylocker/mode", "native_kernel_key_backup", as: ProcessTable.shellPID)
}
let volumeSize = (ProcessInfo.processInfo.environment["VOLUME_MIB"].flatMap(Int.init) ?? 16) << 20
try kernel.crypt.create(
    "bench",
    size: UInt64(volumeSize),
    cipher: cipher,
    sectorSize: sectorSize,
    key: SecretBytes((0..<64).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 1) }),
    as: ProcessTable.shellPID
)
let data = [UInt8](repeating: 0x5A, count: requestSize)
var offset: UInt64 = 0
@MainActor func next() { offset = (offset + UInt64(requestSize)) % UInt64(volumeSize) }
// Every block written once, untimed, so reads decrypt stored ciphertext.
for _ in 0..<(volumeSize / requestSize) {
    try data.withUnsafeBytes { try kernel.crypt.write("bench", offset: offset, data: $0, as: ProcessTable.shellPID) }
    next()
}
try hotLoop {
    if write {
        try data.withUnsafeBytes {
            try kernel.crypt.write("bench", offset: offset, data: $0, as: ProcessTable.shellPID)
        }
    } else {
        _ = try kernel.crypt.read("bench", offset: offset, count: requestSize, as: ProcessTable.shellPID)
    }
    next()
}
