// swift-tools-version:6.1
//===----------------------------------------------------------------------===//
//
// hwkeys: benchmarks (ordo-one/package-benchmark), a nested package so the main package carries no
// benchmark dependency. Run from this folder:
//
//     swift package benchmark                          # every suite
//     swift package benchmark --filter "XTS-128.*"     # a subset
//
// User-facing numbers (ratios against OpenSSL in the same run) come from `hwkeys benchmark`.
//
//===----------------------------------------------------------------------===//

import PackageDescription

let package = Package(
    name: "Benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "hwkeys", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // package-benchmark looks for suites in Benchmarks/<Suite>/.
        .executableTarget(
            name: "HWCryptoBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "HWCrypto", package: "hwkeys"),
            ],
            path: "Benchmarks/HWCryptoBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // A fixed amount of crypt-volume work for callgrind and `perf stat` (docs/crypt-volumes.md "Measured").
        .executableTarget(
            name: "crypt-profile",
            dependencies: [
                .product(name: "HWCrypto", package: "hwkeys"),
                .product(name: "Kernel", package: "hwkeys"),
                .product(name: "Platform", package: "hwkeys"),
            ],
            path: "CryptProfile"
        ),
    ]
)
