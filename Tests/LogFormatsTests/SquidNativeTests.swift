import Foundation
import ShadowScopeCore
import TestSupport
import XCTest

@testable import LogFormats

/// Reads a log file through the same LineReader and LogScanner `shadowscope scan` uses.
func scanLog(_ path: String, format: any LogFormat = SquidNative()) throws -> ([Observation], InputReport) {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { throw XCTSkip("cannot open \(path)") }
    defer { close(fd) }
    var report = InputReport(file: path, format: format.name)
    var out: [Observation] = []
    LogScanner(format: format).scan(fd: fd, prefix: [], file: path, report: &report) { out.append($0) }
    return (out, report)
}

/// `line` with one to three bytes inserted, removed or replaced, new bytes drawn from `alphabet`.
func mutated(_ line: [UInt8], _ alphabet: [UInt8], _ rng: inout some RandomNumberGenerator) -> [UInt8] {
    var m = line
    for _ in 0..<Int.random(in: 1...3, using: &rng) {
        let at = Int.random(in: 0...m.count, using: &rng)
        switch Int.random(in: 0..<3, using: &rng) {
        case 0: m.insert(alphabet.randomElement(using: &rng)!, at: at)
        case 1: if at < m.count { m.remove(at: at) }
        default: if at < m.count { m[at] = alphabet.randomElement(using: &rng)! }
        }
    }
    return m
}

final class SquidNativeTests: XCTestCase {
    /// Every line of the fixture squid wrote, field by field, against curl's own view of the request.
    func testFixtureLogMatchesWhatEachClientSaw() throws {
        let (observations, report) = try scanLog(TestPaths.fixture("squid-access.log"))
        let rows = try readTSV(TestPaths.fixture("squid-access.expected.tsv"))
        XCTAssertEqual(report.records, 16)
        XCTAssertEqual(report.skipped, 0)
        XCTAssertEqual(observations.count, rows.count)
        for (o, row) in zip(observations, rows) {
            XCTAssertEqual(o.source.position, .line(Int(row["line"]!)!))
            XCTAssertEqual(o.user, row["user"] == "-" ? nil : row["user"])
            let url = URL(string: row["url"]!)!
            XCTAssertEqual(o.host, url.host, "\(row)")
            XCTAssertEqual(o.clientIP, IPAddress("127.0.0.1"))
            XCTAssertNil(o.bytesUp, "squid's native format has no request size: unknown, never 0")
            if url.scheme == "https" {
                // Through the proxy an HTTPS request is a CONNECT: squid sees host:port, never the path.
                XCTAssertEqual(o.method, "CONNECT")
                XCTAssertEqual(o.hostSource, .proxyConnect)
                XCTAssertEqual(o.serverPort, 443)
                XCTAssertNil(o.urlPath)
                XCTAssertEqual(o.status, Int(row["http_connect"]!))
            } else {
                XCTAssertEqual(o.method, row["method"])
                XCTAssertEqual(o.hostSource, .proxyURL)
                XCTAssertEqual(o.urlPath, url.path.isEmpty ? "/" : url.path)
                XCTAssertEqual(o.serverPort, 80)
                XCTAssertEqual(o.status, Int(row["http_code"]!))
            }
        }
    }

    func testFirstFixtureLineFieldByField() throws {
        // 1795608606.105     30 127.0.0.1 TCP_TUNNEL/200 22639 CONNECT chatgpt.com:443 alice HIER_DIRECT/127.0.1.1 -
        let (observations, _) = try scanLog(TestPaths.fixture("squid-access.log"))
        let o = try XCTUnwrap(observations.first)
        XCTAssertEqual(o.timestamp, Timestamp(seconds: 1_795_608_606, microseconds: 105_000))
        XCTAssertEqual(o.durationMs, 30)
        XCTAssertEqual(o.status, 200)
        XCTAssertEqual(o.bytesDown, 22_639)
        XCTAssertEqual(o.serverIP, IPAddress("127.0.1.1"))
        XCTAssertEqual(o.host, "chatgpt.com")
        XCTAssertEqual(o.user, "alice")
    }

