import Foundation
import ShadowScopeCore
import TestSupport
import XCTest

@testable import LogFormats

/// Writes `text` to a temporary file removed after the test.
func temporaryLogFile(_ test: XCTestCase, _ text: String, suffix: String = "log") throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("shadowscope-\(UUID()).\(suffix)").path
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    test.addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
    return path
}

/// Parses one line with `format` (no file): the result the scanner would get.
func parseLine(_ format: any LogFormat, _ line: String, number: Int = 1) -> LineResult {
    var parser = format.makeParser()
    return Array(line.utf8).withUnsafeBytes { parser.parse($0, source: SourceRef(file: "t", position: .line(number))) }
}

extension LineResult {
    var observation: Observation? { if case .observation(let o) = self { return o } else { return nil } }
    var skipReason: String? { if case .skipped(let r) = self { return r } else { return nil } }
    var isIgnored: Bool { if case .ignored = self { return true } else { return false } }
}

/// The rows of one `## name` section of the seeds' LOGS-check.txt, as tab-separated cells.
func logsCheckSection(_ name: String) throws -> [[String]] {
    let text = try String(contentsOfFile: TestPaths.seed("LOGS-check.txt"), encoding: .utf8)
    let section = try XCTUnwrap(text.components(separatedBy: "## ").first { $0.hasPrefix(name + " ") })
    return section.split(separator: "\n").dropFirst(2).map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
}

final class SquidCustomTests: XCTestCase {
    func seedFormat() throws -> SquidCustom {
        let conf = try String(contentsOfFile: TestPaths.seed("squid-custom.logformat"), encoding: .utf8)
        return try SquidCustom(logformat: conf)
    }

    /// squid 5.7 wrote squid-custom.log with `%<st` then `%>st`: every line against LOGS-check.txt.
    func testSeedLogMatchesLogsCheckFieldByField() throws {
        let format = try seedFormat()
        XCTAssertEqual(format.formatName, "shadowscope")
        let (observations, report) = try scanLog(TestPaths.seed("squid-custom.log"), format: format)
        XCTAssertEqual(report.skipped, 0, "\(report.skippedSamples)")
        let rows = try logsCheckSection("squid-custom.log")
        XCTAssertEqual(rows.count, 14)
        XCTAssertEqual(observations.count, rows.count)
        for (o, r) in zip(observations, rows) {
            XCTAssertEqual(o.source.position, .line(Int(r[0])!))
            XCTAssertEqual(o.clientIP, IPAddress(r[1]))
            XCTAssertEqual(o.status, Int(r[2].split(separator: "/").last!), "\(r)")
            XCTAssertEqual(o.bytesDown, Int64(r[3]), "reply_bytes \(r)")
            XCTAssertEqual(o.bytesUp, Int64(r[4]), "request_bytes is measured in this format \(r)")
            XCTAssertEqual(o.method, r[5])
            XCTAssertEqual(o.user, r[7] == "-" ? nil : r[7])
            let peer = r[8].split(separator: "/", omittingEmptySubsequences: false).last.map(String.init)
            XCTAssertEqual(o.serverIP, peer == "-" ? nil : IPAddress(peer!))
            if r[5] == "CONNECT" {
                XCTAssertEqual("\(o.host!):\(o.serverPort!)", r[6])
                XCTAssertEqual(o.hostSource, .proxyConnect)
                XCTAssertNil(o.urlPath)
            } else {
                let url = URL(string: r[6])!
                XCTAssertEqual(o.host, url.host)
                XCTAssertEqual(o.hostSource, .proxyURL)
                XCTAssertEqual(o.urlPath, url.path.isEmpty ? "/" : url.path)
                XCTAssertEqual(o.serverPort, 80)
            }
        }
    }

