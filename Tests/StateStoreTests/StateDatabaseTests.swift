import Foundation
import ShadowScopeCore
import StateStore
import XCTest

final class StateDatabaseTests: XCTestCase {
    var directory = ""

    override func setUp() {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("state-\(UUID().uuidString)").path
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    func aggregates(day: Int, user: String, up: Int64, service: String = "openai-chatgpt", weak: Bool = false) -> Aggregates {
        var o = Observation(timestamp: Timestamp(seconds: 1_795_564_800 + Int64(day) * 86_400 + 60), source: SourceRef(file: "f", position: .line(1)))
        o.hostSource = .tlsSNI
        o.bytesUp = up
        o.bytesDown = 1
        let m = ServiceMatch(serviceID: service, vendor: "V", service: "S", tier: "consumer", category: "c", tierInName: false,
                             evidence: weak ? .weak : .strong)
        var a = Aggregates()
        a.add(o, Attribution(match: m, user: user, region: .unknown), hours: BusinessHours(), approved: [])
        return a
    }

    func testAnInputScannedAgainReplacesItsContributionAndIsNotItsOwnPast() throws {
        let db = try StateDatabase(directory: directory)
        var both = aggregates(day: 0, user: "alice", up: 100)
        both.merge(aggregates(day: 1, user: "alice", up: 50, service: "anthropic-claude"))
        try db.record(inputKey: "A", aggregates: both)
        try db.record(inputKey: "B", aggregates: aggregates(day: 0, user: "bob", up: 7))
        try db.record(inputKey: "A", aggregates: both)  // same input again: replaced, not added
        let h = try db.history(excluding: [])
        XCTAssertEqual(h.uploads, ["alice": ["2026-11-25": 100, "2026-11-26": 50], "bob": ["2026-11-25": 7]])
        XCTAssertEqual(h.coveredDays, ["2026-11-25", "2026-11-26"])
        XCTAssertEqual(h.firstSeen["anthropic-claude"]?.user, "alice")
        XCTAssertEqual(h.firstSeen["openai-chatgpt"]?.at, Timestamp(seconds: 1_795_564_860))
        XCTAssertEqual(h.firstSeen["openai-chatgpt"]?.user, "alice", "same instant: the smaller name")
        XCTAssertEqual(try db.history(excluding: ["A"]).uploads, ["bob": ["2026-11-25": 7]])
        try db.record(inputKey: "B", aggregates: Aggregates())
        XCTAssertEqual(try db.history(excluding: ["A"]), UsageHistory())
    }

    func testWeakOnlyRowsAreNotHistory() throws {
        let db = try StateDatabase(directory: directory)
        try db.record(inputKey: "A", aggregates: aggregates(day: 0, user: "alice", up: 100, weak: true))
        XCTAssertEqual(try db.history(excluding: []), UsageHistory())
    }

    /// Reopening the database (a new run, or after kill -9) keeps raised ids and checkpoints.
    func testRaisedIdsAndCheckpointsSurviveReopening() throws {
        let alert = Alert(ruleID: "r", ruleName: "R", severity: 21, message: "m", user: "u", serviceID: "s", vendor: "v", tier: "t",
                          windowStart: Timestamp(seconds: 0), windowEnd: Timestamp(seconds: 1), evidence: [])
        do {
            let db = try StateDatabase(directory: directory)
            XCTAssertEqual(try db.alreadyRaised(["x", "y"]), [])
            try db.markRaised([("x", alert)], at: Timestamp(seconds: 5))
            try db.markRaised([("x", alert)], at: Timestamp(seconds: 6))
            try db.saveCheckpoint(key: "capture:eth1", day: "2026-11-25", summary: Array("{}".utf8), at: Timestamp(seconds: 7))
            try db.saveCheckpoint(key: "capture:eth1", day: "2026-11-26", summary: Array("{\"a\":1}".utf8), at: Timestamp(seconds: 8))
        }
        let db = try StateDatabase(directory: directory)
        XCTAssertEqual(try db.alreadyRaised(["x", "y"]), ["x"])
        XCTAssertEqual(try db.raisedCount(), 1)
        let c = try db.checkpoint(key: "capture:eth1")
        XCTAssertEqual(c?.day, "2026-11-26")
        XCTAssertEqual(c.map { String(decoding: $0.summary, as: UTF8.self) }, "{\"a\":1}")
        XCTAssertNil(try db.checkpoint(key: "capture:eth2"))
        let ids = (0..<1200).map { "id\($0)" }  // more than one IN (...) chunk
        try db.markRaised(ids.map { ($0, alert) }, at: Timestamp(seconds: 9))
        XCTAssertEqual(try db.alreadyRaised(ids + ["nope"]).count, 1200)
    }

    func testModesAndClearErrors() throws {
        _ = try StateDatabase(directory: directory)
        let dirMode = (try FileManager.default.attributesOfItem(atPath: directory)[.posixPermissions] as? NSNumber)?.intValue
        XCTAssertEqual(dirMode, 0o700)
        let fileMode = (try FileManager.default.attributesOfItem(atPath: directory + "/state.sqlite")[.posixPermissions] as? NSNumber)?.intValue
        XCTAssertEqual(fileMode, 0o600)
        let file = directory + "/plain"
        FileManager.default.createFile(atPath: file, contents: Data("x".utf8))
        XCTAssertThrowsError(try StateDatabase(directory: file)) { error in
            XCTAssertTrue("\(error)".contains("needs a directory"), "\(error)")
        }
        let garbage = directory + "/garbage"
        try FileManager.default.createDirectory(atPath: garbage, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: garbage + "/state.sqlite", contents: Data(repeating: 0x41, count: 4096))
        XCTAssertThrowsError(try StateDatabase(directory: garbage)) { error in
            XCTAssertTrue("\(error)".contains("garbage/state.sqlite"), "\(error)")
        }
    }
}