    func testDeniedRequestsKeepUserOrNull() throws {
        let (observations, _) = try scanLog(TestPaths.fixture("squid-access.log"))
        // Line 15: CONNECT without credentials (user "-"), line 16: carol's wrong password.
        XCTAssertEqual(observations[14].status, 407)
        XCTAssertNil(observations[14].user)
        XCTAssertNil(observations[14].serverIP, "HIER_NONE/- has no peer")
        XCTAssertEqual(observations[15].user, "carol")
        XCTAssertEqual(observations[15].status, 407)
    }

    /// The seed log from ../shared: same fields, checked against LOGS-check.txt.
    func testSeedLogMatchesLogsCheck() throws {
        let (observations, report) = try scanLog(TestPaths.seed("squid-native.log"))
        XCTAssertEqual(report.skipped, 0)
        let text = try String(contentsOfFile: TestPaths.seed("LOGS-check.txt"), encoding: .utf8)
        let section = text.components(separatedBy: "## ").first { $0.hasPrefix("squid-native.log") }!
        let rows = section.split(separator: "\n").dropFirst(2).map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
        XCTAssertEqual(observations.count, rows.count)
        for (o, r) in zip(observations, rows) {
            XCTAssertEqual(o.bytesDown, Int64(r[3]), "\(r)")
            XCTAssertEqual(o.method, r[5])
            XCTAssertEqual(o.user, r[7] == "-" ? nil : r[7])
            XCTAssertEqual(o.status, Int(r[2].split(separator: "/").last!))
        }
    }

    func testGarbageLinesAreCountedAndSampledWithFileAndLine() throws {
        let path = try temporaryLog("""
            1795608606.105     30 127.0.0.1 TCP_TUNNEL/200 22639 CONNECT chatgpt.com:443 alice HIER_DIRECT/127.0.1.1 -
            this is not a squid line
            1795608606.105 x 127.0.0.1 TCP_TUNNEL/200 22639 CONNECT chatgpt.com:443 alice HIER_DIRECT/127.0.1.1 -
            1795608606.105 3 127.0.0.1 TCP_TUNNEL 22639 CONNECT chatgpt.com:443 alice HIER_DIRECT/127.0.1.1 -
            1795608606.105 3 127.0.0.1 TCP_TUNNEL/200 -5 CONNECT chatgpt.com:443 alice HIER_DIRECT/127.0.1.1 -
            1795608606.105 3 127.0.0.1 TCP_TUNNEL/200 5 CONNECT chatgpt.com:99999 alice HIER_DIRECT/127.0.1.1 -

            1795608606.105 3 127.0.0.1 TCP_TUNNEL/200 5 CONNECT chatgpt.com:443 alice HIER_DIRECT/127.0.1.1 - extra
            """)
        let (observations, report) = try scanLog(path)
        XCTAssertEqual(observations.count, 1)
        XCTAssertEqual(report.records, 7, "the blank line is not a record")
        XCTAssertEqual(report.skipped, 6)
        XCTAssertEqual(report.skippedSamples.count, InputReport.maxSamples)
        XCTAssertEqual(report.skippedSamples.map(\.location), (2...6).map { "\(path):\($0)" })
        XCTAssertEqual(report.skippedSamples[0].reason, "expected 10 fields, found 6")
        XCTAssertEqual(report.skippedSamples[1].reason, "elapsed 'x' is not a number")
        XCTAssertEqual(report.skippedSamples[2].reason, "result 'TCP_TUNNEL' is not CODE/STATUS")
        XCTAssertEqual(report.skippedSamples[3].reason, "bytes '-5' is not a number")
        XCTAssertEqual(report.skippedSamples[4].reason, "CONNECT target 'chatgpt.com:99999' is not host:port")
    }

