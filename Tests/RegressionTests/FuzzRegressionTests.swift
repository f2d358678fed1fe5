import AlertDelivery
import Foundation
@testable import LogFormats
import Signatures
import TestSupport
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

    /// Each libFuzzer target in Fuzz/Sources has its harness here, and no harness lacks a target.
    func testEveryFuzzTargetHasAHarnessTheTestsCanReplay() throws {
        let sources = TestPaths.repoRoot.appendingPathComponent("Fuzz/Sources").path
        let targets = try FileManager.default.contentsOfDirectory(atPath: sources).filter { $0.hasPrefix("Fuzz") }
        XCTAssertEqual(Set(targets), Set(FuzzReplay.targets.keys))
        XCTAssertEqual(targets.count, 13)
    }

    /// The spool harness's promise on spools a crash could leave: whole records, a torn tail, damage
    /// between records, a state past the end, a garbage state. Reopening keeps exactly what was pending.
    func testSpoolHarnessKeepsItsPromiseOnDamagedSpools() throws {
        defer { try? FileManager.default.removeItem(atPath: SpoolFuzzHarness.directory) }
        let three = ["one", "two", "three"].flatMap { SpoolRecord.encode(Array($0.utf8)) }
        let inputs: [[UInt8]] = [
            [0] + three,                                           // no state file
            [0] + three + Array(SpoolRecord.encode(Array("torn".utf8)).prefix(9)),
            [0] + Array(three.prefix(14)) + [0xFF, 0x00] + three,  // damage before whole records
            [3, 0xFF, 0xFF] + three,                               // state offset past the end
            [3, 0x00, 16] + three,                                 // state offset inside a record
            [7, 0x00, 0x00] + three,                               // generation 1: records-0 was compacted
            [1, 4] + Array("junk".utf8) + three,                   // unreadable state
        ]
        for input in inputs { input.withUnsafeBytes { SpoolFuzzHarness.spool($0) } }
    }
}

extension FuzzRegressionTests {
    /// FuzzSpool: a `state` whose offset lay past the end of an empty records file. The spool reset to
    /// offset 0 but left the state file as it was, so after one alert was appended the next open read
    /// from the stale offset, inside that record, and skipped it: the alert was never sent. The state is
    /// now rewritten when it is reset.
    func testStateOffsetPastTheEndDoesNotHideLaterAppends() throws {
        try FuzzReplay.replay("FuzzSpool", "state-past-the-end-hides-later-appends")
        defer { try? FileManager.default.removeItem(atPath: SpoolFuzzHarness.directory) }
        let dir = SpoolFuzzHarness.directory + "-direct"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data("shadowscope-spool/1 generation=0 offset=3\n".utf8).write(to: URL(fileURLWithPath: dir + "/state"))
        let first = try AlertSpool(directory: dir)
        XCTAssertTrue(first.damage.stateFileReset)
        try first.append([Array("alert".utf8)])
        first.close()
        let second = try AlertSpool(directory: dir)
        defer { second.close() }
        XCTAssertEqual(second.pending(limit: 10).map { String(decoding: $0.payload, as: UTF8.self) }, ["alert"])
        XCTAssertTrue(second.damage.isEmpty, "\(second.damage)")
    }

    /// FuzzPolicy, 0.3 CPU-hours: `start: 709111111111055555:5` in business_hours. The policy loader read
    /// whole numbers with Yams' `Node.int`, which takes YAML 1.1 base-60 numbers and trapped on the
    /// overflowing multiplication; the loader now reads decimal digits itself with overflow checks.
    func testPolicyBaseSixtyNumberThatOverflowsIsAnErrorNotATrap() throws {
        try FuzzReplay.replay("FuzzPolicy", "start-hour-sexagesimal-overflow-traps")
    }

    /// FuzzCatalog, 0.93 CPU-hours: 7 KB of `? - ? - ...`, explicit keys that are nested lists, some
    /// equal. Loading it ran for over ten minutes inside Yams, which sorts duplicate keys with a `<` that
    /// compares nested lists twice per level (2^depth). Catalog and policy files are now checked on
    /// libyaml's events first (YAMLShape): a list or mapping as a key, or an alias, is refused with its line.
    func testCatalogWithNestedListKeysIsRefusedNotComposedForHours() throws {
        let start = Date()
        try FuzzReplay.replay("FuzzCatalog", "nested-list-keys-take-exponential-time")
        XCTAssertLessThan(Date().timeIntervalSince(start), 5, "the shape check is linear; Yams alone took over ten minutes")
        let data = try Data(contentsOf: FuzzReplay.regressionsFolder.appendingPathComponent("FuzzCatalog/nested-list-keys-take-exponential-time"))
        XCTAssertThrowsError(try CatalogLoader.load(files: [("signatures/fuzz.yaml", String(decoding: data, as: UTF8.self))])) { error in
            XCTAssertEqual((error as? CatalogErrors)?.errors.map(\.description),
                           ["signatures/fuzz.yaml:2: mapping keys must be plain strings, not lists or mappings"])
        }
    }

    /// FuzzLogs, BIND query log sniffed from an IIS-looking header: `11:31:42.8263349968`. TextCursor.fraction
    /// (LogTime.swift) scaled with `for _ in n..<6`, the same trap as the Zeek one below, in the shared time
    /// reader that BIND, dnsmasq and the syslog-prefixed formats use.
    func testLogTimeFractionOfSevenToNineDigitsIsReadNotTrapped() throws {
        try FuzzReplay.replay("FuzzLogs", "bind-time-fraction-of-nine-digits-traps")
        for (text, micros) in [(".1234567", Int64(123_456)), (",123456789", 123_456), (".5", 500_000), (".123456", 123_456)] {
            let v = Array(text.utf8).withUnsafeBytes { raw -> Int64? in
                var c = TextCursor(raw)
                return c.fraction()
            }
            XCTAssertEqual(v, micros, text)
        }
    }

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
