import Foundation
import ShadowScopeCore
import TestSupport
import XCTest

@testable import LogFormats

final class W3CExtendedTests: XCTestCase {
    /// The W3C draft's own example, as lnav keeps it (logfile_w3c.0, IIS `Microsoft HTTP Server API 2.0`).
    func testSpecExampleFieldByField() throws {
        let (observations, report) = try scanLog(TestPaths.corpus("lnav/logfile_w3c.0"), format: W3CExtended())
        XCTAssertEqual(report.records, 1, "the four directives are not records")
        XCTAssertEqual(report.skipped, 0)
        // 2002-05-02 17:42:15 172.22.255.255 - 172.30.255.255 80 GET /images/picture.jpg - 200 Mozilla/4.0+(...)
        let o = try XCTUnwrap(observations.first)
        XCTAssertEqual(o.source.position, .line(5))
        XCTAssertEqual(o.timestamp.rfc3339, "2002-05-02T17:42:15.000Z")
        XCTAssertEqual(o.clientIP, IPAddress("172.22.255.255"))
        XCTAssertNil(o.user)
        XCTAssertEqual(o.serverIP, IPAddress("172.30.255.255"), "a web server's own log: s-ip is the server")
        XCTAssertEqual(o.serverPort, 80)
        XCTAssertEqual(o.method, "GET")
        XCTAssertEqual(o.urlPath, "/images/picture.jpg")
        XCTAssertEqual(o.status, 200)
        XCTAssertNil(o.host, "no host column")
        XCTAssertNil(o.bytesUp)
        XCTAssertNil(o.bytesDown)
        XCTAssertNil(o.durationMs)
    }

    /// IIS 8.5 with the header block repeated 11 times: every line, the byte columns summed.
    func testRepeatedHeadersAndByteColumnsOfTheBigIISLog() throws {
        let (observations, report) = try scanLog(TestPaths.corpus("lnav/logfile_w3c_big.0"), format: W3CExtended())
        XCTAssertEqual(report.skipped, 0)
        XCTAssertEqual(observations.count, 210)
        XCTAssertEqual(report.records, 210)
        // Sums computed with awk over columns 15-17 of the non-# lines.
        XCTAssertEqual(observations.compactMap(\.bytesDown).reduce(0, +), 292_031)
        XCTAssertEqual(observations.compactMap(\.bytesUp).reduce(0, +), 51_795, "cs-bytes: measured upload")
        XCTAssertEqual(observations.compactMap(\.durationMs).reduce(0, +), 76_795)
        let first = observations[0]
        XCTAssertEqual(first.source.position, .line(5))
        XCTAssertEqual(first.bytesDown, 1405)
        XCTAssertEqual(first.bytesUp, 242)
        XCTAssertEqual(first.durationMs, 283)
        XCTAssertEqual(first.status, 404)
        XCTAssertEqual(first.clientIP, IPAddress("157.55.39.146"))
        let last = try XCTUnwrap(observations.last)
        XCTAssertEqual(last.source.position, .line(254))
        XCTAssertEqual(last.timestamp.rfc3339, "2015-01-13T23:15:41.000Z")
        XCTAssertEqual(last.clientIP, IPAddress("188.165.15.50"))
    }

    /// IIS 4.0 FTP log with only `time`: the date comes from `#Date`, which changes mid-file.
    func testDateComesFromTheLatestDateDirective() throws {
        let (observations, report) = try scanLog(TestPaths.corpus("lnav/logfile_w3c.2"), format: W3CExtended())
        XCTAssertEqual(report.skipped, 0)
        XCTAssertEqual(observations.first?.timestamp.rfc3339, "2000-10-09T16:44:49.000Z")
        let afterSecondHeader = try XCTUnwrap(observations.first { $0.source.position == .line(20) })
        XCTAssertEqual(afterSecondHeader.timestamp.rfc3339, "2000-10-10T16:44:49.000Z")
        XCTAssertEqual(afterSecondHeader.method, "[2]USER")
        XCTAssertNil(afterSecondHeader.urlPath, "'anonymous' is not a path")
        XCTAssertEqual(afterSecondHeader.status, 331)
    }