    func testCRLFNulAndMissingFinalNewline() throws {
        let good = "1795608606.105 3 127.0.0.1 TCP_MISS/200 5 GET http://Claude.AI/x?secret=1 bob HIER_DIRECT/160.79.104.10 text/html"
        let path = try temporaryLog(good + "\r\n" + "1795608606.105 3 127.0.0.1 TCP\u{0}/200 5 GET http://a.b/ bob - -\n" + good)
        let (observations, report) = try scanLog(path)
        XCTAssertEqual(observations.count, 2)
        XCTAssertEqual(observations[0].host, "claude.ai")
        XCTAssertEqual(observations[0].urlPath, "/x", "the query string is dropped")
        XCTAssertEqual(observations[1].source.position, .line(3))
        XCTAssertEqual(report.skippedSamples.first?.reason, "NUL byte in line")
    }

    func testLinesOverTheCapAreSkippedWholeAndCounted() throws {
        let good = "1795608606.105 3 127.0.0.1 TCP_MISS/200 5 GET http://claude.ai/ bob - -"
        let long = String(repeating: "x", count: LineReader.maxLineBytes + 1)
        let huge = String(repeating: "y", count: 3 * 1_048_576)  // spans several read chunks
        let atLimit = good + String(repeating: " ", count: LineReader.maxLineBytes - good.utf8.count)
        let path = try temporaryLog([good, long, good, huge, atLimit].joined(separator: "\n") + "\n")
        let (observations, report) = try scanLog(path)
        XCTAssertEqual(observations.map(\.source.position), [.line(1), .line(3), .line(5)])
        XCTAssertEqual(report.skipped, 2)
        XCTAssertEqual(report.capsHit["line-length"], 2)
        XCTAssertEqual(report.skippedSamples.map(\.location), ["\(path):2", "\(path):4"])
        XCTAssertEqual(report.skippedSamples[1].reason, "line of \(3 * 1_048_576) bytes is over the \(LineReader.maxLineBytes)-byte limit")
    }

    /// The word-at-a-time field split against a byte-at-a-time one: random lines of every length
    /// around the 8-byte words, runs of spaces and tabs anywhere, more fields than there is room for.
    func testFieldSplitIsTheByteByByteSplit() {
        func reference(_ line: [UInt8], room: Int) -> [[UInt8]]? {
            let fields = line.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 }).map(Array.init)
            return fields.count > room ? nil : fields
        }
        var rng = SystemRandomNumberGenerator()
        let alphabet: [UInt8] = [0x20, 0x20, 0x09, 0x41, 0x2F, 0x00, 0x0A, 0xFF, 0x30]
        for round in 0..<20_000 {
            let line = (0..<(round % 90)).map { _ in alphabet.randomElement(using: &rng)! }
            let room = [10, 1, 3][round % 3]
            let got: [[UInt8]]? = line.withUnsafeBytes { raw in
                withUnsafeTemporaryAllocation(of: UnsafeRawBufferPointer.self, capacity: room) { fields in
                    SquidNative.splitFields(raw, into: fields).map { count in (0..<count).map { Array(fields[$0]) } }
                }
            }
            XCTAssertEqual(got, reference(line, room: room), "\(line)")
        }
    }

    func testURLParsing() {
        func parse(_ s: String) -> (String?, UInt16?, String?)? {
            Array(s.utf8).withUnsafeBytes { parseURL($0).map { ($0.host, $0.port, $0.path) } }
        }
        XCTAssert(parse("https://user:pw@API.openai.com:8443/v1/files?purpose=x#f")! == ("api.openai.com", 8443, "/v1/files"))
        XCTAssert(parse("http://[2001:db8::1]/a")! == ("2001:db8::1", 80, "/a"))
        XCTAssert(parse("http://claude.ai")! == ("claude.ai", 80, "/"))
        XCTAssertNil(parse("error:invalid-request"))
        // The scheme's default port, in any case; other schemes (and look-alikes) have none.
        for (scheme, port) in [("HTTPS", 443), ("Http", 80), ("ws", 80), ("WSS", 443), ("ftp", 21), ("gopher", nil),
                               ("httpss", nil), ("htt", nil), ("ws\u{0}", nil), ("s", nil), ("", nil)] as [(String, UInt16?)] {
            XCTAssertEqual(parse("\(scheme)://h.example/x")?.1, port, scheme)
        }
    }

    func testDetectionRecognisesSquidAndRejectsOtherText() throws {
        let squid = try Data(contentsOf: URL(fileURLWithPath: TestPaths.fixture("squid-access.log")))
        XCTAssertEqual(squid.withUnsafeBytes { detectLogFormat(sample: $0)?.name }, "squid")
        let w3c = try Data(contentsOf: URL(fileURLWithPath: TestPaths.corpus("lnav/logfile_w3c.0")))
        XCTAssertEqual(w3c.withUnsafeBytes { detectLogFormat(sample: $0)?.name }, "w3c", "a W3C log is not squid")
        XCTAssertNil(Data().withUnsafeBytes { detectLogFormat(sample: $0) })
    }

    private func temporaryLog(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("squid-\(UUID()).log").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }
}

