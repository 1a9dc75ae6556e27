//===----------------------------------------------------------------------===//
//
// hwkeys: Benchmarking
//
//===----------------------------------------------------------------------===//

import Foundation
import HWCrypto
import HWKeysBase
import Kernel
import Platform

/// Throughput of the key retention service, in host wall time: `keyctl-add` and `keyctl-revoke`
/// operations per second against a keyring already holding many keys (issue 5: 100,000; each operation
/// must stay O(log n) or better). In-process against a freshly booted seeded machine, as root (pid 100,
/// whose quotas — 1,000,000 keys, 25,000,000 bytes — hold 100,000 small keys). The keys live in one
/// keyring, `bench`, in the root shell's session keyring; payloads are 16 bytes in kernel memory.
///
/// Plain functions for `hwkeys benchmark`; no argument parsing here.
public enum KeyServiceBenchmarks {
    /// One measurement.
    public struct Result: Sendable, Hashable {
        /// `keyctl-add` or `keyctl-revoke`.
        public let name: String
        /// Keys in the keyring when the timed operations ran.
        public let keys: Int
        /// Operations timed.
        public let operations: Int
        /// Host wall time of the timed operations.
        public let seconds: Double
        /// Operations per second.
        public var operationsPerSecond: Double { seconds > 0 ? Double(operations) / seconds : 0 }
    }

    /// `keyctl-add`: adds `operations` keys to a keyring already holding `keys` keys. Returns ops/s.
    public static func keyctlAdd(keys: Int = 100_000, operations: Int = 10_000) throws(HWKeysError) -> Double {
        try measureAdd(keys: keys, operations: operations).operationsPerSecond
    }

    /// `keyctl-revoke`: revokes `operations` of the keys in a keyring holding `keys` keys. Returns ops/s.
    public static func keyctlRevoke(keys: Int = 100_000, operations: Int = 10_000) throws(HWKeysError) -> Double {
        try measureRevoke(keys: keys, operations: operations).operationsPerSecond
    }

    /// ``keyctlAdd(keys:operations:)`` with the details; `cacheLines` overrides the emulated package
    /// cache size (to tell emulated cache misses from the service's own cost).
    public static func measureAdd(keys: Int, operations: Int, cacheLines: Int? = nil) throws(HWKeysError) -> Result {
        let bench = try Bench(keys: keys, spare: operations, cacheLines: cacheLines)
        let start = ContinuousClock.now
        for index in keys..<(keys + operations) { _ = try bench.add(index) }
        return Result(
            name: "keyctl-add",
            keys: keys,
            operations: operations,
            seconds: (ContinuousClock.now - start).seconds
        )
    }

    /// ``keyctlRevoke(keys:operations:)`` with the details; `cacheLines` as for ``measureAdd(keys:operations:cacheLines:)``.
    public static func measureRevoke(keys: Int, operations: Int, cacheLines: Int? = nil) throws(HWKeysError) -> Result {
        precondition(operations <= keys, "cannot revoke more keys than exist")
        let bench = try Bench(keys: keys, spare: 0, cacheLines: cacheLines)
        // Revoke keys spread over the whole keyring, not just the newest.
        let stride = max(1, keys / operations)
        let victims = (0..<operations).map { bench.serials[($0 * stride) % keys] }
        let start = ContinuousClock.now
        for serial in victims { try bench.kernel.keys.revoke(serial, pid: Bench.pid) }
        return Result(
            name: "keyctl-revoke",
            keys: keys,
            operations: operations,
            seconds: (ContinuousClock.now - start).seconds
        )
    }

    /// A booted machine with a `bench` keyring holding `keys` keys.
    struct Bench {
        static let pid: Int32 = 100
        let machine: Machine
        let kernel: Kernel
        let keyring: Int32
        private(set) var serials: [Int32] = []
        private let payload = SecretBytes(Array(repeating: 0x5A, count: 16))

        init(keys: Int, spare: Int, cacheLines: Int? = nil) throws(HWKeysError) {
            var configuration = MachineConfiguration()
            configuration.seed = 1
            configuration.memoryBytes = 256 << 20
            if let cacheLines { configuration.cacheLines = cacheLines }
            machine = try Machine.create(configuration: configuration)
            kernel = try Kernel.boot(platform: machine, commandLine: configuration.effectiveKernelCommandLine)
            let needed = Int64(keys + spare + 16)
            if needed > kernel.keys.limits.rootMaxKeys {
                try kernel.sysfsWrite("/proc/sys/kernel/keys/root_maxkeys", String(needed), as: Self.pid)
            }
            if needed * 64 > kernel.keys.limits.rootMaxBytes {
                try kernel.sysfsWrite("/proc/sys/kernel/keys/root_maxbytes", String(needed * 64), as: Self.pid)
            }
            keyring = try kernel.keys.addKey(
                type: "keyring",
                description: "bench",
                payload: SecretBytes(count: 0),
                keyring: KeySpecial.session,
                pid: Self.pid
            )
            serials.reserveCapacity(keys)
            for index in 0..<keys { serials.append(try add(index)) }
        }

        func add(_ index: Int) throws(HWKeysError) -> Int32 {
            try kernel.keys.addKey(
                type: "user",
                description: "bench-\(index)",
                payload: payload,
                keyring: keyring,
                pid: Self.pid
            )
        }
    }
}
