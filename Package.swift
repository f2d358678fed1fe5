// swift-tools-version: 6.0
// ShadowScope: finds "shadow AI" use in captures and proxy logs. Layout and contract: see README.md.
import PackageDescription

let package = Package(
    name: "ShadowScope",
    products: [
        .executable(name: "shadowscope", targets: ["shadowscope"]),
        // Libraries for the fuzz package in Fuzz/ (a separate package: see Fuzz/Package.swift).
        .library(name: "ShadowScopeCore", targets: ["ShadowScopeCore"]),
        .library(name: "PacketDecoding", targets: ["PacketDecoding"]),
        .library(name: "LogFormats", targets: ["LogFormats"]),
        .library(name: "Signatures", targets: ["Signatures"]),
        .library(name: "AlertDelivery", targets: ["AlertDelivery"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        // System libraries from Debian's -dev packages (libpcap-dev, libmaxminddb-dev).
        .systemLibrary(name: "CPcap", providers: [.apt(["libpcap-dev"])]),
        .systemLibrary(name: "CMaxMindDB", pkgConfig: "libmaxminddb", providers: [.apt(["libmaxminddb-dev"])]),

        // Decompressors: ISA-L's igzip (gzip, the fastest inflate Debian ships), zstd, bzip2, xz.
        .systemLibrary(name: "CISAL", pkgConfig: "libisal", providers: [.apt(["libisal-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CBzip2", providers: [.apt(["libbz2-dev"])]),
        .systemLibrary(name: "CLZMA", pkgConfig: "liblzma", providers: [.apt(["liblzma-dev"])]),

        // A prefetch hint (one static inline function): rows read in key order are scattered in memory.
        .systemLibrary(name: "CPrefetch"),
        .target(name: "ShadowScopeCore", dependencies: ["CPrefetch"]),
        .target(name: "Signatures", dependencies: ["ShadowScopeCore", .product(name: "Yams", package: "Yams")]),
        .target(name: "PacketDecoding", dependencies: [
            "ShadowScopeCore", "CPcap",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),  // AES.permute: QUIC header protection
        ]),
        .target(name: "LogFormats", dependencies: ["ShadowScopeCore", "CISAL", "CZstd", "CBzip2", "CLZMA"]),
        .target(name: "GeoIP", dependencies: ["ShadowScopeCore", "CMaxMindDB"]),
        .target(name: "Output", dependencies: ["ShadowScopeCore", .product(name: "Crypto", package: "swift-crypto")]),
        // `--state DIR`: history, raised alert ids, capture checkpoints (SQLite through GRDB, libsqlite3-dev).
        .target(name: "StateStore", dependencies: ["ShadowScopeCore", .product(name: "GRDB", package: "GRDB.swift")]),
        // Alert delivery to syslog (RFC 5424 over TCP or TLS) with an on-disk spool; kept out of Output so
        // that target stays free of networking.
        .target(name: "AlertDelivery", dependencies: [
            "ShadowScopeCore", "Output",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),
        .executableTarget(name: "shadowscope", dependencies: [
            "ShadowScopeCore", "Signatures", "PacketDecoding", "LogFormats", "GeoIP", "Output", "StateStore", "AlertDelivery",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // Paths to fixtures/, ../shared and the built binary, and a TSV reader, for every test target;
        // glibc's heap statistics (CMalloc) for tests that hold memory to a budget.
        .systemLibrary(name: "CMalloc", path: "Tests/CMalloc"),
        .target(name: "TestSupport", dependencies: ["CMalloc"], path: "Tests/TestSupport"),
        // Benchmarks and generators for `make bench` (release build; generated data is never committed).
        .executableTarget(name: "shadowscope-bench", dependencies: [
            "ShadowScopeCore", "Signatures", "PacketDecoding", "Output",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .testTarget(name: "ShadowScopeCoreTests", dependencies: ["ShadowScopeCore", "TestSupport"]),
        .testTarget(name: "SignaturesTests", dependencies: ["Signatures", "TestSupport"]),
        .testTarget(name: "PacketDecodingTests", dependencies: ["PacketDecoding", "TestSupport"]),
        .testTarget(name: "LogFormatsTests", dependencies: ["LogFormats", "TestSupport"]),
        .testTarget(name: "GeoIPTests", dependencies: ["GeoIP", "TestSupport"]),
        .testTarget(name: "OutputTests", dependencies: ["Output", "TestSupport"]),
        .testTarget(name: "StateStoreTests", dependencies: ["StateStore", "TestSupport"]),
        .testTarget(name: "AlertDeliveryTests", dependencies: ["AlertDelivery", "Output", "ShadowScopeCore", "TestSupport"]),
        .testTarget(name: "ShadowScopeCLITests", dependencies: ["TestSupport"]),
        .testTarget(name: "LiveCaptureTests", dependencies: ["ShadowScopeCore", "TestSupport"], exclude: ["live_capture.sh"]),
        // Fuzz regressions (Tests/Regressions), the hostile corpus (Tests/Hostile) and split invariance.
        .testTarget(name: "RegressionTests", dependencies: [
            "ShadowScopeCore", "PacketDecoding", "LogFormats", "Signatures", "AlertDelivery", "TestSupport",
        ]),
    ]
)