final class SquidQuickHostTests: XCTestCase {
    func host(_ line: String) -> String? {
        Array(line.utf8).withUnsafeBytes { raw in SquidNative().quickHost(raw).map { String(decoding: $0, as: UTF8.self) } }
    }

    /// Real lines, and the same lines mutated (spaces, tabs, cuts, bytes that matter to the URL), at
    /// every length around the 8-byte words: the fast quickHost says exactly what the reference says.
    func testWordAtATimeQuickHostAgreesWithTheByteAtATimeReference() throws {
        var lines = try String(contentsOfFile: TestPaths.fixture("squid-access.log"), encoding: .utf8)
            .split(separator: "\n").map { Array($0.utf8) }
        lines.append(Array("1 2 3 4 5 CONNECT a.b:443 7 8 9".utf8))
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array(" \t:/@[.aC".utf8)
        var checked = 0
        for line in lines {
            var variants = [line]
            for cut in 0...min(line.count, 40) { variants.append(Array(line.prefix(cut))) }
            for _ in 0..<60 { variants.append(mutated(line, alphabet, &rng)) }
            for v in variants {
                v.withUnsafeBytes { raw in
                    let fast = SquidNative().quickHost(raw).map(Array.init)
                    let reference = Self.referenceQuickHost(raw).map(Array.init)
                    XCTAssertEqual(fast, reference, String(decoding: v, as: UTF8.self))
                }
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 1000)
    }

    /// The byte-at-a-time quickHost the word-at-a-time one replaced: the reference it must agree with.
    static func referenceQuickHost(_ line: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        guard let base = line.baseAddress else { return nil }
        let n = line.count
        var field = 0
        var i = 0
        var methodStart = 0, methodEnd = 0, urlStart = 0, urlEnd = 0
        while i < n {
            while i < n && base.load(fromByteOffset: i, as: UInt8.self) == 0x20 { i += 1 }
            if i == n { break }
            let start = i
            while i < n {
                let c = base.load(fromByteOffset: i, as: UInt8.self)
                if c == 0x20 || c == 0x09 { break }
                i += 1
            }
            if field == 5 { methodStart = start; methodEnd = i }
            if field == 6 { urlStart = start; urlEnd = i }
            field += 1
            if field > SquidNative.fieldCount { return nil }
        }
        guard field == SquidNative.fieldCount else { return nil }
        let url = UnsafeRawBufferPointer(rebasing: line[urlStart..<urlEnd])
        if methodEnd - methodStart == 7 && base.load(fromByteOffset: methodStart, as: UInt8.self) == 0x43 {  // CONNECT
            guard let colon = url.lastIndex(of: 0x3A), url.first != 0x5B else { return nil }
            return UnsafeRawBufferPointer(rebasing: url[..<colon])
        }
        // scheme://host[:port]/...
        var j = 0
        while j + 2 < url.count && !(url[j] == 0x3A && url[j + 1] == 0x2F && url[j + 2] == 0x2F) { j += 1 }
        guard j + 2 < url.count else { return nil }
        let hostStart = j + 3
        var k = hostStart
        while k < url.count {
            let c = url[k]
            if c == 0x2F || c == 0x3A || c == 0x3F || c == 0x23 { break }
            if c == 0x40 || c == 0x5B { return nil }  // user@host or [IPv6]: full parse
            k += 1
        }
        return k > hostStart ? UnsafeRawBufferPointer(rebasing: url[hostStart..<k]) : nil
    }

    func testQuickHostFindsTheHostOfWellFormedLinesOnly() throws {
        let lines = try String(contentsOfFile: TestPaths.fixture("squid-access.log"), encoding: .utf8).split(separator: "\n")
        let (observations, _) = try scanLog(TestPaths.fixture("squid-access.log"))
        // The quick path must name the same host as the full parse, line for line.
        XCTAssertEqual(lines.map { host(String($0)) }, observations.map(\.host))
        XCTAssertNil(host("1795608606.105 30 127.0.0.1 TCP_TUNNEL/200 22639 CONNECT chatgpt.com:443 alice HIER_DIRECT/1.2.3.4"), "9 fields")
        XCTAssertNil(host("1795608606.105 30 127.0.0.1 TCP_MISS/200 5 GET http://u@evil.example/ alice HIER_DIRECT/1.2.3.4 -"), "user@host: full parse")
        XCTAssertNil(host("1795608606.105 30 127.0.0.1 TCP_TUNNEL/200 5 CONNECT [2001:db8::1]:443 alice HIER_DIRECT/1.2.3.4 -"))
        XCTAssertEqual(host("1795608606.105 30 127.0.0.1 TCP_MISS/200 5 GET http://Claude.AI:8080/x alice HIER_DIRECT/1.2.3.4 -"), "Claude.AI")
    }
}

final class SquidBulkSkipTests: XCTestCase {
    /// The test's stand-in for the catalog: a host is relevant when its length is 1 more than a multiple of three,
    /// so about a third of any set of lines are, spread through the text.
    static func relevant(_ host: UnsafeRawBufferPointer) -> Bool { host.count % 3 == 1 }

