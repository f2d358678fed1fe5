import Foundation
import ShadowScopeCore
import TestSupport
import XCTest

@testable import LogFormats

final class ZeekTSVTests: XCTestCase {
    /// lnav's conn.log (2011 traffic from 192.168.2.76): 92 connections; byte sums computed with awk.
    func testConnLogBytesAndFlows() throws {
        let (observations, report) = try scanLog(TestPaths.corpus("lnav/logfile_bro_conn.log.0"), format: ZeekTSV())
        XCTAssertEqual(report.skipped, 0, "\(report.skippedSamples)")
        XCTAssertEqual(observations.count, 92)
        XCTAssertEqual(observations.compactMap(\.bytesUp).reduce(0, +), 116_105)
        XCTAssertEqual(observations.compactMap(\.bytesDown).reduce(0, +), 3_445_765)
        // 1320279554.496300 Cg9xqq3JAcZusspA86 192.168.2.76 52025 208.85.42.28 80 tcp - 2.125850 0 1092421 SF - - 0 ^dAfFa 400 20800 756 1131733 (empty)
        let o = observations[0]
        XCTAssertEqual(o.source.position, .line(9))
        XCTAssertEqual(o.timestamp, Timestamp(seconds: 1_320_279_554, microseconds: 496_300))
        XCTAssertEqual(o.clientIP, IPAddress("192.168.2.76"))
        XCTAssertEqual(o.clientPort, 52025)
        XCTAssertEqual(o.serverIP, IPAddress("208.85.42.28"))
        XCTAssertEqual(o.serverPort, 80)
        XCTAssertEqual(o.transport, .tcp)
        XCTAssertEqual(o.durationMs, 2125)
        XCTAssertEqual(o.bytesUp, 0, "Zeek measured 0 payload bytes: 0, not unknown")
        XCTAssertEqual(o.bytesDown, 1_092_421)
        XCTAssertEqual(o.packetsUp, 400)
        XCTAssertEqual(o.packetsDown, 756)
        XCTAssertNil(o.host, "conn.log has no name")
    }

    /// lnav's http.log of the same capture: hosts as the MANIFEST counts them, first row field by field.
    func testHTTPLogHostsPathsAndBodies() throws {
        let (observations, report) = try scanLog(TestPaths.corpus("lnav/logfile_bro_http.log.0"), format: ZeekTSV())
        XCTAssertEqual(report.skipped, 0, "\(report.skippedSamples)")
        XCTAssertEqual(observations.count, 197)
        let counts = Dictionary(grouping: observations.compactMap(\.host), by: { $0 }).mapValues(\.count)
        XCTAssertEqual(counts["a.fsdn.com"], 33)
        XCTAssertEqual(counts["www.bro-ids.org"], 25)
        XCTAssertEqual(counts["www.google.com"], 17)
        XCTAssertEqual(counts["ad.doubleclick.net"], 11)
        let o = observations[0]
        XCTAssertEqual(o.host, "www.reddit.com")
        XCTAssertEqual(o.hostSource, .httpHost)
        XCTAssertEqual(o.urlPath, "/")
        XCTAssertEqual(o.method, "GET")
        XCTAssertEqual(o.status, 200)
        XCTAssertEqual(o.bytesUp, 0)
        XCTAssertEqual(o.bytesDown, 109_978)
        XCTAssertNil(o.user)
        XCTAssertTrue(observations.allSatisfy { $0.urlPath.map { !$0.contains("?") } ?? true }, "queries are dropped")
    }

