// swift-tools-version:6.1
//===----------------------------------------------------------------------===//
//
// hwkeys: an executable reference for hardware-held encryption keys on x86
// (Intel TME/MKTME and Key Locker) and the kernel policies around them.
//
//===----------------------------------------------------------------------===//

import PackageDescription

// Layers look only down (docs/design.md): hwkeys → HWKeysCommands → {Benchmarking, HWKeysStore, Workspace} →
// {Kernel, Platform}; Kernel → KernelInterfaces ← Platform (the kernel never imports Platform); below them
// {X86, HWCrypto} → CAESNI.
// Core modules (X86, HWCrypto, KernelInterfaces, Platform, Kernel) carry no server dependency.
let swiftSettings: [SwiftSetting] = [
    // SE-0335: spell existential types `any P`.
    .enableUpcomingFeature("ExistentialAny"),
    // SE-0444: a file sees only the members of modules it imports.
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "hwkeys",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "hwkeys", targets: ["hwkeys"]),
        .library(name: "HWKeysBase", targets: ["HWKeysBase"]),
        .library(name: "HWCrypto", targets: ["HWCrypto"]),
        .library(name: "X86", targets: ["X86"]),
        .library(name: "KernelInterfaces", targets: ["KernelInterfaces"]),
        .library(name: "Platform", targets: ["Platform"]),
        .library(name: "Kernel", targets: ["Kernel"]),
        .library(name: "HWKeysStore", targets: ["HWKeysStore"]),
        .library(name: "Workspace", targets: ["Workspace"]),
        .library(name: "Benchmarking", targets: ["Benchmarking"]),
        .library(name: "HWKeysCommands", targets: ["HWKeysCommands"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    ],
    targets: [
        // The one error type (HWKeysError, ErrorCode, Errno), below every other layer. No dependencies.
        .target(name: "HWKeysBase", swiftSettings: swiftSettings),
        // The only C: AES-NI / VAES kernels with run-time CPU dispatch (per-function target attributes,
        // never global -m flags). Optimized even in debug builds so tests exercise the real kernels at speed.
        .target(
            name: "CAESNI",
            cSettings: [.unsafeFlags(["-O2"], .when(configuration: .debug))]
        ),
        .target(
            name: "HWCrypto",
            dependencies: [
                "CAESNI",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(name: "X86", dependencies: ["HWKeysBase"], swiftSettings: swiftSettings),
        // What the kernel needs from a platform (KernelPlatform, BlockDevice): bare metal or, later, a VM.
        .target(name: "KernelInterfaces", dependencies: ["HWKeysBase", "X86"], swiftSettings: swiftSettings),
        .target(
            name: "Platform",
            dependencies: ["HWKeysBase", "KernelInterfaces", "X86", "HWCrypto"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Kernel",
            dependencies: ["HWKeysBase", "KernelInterfaces", "X86", "HWCrypto"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "HWKeysStore",
            dependencies: ["HWKeysBase", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: swiftSettings
        ),
        // The runtime every front end shares (docs/workspace.md): store-free, no server dependency.
        .target(
            name: "Workspace",
            dependencies: ["HWKeysBase", "Kernel", "KernelInterfaces", "Platform", "X86", "HWCrypto"],
            swiftSettings: swiftSettings
        ),
        // `hwkeys benchmark`'s workloads and report (docs/style.md "Performance"): machines built in memory,
        // OpenSSL loaded at run time; no argument parsing.
        .target(
            name: "Benchmarking",
            dependencies: ["HWKeysBase", "HWCrypto", "Kernel", "KernelInterfaces", "Platform", "Workspace", "X86"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "HWKeysCommands",
            dependencies: [
                "Benchmarking", "HWKeysBase", "HWKeysStore", "Kernel", "KernelInterfaces", "Platform", "Workspace",
                "X86",
                "HWCrypto",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(name: "hwkeys", dependencies: ["HWKeysCommands"], swiftSettings: swiftSettings),

        // Helpers and shared fixtures of the test targets (hex literals, test patterns, the reference XTS line
        // cipher, expectErrno, the MKTME and Key Locker fixture vectors); never linked into the product.
        .target(
            name: "TestSupport",
            dependencies: ["HWCrypto", "HWKeysBase"],
            path: "Tests/TestSupport",
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),

        .testTarget(
            name: "HWKeysBaseTests",
            dependencies: ["HWKeysBase"],
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HWCryptoTests",
            dependencies: [
                "HWCrypto", "CAESNI", "TestSupport",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ],
            resources: [.copy("Vectors")],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "X86Tests", dependencies: ["X86", "HWKeysBase"], swiftSettings: swiftSettings),
        .testTarget(
            name: "PlatformTests",
            dependencies: ["Platform", "X86", "HWCrypto", "HWKeysBase", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KernelTests",
            dependencies: ["Kernel", "KernelInterfaces", "Platform", "X86", "HWCrypto", "HWKeysBase", "TestSupport"],
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HWKeysStoreTests",
            dependencies: ["HWKeysStore", "HWKeysBase"],
            swiftSettings: swiftSettings
        ),
        // Checks the repository itself: every file and section that code, tests and docs cite exists here.
        .testTarget(name: "RepositoryTests", swiftSettings: swiftSettings),
        .testTarget(
            name: "WorkspaceTests",
            dependencies: ["Workspace", "HWKeysBase", "Platform", "Kernel", "X86", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BenchmarkingTests",
            dependencies: ["Benchmarking", "HWKeysBase", "HWCrypto", "Kernel", "Platform", "Workspace", "X86"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HWKeysCommandsTests",
            dependencies: [
                "Benchmarking", "HWKeysCommands", "HWKeysStore", "Platform", "Kernel", "KernelInterfaces", "X86",
                "HWCrypto",
                "HWKeysBase",
            ],
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
    ]
)