    /// What the bulk counter must take from `text`: the leading complete lines with no tab or NUL, a CR
    /// only just before the LF, within the line cap, with a host (the byte-at-a-time reference
    /// quickHost, a CR being an ordinary byte there) that is not relevant.
    /// The bulk count by its definition, line by line; `nextIsRelevant`: it stopped at a clean line
    /// whose quick host is relevant (the line-by-line path would parse it in full).
    static func referenceSkip(_ text: [UInt8]) -> (bytes: Int, lines: Int, nextIsRelevant: Bool) {
        var start = 0, lines = 0
        while let lf = text[start...].firstIndex(of: 0x0A) {
            let line = Array(text[start..<lf])
            // A control byte (below CR, LF aside; CR is allowed only last) sends the line to the line-by-line path.
            if line.contains(where: { $0 < 0x0D }) || line.count > LineReader.maxLineBytes { break }
            if let cr = line.firstIndex(of: 0x0D), cr != line.count - 1 { break }
            // A CR before the LF is dropped by the line reader: as a field of its own, it leaves a field fewer.
            if line.last == 0x0D && (line.count == 1 || line[line.count - 2] == 0x20) { break }
            let hostIsRelevant = line.withUnsafeBytes { raw in SquidQuickHostTests.referenceQuickHost(raw).map { relevant($0) } }
            guard let hostIsRelevant else { break }
            if hostIsRelevant { return (start, lines, true) }
            lines += 1
            start = lf + 1
        }
        return (start, lines, false)
    }

    static func variants() throws -> [[UInt8]] {
        var lines = try String(contentsOfFile: TestPaths.fixture("squid-access.log"), encoding: .utf8)
            .split(separator: "\n").map { Array($0.utf8) }
        lines.append(Array("1 2 3 4 5 CONNECT a.b:443 7 8 9".utf8))
        // Targets near the word-at-a-time shortcuts ("http://", "https://", a ":443" port) and past them.
        for target in ["http://h.example/", "https://h.example/x", "HTTP://h.example/", "http:/h.example/", "httpx://h.example/",
                       "https:/x", "http://", "https://", "http://a", "ftp://h.example/", "h.example:443", "h.example:4430",
                       "h:443", ":443", "a:b:443", "[::1]:443", "h.example:44"] {
            let method = target.contains("/") ? "GET" : "CONNECT"
            lines.append(Array("1795606324.007   4596 10.218.17.57 TCP_MISS/200 878085 \(method) \(target) - HIER_DIRECT/203.0.113.160 -".utf8))
        }
        lines.append(Array("1795606324.007   4596 10.218.17.57 TCP_MISS/200 878085 GET http://site934-cdn.org/path/1596?q=625 user1182 HIER_DIRECT/203.0.113.160 text/html".utf8))
        var rng = SystemRandomNumberGenerator()
        // Tab, CR, NUL and rarer controls (bytes below CR send a line to the line-by-line path too).
        let alphabet = Array(" \t\r\0:/@[.aC\n\u{01}\u{0B}\u{0C}\u{0E}".utf8)
        var out: [[UInt8]] = []
        for line in lines {
            out.append(line)
            out.append(line + [0x0D])
            for _ in 0..<40 { out.append(mutated(line, alphabet, &rng)) }
        }
        return out
    }

