// swift-tools-version: 5.9
// libFuzzer targets for every parser of untrusted bytes (issue 9). A separate package because a
// tools-6 executable target does not link with -parse-as-library (see ../../shared/PLATFORM.md):
// here each fuzz target is a plain `.target` with a `main.swift` that exports LLVMFuzzerTestOneInput.
//
//   swift build -c release -Xswiftc -sanitize=fuzzer,address
//
// SwiftPM links an executable with `--defsym main=<Target>_main`, so `-parse-as-library` (no entry
// point) leaves that symbol undefined. Instead each main.swift keeps top-level code that hands control
// to libFuzzer with LLVMFuzzerRunDriver (declared in CFuzzerDriver); libFuzzer's own main is then not
// linked. `make fuzz-build` / `make fuzz` in the root run that and the fuzzers. The harnesses themselves
// are public in the library modules (PacketFuzzHarness, LogFuzzHarness, SignatureFuzzHarness,
// SpoolFuzzHarness), so the regression tests replay saved inputs through the same code.
import PackageDescription

let root: Package.Dependency = .package(name: "ShadowScope", path: "..")

func fuzzTarget(_ name: String, _ products: [String]) -> Target {
    .executableTarget(name: name,
            dependencies: ["CFuzzerDriver"] + products.map { .product(name: $0, package: "ShadowScope") },
            path: "Sources/\(name)")
}

let package = Package(
    name: "ShadowScopeFuzz",
    products: [],
    dependencies: [root],
    targets: [
        .target(name: "CFuzzerDriver"),
        fuzzTarget("FuzzCapture", ["PacketDecoding", "ShadowScopeCore"]),
        fuzzTarget("FuzzPacket", ["PacketDecoding", "ShadowScopeCore"]),
        fuzzTarget("FuzzReassembly", ["PacketDecoding", "ShadowScopeCore"]),
        fuzzTarget("FuzzTLS", ["PacketDecoding", "ShadowScopeCore"]),
        fuzzTarget("FuzzQUIC", ["PacketDecoding", "ShadowScopeCore"]),
        fuzzTarget("FuzzQUICFrames", ["PacketDecoding", "ShadowScopeCore"]),
        fuzzTarget("FuzzDNS", ["PacketDecoding", "ShadowScopeCore"]),
        fuzzTarget("FuzzHTTP", ["PacketDecoding", "ShadowScopeCore"]),
        fuzzTarget("FuzzLogs", ["LogFormats", "ShadowScopeCore"]),
        fuzzTarget("FuzzDecompress", ["LogFormats", "ShadowScopeCore"]),
        fuzzTarget("FuzzCatalog", ["Signatures", "ShadowScopeCore"]),
        fuzzTarget("FuzzPolicy", ["Signatures", "ShadowScopeCore"]),
        fuzzTarget("FuzzSpool", ["AlertDelivery"]),
    ]
)
