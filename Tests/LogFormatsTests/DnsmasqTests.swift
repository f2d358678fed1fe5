import Foundation
import ShadowScopeCore
import TestSupport
import XCTest

@testable import LogFormats

final class DnsmasqTests: XCTestCase {
    /// dnsmasq 2.90 wrote dnsmasq.log (--log-queries --log-facility): one observation per query line,
    /// against LOGS-check.txt (which checks each query against dns-dnsmasq.pcap).
    func testSeedLogMatchesLogsCheck() throws {
        let (observations, report) = try scanLog(TestPaths.seed("dnsmasq.log"), format: Dnsmasq(year: 2026))
        XCTAssertEqual(report.skipped, 0, "\(report.skippedSamples)")
        XCTAssertEqual(report.records, 30, "start-up, reply/config and exit lines are not records")
        let rows = try logsCheckSection("dnsmasq.log")
        XCTAssertEqual(rows.count, 30)
        XCTAssertEqual(observations.count, rows.count)
        for (o, r) in zip(observations, rows) {
            XCTAssertEqual(o.source.position, .line(Int(r[0])!))
            XCTAssertEqual(o.dns?.type, r[1])
            XCTAssertEqual(o.host, r[2])
            XCTAssertEqual(o.clientIP, IPAddress(r[3]))
            XCTAssertEqual(o.hostSource, .dnsQuery)
            XCTAssertEqual(o.transport, .udp)
            XCTAssertNil(o.dns?.rcode, "replies are not joined yet")
            XCTAssertEqual(o.dns?.answers, [])
            XCTAssertNil(o.clientPort)
        }
        // Nov 25 11:31:39 dnsmasq[25774]: query[A] chatgpt.com from 127.0.0.1
        XCTAssertEqual(observations.first?.timestamp.rfc3339, "2026-11-25T11:31:39.000Z")
    }

    /// `--log-queries=extra` (serial and client address/port, as dnsmasq's log_query() writes them) and syslog with a host name.
    func testExtraFormatAndSyslogHost() throws {
        let f = Dnsmasq(year: 2026)
        let o = try XCTUnwrap(parseLine(f, "Nov  5 09:01:02 gw dnsmasq[812]: 17 10.0.0.7/53211 query[AAAA] API.OpenAI.com from 10.0.0.7").observation)
        XCTAssertEqual(o.timestamp.rfc3339, "2026-11-05T09:01:02.000Z")
        XCTAssertEqual(o.host, "api.openai.com")
        XCTAssertEqual(o.clientPort, 53211)
        XCTAssertEqual(o.dns?.type, "AAAA")
        XCTAssertTrue(parseLine(f, "Nov  5 09:01:02 gw dnsmasq[812]: 17 10.0.0.7/53211 reply api.openai.com is 162.159.140.245").isIgnored)
        XCTAssertTrue(parseLine(f, "Nov  5 09:01:02 gw dnsmasq-dhcp[812]: DHCPACK(eth0) 10.0.0.7").isIgnored)
    }

    func testHostileLinesAreSkipped() throws {
        let path = try temporaryLogFile(self, """
            Nov 25 11:31:39 dnsmasq[25774]: query[A] chatgpt.com from 127.0.0.1
            Nov 25 11:31:39 sshd[1]: Accepted publickey
            Nov 25 11:31:39 dnsmasq[25774]: query[a b] chatgpt.com from 127.0.0.1
            Nov 25 11:31:39 dnsmasq[25774]: query[A] chatgpt.com from
            Nov 25 11:31:39 dnsmasq[25774]: query[A] chat"gpt.com from 127.0.0.1
            Nov 25 11:31:39 dnsmasq[25774]: query[A] chatgpt.com from 127.0.0.999
            Feb 30 11:31:39 dnsmasq[25774]: query[A] chatgpt.com from 127.0.0.1
            Nov 25 11:31:39 dnsmasq[25774]: query[A] chatgpt.com from 127.0.0.1 extra
            """)
        let (observations, report) = try scanLog(path, format: Dnsmasq(year: 2026))
        XCTAssertEqual(observations.map(\.source.position), [.line(1)])
        XCTAssertEqual(report.skipped, 7)
        XCTAssertEqual(report.skippedSamples.map(\.reason), [
            "not a dnsmasq line",
            "'query[a' is not query[TYPE]",
            "query line is not 'query[TYPE] NAME from ADDRESS'",
            #"query name 'chat"gpt.com' is not a host name"#,
            "client '127.0.0.999' is not an address",
        ])
        let line = "Nov 25 11:31:39 dnsmasq[25774]: query[A] chatgpt.com from 127.0.0.1"
        let bytes = Array(line.utf8)
        for cut in 0..<bytes.count {
            let r = parseLine(Dnsmasq(year: 2026), String(decoding: bytes[..<cut], as: UTF8.self))
            XCTAssertNil(r.observation, "prefix \(cut) is not a whole query line")
        }
    }

    func testDetection() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: TestPaths.seed("dnsmasq.log")))
        XCTAssertEqual(data.withUnsafeBytes { detectLogFormat(sample: $0)?.name }, "dnsmasq")
    }
}