    /// Texts of random runs of real and mutated lines, at every alignment to the 64-byte blocks, cut
    /// anywhere: the bulk count is exactly the line-by-line one.
    func testBulkCountTakesExactlyTheLinesTheLineByLinePathWouldDrop() throws {
        let pool = try Self.variants()
        var rng = SystemRandomNumberGenerator()
        var sawSkips = 0, sawStops = 0, sawRelevant = 0
        for round in 0..<3000 {
            var text: [UInt8] = Array(repeating: 0x41, count: round % 64)  // shifts the lines against the blocks
            let lead = text.count
            text.append(0x0A)
            // Mostly lines the counter takes, so that runs of them reach far into the text.
            for _ in 0..<Int.random(in: 1...30, using: &rng) {
                var line = pool.randomElement(using: &rng)!
                if Bool.random(using: &rng) { line = pool[pool.count - 42] }  // the generated-style line, not relevant
                text += line
                text.append(0x0A)
            }
            if round % 3 == 0 { text.removeLast(Int.random(in: 0...min(20, text.count - lead - 1), using: &rng)) }
            let body = Array(text[(lead + 1)...])
            let expected = Self.referenceSkip(body)
            let got = body.withUnsafeBytes { SquidNative().skipIrrelevantLines($0, prefilter: nil, isRelevant: Self.relevant) }
            XCTAssertEqual(got?.bytes, expected.bytes, String(decoding: body, as: UTF8.self))
            XCTAssertEqual(got?.lines, expected.lines)
            XCTAssertEqual(got?.nextIsRelevant, expected.nextIsRelevant)
            if expected.lines > 0 { sawSkips += 1 }
            if expected.nextIsRelevant { sawRelevant += 1 }
            if expected.bytes < body.count { sawStops += 1 }
        }
        XCTAssertGreaterThan(sawSkips, 500)
        XCTAssertGreaterThan(sawStops, 500)
        XCTAssertGreaterThan(sawRelevant, 100)
    }

    /// With a host prefilter (asked inline before `isRelevant`, which agrees with it), the bulk count
    /// is the same as without: the prefilter only saves calls.
    func testBulkCountWithAPrefilterIsTheSameAsWithout() throws {
        let pool = try Self.variants()
        // Names whose last two labels some lines of the pool have, so that some hosts pass the filter.
        let prefilter = HostPrefilter(names: ["api.openai.com", "claude.ai", "site934-cdn.org", "b"])
        let relevant: (UnsafeRawBufferPointer) -> Bool = { !prefilter.rejects($0) && Self.relevant($0) }
        var rng = SystemRandomNumberGenerator()
        var passed = 0, rejected = 0
        for round in 0..<2000 {
            var text: [UInt8] = []
            for _ in 0..<Int.random(in: 1...30, using: &rng) { text += pool.randomElement(using: &rng)! + [0x0A] }
            if round % 3 == 0 { text.removeLast(Int.random(in: 0...min(20, text.count), using: &rng)) }
            let with = text.withUnsafeBytes { SquidNative().skipIrrelevantLines($0, prefilter: prefilter, isRelevant: relevant) }
            let without = text.withUnsafeBytes { SquidNative().skipIrrelevantLines($0, prefilter: nil, isRelevant: relevant) }
            XCTAssertEqual(with?.bytes, without?.bytes)
            XCTAssertEqual(with?.lines, without?.lines)
            XCTAssertEqual(with?.nextIsRelevant, without?.nextIsRelevant)
        }
        for line in pool {
            guard let host = line.withUnsafeBytes({ SquidQuickHostTests.referenceQuickHost($0).map { Array($0) } }) else { continue }
            if host.withUnsafeBytes({ prefilter.rejects($0) }) { rejected += 1 } else { passed += 1 }
        }
        XCTAssertGreaterThan(passed, 10)
        XCTAssertGreaterThan(rejected, 10)
    }

