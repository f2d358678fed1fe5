import AlertDelivery
import Foundation
import LogFormats
import PacketDecoding
import Signatures
import TestSupport

/// The harnesses of the fuzz targets in Fuzz/Sources (public in each library module, so these are the
/// very functions libFuzzer drove), run in the normal build: every input kept in
/// Tests/Regressions/<Target>/ is replayed by `make test`.
enum FuzzReplay {
    static let targets: [String: @Sendable (UnsafeRawBufferPointer) -> Void] =
        PacketFuzzHarness.targets
        .merging(LogFuzzHarness.targets) { a, _ in a }
        .merging(SignatureFuzzHarness.targets) { a, _ in a }
        .merging(SpoolFuzzHarness.targets) { a, _ in a }

    static var regressionsFolder: URL { TestPaths.repoRoot.appendingPathComponent("Tests/Regressions") }

    /// Replays one saved input through the harness named by its folder.
    static func replay(_ target: String, _ name: String) throws {
        let url = regressionsFolder.appendingPathComponent(target).appendingPathComponent(name)
        let data = try Data(contentsOf: url)
        guard let run = targets[target] else { throw CocoaError(.fileNoSuchFile) }
        data.withUnsafeBytes { run($0) }
    }
}
