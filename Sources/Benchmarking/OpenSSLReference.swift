//===----------------------------------------------------------------------===//
//
// hwkeys: Benchmarking
//
//===----------------------------------------------------------------------===//

import HWKeysBase

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// OpenSSL's EVP AES-XTS as a yardstick for `hwkeys benchmark`, loaded at run time.
///
/// hwkeys does not link OpenSSL: this type `dlopen`s `libcrypto` (`libcrypto.so.3`, then
/// `libcrypto.so`; on macOS `libcrypto.3.dylib`, `libcrypto.dylib`) and resolves the few EVP
/// functions it needs with `dlsym`. When the library or a symbol is missing, ``load()`` returns nil
/// and the command reports the reference as unavailable.
///
/// A measurement encrypts or decrypts one buffer per EVP call, and each call is its own XTS data
/// unit with its own tweak (the IV is set before every call), which is how a memory controller or
/// a disk uses XTS. With 64-byte buffers that is a naive per-line use of OpenSSL; with 16 KiB
/// buffers it is OpenSSL's best case (`openssl speed -evp aes-128-xts -bytes 16384` sets the IV
/// once, so it reports slightly more at 64 bytes).
public final class OpenSSLReference {
    private typealias NewContext = @convention(c) () -> OpaquePointer?
    private typealias FreeContext = @convention(c) (OpaquePointer?) -> Void
    private typealias GetCipher = @convention(c) () -> OpaquePointer?
    private typealias CipherInit =
        @convention(c) (
            OpaquePointer?, OpaquePointer?, OpaquePointer?, UnsafePointer<UInt8>?, UnsafePointer<UInt8>?, Int32
        ) -> Int32
    private typealias CipherUpdate =
        @convention(c) (
            OpaquePointer?, UnsafeMutablePointer<UInt8>?, UnsafeMutablePointer<Int32>?, UnsafePointer<UInt8>?, Int32
        ) -> Int32
    private typealias Version = @convention(c) (Int32) -> UnsafePointer<CChar>?

    private let newContext: NewContext
    private let freeContext: FreeContext
    private let aes128XTS: GetCipher
    private let aes256XTS: GetCipher
    private let cipherInit: CipherInit
    private let cipherUpdate: CipherUpdate

    /// OpenSSL's version string (`OpenSSL_version(OPENSSL_VERSION)`), e.g. "OpenSSL 3.0.13 30 Jan 2024".
    public let version: String

    /// The library names tried, in order.
    static let libraryNames: [String] = {
        #if canImport(Darwin)
        ["libcrypto.3.dylib", "libcrypto.dylib"]
        #else
        ["libcrypto.so.3", "libcrypto.so"]
        #endif
    }()

    /// Loads libcrypto and resolves EVP's AES-XTS functions.
    ///
    /// - Returns: the reference, or nil if libcrypto or one of the functions is not available.
    public static func load() -> OpenSSLReference? {
        // The handle stays open for the life of the process: the function pointers point into it.
        guard let handle = libraryNames.lazy.compactMap({ dlopen($0, RTLD_NOW | RTLD_LOCAL) }).first else {
            return nil
        }
        func symbol<T>(_ name: String, as type: T.Type) -> T? {
            dlsym(handle, name).map { unsafeBitCast($0, to: type) }
        }
        guard
            let newContext = symbol("EVP_CIPHER_CTX_new", as: NewContext.self),
            let freeContext = symbol("EVP_CIPHER_CTX_free", as: FreeContext.self),
            let aes128XTS = symbol("EVP_aes_128_xts", as: GetCipher.self),
            let aes256XTS = symbol("EVP_aes_256_xts", as: GetCipher.self),
            let cipherInit = symbol("EVP_CipherInit_ex", as: CipherInit.self),
            let cipherUpdate = symbol("EVP_CipherUpdate", as: CipherUpdate.self)
        else { return nil }
        let version = symbol("OpenSSL_version", as: Version.self).flatMap { $0(0) }.map { String(cString: $0) }
        return OpenSSLReference(
            newContext: newContext,
            freeContext: freeContext,
            aes128XTS: aes128XTS,
            aes256XTS: aes256XTS,
            cipherInit: cipherInit,
            cipherUpdate: cipherUpdate,
            version: version ?? "OpenSSL (version unknown)"
        )
    }

    private init(
        newContext: @escaping NewContext,
        freeContext: @escaping FreeContext,
        aes128XTS: @escaping GetCipher,
        aes256XTS: @escaping GetCipher,
        cipherInit: @escaping CipherInit,
        cipherUpdate: @escaping CipherUpdate,
        version: String
    ) {
        self.newContext = newContext
        self.freeContext = freeContext
        self.aes128XTS = aes128XTS
        self.aes256XTS = aes256XTS
        self.cipherInit = cipherInit
        self.cipherUpdate = cipherUpdate
        self.version = version
    }

