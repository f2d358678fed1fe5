import ShadowScopeCore
import XCTest

/// unusual-upload and first-seen: the rules that compare a day with the past.
final class HistoryRulesTests: XCTestCase {
    let chat = ServiceMatch(serviceID: "openai-chatgpt", vendor: "OpenAI", service: "ChatGPT", tier: "consumer",
                            category: "chat-assistant", tierInName: false, evidence: .strong)
    let claude = ServiceMatch(serviceID: "anthropic-claude", vendor: "Anthropic", service: "Claude", tier: "consumer",
                              category: "chat-assistant", tierInName: false, evidence: .strong)
    let day0 = Timestamp(seconds: 1_795_564_800)  // 2026-11-25T00:00:00Z

    /// One connection on day `d` (days after 2026-11-25) at 10:00 UTC uploading `up` bytes.
    func add(_ a: inout Aggregates, day d: Int, user: String, up: Int64, match: ServiceMatch? = nil, line: Int = 1) {
        var o = Observation(timestamp: Timestamp(seconds: day0.seconds + Int64(d) * 86_400 + 36_000), source: SourceRef(file: "log", position: .line(line)))
        o.hostSource = .tlsSNI
        o.bytesUp = up
        o.bytesDown = 10
        a.add(o, Attribution(match: match ?? chat, user: user, region: .unknown), hours: BusinessHours(), approved: [])
    }

    func rules() -> Rules {
        var p = Policy()
        p.largeUploadDayBytes = .max
        return Rules(policy: p, tiersByVendor: [:])
    }

    func testMedianAndSpreadAreRobust() {
        XCTAssertEqual(UploadStatistics.median([5, 1, 3]), 3)
        XCTAssertEqual(UploadStatistics.median([4, 1, 3, 2]), 2.5)
        XCTAssertEqual(UploadStatistics.median([]), 0)
        // |1-3|,|2-3|,|3-3|,|4-3|,|1000-3| → sorted 0,1,1,2,997 → MAD 1.
        XCTAssertEqual(UploadStatistics.spread([1, 2, 3, 4, 1000], median: 3), 1.4826, accuracy: 1e-9)
    }

    /// Alice uploads 20–24 MB on each of 7 days, then 90 MB: unusual. Bob's 30 MB day after the same
    /// history of 28–32 MB days is not.
    func testAUserDayFarAboveTheirOwnHistoryIsUnusual() {
        var a = Aggregates()
        for d in 0..<7 {
            add(&a, day: d, user: "alice", up: 20_000_000 + Int64(d % 5) * 1_000_000)
            add(&a, day: d, user: "bob", up: 28_000_000 + Int64(d % 5) * 1_000_000)
        }
        add(&a, day: 7, user: "alice", up: 90_000_000)
        add(&a, day: 7, user: "bob", up: 31_000_000)
        let alerts = rules().check(a, past: UsageHistory(), firstSeen: false)
        XCTAssertEqual(alerts.map(\.ruleID), ["unusual-upload"])
        let alert = alerts[0]
        XCTAssertEqual(alert.user, "alice")
        XCTAssertEqual(alert.uploadBytes, 90_000_000)
        XCTAssertEqual(alert.windowStart, Timestamp(seconds: day0.seconds + 7 * 86_400))
        XCTAssertEqual(alert.serviceID, "openai-chatgpt")
        // History 20,21,22,23,24,20,21 MB: median 21 MB, MAD 1 MB → threshold 21 + 3 × 1.4826 MB.
        XCTAssertTrue(alert.message.contains("above 25447800 (median 21000000 of 7 earlier days)"), alert.message)
    }

    /// Days the organisation was covered but the user sent nothing count as zero; too few days, no judgement.
    func testQuietDaysCountAndTooLittleHistoryIsNoJudgement() {
        var a = Aggregates()
        for d in 0..<4 { add(&a, day: d, user: "carol", up: 1_000) }
        add(&a, day: 4, user: "dave", up: 1_000)  // day 4 covered, dave only
        add(&a, day: 5, user: "alice", up: 50_000_000)
        // Days 0–4 are covered (carol, dave): alice's history is five zero days, so 50 MB is unusual.
        let alerts = rules().check(a, past: UsageHistory(), firstSeen: false)
        XCTAssertEqual(alerts.map(\.user), ["alice"])
        XCTAssertTrue(alerts.first?.message.contains("above 0 (median 0 of 5 earlier days)") == true, alerts.first?.message ?? "")
        var small = Aggregates()
        small.merge(a)
        add(&small, day: 5, user: "frank", up: 9_000_000)
        XCTAssertEqual(rules().check(small, past: UsageHistory(), firstSeen: false).map(\.user), ["alice"], "under min_bytes (10 MiB) is never unusual")
        var p = Policy()
        p.unusualUpload.minHistoryDays = 6
        XCTAssertEqual(Rules(policy: p, tiersByVendor: [:]).check(a, past: UsageHistory(), firstSeen: false).count, 0)
    }

    /// The state's past and this input's own days are one history; first-seen only for services
    /// the past has not seen, attributed to the earliest user.
    func testPastFromStateCountsAndFirstSeenNamesTheEarliestUse() {
        var past = UsageHistory()
        var earlier = Aggregates()
        for d in 0..<6 { add(&earlier, day: d, user: "alice", up: 1_000_000) }
        past.add(earlier)
        var today = Aggregates()
        add(&today, day: 6, user: "alice", up: 40_000_000, line: 7)
        add(&today, day: 6, user: "erin", up: 5, match: claude, line: 9)
        add(&today, day: 6, user: "bob", up: 5, match: claude, line: 3)
        let alerts = rules().check(today, past: past, firstSeen: true)
        XCTAssertEqual(alerts.map(\.ruleID), ["unusual-upload", "first-seen"])
        XCTAssertEqual(alerts[1].serviceID, "anthropic-claude")
        XCTAssertEqual(alerts[1].user, "bob", "same instant: the smaller name, so the result does not depend on order")
        XCTAssertEqual(alerts[1].evidence, ["log:3"])
        XCTAssertEqual(rules().check(today, past: past, firstSeen: false).map(\.ruleID), ["unusual-upload"])
        XCTAssertEqual(rules().check(today, past: UsageHistory(), firstSeen: false).map(\.ruleID), [], "without the past: one day, no history")
    }

    /// A log older than what the state has seen moves a service's first sighting earlier: that is the first use.
    func testAnOlderInputScannedLaterIsTheFirstUse() {
        var past = UsageHistory()
        var later = Aggregates()
        add(&later, day: 3, user: "alice", up: 1)
        past.add(later)
        var older = Aggregates()
        add(&older, day: 1, user: "bob", up: 1)
        XCTAssertEqual(rules().check(older, past: past, firstSeen: true).map(\.user), ["bob"])
        XCTAssertEqual(rules().check(later, past: past, firstSeen: true).count, 0, "seen at that very time already")
    }

    func testShiftDay() {
        XCTAssertEqual(shiftDay("2026-03-01", by: -1), "2026-02-28")
        XCTAssertEqual(shiftDay("2024-03-01", by: -1), "2024-02-29")
        XCTAssertEqual(shiftDay("2026-12-31", by: 1), "2027-01-01")
        XCTAssertNil(shiftDay("2026-13-01", by: 1))
    }
}