    func testBulkCountStopsAtLongLinesAndUnfinishedOnes() {
        let good = Array("1795606324.017   3953 10.53.248.108 TCP_TUNNEL/200 506913 CONNECT site1528-news.com:443 user1549 HIER_DIRECT/203.0.113.85 -\n".utf8)
        let long = Array("1 2 3 4 5 CONNECT h.example:443 7 8 ".utf8) + Array(repeating: 0x78, count: LineReader.maxLineBytes) + [0x0A]
        func skip(_ t: [UInt8]) -> (bytes: Int, lines: Int, nextIsRelevant: Bool)? { t.withUnsafeBytes { SquidNative().skipIrrelevantLines($0, prefilter: nil, isRelevant: Self.relevant) } }
        XCTAssertEqual(skip(good + good + long + good)?.lines, 2, "a line over the cap goes to the line-by-line path")
        XCTAssertEqual(skip(good + good.dropLast())?.bytes, good.count, "an unfinished line is left for the next read")
        XCTAssertEqual(skip([])?.lines, 0)
        XCTAssertEqual(skip([0x0A])?.lines, 0, "a blank line is not a record")
        // Nine fields and a lone CR before the LF (the line reader drops the CR: nine fields, a skip).
        let nineAndCR = Array("1795608606.128      8 127.0.0.1 TCP_TUNNEL/200 22639 CONNECT h.example:443 alice HIER_DIRECT/127.0.1.2 \r\n".utf8)
        XCTAssertEqual(skip(good + nineAndCR + good)?.lines, 1, "a lone CR is not a field")
        XCTAssertEqual(skip(Array(good.dropLast()) + [0x0D, 0x0A] + good)?.lines, 2, "a CR ending the last field is dropped")
    }

    /// A whole log of mutated lines through LogScanner, with and without bulk counting: the same
    /// report (records, observations, skips and their samples) and the same observations.
    func testScanWithBulkCountingGivesTheSameReportAndObservations() throws {
        let pool = try Self.variants()
        var rng = SystemRandomNumberGenerator()
        var text: [UInt8] = []
        for _ in 0..<20_000 { text += pool.randomElement(using: &rng)! + [0x0A] }
        func scan(bulk: Bool) -> ([Observation], InputReport) {
            var scanner = LogScanner(format: SquidNative(), isRelevant: Self.relevant)
            scanner.bulkSkipping = bulk
            var source = LogFuzzHarness.ChunkedMemorySource(bytes: text, chunk: 100_000)
            var report = InputReport(file: "mutated.log", format: "squid")
            var out: [Observation] = []
            scanner.scan(source: &source, file: "mutated.log", report: &report) { out.append($0) }
            return (out, report)
        }
        let (bulkObservations, bulkReport) = scan(bulk: true)
        let (lineObservations, lineReport) = scan(bulk: false)
        XCTAssertEqual(bulkReport.records, lineReport.records)
        XCTAssertEqual(bulkReport.observations, lineReport.observations)
        XCTAssertEqual(bulkReport.skipped, lineReport.skipped)
        XCTAssertEqual(bulkReport.skippedSamples, lineReport.skippedSamples)
        XCTAssertEqual(bulkReport.capsHit, lineReport.capsHit)
        XCTAssertEqual(bulkObservations.map { "\($0)" }, lineObservations.map { "\($0)" })
        XCTAssertGreaterThan(lineReport.observations, 10_000)
        XCTAssertGreaterThan(lineReport.skipped, 1_000)
    }
}