    func testUploadsShowAsRequestBytes() throws {
        let (observations, _) = try scanLog(TestPaths.seed("squid-custom.log"), format: try seedFormat())
        // Line 2: 1795606327.790     49 127.0.0.1 TCP_TUNNEL/200 2156 263459 CONNECT chatgpt.com:443 alice HIER_DIRECT/127.0.0.1 -
        let upload = observations[1]
        XCTAssertEqual(upload.timestamp, Timestamp(seconds: 1_795_606_327, microseconds: 790_000))
        XCTAssertEqual(upload.durationMs, 49)
        XCTAssertEqual(upload.bytesUp, 263_459, "the 262144-byte body plus TLS overhead")
        XCTAssertEqual(upload.bytesDown, 2156)
        XCTAssertEqual(upload.host, "chatgpt.com")
        XCTAssertEqual(upload.serverPort, 443)
        XCTAssertEqual(upload.user, "alice")
        XCTAssertEqual(upload.transport, .tcp)
        // Line 11: plain-HTTP POST of the same body.
        let post = observations[10]
        XCTAssertEqual(post.method, "POST")
        XCTAssertEqual(post.bytesUp, 262_395)
        XCTAssertEqual(post.bytesDown, 322)
        XCTAssertEqual(post.urlPath, "/v1/files")
        XCTAssertEqual(post.host, "api.openai.com")
        // Line 13: CONNECT without credentials: no user, no peer.
        XCTAssertNil(observations[12].user)
        XCTAssertNil(observations[12].serverIP)
        XCTAssertEqual(observations[12].status, 407)
        XCTAssertEqual(observations[12].bytesUp, 110)
    }

    func testFormatStringBecomesTokens() throws {
        let f = try SquidCustom(logformat: "%ts.%03tu %6tr %>a %Ss/%03>Hs %<st %>st %rm %ru %[un %Sh/%<a %mt")
        XCTAssertNil(f.formatName)
        let directives = f.tokens.compactMap { t -> String? in if case .directive(let d) = t { return d.text } else { return nil } }
        XCTAssertEqual(directives, ["%ts", "%03tu", "%6tr", "%>a", "%Ss", "%03>Hs", "%<st", "%>st", "%rm", "%ru", "%[un", "%Sh", "%<a", "%mt"])
        let literals = f.tokens.compactMap { t -> String? in if case .literal(let l) = t { return String(decoding: l, as: UTF8.self) } else { return nil } }
        XCTAssertEqual(literals, [".", " ", " ", " ", "/", " ", " ", " ", " ", " ", " ", "/", " "])
        guard case .directive(let un) = f.tokens[20] else { return XCTFail("\(f.tokens[20])") }
        XCTAssertEqual(un.field, .user(rank: 0))
        XCTAssertEqual(un.quoting, .mimeBlob)
    }

    func testLogformatLineIsFoundAmongOtherConfiguration() throws {
        let conf = """
            # our proxy
            http_port 3128
            logformat  upload\t%ts.%03tu %>a %un %>st %<st %rm %ru   \r
            access_log /var/log/squid/access.log upload
            """
        let f = try SquidCustom(logformat: conf)
        XCTAssertEqual(f.formatName, "upload")
        XCTAssertEqual(f.specification, "%ts.%03tu %>a %un %>st %<st %rm %ru")
        let o = try XCTUnwrap(parseLine(f, "1795606327.996 10.0.0.7 alice 262395 322 POST https://api.openai.com/v1/files?x=1").observation)
        XCTAssertEqual(o.bytesUp, 262_395)
        XCTAssertEqual(o.urlPath, "/v1/files")
        XCTAssertEqual(o.serverPort, 443)
    }

    func testBuiltInNamesAndTheNativeLayout() throws {
        // The built-in `squid` layout reads the native fixture exactly as SquidNative does.
        let custom = try SquidCustom(logformat: "squid")
        let (a, ra) = try scanLog(TestPaths.fixture("squid-access.log"), format: custom)
        let (b, _) = try scanLog(TestPaths.fixture("squid-access.log"), format: SquidNative())
        XCTAssertEqual(ra.skipped, 0)
        XCTAssertEqual(a.count, b.count)
        for (x, y) in zip(a, b) {
            XCTAssertEqual(x.timestamp, y.timestamp)
            XCTAssertEqual(x.host, y.host)
            XCTAssertEqual(x.user, y.user)
            XCTAssertEqual(x.bytesDown, y.bytesDown)
            XCTAssertNil(x.bytesUp, "the native layout has no %>st")
            XCTAssertEqual(x.urlPath, y.urlPath)
            XCTAssertEqual(x.serverIP, y.serverIP)
        }
    }

