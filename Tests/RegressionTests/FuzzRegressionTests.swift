import Foundation
@testable import LogFormats
import XCTest

/// Every input libFuzzer found a crash, timeout or out-of-memory with (Tests/Regressions/<Target>/<bug>)
/// is replayed through its harness (FuzzReplay) in the normal build: one named test per bug, and one
/// test that replays whatever is in the folders, so a file added without a test still runs.
final class FuzzRegressionTests: XCTestCase {
    func testEverySavedFuzzInputReplaysWithoutTrapping() throws {
        let fm = FileManager.default
        let root = FuzzReplay.regressionsFolder
        var replayed = 0
        for target in (try? fm.contentsOfDirectory(atPath: root.path))?.sorted() ?? [] {
            let folder = root.appendingPathComponent(target)
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: folder.path, isDirectory: &isDir), isDir.boolValue else { continue }
            XCTAssertNotNil(FuzzReplay.targets[target], "Tests/Regressions/\(target) names no fuzz harness")
            for name in try fm.contentsOfDirectory(atPath: folder.path).sorted() where !name.hasPrefix(".") {
                try FuzzReplay.replay(target, name)
                replayed += 1
            }
        }
        print("replayed \(replayed) saved fuzz inputs")
    }
}

extension FuzzRegressionTests {
    /// FuzzLogs, Zeek TSV: `#fields ts` then `5.9549696`. parseTimestamp (SquidNative.swift) scaled the
    /// fraction with `for _ in frac.count..<6`, a range that traps when the fraction has 7 to 9 digits.
    func testZeekTimestampWithASevenDigitFractionIsReadNotTrapped() throws {
        try FuzzReplay.replay("FuzzLogs", "zeek-ts-fraction-of-seven-digits-traps")
        for (text, micros) in [("5.9549696", Int64(5_954_969)), ("5.123456789", 5_123_456), ("5.1", 5_100_000)] {
            let t = Array(text.utf8).withUnsafeBytes { parseTimestamp($0) }
            XCTAssertEqual(t?.microseconds, micros, text)
        }
    }
}
