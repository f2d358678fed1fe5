import Foundation
@testable import ShadowScopeCore
import TestSupport
import XCTest

@testable import Output

/// The HTML report built from hand-made rows: escaping, nothing fetched, the sections' figures.
final class HTMLReportTests: XCTestCase {
    let hostile = "<script>alert('x')</script>&\"quoted\""

    func aggregates(user: String = "alice", service: String = "ChatGPT") -> Aggregates {
        let match = ServiceMatch(serviceID: "openai-chatgpt", vendor: "OpenAI", service: service, tier: "consumer",
                                 category: "chat-assistant", tierInName: false, evidence: .strong)
        var a = Aggregates()
        for (i, up) in [(0, Int64(1_500)), (1, Int64(104_078)), (2, nil)] {
            var o = Observation(timestamp: Timestamp(seconds: 1_795_608_602 + Int64(i) * 3600),
                                source: SourceRef(file: "a.log", position: .line(i + 1)))
            o.bytesUp = up
            o.bytesDown = 10
            a.add(o, Attribution(match: match, user: user, region: Region(country: "US", how: .geoip)), hours: BusinessHours(), approved: [])
        }
        return a
    }

    func alert(user: String, message: String) -> Alert {
        Alert(ruleID: "unapproved-service", ruleName: "Use of an unapproved AI service", severity: Severity.medium, message: message,
              user: user, sourceIP: nil, destinationDomain: "chatgpt.com", destinationIP: nil, country: "US", uploadBytes: 105_578,
              downloadBytes: 30, serviceID: "openai-chatgpt", vendor: "OpenAI", tier: "consumer",
              windowStart: Timestamp(seconds: 1_795_564_800), windowEnd: Timestamp(seconds: 1_795_651_200), evidence: ["a.log:1", hostile])
    }

    func render(_ a: Aggregates, alerts: [Alert]? = [], inputs: [InputReport] = [], attribution: String? = nil) -> String {
        let geo = GeoIPInfo(path: "/db.mmdb", databaseType: "DBIP-City-Lite", buildEpoch: 0, attribution: attribution)
        let context = SummaryContext(tool: "shadowscope test", geoip: geo, hours: BusinessHours(), policySource: "policy.yaml")
        return String(decoding: htmlReport(inputs: inputs, aggregates: a, alerts: alerts, context: context), as: UTF8.self)
    }

    func testEscapeReplacesMarkupCharactersAndControls() {
        XCTAssertEqual(htmlEscape("<a href=\"x\">&'</a>\u{1}\tö"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;\u{FFFD}\tö")
    }

    func testHostileStringsFromInputAreEscapedEverywhere() {
        var input = InputReport(file: "/logs/\(hostile).log", format: "squid")
        input.skip(at: "\(hostile):7", reason: "bad field \(hostile)")
        let html = render(aggregates(user: hostile, service: hostile), alerts: [alert(user: hostile, message: "used \(hostile)")],
                          inputs: [input])
        XCTAssertFalse(html.contains("<script"), "no markup from input survives")
        XCTAssertFalse(html.contains("'x'"))
        XCTAssertTrue(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;quoted&quot;"))
        // The user's cell in the users table, the skipped sample, the alert's message and evidence.
        XCTAssertTrue(html.contains("<tr><td>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;quoted&quot;</td><td class=num>1</td>"))
        XCTAssertTrue(html.contains(": bad field &lt;script&gt;"))
        XCTAssertTrue(html.contains("used &lt;script&gt;"))
        XCTAssertTrue(html.contains("<li><code>&lt;script&gt;"))
    }

    func testPageLoadsNothingAndRunsNoScript() throws {
        let html = render(aggregates(), alerts: [alert(user: "alice", message: "m")], attribution: "IP Geolocation by DB-IP (https://db-ip.com), CC BY 4.0")
        XCTAssertTrue(html.hasPrefix("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"))
        XCTAssertTrue(html.hasSuffix("</main></body></html>\n"))
        for banned in ["<script", "src=", "href=", "url(", "@import", "<link", "<iframe", "<object", "<img"] {
            XCTAssertFalse(html.lowercased().contains(banned), banned)
        }
    }

    func testServiceTableShowsUploadTierGuessAndApproval() {
        let html = render(aggregates())
        XCTAssertTrue(html.contains("<tr><td class=name>OpenAI ChatGPT<br><span class=note>openai-chatgpt · chat-assistant</span></td>"
            + "<td>consumer<br><span class=\"tag guess\" title=\"the same host serves several tiers\">tier not visible in the name</span></td>"
            + "<td><span class=\"tag no\">not approved</span></td><td class=num>1</td><td class=num>3</td><td class=num>0</td>"
            + "<td class=num>105,578<br><span class=note>+ 1 unknown</span></td>"), html)
        XCTAssertTrue(html.contains("<tr><td>alice</td><td>OpenAI ChatGPT</td><td>consumer</td><td><span class=\"tag no\">not approved</span></td>"
            + "<td>US</td><td class=num>3</td><td class=num>105,578<br><span class=note>+ 1 unknown</span></td><td class=num>30</td></tr>"))
    }

    /// Three connections at 12:10, 13:10 and 14:10 UTC: one bar each, labelled with its count.
    func testHourChartHasOneBarPerHourWithConnections() {
        let html = render(aggregates())
        let bars = html.components(separatedBy: " connections</title></rect>").count - 1
        XCTAssertEqual(bars, 3)
        for h in 12...14 { XCTAssertTrue(html.contains("<title>\(h):00–\(h):59 UTC: 1 connections</title>"), "\(h)") }
        XCTAssertTrue(html.contains("3 connections (DNS look-ups not counted)"))
    }

    func testRegionsCountEUAndNonEUAndSayHowKnown() {
        let html = render(aggregates())
        XCTAssertTrue(html.contains("<tr><td class=short>US</td><td class=short>non-EU</td><td class=short>GeoIP</td><td class=num>3</td><td class=num>0</td>"))
    }

    func testCreditLineOnlyWhenTheSummaryHasAttribution() {
        let credit = "IP Geolocation by DB-IP (https://db-ip.com), CC BY 4.0"
        XCTAssertTrue(render(aggregates(), attribution: credit).contains("<p>\(credit)</p>"))
        XCTAssertFalse(render(aggregates()).contains("DB-IP"))
    }

    func testMergedReportSaysAlertsAreNotKept() {
        let html = render(aggregates(), alerts: nil)
        XCTAssertTrue(html.contains("Summaries do not keep alerts"))
        XCTAssertTrue(html.contains("alerts: not kept in merged summaries"))
    }

    func testEmptyReportIsStillAPage() {
        let html = render(Aggregates())
        XCTAssertTrue(html.contains("<dt>Period covered</dt><dd>no AI service seen</dd>"))
        XCTAssertTrue(html.contains("No alert was raised."))
    }

    func testNumbersAreGroupedAndBytesHumanised() {
        XCTAssertEqual(grouped(104_078), "104,078")
        XCTAssertEqual(grouped(0), "0")
        XCTAssertEqual(grouped(-1_000), "-1,000")
        XCTAssertEqual(humanBytes(104_078), "101.6 KiB")
        XCTAssertEqual(humanBytes(512), "512 B")
    }
}