    /// Squid's built-in `common` layout: `%>a %[ui %[un [%tl] "%rm %ru HTTP/%rv" %>Hs %<st %Ss:%Sh`;
    /// the line is written by hand to that layout (local time with its offset).
    func testCommonLayoutWithLocalTimeAndOffset() throws {
        let f = try SquidCustom(logformat: "common")
        let o = try XCTUnwrap(parseLine(f, #"10.1.2.3 - bob%20smith [25/Nov/2026:13:00:05 +0100] "CONNECT claude.ai:443 HTTP/1.1" 200 5120 TCP_TUNNEL:HIER_DIRECT"#).observation)
        XCTAssertEqual(o.timestamp.rfc3339, "2026-11-25T12:00:05.000Z")
        XCTAssertEqual(o.user, "bob smith", "%[un is %-encoded")
        XCTAssertEqual(o.host, "claude.ai")
        XCTAssertEqual(o.status, 200)
        XCTAssertEqual(o.bytesDown, 5120)
        XCTAssertNil(o.bytesUp)
        XCTAssertNil(o.durationMs, "common has no %tr")

        let combined = try SquidCustom(logformat: "combined")
        let c = try XCTUnwrap(parseLine(combined, #"10.1.2.3 - - [25/Nov/2026:12:00:05 +0000] "GET http://chatgpt.com/c/abc?q=1 HTTP/1.1" 304 190 "http://x/ \"y\"" "Mozilla/5.0 (X11; Linux x86_64)" TCP_REFRESH_UNMODIFIED:HIER_DIRECT"#).observation)
        XCTAssertEqual(c.urlPath, "/c/abc")
        XCTAssertNil(c.user)
        XCTAssertEqual(c.method, "GET")
    }

    func testSNIAndDomainGiveTheHostWithoutURL() throws {
        let f = try SquidCustom(logformat: "%ts %>a:%>p %ul %rm %>rd %ssl::>sni %>st %<st %<a:%<p")
        let bumped = try XCTUnwrap(parseLine(f, "1795606327 10.0.0.9:51234 carol CONNECT - ChatGPT.com. 881 26026 104.18.32.47:443").observation)
        XCTAssertEqual(bumped.host, "chatgpt.com")
        XCTAssertEqual(bumped.hostSource, .proxyConnect)
        XCTAssertEqual(bumped.clientPort, 51234)
        XCTAssertEqual(bumped.user, "carol")
        XCTAssertEqual(bumped.serverPort, 443)
        XCTAssertEqual(bumped.serverIP, IPAddress("104.18.32.47"))
        let plain = try XCTUnwrap(parseLine(f, "1795606327 10.0.0.9:51235 - GET claude.ai - 120 900 -:-").observation)
        XCTAssertEqual(plain.host, "claude.ai")
        XCTAssertEqual(plain.hostSource, .proxyURL)
        XCTAssertNil(plain.serverIP)
        XCTAssertNil(plain.user)
    }

    func testMalformedFormatsAreRefusedWithTheDirectiveNamed() {
        func error(_ s: String) -> String? {
            do { _ = try SquidCustom(logformat: s); return nil } catch { return error.description }
        }
        XCTAssertEqual(error("%ts %zz %ru"), "unknown logformat directive at '%zz %ru'")
        XCTAssertEqual(error("%ts %us %ru"), "unknown logformat directive at '%us %ru'")
        XCTAssertEqual(error("%ts%tu %ru"), "directives '%ts' and '%tu' have no text between them: their values cannot be told apart")
        XCTAssertEqual(error("%ts %{Referer %ru"), "directive '%{Referer %ru' has an unclosed '{'")
        XCTAssertEqual(error("%>a %ru"), "logformat '%>a %ru' has no time directive (%ts, %tS, %tl or %tg): lines would have no time")
        XCTAssertEqual(error("%ts %ru %"), "logformat ends with a lone '%'")
        XCTAssertEqual(error("%ts %5.tr"), "directive '%5.t' has a '.' without a precision")
        XCTAssertEqual(error("%{%Q}tl %ru"), "time layout '%Q' of '%{%Q}tl' is not supported")
        XCTAssertEqual(error(" \n "), "empty logformat")
        XCTAssertEqual(error("logformat a %ts %ru\nlogformat b %ts %rm"), "2 logformat lines (a, b): give the one access_log uses")
        XCTAssertEqual(error("logformat onlyname"), "logformat line 'logformat onlyname' has no NAME and format")
        XCTAssertNotNil(error(String(repeating: "%ts ", count: 3000)))
    }

    func testEveryPrefixOfASeedLineIsSkippedNeverTrapped() throws {
        let f = try seedFormat()
        let line = "1795606327.790     49 127.0.0.1 TCP_TUNNEL/200 2156 263459 CONNECT chatgpt.com:443 alice HIER_DIRECT/127.0.0.1 -"
        XCTAssertNotNil(parseLine(f, line).observation)
        let bytes = Array(line.utf8)
        for cut in 1..<bytes.count {
            let prefix = String(decoding: bytes[..<cut], as: UTF8.self)
            let result = parseLine(f, prefix)
            XCTAssertNotNil(result.skipReason, "prefix of \(cut) bytes: \(result)")
        }
    }

    func testHostileLinesAreSkippedWithPreciseReasons() throws {
        let path = try temporaryLogFile(self, """
            1795606327.732     19 127.0.0.1 TCP_TUNNEL/200 26026 881 CONNECT chatgpt.com:443 alice HIER_DIRECT/127.0.0.1 -
            1795606327.732     19 127.0.0.1 TCP_TUNNEL/200 26026 -881 CONNECT chatgpt.com:443 alice HIER_DIRECT/127.0.0.1 -
            1795606327.7321    19 127.0.0.1 TCP_TUNNEL/200 26026 881 CONNECT chatgpt.com:443 alice HIER_DIRECT/127.0.0.1 -
            1795606327.732     19 127.0.0.1 TCP_TUNNEL 26026 881 CONNECT chatgpt.com:443 alice HIER_DIRECT/127.0.0.1 -
            1795606327.732     19 127.0.0.1 TCP_TUNNEL/200 99999999999999999999 881 CONNECT chatgpt.com:443 alice HIER_DIRECT/127.0.0.1 -
            1795606327.732     19 127.0.0.1 TCP_TUNNEL/2000 26026 881 CONNECT chatgpt.com:443 alice HIER_DIRECT/127.0.0.1 -
            1795606327.732     19 127.0.0.1 TCP_TUNNEL/200 26026 881 CONNECT chatgpt.com:70000 alice HIER_DIRECT/127.0.0.1 -
            1795606327.732     19 127.0.0.1 TCP_TUNNEL/200 26026 881 CONNECT chatgpt.com:443 alice HIER_DIRECT/127.0.0.1 - extra

            x
            """)
        let (observations, report) = try scanLog(path, format: try seedFormat())
        XCTAssertEqual(observations.map(\.source.position), [.line(1)])
        XCTAssertEqual(report.records, 9, "the blank line is not a record")
        XCTAssertEqual(report.skipped, 8)
        XCTAssertEqual(report.skippedSamples.map(\.location), (2...6).map { "\(path):\($0)" })
        XCTAssertEqual(report.skippedSamples.map(\.reason), [
            "%>st '-881' is not a byte count",
            "%03tu '7321' is not milliseconds",
            "expected '/' at byte 43, found ' 26026 881 CONNECT chatgpt.com:443 alice'",
            "%<st '99999999999999999999' is not a byte count",
            "%03>Hs '2000' is not an HTTP status",
        ])
        let f = try seedFormat()
        XCTAssertEqual(parseLine(f, "1795606327.732     19 127.0.0.1 TCP_TUNNEL/200 26026 881 CONNECT chatgpt.com:70000 alice HIER_DIRECT/127.0.0.1 -").skipReason,
                       "CONNECT target 'chatgpt.com:70000' is not host:port")
        XCTAssertEqual(parseLine(f, "1795606327.732     19 127.0.0.1 TCP_TUNNEL/200 26026 881 CONNECT chatgpt.com:443 alice HIER_DIRECT/127.0.0.1 - extra").skipReason,
                       "unexpected text after the last field: 'extra'")
        XCTAssertEqual(parseLine(f, "x").skipReason, "%ts 'x' is not seconds")
        XCTAssertTrue(parseLine(f, " \t ").isIgnored)
    }

    func testCustomLogsAreNotAutoDetected() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: TestPaths.seed("squid-custom.log")))
        XCTAssertNil(data.withUnsafeBytes { detectLogFormat(sample: $0) }, "11 fields: not squid native, and custom formats need --logformat")
        let f = try seedFormat()
        XCTAssertFalse(Array("1795606327.732 19".utf8).withUnsafeBytes { f.recognizes($0) })
    }
}