    /// Every server_name, query and host in Zeek's btest baselines (ground_truth_summary.tsv) comes out as the
    /// host of an observation with the same client and server endpoints. Baselines mask `ts` as
    /// `XXXXXXXXXX.XXXXXX`; the copy read here has them as 0.
    func testBaselinesAgainstGroundTruth() throws {
        let rows = try readTSV(TestPaths.corpus("zeek/ground_truth_summary.tsv"))
        var checked = 0
        var cache: [String: [Observation]] = [:]
        for row in rows where ["ssl.log", "dns.log", "http.log"].contains(row["baseline_file"]!) && ["server_name", "query", "host"].contains(row["field"]!) {
            let test = row["test"]!.replacingOccurrences(of: ".zeek", with: "").replacingOccurrences(of: "/", with: ".")
            let file = TestPaths.corpus("zeek/Baseline/scripts.base.protocols.\(test)/\(row["baseline_file"]!)")
            guard FileManager.default.fileExists(atPath: file) else { continue }
            let observations: [Observation]
            if let c = cache[file] {
                if c.isEmpty { continue }
                observations = c
            } else {
                let text = try String(contentsOfFile: file, encoding: .utf8).replacingOccurrences(of: "XXXXXXXXXX.XXXXXX", with: "0.000000")
                // A few baselines are `zeek-cut -m` output (one bare header line): not a Zeek log, not read.
                guard text.contains("\n#fields\t") else { cache[file] = []; continue }
                let (o, report) = try scanLog(try temporaryLogFile(self, text), format: ZeekTSV())
                XCTAssertEqual(report.skipped, 0, "\(file): \(report.skippedSamples)")
                cache[file] = o
                observations = o
            }
            let value = row["value"]!
            let expected = Array(value.utf8).withUnsafeBytes { normalizeHost($0) }
            guard let expected else { continue }  // e.g. "server4:443": not a host name, kept as null
            let match = observations.first { o in
                o.host == expected && "\(o.clientIP.map { "\($0)" } ?? ""):\(o.clientPort ?? 0)" == row["orig"]!
            }
            XCTAssertNotNil(match, "\(file): \(row)")
            checked += 1
        }
        XCTAssertGreaterThan(checked, 60)
    }

    func testDNSAnswersAndRcode() throws {
        let text = try String(contentsOfFile: TestPaths.corpus("zeek/Baseline/scripts.base.protocols.dns.zero-responses/dns.log"), encoding: .utf8)
            .replacingOccurrences(of: "XXXXXXXXXX.XXXXXX", with: "1700000000.000001")
        let (observations, _) = try scanLog(try temporaryLogFile(self, text), format: ZeekTSV())
        let o = try XCTUnwrap(observations.first)
        XCTAssertEqual(o.host, "psu.edu")
        XCTAssertEqual(o.hostSource, .dnsQuery)
        XCTAssertEqual(o.dns, DNSInfo(type: "AAAA", rcode: "NOERROR", answers: []))
        XCTAssertEqual(o.transport, .udp)
        XCTAssertEqual(o.timestamp, Timestamp(seconds: 1_700_000_000, microseconds: 1))
    }

    func testHostileLines() throws {
        let header = "#separator \\x09\n#path\tssl\n#fields\tts\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tserver_name\n"
        let path = try temporaryLogFile(self, header + [
            "1.5\t10.0.0.1\t5000\t1.2.3.4\t443\tChatGPT.com",
            "1.5\t10.0.0.1\t5000\t1.2.3.4\t443",
            "1.5\t10.0.0.1\t5000\t1.2.3.4\t443\tchatgpt.com\textra",
            "x\t10.0.0.1\t5000\t1.2.3.4\t443\tchatgpt.com",
            "1.5\t10.0.0.1\t70000\t1.2.3.4\t443\tchatgpt.com",
            "1.5\t10.0.0.300\t5000\t1.2.3.4\t443\tchatgpt.com",
            "1.5\t10.0.0.1\t5000\t1.2.3.4\t443\tbad host",
        ].joined(separator: "\n"))
        let (observations, report) = try scanLog(path, format: ZeekTSV())
        XCTAssertEqual(observations.map(\.source.position), [.line(4), .line(10)])
        XCTAssertEqual(observations[0].host, "chatgpt.com")
        XCTAssertEqual(observations[0].hostSource, .tlsSNI)
        XCTAssertNil(observations[1].host, "not a host name: null, the record is kept")
        XCTAssertEqual(report.skippedSamples.map(\.reason), [
            "5 values for the 6 #fields names",
            "more values than the 6 #fields names",
            "ts 'x' is not a time",
            "port '70000' is not a port",
            "id.orig_h '10.0.0.300' is not an address",
        ])
        XCTAssertEqual(parseLine(ZeekTSV(), "1.5\t10.0.0.1").skipReason, "no #fields header before this line")
    }

    func testDetection() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: TestPaths.corpus("lnav/logfile_bro_conn.log.0")))
        XCTAssertEqual(data.withUnsafeBytes { detectLogFormat(sample: $0)?.name }, "zeek")
    }
}
