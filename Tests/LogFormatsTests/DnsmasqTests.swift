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
            // The reply/config line dnsmasq logged is joined to its query: the pcap's rcode and answer.
            XCTAssertEqual(o.dns?.rcode, ["0": "NOERROR", "5": "REFUSED"][r[8]], "\(r)")
            XCTAssertEqual(o.dns?.answers, r[9] == "-" ? [] : [r[9]], "\(r)")
            XCTAssertNil(o.clientPort)
        }
        // Nov 25 11:31:39 dnsmasq[25774]: query[A] chatgpt.com from 127.0.0.1
        XCTAssertEqual(observations.first?.timestamp.rfc3339, "2026-11-25T11:31:39.000Z")
    }

    /// `--log-queries=extra` (serial and client address/port, as dnsmasq's log_query() writes them) and syslog with a host name.
    func testExtraFormatAndSyslogHost() throws {
        var parser = Dnsmasq(year: 2026).makeParser()
        func feed(_ line: String) -> LineResult {
            Array(line.utf8).withUnsafeBytes { parser.parse($0, source: SourceRef(file: "t", position: .line(1))) }
        }
        XCTAssertNil(feed("Nov  5 09:01:02 gw dnsmasq[812]: 17 10.0.0.7/53211 query[AAAA] API.OpenAI.com from 10.0.0.7").observation,
                     "a query is held for its answers")
        XCTAssertTrue(feed("Nov  5 09:01:02 gw dnsmasq[812]: 17 10.0.0.7/53211 forwarded api.openai.com to 9.9.9.9").isIgnored)
        XCTAssertTrue(feed("Nov  5 09:01:02 gw dnsmasq[812]: 17 10.0.0.7/53211 reply api.openai.com is 2606:4700:4400::6812:2b2b").isIgnored)
        XCTAssertTrue(feed("Nov  5 09:01:02 gw dnsmasq-dhcp[812]: DHCPACK(eth0) 10.0.0.7").isIgnored)
        XCTAssertNil(feed("Nov  5 09:01:03 gw dnsmasq[812]: 18 10.0.0.7/53212 query[A] nope.example from 10.0.0.7").observation)
        XCTAssertTrue(feed("Nov  5 09:01:03 gw dnsmasq[812]: 18 10.0.0.7/53212 reply nope.example is NXDOMAIN").isIgnored)
        let held = parser.finish()
        XCTAssertEqual(held.count, 2)
        let o = held[0]
        XCTAssertEqual(o.timestamp.rfc3339, "2026-11-05T09:01:02.000Z")
        XCTAssertEqual(o.host, "api.openai.com")
        XCTAssertEqual(o.clientPort, 53211)
        XCTAssertEqual(o.dns, DNSInfo(type: "AAAA", rcode: "NOERROR", answers: ["2606:4700:4400::6812:2b2b"]))
        XCTAssertEqual(held[1].dns, DNSInfo(type: "A", rcode: "NXDOMAIN", answers: []))
    }

    func testPendingQueriesAreBoundedAndComeOutInOrder() throws {
        var parser = Dnsmasq(year: 2026).makeParser()
        var out: [Observation] = []
        for n in 0...Dnsmasq.maxPendingQueries {
            let line = "Nov  5 09:01:02 dnsmasq[812]: query[A] host\(n).example from 10.0.0.7"
            if let o = Array(line.utf8).withUnsafeBytes({ parser.parse($0, source: SourceRef(file: "t", position: .line(n + 1))) }).observation {
                out.append(o)
            }
        }
        XCTAssertEqual(out.map(\.host), ["host0.example"], "one over the limit lets the oldest out")
        XCTAssertEqual(parser.finish().count, Dnsmasq.maxPendingQueries)
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

/// dnsmasq's syslog times carry no year: it comes from when the log was written.
final class DnsmasqYearTests: XCTestCase {
    func timestamp(_ line: String, reference: String) -> String? {
        guard let ref = Timestamp(rfc3339: reference) else { return nil }
        var parser = Dnsmasq(reference: ref).makeParser()
        let result = Array(line.utf8).withUnsafeBytes { parser.parse($0, source: SourceRef(file: "f", position: .line(1))) }
        var all: [Observation] = []
        if case .observation(let o) = result { all.append(o) }
        all += parser.finish()
        return all.first?.timestamp.rfc3339
    }

    func testTheYearIsTheReferencesOrTheOneBeforeAcrossNewYear() {
        let q = " dnsmasq[7]: query[A] chatgpt.com from 10.0.0.5"
        // A log written on 2027-01-02: its January lines are 2027, its December lines 2026.
        XCTAssertEqual(timestamp("Jan  1 00:00:05" + q, reference: "2027-01-02T08:00:00Z"), "2027-01-01T00:00:05.000Z")
        XCTAssertEqual(timestamp("Dec 31 23:59:58" + q, reference: "2027-01-02T08:00:00Z"), "2026-12-31T23:59:58.000Z")
        // Within two days after the reference still counts as its year (clocks and rotation lag).
        XCTAssertEqual(timestamp("Nov 26 10:00:00" + q, reference: "2026-11-25T08:00:00Z"), "2026-11-26T10:00:00.000Z")
        XCTAssertEqual(timestamp("Nov 28 10:00:00" + q, reference: "2026-11-25T08:00:00Z"), "2025-11-28T10:00:00.000Z")
        // Feb 29 only exists in the year before a reference of 2025: read in 2024.
        XCTAssertEqual(timestamp("Feb 29 12:00:00" + q, reference: "2025-03-10T00:00:00Z"), "2024-02-29T12:00:00.000Z")
    }
}
