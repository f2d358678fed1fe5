import Foundation
import ShadowScopeCore
import TestSupport
import XCTest

@testable import LogFormats

final class BindQueryLogTests: XCTestCase {
    /// named 9.18 wrote bind-query.log (print-time/category/severity): every line against LOGS-check.txt,
    /// which checks the same client port in dns-bind.pcap.
    func testSeedLogMatchesLogsCheck() throws {
        let (observations, report) = try scanLog(TestPaths.seed("bind-query.log"), format: BindQueryLog())
        XCTAssertEqual(report.skipped, 0, "\(report.skippedSamples)")
        let rows = try logsCheckSection("bind-query.log")
        XCTAssertEqual(rows.count, 20)
        XCTAssertEqual(observations.count, rows.count)
        for (o, r) in zip(observations, rows) {
            XCTAssertEqual(o.source.position, .line(Int(r[0])!))
            let client = r[1].split(separator: "#")
            XCTAssertEqual(o.clientIP, IPAddress(client[0]))
            XCTAssertEqual(o.clientPort, UInt16(client[1]))
            XCTAssertEqual(o.clientPort, UInt16(r[6]), "the port dns-bind.pcap shows")
            XCTAssertEqual(o.host, r[2])
            XCTAssertEqual(o.hostSource, .dnsQuery)
            XCTAssertEqual(o.dns, DNSInfo(type: r[3], rcode: nil, answers: []))
            XCTAssertEqual(o.transport, .udp)
            XCTAssertEqual(o.serverIP, IPAddress("127.0.0.1"))
            XCTAssertNil(o.user)
            XCTAssertNil(o.bytesUp)
            XCTAssertNil(o.bytesDown)
        }
        // 25-Nov-2026 11:31:42.656 queries: info: client @0x7ff1522fa098 127.0.0.1#36423 (chatgpt.com): query: chatgpt.com IN A +E(0)K (127.0.0.1)
        XCTAssertEqual(observations.first?.timestamp.rfc3339, "2026-11-25T11:31:42.656Z", "local time taken as UTC")
    }

    /// Lines from public code: a dnsblock test (no category, `view internal:`, flags `+ED`), a syslog-wrapped
    /// line from a Java log parser, and an iso8601 print-time with IPv6 (written to BIND's documented layout).
    func testViewsSyslogAndISOTimes() throws {
        let f = BindQueryLog()
        let a = try XCTUnwrap(parseLine(f, "22-Dec-2017 21:09:28.799 client 127.0.0.1#55983 (shavar.prod.mozaws.net): view internal: query: shavar.prod.mozaws.net IN A +ED (127.0.0.1)").observation)
        XCTAssertEqual(a.host, "shavar.prod.mozaws.net")
        XCTAssertEqual(a.clientPort, 55983)
        XCTAssertEqual(a.timestamp.rfc3339, "2017-12-22T21:09:28.799Z")
        let b = try XCTUnwrap(parseLine(f, "<30> 2019-01-07 16:18:01 dev 123.232.103.226 named[15850]: 07-Jan-2019 16:18:01.488 client 127.0.0.1#53260 (dev): view internal: query: dev IN AAAA + (127.0.0.1)").observation)
        XCTAssertEqual(b.host, "dev")
        XCTAssertEqual(b.dns?.type, "AAAA")
        XCTAssertEqual(b.timestamp.rfc3339, "2019-01-07T16:18:01.488Z")
        let c = try XCTUnwrap(parseLine(f, "2026-11-25T12:00:00.123+01:00 queries: info: client @0x7f00 2001:db8::5#40000 (Claude.AI.): query: Claude.AI. IN HTTPS +T (2001:db8::53)").observation)
        XCTAssertEqual(c.timestamp.rfc3339, "2026-11-25T11:00:00.123Z")
        XCTAssertEqual(c.host, "claude.ai")
        XCTAssertEqual(c.clientIP, IPAddress("2001:db8::5"))
        XCTAssertEqual(c.transport, .tcp, "T flag")
        XCTAssertEqual(c.serverIP, IPAddress("2001:db8::53"))
    }

    func testOtherCategoriesAreIgnoredAndBrokenQueriesSkipped() throws {
        let path = try temporaryLogFile(self, """
            25-Nov-2026 11:31:40.001 general: notice: running
            25-Nov-2026 11:31:41.002 responses: info: client @0x7f 127.0.0.1#1 (a.com): response: a.com IN A NOERROR + (127.0.0.1)
            25-Nov-2026 11:31:42.656 queries: info: client @0x7ff1522fa098 127.0.0.1#36423 (chatgpt.com): query: chatgpt.com IN A +E(0)K (127.0.0.1)
            client @0x7ff1522fa098 127.0.0.1#36423 (chatgpt.com): query: chatgpt.com IN A +E(0)K (127.0.0.1)
            25-Nov-2026 11:31:42.656 queries: info: client @0x7ff1522fa098 127.0.0.1#99999 (chatgpt.com): query: chatgpt.com IN A +E(0)K (127.0.0.1)
            25-Nov-2026 11:31:42.656 queries: info: client @0x7ff1522fa098 127.0.0.1#36423 (chatgpt.com): query: chat/gpt.com IN A +E(0)K (127.0.0.1)
            25-Nov-2026 11:31:42.656 queries: info: client @0x7ff1522fa098 127.0.0.1#36423 (chatgpt.com): query: chatgpt.com IN
            31-Nov-2026 11:31:42.656 queries: info: client @0x7ff1522fa098 127.0.0.1#36423 (chatgpt.com): query: chatgpt.com IN A +E(0)K (127.0.0.1)
            garbage
            """)
        let (observations, report) = try scanLog(path, format: BindQueryLog())
        XCTAssertEqual(observations.map(\.source.position), [.line(3)])
        XCTAssertEqual(report.records, 7, "the general and responses lines are not records")
        XCTAssertEqual(report.skippedSamples.map(\.location), [4, 5, 6, 7, 8].map { "\(path):\($0)" })
        XCTAssertEqual(report.skippedSamples.map(\.reason), [
            "no time on the line (named's print-time is off)",
            "client '127.0.0.1#99999' is not ADDRESS#PORT",
            "query name 'chat/gpt.com' is not a host name",
            "query is not NAME CLASS TYPE",
            "time '31-Nov-2026 11:31:42.656' is not DD-Mon-YYYY HH:MM:SS.mmm",
        ])
        XCTAssertEqual(report.skipped, 6)
        let line = "25-Nov-2026 11:31:42.656 queries: info: client @0x7ff1522fa098 127.0.0.1#36423 (chatgpt.com): query: chatgpt.com IN A +E(0)K (127.0.0.1)"
        let bytes = Array(line.utf8)
        for cut in 0..<bytes.count {
            let r = parseLine(BindQueryLog(), String(decoding: bytes[..<cut], as: UTF8.self))
            if case .observation(let o) = r { XCTAssertEqual(o.host, "chatgpt.com", "prefix \(cut)") }
        }
    }

    func testDetection() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: TestPaths.seed("bind-query.log")))
        XCTAssertEqual(data.withUnsafeBytes { detectLogFormat(sample: $0)?.name }, "bind-query")
    }
}