    /// Measures EVP AES-XTS throughput for `seconds` of wall time, after a short warm-up.
    ///
    /// - Parameters:
    ///   - keyBits: 128 (AES-128-XTS, a 32-byte key) or 256 (AES-256-XTS, a 64-byte key).
    ///   - encrypt: true to encrypt, false to decrypt.
    ///   - bufferSize: bytes per EVP call, each call one data unit with its own tweak (≥ 16).
    ///   - seconds: how long to measure.
    /// - Returns: throughput in GB/s (10⁹ bytes per second), or nil if OpenSSL rejected the setup.
    /// - Throws: EIO when an EVP call fails during the measurement.
    public func measure(keyBits: Int, encrypt: Bool, bufferSize: Int, seconds: Double) throws(HWKeysError) -> Double? {
        guard let session = session(keyBits: keyBits, encrypt: encrypt, bufferSize: bufferSize) else { return nil }
        _ = try session.run(for: .milliseconds(20))
        let (bytes, elapsed) = try session.run(for: .seconds(seconds))
        return Alternation.throughput(bytes: bytes, elapsed: elapsed)
    }

    /// A prepared EVP context and buffers, for measurements taken in slices (``runCryptoBenchmarks(seconds:path:)``
    /// alternates them with its own).
    public final class Session {
        private let reference: OpenSSLReference
        private let context: OpaquePointer
        private let source: UnsafeMutableRawBufferPointer
        private let destination: UnsafeMutableRawBufferPointer
        private var tweak: UInt64 = 0

        fileprivate init(
            reference: OpenSSLReference,
            context: OpaquePointer,
            source: UnsafeMutableRawBufferPointer,
            destination: UnsafeMutableRawBufferPointer
        ) {
            self.reference = reference
            self.context = context
            self.source = source
            self.destination = destination
        }

        deinit {
            reference.freeContext(context)
            source.deallocate()
            destination.deallocate()
        }

        /// Runs calls for at least `duration`; returns the bytes processed and the time taken.
        ///
        /// - Throws: EIO when an EVP call fails (never counted as processed bytes).
        public func run(for duration: Duration) throws(HWKeysError) -> MeasuredSlice {
            let clock = ContinuousClock()
            let start = clock.now
            var bytes = 0
            var elapsed: Duration = .zero
            let size = Int32(source.count)
            let input = source.baseAddress!.assumingMemoryBound(to: UInt8.self)
            let output = destination.baseAddress!.assumingMemoryBound(to: UInt8.self)
            repeat {
                for _ in 0..<64 {
                    var iv = (tweak, UInt64(0))
                    tweak &+= 1
                    var written: Int32 = 0
                    let ok = withUnsafeBytes(of: &iv) { ivBytes in
                        let ivPointer = ivBytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
                        return reference.cipherInit(context, nil, nil, nil, ivPointer, -1) == 1
                            && reference.cipherUpdate(context, output, &written, input, size) == 1
                    }
                    guard ok, written == size else {
                        throw HWKeysError(.EIO, "OpenSSL's EVP AES-XTS failed during the measurement")
                    }
                    bytes += Int(written)
                }
                elapsed = clock.now - start
            } while elapsed < duration
            return (bytes, elapsed)
        }
    }

    /// An EVP context keyed for AES-XTS in one direction, with buffers of `bufferSize` bytes.
    public func session(keyBits: Int, encrypt: Bool, bufferSize: Int) -> Session? {
        precondition(keyBits == 128 || keyBits == 256, "AES-XTS keys are 128 or 256 bits per half")
        precondition(bufferSize >= 16, "XTS data units are at least 16 bytes")
        guard let context = newContext() else { return nil }
        let source = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 64)
        let destination = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 64)
        for index in 0..<bufferSize { source[index] = UInt8(truncatingIfNeeded: index &* 131) }
        let session = Session(reference: self, context: context, source: source, destination: destination)
        // K1 ‖ K2 must differ (OpenSSL rejects equal halves); the values are otherwise irrelevant.
        let key = (0..<(keyBits / 4)).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        let cipher = keyBits == 128 ? aes128XTS() : aes256XTS()
        let status = key.withUnsafeBufferPointer {
            cipherInit(context, cipher, nil, $0.baseAddress, nil, encrypt ? 1 : 0)
        }
        return status == 1 ? session : nil
    }
}