    /// IIS Advanced Logging: blank lines between directives, quoted values with spaces and `""`, a Host column.
    func testQuotedValuesAndHostHeader() throws {
        let (observations, report) = try scanLog(TestPaths.corpus("lnav/logfile_w3c.3"), format: W3CExtended())
        XCTAssertEqual(report.skipped, 0, "\(report.skippedSamples)")
        XCTAssertEqual(observations.count, 3)
        let o = observations[0]
        XCTAssertEqual(o.source.position, .line(8))
        XCTAssertEqual(o.timestamp.rfc3339, "2012-08-15T17:00:00.363Z", "time-local taken as UTC")
        XCTAssertEqual(o.host, "xzy.example.com")
        XCTAssertEqual(o.hostSource, .httpHost)
        XCTAssertEqual(o.clientIP, IPAddress("70.95.0.0"))
        XCTAssertEqual(o.serverIP, IPAddress("1.2.3.4"))
        XCTAssertEqual(o.urlPath, "/Products/theProduct")
        XCTAssertEqual(o.durationMs, 109)
        XCTAssertEqual(observations[1].host, "example.hello.com")
        XCTAssertNil(observations[1].clientIP)
        XCTAssertEqual(observations[2].status, 404, "the quoted \" \"\"garbage\"\" w/ spaces \" value is one column")
        XCTAssertEqual(observations[2].durationMs, 359)
    }

