import Foundation
import TestSupport
import XCTest

/// `scan --state DIR`: history across runs, first sightings, alert ids never raised twice.
final class StateCommandTests: XCTestCase {
    var work = ""

    override func setUpWithError() throws {
        work = FileManager.default.temporaryDirectory.appendingPathComponent("state-cli-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: work)
    }

    func alerts(_ arguments: [String]) throws -> (ids: [String], rows: [[String: Any]], stderr: String) {
        let r = try runProgram(TestPaths.binary, ["scan", "--geoip", TestPaths.dbipDatabase, "--policy", TestPaths.fixture("policy.yaml"),
                                                  "--alerts", "-"] + arguments)
        XCTAssertEqual(r.status, 0, r.stderr)
        let rows = r.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        return (rows.compactMap { $0["event.id"] as? String }, rows, r.stderr)
    }

    func testAnAlertIdIsRaisedOnceAndFirstSightingsAreAlerted() throws {
        let inputs = [TestPaths.fixture("ai-traffic.pcap"), TestPaths.fixture("squid-access.log")]
        let stateless = try alerts(inputs)
        let first = try alerts(["--state", work + "/state"] + inputs)
        let firstSeen = first.rows.filter { $0["rule.id"] as? String == "first-seen" }
        // Every strong service of the input is new to an empty state; the other alerts are the stateless run's, same ids.
        XCTAssertEqual(Set(first.ids).subtracting(firstSeen.compactMap { $0["event.id"] as? String }), Set(stateless.ids))
        XCTAssertFalse(stateless.rows.contains { $0["rule.id"] as? String == "first-seen" }, "no state, no organisation history")
        let claude = try XCTUnwrap(firstSeen.first { $0["shadowscope.service.id"] as? String == "anthropic-claude" })
        XCTAssertEqual(claude["event.severity"] as? Int, 21)
        XCTAssertGreaterThan(firstSeen.count, 5)
        XCTAssertEqual(Set(firstSeen.compactMap { $0["shadowscope.service.id"] as? String }).count, firstSeen.count, "one per service")

        let again = try alerts(["--state", work + "/state"] + inputs)
        XCTAssertEqual(again.ids, [], "every id was raised by the first run")
        XCTAssertTrue(again.stderr.contains("\(first.ids.count) alert(s) already raised in an earlier run"), again.stderr)
    }

    /// Seven ordinary days of about 20 MB for alice, one log per day, each scanned on its own with the
    /// state; the eighth day's 90 MB is unusual. Re-scanning a day does not count it twice.
    func testUnusualUploadAgainstEarlierRunsInTheState() throws {
        let format = "%ts.%03tu %>a %un %>st %<st %rm %ru"
        func day(_ d: Int, aliceBytes: Int64) throws -> String {
            let path = work + "/day\(d).log"
            let t0 = 1_795_600_000 + d * 86_400  // 2026-11-25 and on, 09:06 UTC
            var text = ""
            for i in 0..<4 {
                text += "\(t0 + i * 60).000 10.0.0.5 alice \(aliceBytes / 4) 5000 CONNECT chatgpt.com:443\n"
                text += "\(t0 + i * 60 + 1).000 10.0.0.6 bob 1000 5000 CONNECT claude.ai:443\n"
            }
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let scan = ["--format", "squid", "--logformat", format, "--state", work + "/state"]
        for d in 0..<7 {
            let r = try alerts(scan + [try day(d, aliceBytes: 20_000_000 + Int64(d % 3) * 1_000_000)])
            XCTAssertFalse(r.rows.contains { $0["rule.id"] as? String == "unusual-upload" }, "day \(d)")
        }
        for d in 0..<4 { _ = try alerts(scan + [work + "/day\(d).log"]) }  // scanned again: replaces, not adds
        let big = try day(7, aliceBytes: 90_000_000)
        let stateless = try alerts(["--format", "squid", "--logformat", format, big])
        XCTAssertFalse(stateless.rows.contains { $0["rule.id"] as? String == "unusual-upload" }, "one day alone has no history")
        let r = try alerts(scan + [big])
        let unusual = r.rows.filter { $0["rule.id"] as? String == "unusual-upload" }
        XCTAssertEqual(unusual.count, 1)
        XCTAssertEqual(unusual.first?["user.name"] as? String, "alice")
        XCTAssertEqual(unusual.first?["source.bytes"] as? Int, 90_000_000)
        XCTAssertEqual(unusual.first?["shadowscope.window.start"] as? String, "2026-12-02T00:00:00.000Z")
        // History 20,21,22,20,21,22,20 MB: median 21 MB over 7 days. Had the second
        // scans of days 0-3 added, those days would be 40-44 MB and the median 40 MB.
        XCTAssertTrue((unusual.first?["message"] as? String)?.contains("(median 21000000 of 7 earlier days)") == true,
                      unusual.first?["message"] as? String ?? "")
    }

    func testStateThatIsAFileExits2() throws {
        let file = work + "/plain"
        FileManager.default.createFile(atPath: file, contents: Data())
        let r = try runProgram(TestPaths.binary, ["scan", "--state", file, TestPaths.fixture("squid-access.log")])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("\(file): --state needs a directory"), r.stderr)
    }
}

/// `scan --timezone`: the summary says how zone-less times were read, and a bad zone is a usage error.
final class TimezoneCommandTests: XCTestCase {
    func testTheSummarySaysHowLocalTimesWereRead() throws {
        for (arguments, expected) in [([], "UTC (no --timezone given)"), (["--timezone", "Europe/Berlin"], "Europe/Berlin (--timezone)")] {
            let r = try runProgram(TestPaths.binary, ["scan", "--summary", "-"] + arguments + [TestPaths.seed("bind-query.log")])
            XCTAssertEqual(r.status, 0, r.stderr)
            let summary = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
            XCTAssertEqual((summary["assumptions"] as? [String: Any])?["local_times"] as? String, expected)
            let first = (summary["aggregates"] as? [[String: Any]] ?? []).compactMap { $0["first_seen"] as? String }.min()
            XCTAssertEqual(first, arguments.isEmpty ? "2026-11-25T11:31:42.656Z" : "2026-11-25T10:31:42.656Z")
        }
        let bad = try runProgram(TestPaths.binary, ["scan", "--timezone", "CEST", TestPaths.seed("bind-query.log")])
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stderr.contains("--timezone: 'CEST' is not a time zone name"), bad.stderr)
    }
}
