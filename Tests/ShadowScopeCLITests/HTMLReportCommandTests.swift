import Foundation
import TestSupport
import XCTest

/// `--report FILE.html` on `scan` and `merge`: the demo inputs' figures, escaping of a crafted log,
/// the hour chart surviving `merge`, and the page as headless Chromium draws it.
final class HTMLReportCommandTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("report-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    let demo = [TestPaths.fixture("ai-traffic.pcap"), TestPaths.fixture("squid-access.log")]

    func scanReport(_ inputs: [String], to name: String = "r.html", extra: [String] = []) throws -> String {
        let r = try runProgram(TestPaths.binary, ["scan", "--geoip", TestPaths.dbipDatabase, "--policy", TestPaths.fixture("policy.yaml"),
                                                  "--summary", "\(dir)/s.json", "--report", "\(dir)/\(name)"] + extra + inputs)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "", "the summary went to its file")
        return try String(contentsOfFile: "\(dir)/\(name)", encoding: .utf8)
    }

    /// Figures as testSummaryOfCaptureAndSquidLog and the alerts test assert them.
    func testDemoReportNamesServicesUploadsAlertsAndCredit() throws {
        let html = try scanReport(demo)
        let attrs = try FileManager.default.attributesOfItem(atPath: "\(dir)/r.html")
        XCTAssertEqual((attrs[.posixPermissions] as? NSNumber)?.intValue, 0o600)
        for name in ["OpenAI API", "Anthropic Claude", "Google Gemini", "DeepSeek API"] { XCTAssertTrue(html.contains(name), name) }
        // 10.20.30.41 → OpenAI API: 730 + 103,348 bytes up, to Canada (DB-IP), api tier, approved.
        XCTAssertTrue(html.contains("<tr><td>10.20.30.41</td><td>OpenAI API</td><td>api</td><td><span class=\"tag yes\">approved</span></td>"
            + "<td>CA</td><td class=num>2</td><td class=num>104,078</td><td class=num>24,791</td></tr>"), html)
        // A native Squid log has no upload size: unknown, not 0.
        XCTAssertTrue(html.contains("<tr><td>alice</td><td>OpenAI API</td><td>api</td><td><span class=\"tag yes\">approved</span></td>"
            + "<td>unknown</td><td class=num>3</td><td class=num>unknown</td>"))
        for rule in ["large-upload-connection", "consumer-tier-instead-of-approved", "unapproved-service", "region-not-allowed"] {
            XCTAssertTrue(html.contains("<td><code>\(rule)</code></td>"), rule)
        }
        XCTAssertTrue(html.contains("<dt>Policy</dt><dd><code>\(TestPaths.fixture("policy.yaml"))</code></dd>"))
        XCTAssertTrue(html.contains("<dt>Period covered</dt><dd>2026-11-25 "))
        XCTAssertTrue(html.contains("<p>IP Geolocation by DB-IP (https://db-ip.com), CC BY 4.0</p>"))
        XCTAssertTrue(html.contains("<tr><td><code>\(TestPaths.fixture("squid-access.log"))</code></td><td>squid</td><td class=num>16</td>"))
        for banned in ["<script", "src=", "href=", "url("] { XCTAssertFalse(html.contains(banned), banned) }
    }

    /// A Squid line whose user name is markup: it shows as text, in every table and in the alerts.
    func testCraftedSquidUserIsEscaped() throws {
        let log = "\(dir)/crafted.log"
        try ("1795608606.105     30 127.0.0.1 TCP_TUNNEL/200 22639 CONNECT claude.ai:443 <script>alert(1)</script> HIER_DIRECT/127.0.1.1 -\n"
            + "1795608607.105     30 127.0.0.1 TCP_TUNNEL/200 22639 CONNECT claude.ai:443 bob\"><b>x HIER_DIRECT/127.0.1.1 -\n"
            + "this line is not squid <i>at all</i>\n").write(toFile: log, atomically: true, encoding: .utf8)
        let html = try scanReport([log])
        XCTAssertFalse(html.contains("<script"))
        XCTAssertFalse(html.contains("<b>x"))
        XCTAssertFalse(html.contains("<i>at all"))
        XCTAssertTrue(html.contains("<tr><td>&lt;script&gt;alert(1)&lt;/script&gt;</td>"), html)
        XCTAssertTrue(html.contains("<tr><td>bob&quot;&gt;&lt;b&gt;x</td>"))
        XCTAssertTrue(html.contains("<td>&lt;script&gt;alert(1)&lt;/script&gt;</td><td>Anthropic"), "the alert's user")
    }

    /// merge keeps `by_hour`, so the merged report draws the same hour chart as the report of the union
    /// (the note under it differs: a summary does not keep the policy's business hours).
    func testMergedReportDrawsTheSameHourChart() throws {
        func chart(_ html: String) -> Substring? {
            guard let start = html.range(of: "<section id=hours>"), let end = html.range(of: "</svg>", range: start.upperBound..<html.endIndex)
            else { return nil }
            return html[start.lowerBound..<end.upperBound]
        }
        let union = try scanReport(demo, to: "ab.html")
        for (i, input) in demo.enumerated() {
            let r = try runProgram(TestPaths.binary, ["scan", "--geoip", TestPaths.dbipDatabase, "--summary", "\(dir)/\(i).json", input])
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        let m = try runProgram(TestPaths.binary, ["merge", "--summary", "\(dir)/m.json", "--report", "\(dir)/m.html", "\(dir)/0.json", "\(dir)/1.json"])
        XCTAssertEqual(m.status, 0, m.stderr)
        let merged = try String(contentsOfFile: "\(dir)/m.html", encoding: .utf8)
        XCTAssertNotNil(chart(union))
        XCTAssertEqual(chart(merged), chart(union))
        XCTAssertTrue(merged.contains("Summaries do not keep alerts"))
        let summary = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/m.json"))) as? [String: Any])
        let hours = try XCTUnwrap(summary["by_hour"] as? [Int])
        XCTAssertEqual(hours.count, 24)
        XCTAssertEqual(hours[12], 13 + 13, "every matched connection of the demo is at 12 UTC")
        XCTAssertEqual(hours.reduce(0, +), 26)
    }

    /// The page as a browser draws it: headless Chromium (Debian package `chromium`) takes a screenshot.
    func testReportRendersInHeadlessChromium() throws {
        guard let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw XCTSkip("chromium is not installed (apt-get install chromium)")
        }
        _ = try scanReport(demo)
        let png = "\(dir)/r.png"
        let r = try runProgram("/usr/bin/timeout", ["120", chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                                                   "--user-data-dir=\(dir)/profile", "--screenshot=\(png)", "--window-size=1280,2000",
                                                   "file://\(dir)/r.html"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let data = try Data(contentsOf: URL(fileURLWithPath: png))
        XCTAssertEqual(Array(data.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "a PNG")
        XCTAssertGreaterThan(data.count, 20_000, "a drawn page, not a blank one")
    }
}