    /// Oracle Web Cache: runs of blanks, `#GMT-Offset: -0800` makes local times UTC+8h.
    /// IIS Advanced Logging's `date-local`/`time-local`: alone they are marked local time (for
    /// --timezone); beside `date`/`time` the UTC columns are read and the local ones ignored.
    func testLocalTimeColumnsAreMarkedLocalUnlessUTCColumnsAreThere() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("w3c-local-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let local = """
        #Software: IIS Advanced Logging Module
        #Fields: date-local time-local c-ip cs-username cs-method cs-uri-stem cs-host sc-status sc-bytes cs-bytes
        2026-11-25 09:15:00.000 10.1.2.3 alice POST /backend-api/conversation chatgpt.com 200 1532 48213

        """
        let both = """
        #Fields: date time date-local time-local c-ip cs-method cs-uri-stem cs-host sc-status
        2026-11-25 08:15:00 2026-11-25 09:15:00 10.1.2.3 GET / claude.ai 200

        """
        for (name, text, local, stamp) in [("local.log", local, true, "2026-11-25T09:15:00.000Z"),
                                           ("both.log", both, false, "2026-11-25T08:15:00.000Z")] {
            try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
            let (observations, report) = try scanLog(dir + "/" + name, format: W3CExtended())
            XCTAssertEqual(report.skipped, 0, "\(report.skippedSamples)")
            let o = try XCTUnwrap(observations.first, name)
            XCTAssertEqual(o.localTime, local, name)
            XCTAssertEqual(o.timestamp.rfc3339, stamp, name)
        }
    }

    func testGMTOffsetAndRunsOfBlanks() throws {
        let (observations, _) = try scanLog(TestPaths.corpus("lnav/logfile_w3c.1"), format: W3CExtended())
        let o = try XCTUnwrap(observations.first)
        XCTAssertEqual(o.timestamp.rfc3339, "2001-10-31T08:00:18.000Z")
        XCTAssertEqual(o.clientIP, IPAddress("64.103.37.2"))
        XCTAssertEqual(o.user, "DMS.user")
        XCTAssertEqual(o.urlPath, "/admin/images/oc_bottomleft.gif")
        XCTAssertEqual(o.durationMs, 370_879)
        XCTAssertNil(o.bytesDown, "Oracle's 'bytes' does not say which direction")
    }

    /// More values than #Fields names (lnav's logfile_w3c.5) are skipped, with the line number.
    func testLinesThatDoNotFitTheFieldsAreSkipped() throws {
        let (o5, r5) = try scanLog(TestPaths.corpus("lnav/logfile_w3c.5"), format: W3CExtended())
        XCTAssertTrue(o5.isEmpty)
        XCTAssertEqual(r5.skippedSamples.first?.location, TestPaths.corpus("lnav/logfile_w3c.5") + ":2")
        XCTAssertEqual(r5.skippedSamples.first?.reason, "more values than the 6 names in #Fields")
    }

    /// Incapsula: every value quoted (empty ones as ""), `cs-uri` is `host/path` without a scheme.
    func testFullyQuotedIncapsulaLines() throws {
        let (observations, report) = try scanLog(TestPaths.corpus("lnav/logfile_w3c.4"), format: W3CExtended())
        XCTAssertEqual(report.skipped, 0, "\(report.skippedSamples)")
        XCTAssertEqual(observations.count, 2)
        let o = observations[0]
        XCTAssertEqual(o.timestamp.rfc3339, "2017-06-28T07:26:35.000Z")
        XCTAssertEqual(o.clientIP, IPAddress("123.123.123.123"))
        XCTAssertEqual(o.host, "www.example.com")
        XCTAssertEqual(o.urlPath, "/page.php")
        XCTAssertEqual(observations[1].urlPath, "/rss/news")
    }

    /// A ProxySG `main` access log forwarded by syslog, as published in a public Logstash notes file
    /// (SGOS 6.5.9.8; "Example bluecoat log"): every directive and line has a syslog prefix.
    func testProxySGMainWithSyslogPrefix() throws {
        let path = try temporaryLogFile(self, #"""
            Aug 18 12:30:46 10.8.24.10 #Software: SGOS 6.5.9.8
            Aug 18 12:30:46 10.8.24.10 #Version: 1.0
            Aug 18 12:30:46 10.8.24.10 #Start-Date: 2016-08-18 05:30:54
            Aug 18 12:30:46 10.8.24.10 #Date: 2016-06-29 10:39:15
            Aug 18 12:30:46 10.8.24.10 #Fields: date time time-taken c-ip sc-status s-action sc-bytes cs-bytes cs-method cs-uri-scheme cs-host cs-uri-port cs-uri-path cs-uri-query cs-username cs-auth-group s-hierarchy s-supplier-name rs(Content-Type) cs(Referer) cs(User-Agent) sc-filter-result cs-categories x-virus-id s-ip
            Aug 18 12:30:46 10.8.24.10 #Remark: 2114240024 "BFS-Proxy" "10.8.10.11" "Softnix"
            Aug 18 12:30:46 10.8.24.10 2016-08-18 05:30:54 1010 10.8.10.114 200 TCP_NC_MISS 7519 611 GET http www.databasejournal.com 80 /img/2008/02/ds_blob2_image001.jpg - narett BFSASIA\Internet%20IT - www.databasejournal.com image/jpeg http://www.databasejournal.com/features/mssql/article.php/3724556/Storing-Images-and-BLOB-files-in-SQL-Server-Part-2.htm "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/52.0.2743.116 Safari/537.36" OBSERVED "Technology/Internet" - 10.8.10.11
            Aug 18 12:30:46 10.8.24.10 2016-08-18 05:30:54 40 10.8.10.88 200 TCP_REFRESH_MISS 903 469 GET http statsapi.mlb.com 80 /api/v1/game/448661/feed/live/diffPatch ?language=en&startTimecode=20160818_052938 patompongj BFSASIA\Internet%20IT - statsapi.mlb.com application/json;charset=UTF-8 http://m.mlb.com/gameday/mariners-vs-angels/2016/08/17/448661 "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/52.0.2743.116 Safari/537.36" OBSERVED "Sports/Recreation" - 10.8.10.11
            """#)
        let (observations, report) = try scanLog(path, format: W3CExtended())
        XCTAssertEqual(report.records, 2)
        XCTAssertEqual(report.skipped, 0, "\(report.skippedSamples)")
        let o = try XCTUnwrap(observations.first)
        XCTAssertEqual(o.timestamp.rfc3339, "2016-08-18T05:30:54.000Z")
        XCTAssertEqual(o.durationMs, 1010)
        XCTAssertEqual(o.clientIP, IPAddress("10.8.10.114"))
        XCTAssertEqual(o.status, 200)
        XCTAssertEqual(o.bytesDown, 7519)
        XCTAssertEqual(o.bytesUp, 611)
        XCTAssertEqual(o.method, "GET")
        XCTAssertEqual(o.host, "www.databasejournal.com")
        XCTAssertEqual(o.hostSource, .proxyURL)
        XCTAssertEqual(o.serverPort, 80)
        XCTAssertEqual(o.urlPath, "/img/2008/02/ds_blob2_image001.jpg")
        XCTAssertEqual(o.user, "narett")
        XCTAssertNil(o.serverIP, "s-ip 10.8.10.11 is the proxy; s-supplier-name is a name")
        XCTAssertEqual(observations[1].host, "statsapi.mlb.com")
        XCTAssertEqual(observations[1].urlPath, "/api/v1/game/448661/feed/live/diffPatch", "cs-uri-query is dropped")
        XCTAssertEqual(observations[1].user, "patompongj")
    }

    /// The SGOS 3.2.4.8 sample of the public Security Log Sharing Site (log-sharing.dreamhosters.com), as the
    /// elff-parser-scala README reproduces it; plus a CONNECT line written to the same layout.
    func testProxySGDeniedLineAndConnect() throws {
        let fields = "#Fields: date time time-taken c-ip sc-status s-action sc-bytes cs-bytes cs-method cs-uri-scheme cs-host cs-uri-path cs-uri-query cs-username s-hierarchy s-supplier-name rs(Content-Type) cs(User-Agent) sc-filter-result sc-filter-category x-virus-id s-ip s-sitename x-virus-details x-icap-error-code x-icap-error-details"
        let path = try temporaryLogFile(self, """
            #Software: SGOS 3.2.4.8
            #Version: 1.0
            #Date: 2005-04-12 19:56:33
            \(fields)
            2005-04-12 21:03:45 57358 192.16.170.46 503 TCP_ERR_MISS 1736 617 GET http www.yahoo.com / - - NONE 192.16.170.42 - "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)" DENIED none - 192.16.170.42 SG-HTTP-Service - server_unavailable "Server unavailable: No ICAP server is available to process request."
            2026-11-25 12:00:00 812 10.20.30.41 200 TCP_TUNNELED 48211 263877 CONNECT tcp chatgpt.com - - alice DIRECT 104.18.32.47 - "curl/8.5.0" OBSERVED "Artificial Intelligence" - 10.0.0.1 SG-HTTP-Service - - -
            """)
        let (observations, report) = try scanLog(path, format: W3CExtended())
        XCTAssertEqual(report.skipped, 0, "\(report.skippedSamples)")
        let denied = observations[0]
        XCTAssertEqual(denied.status, 503)
        XCTAssertEqual(denied.bytesDown, 1736)
        XCTAssertEqual(denied.bytesUp, 617)
        XCTAssertEqual(denied.host, "www.yahoo.com")
        XCTAssertEqual(denied.urlPath, "/")
        XCTAssertEqual(denied.serverIP, IPAddress("192.16.170.42"), "s-supplier-name holds an address")
        XCTAssertEqual(denied.serverPort, 80, "from cs-uri-scheme")
        XCTAssertNil(denied.user)
        let tunnel = observations[1]
        XCTAssertEqual(tunnel.host, "chatgpt.com")
        XCTAssertEqual(tunnel.hostSource, .proxyConnect)
        XCTAssertNil(tunnel.urlPath)
        XCTAssertEqual(tunnel.bytesUp, 263_877)
        XCTAssertEqual(tunnel.user, "alice")
        XCTAssertEqual(tunnel.serverIP, IPAddress("104.18.32.47"))
    }

    /// Cisco WSA (AsyncOS for Web 6.3.0 user guide, "W3C Compliant Access Log Files"): the documented header;
    /// the line is written to that layout with the values of the guide's access-log example.
    func testCiscoWSALayout() throws {
        let path = try temporaryLogFile(self, """
            #Version: 1.0
            #Date: 2009-06-15 13:55:20
            #System: 10.1.1.1 - wsa.qa
            #Software: AsyncOS for Web 6.3.0
            #Fields: timestamp x-elapsed-time c-ip x-resultcode-httpstatus sc-bytes cs-method cs-url cs-username x-hierarchy-origin cs-mime-type x-acltag x-result-code x-suspect-user-agent
            1278096903.150 97 172.16.1.5 TCP_MISS/200 8187 GET http://my.site.com/a/b?c=d - DIRECT/my.site.com text/plain DEFAULT_CASE_11-AccessOrDecryptionPolicy - -
            """)
        let (observations, report) = try scanLog(path, format: W3CExtended())
        XCTAssertEqual(report.skipped, 0, "\(report.skippedSamples)")
        let o = try XCTUnwrap(observations.first)
        XCTAssertEqual(o.timestamp, Timestamp(seconds: 1_278_096_903, microseconds: 150_000))
        XCTAssertEqual(o.durationMs, 97)
        XCTAssertEqual(o.status, 200)
        XCTAssertEqual(o.bytesDown, 8187)
        XCTAssertNil(o.bytesUp)
        XCTAssertEqual(o.host, "my.site.com")
        XCTAssertEqual(o.hostSource, .proxyURL)
        XCTAssertEqual(o.urlPath, "/a/b")
        XCTAssertEqual(o.serverPort, 80)
    }

    func testHostileAndTruncatedLines() throws {
        let header = "#Fields: date time c-ip cs-username cs-method cs-host cs-uri-stem sc-status sc-bytes cs-bytes time-taken"
        let good = "2026-11-25 12:00:00 10.0.0.5 bob POST api.openai.com /v1/files 200 300 262400 120"
        let path = try temporaryLogFile(self, [
            good,                                     // 1: before any #Fields
            header,                                   // 2
            good,                                     // 3
            "2026-13-25 12:00:00 10.0.0.5 bob POST api.openai.com /v1/files 200 300 262400 120",
            "2026-11-25 12:00:00 10.0.0.5 bob POST api.openai.com /v1/files 200 -300 262400 120",
            "2026-11-25 12:00:00 10.0.0.5 bob POST api.openai.com /v1/files 200 300 262400",
            "2026-11-25 12:00:00 10.0.0.5 \"bob POST api.openai.com /v1/files 200 300 262400 120",
            "2026-11-25 12:00:00 10.0.0.5 bob POST api.open/ai.com /v1/files 200 300 262400 120",
            "#Fields:",                               // 9
            good,                                     // 10
            "# a comment",                            // 11
        ].joined(separator: "\n"))
        let (observations, report) = try scanLog(path, format: W3CExtended())
        XCTAssertEqual(observations.map(\.source.position), [.line(3)])
        XCTAssertEqual(observations[0].bytesUp, 262_400)
        XCTAssertEqual(observations[0].urlPath, "/v1/files")
        XCTAssertEqual(observations[0].hostSource, .proxyURL)
        XCTAssertEqual(report.skipped, 8)
        XCTAssertEqual(report.skippedSamples.map(\.location), [1, 4, 5, 6, 7].map { "\(path):\($0)" })
        XCTAssertEqual(report.skippedSamples.map(\.reason), [
            "no #Fields header before this line",
            "date '2026-13-25' is not YYYY-MM-DD",
            "sc-bytes '-300' is not a byte count",
            "10 values for the 11 names in #Fields",
            "unterminated quoted value at byte 30",
        ])
        // One parser for one input: the #Fields line sets the layout of the lines after it.
        var parser = W3CExtended().makeParser()
        func feed(_ line: String, _ number: Int) -> LineResult {
            Array(line.utf8).withUnsafeBytes { parser.parse($0, source: SourceRef(file: "t", position: .line(number))) }
        }
        _ = feed(header, 1)
        XCTAssertEqual(feed("2026-11-25 12:00:00 10.0.0.5 bob POST api.open/ai.com /v1/files 200 300 262400 120", 2).skipReason,
                       "host 'api.open/ai.com' is not a host name")
        // Every prefix of a good line is skipped or read, never trapped.
        let bytes = Array(good.utf8)
        for cut in 0...bytes.count {
            _ = feed(String(decoding: bytes[..<cut], as: UTF8.self), 3 + cut)
        }
    }

    func testDetection() throws {
        for file in ["logfile_w3c.0", "logfile_w3c.1", "logfile_w3c.2", "logfile_w3c.3", "logfile_w3c_big.0"] {
            let data = try Data(contentsOf: URL(fileURLWithPath: TestPaths.corpus("lnav/" + file)))
            XCTAssertEqual(data.withUnsafeBytes { detectLogFormat(sample: $0)?.name }, "w3c", file)
        }
        let squid = try Data(contentsOf: URL(fileURLWithPath: TestPaths.fixture("squid-access.log")))
        XCTAssertEqual(squid.withUnsafeBytes { detectLogFormat(sample: $0)?.name }, "squid")
    }
}
