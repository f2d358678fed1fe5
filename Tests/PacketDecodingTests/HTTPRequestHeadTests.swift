import Foundation
import ShadowScopeCore
import TestSupport
import XCTest

@testable import PacketDecoding

final class HTTPRequestHeadTests: XCTestCase {
    typealias Head = HTTPRequestHead

    // MARK: the real capture (curl against a plain-HTTP server on port 80)

    /// Every port-80 connection in http-curl.pcap: its first client segment holds the whole head, and
    /// method and Host equal tshark's rows in SNI-check.txt (10 GETs, 2 POSTs with 256 KiB bodies). tshark
    /// names the frame that completes the request: the head's for a GET, the body's last for a POST, which
    /// is where the head's Content-Length says the body ends.
    func testSeedCaptureRequestsMatchTshark() throws {
        let rows = try sniCheckRows(section: "http-curl.pcap")
        XCTAssertEqual(rows.count, 12)
        let streams = try clientStreams(TestPaths.seed("http-curl.pcap"))
        XCTAssertEqual(streams.count, rows.count)
        for (segments, row) in zip(streams, rows) {
            let first = try XCTUnwrap(segments.first)
            guard case .request(let r) = try Head.parse(first.payload) else { return XCTFail("frame \(first.frame)") }
            XCTAssertEqual(r.method, row[1], "frame \(first.frame)")
            XCTAssertEqual(r.host, row[2], "frame \(first.frame)")
            XCTAssertEqual(r.hostSource, .httpHost)
            XCTAssertEqual(r.port, nil)
            XCTAssertEqual(r.version, "HTTP/1.1")
            XCTAssertEqual(r.anomalies, [])
            let head = String(decoding: first.payload.prefix(r.headLength), as: UTF8.self).lowercased()
            let bodyLength = head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
            var have = 0
            let complete = segments.first { have += $0.payload.count; return have >= r.headLength + bodyLength }
            XCTAssertEqual(complete.map { String($0.frame) }, row[0], "request starting in frame \(first.frame)")
            if r.method == "POST" {
                XCTAssertEqual(bodyLength, 262_144)
                XCTAssertTrue(["/v1/files", "/backend-api/files"].contains(r.path), "\(r.path ?? "nil")")
            } else {
                XCTAssertEqual(r.path, "/")
                XCTAssertEqual(r.headLength, first.payload.count)  // a GET has no body
            }
        }
    }

    /// The real heads, whole, one byte at a time and at random cuts: the same request every time, and
    /// needMoreData at every strict prefix of the head.
    func testRealHeadsGiveTheSameResultHoweverTheyAreSplit() throws {
        var rng = SplitMix64(seed: 80)
        for p in try clientStreams(TestPaths.seed("http-curl.pcap")).compactMap(\.first) {
            let whole = outcome(p.payload)
            guard case .success(.request(let r)) = whole else { return XCTFail("frame \(p.frame)") }
            for n in 0..<r.headLength {
                XCTAssertEqual(outcome(Array(p.payload.prefix(n))), .success(.needMoreData), "frame \(p.frame) prefix \(n)")
            }
            XCTAssertEqual(dripFeed(p.payload, chunk: { 1 }), whole)
            for _ in 0..<20 {
                XCTAssertEqual(dripFeed(p.payload, chunk: { 1 + Int(rng.next() % 40) }), whole)
            }
        }
    }

    /// The drip-feed check on heads that end in an error or in notHTTP, too.
    func testDripFeedGivesTheSameErrorsAndVerdicts() {
        let inputs = [
            "GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a.example\r\n folded\r\n\r\n",
            "get / HTTP/1.1\r\nHost: a.example\r\n\r\n",
            "GET /\r\n\r\n",
            "CONNECT api.openai.com:443 HTTP/1.1\r\nHost: api.openai.com:443\r\n\r\n",
            "GET http://claude.ai/x?y HTTP/1.1\nHost: claude.ai\n\n",
        ]
        var rng = SplitMix64(seed: 9112)
        for text in inputs {
            let bytes = Array(text.utf8)
            let whole = outcome(bytes)
            XCTAssertNotEqual(whole, .success(.needMoreData), text)
            XCTAssertEqual(dripFeed(bytes, chunk: { 1 }), whole, text)
            for _ in 0..<20 { XCTAssertEqual(dripFeed(bytes, chunk: { 1 + Int(rng.next() % 7) }), whole, text) }
        }
    }

    // MARK: host and target forms

    func testHostHeaderIsTrimmedLowerCasedAndPortDropped() throws {
        let r = try request("GET /v1/chat/completions?stream=true HTTP/1.1\r\nhOsT: \t API.OpenAI.com.:8080 \t\r\n\r\n")
        XCTAssertEqual(r.host, "api.openai.com")
        XCTAssertEqual(r.port, 8080)
        XCTAssertEqual(r.hostSource, .httpHost)
        XCTAssertEqual(r.path, "/v1/chat/completions")
        XCTAssertEqual(r.target, "/v1/chat/completions?stream=true")
    }

    func testIPv6LiteralHostLosesBracketsAndPort() throws {
        let r = try request("GET / HTTP/1.1\r\nHost: [2001:DB8::1]:8443\r\n\r\n")
        XCTAssertEqual(r.host, "2001:db8::1")
        XCTAssertEqual(r.port, 8443)
    }

    func testAbsoluteFormTakesHostFromTheURL() throws {
        let r = try request("GET http://user:pw@Claude.AI:8080/api/organizations?x=1#f HTTP/1.1\r\nHost: claude.ai\r\n\r\n")
        XCTAssertEqual(r.host, "claude.ai")
        XCTAssertEqual(r.port, 8080)
        XCTAssertEqual(r.hostSource, .proxyURL)
        XCTAssertEqual(r.path, "/api/organizations")
        XCTAssertEqual(r.anomalies, [])
        let bare = try request("GET http://chatgpt.com HTTP/1.1\r\nHost: other.example\r\n\r\n")
        XCTAssertEqual(bare.host, "chatgpt.com")
        XCTAssertEqual(bare.hostHeader, "other.example")
        XCTAssertEqual(bare.path, "/")
        XCTAssertEqual(bare.anomalies, [.hostMismatch])
    }

    func testConnectGivesHostAndPortForProxyConnect() throws {
        let r = try request("CONNECT api.anthropic.com:443 HTTP/1.1\r\nHost: api.anthropic.com:443\r\nProxy-Authorization: Basic YTpi\r\n\r\n")
        XCTAssertEqual(r.host, "api.anthropic.com")
        XCTAssertEqual(r.port, 443)
        XCTAssertEqual(r.hostSource, .proxyConnect)
        XCTAssertEqual(HostSource.proxyConnect.rawValue, "proxy-connect")
        XCTAssertNil(r.path)
        let v6 = try request("CONNECT [2606:4700::1]:443 HTTP/1.1\r\nHost: [2606:4700::1]:443\r\n\r\n")
        XCTAssertEqual(v6.host, "2606:4700::1")
        XCTAssertEqual(v6.port, 443)
    }

    func testConnectWithoutPortIsInvalid() {
        assertInvalid("CONNECT chatgpt.com HTTP/1.1\r\nHost: chatgpt.com\r\n\r\n", Head.badConnectTarget)
    }

    func testAsteriskFormHasNoPath() throws {
        let r = try request("OPTIONS * HTTP/1.1\r\nHost: example.org\r\n\r\n")
        XCTAssertNil(r.path)
        XCTAssertEqual(r.host, "example.org")
    }

    /// A target of none of the four forms: flagged, no path, and the Host header names the host (as
    /// Zeek and tshark read it).
    func testTargetOfNoKnownFormIsFlaggedAndTheHostHeaderRead() throws {
        let r = try request("GET index.html HTTP/1.1\r\nHost: a.example\r\n\r\n")
        XCTAssertEqual(r.host, "a.example")
        XCTAssertEqual(r.hostSource, .httpHost)
        XCTAssertNil(r.path)
        XCTAssertEqual(r.target, "index.html")
        XCTAssertEqual(r.anomalies, [.malformedRequestLine])
    }

    /// RFC 9112 §3: a request line split on runs of SP, HTAB, VT, FF or CR; the target is everything
    /// between the method and the version. Each such line is flagged and read.
    func testRequestLineReadOnWhiteSpaceWordBoundaries() throws {
        let cases: [(String, target: String, path: String?, host: String?)] = [
            ("GET  / HTTP/1.1", "/", "/", "chatgpt.com"),
            ("GET /  HTTP/1.1", "/", "/", "chatgpt.com"),
            ("GET / HTTP/1.1 ", "/", "/", "chatgpt.com"),
            ("GET /\tHTTP/1.1", "/", "/", "chatgpt.com"),
            ("GET / \u{0B}\u{0C}HTTP/1.1", "/", "/", "chatgpt.com"),
            ("GET /a b/c?q=1 HTTP/1.1", "/a b/c?q=1", "/a b/c", "chatgpt.com"),
            ("POST http://chatgpt.com/api/x y HTTP/1.1", "http://chatgpt.com/api/x y", "/api/x y", "chatgpt.com"),
            ("GET /\r HTTP/1.0", "/", "/", "chatgpt.com"),
        ]
        for (line, target, path, host) in cases {
            let r = try request(line + "\r\nHost: chatgpt.com\r\n\r\n")
            XCTAssertEqual(r.target, target, line)
            XCTAssertEqual(r.path, path, line)
            XCTAssertEqual(r.host, host, line)
            XCTAssertEqual(r.anomalies, [.malformedRequestLine], line)
            XCTAssertEqual(r.headLength, line.utf8.count + 2 + 19 + 2, line)
        }
        // The grammar's own line is not flagged.
        XCTAssertEqual(try request("GET /a HTTP/1.1\r\nHost: chatgpt.com\r\n\r\n").anomalies, [])
    }

    // MARK: Host header problems

    func testMissingHostIsFlaggedOnHTTP11AndNormalOnHTTP10() throws {
        let r11 = try request("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n")
        XCTAssertNil(r11.host)
        XCTAssertNil(r11.hostSource)
        XCTAssertEqual(r11.anomalies, [.missingHost])
        let r10 = try request("GET / HTTP/1.0\r\n\r\n")
        XCTAssertNil(r10.host)
        XCTAssertEqual(r10.anomalies, [])
    }

    func testEmptyHostIsAllowedAndGivesNoHost() throws {
        let r = try request("GET / HTTP/1.1\r\nHost:\r\n\r\n")
        XCTAssertNil(r.host)
        XCTAssertEqual(r.anomalies, [])
    }

    func testTwoHostHeadersAreInvalid() {
        assertInvalid("GET / HTTP/1.1\r\nHost: chatgpt.com\r\nAccept: */*\r\nHOST: chatgpt.com\r\n\r\n", Head.duplicateHost)
    }

    func testHostThatIsNoHostNameIsFlagged() throws {
        for bad in ["a b.example", "bad/host", "x.example:99999", "x.example:8o", "user@x.example", "[::1", "[1.2.3.4]"] {
            let r = try request("GET / HTTP/1.1\r\nHost: \(bad)\r\n\r\n")
            XCTAssertNil(r.host, bad)
            XCTAssertEqual(r.anomalies, [.badHost], bad)
        }
    }

    // MARK: syntax the RFC lets us reject

    func testObsFoldIsRejected() {
        assertInvalid("GET / HTTP/1.1\r\nHost: chatgpt.com\r\nX-Long: a\r\n\tb\r\n\r\n", Head.obsFold)
        assertInvalid("GET / HTTP/1.1\r\n Host: chatgpt.com\r\n\r\n", Head.obsFold)
    }

    func testSpaceBeforeColonAndColonlessLinesAreInvalid() {
        assertInvalid("GET / HTTP/1.1\r\nHost : chatgpt.com\r\n\r\n", Head.badHeader)
        assertInvalid("GET / HTTP/1.1\r\nHost chatgpt.com\r\n\r\n", Head.badHeader)
        assertInvalid("GET / HTTP/1.1\r\n: x\r\n\r\n", Head.badHeader)
    }

    func testControlBytesInAValueAreInvalid() {
        assertInvalid("GET / HTTP/1.1\r\nHost: chatgpt.com\r\nX: a\u{0}b\r\n\r\n", Head.badHeader)
        assertInvalid("GET / HTTP/1.1\r\nHost: chat\rgpt.com\r\n\r\n", Head.badHeader)
    }

    func testBareLFEndsLinesAndIsFlagged() throws {
        let r = try request("GET / HTTP/1.1\nHost: claude.ai\n\n")
        XCTAssertEqual(r.host, "claude.ai")
        XCTAssertEqual(r.anomalies, [.bareLF])
    }

    func testNonASCIIBytes() throws {
        // obs-text in an ordinary value is allowed; in Host it makes the host unusable.
        let ua = try request([UInt8]("GET / HTTP/1.1\r\nHost: claude.ai\r\nUser-Agent: caf".utf8) + [0xC3, 0xA9] + Array("\r\n\r\n".utf8))
        XCTAssertEqual(ua.host, "claude.ai")
        let host = try request([UInt8]("GET / HTTP/1.1\r\nHost: b".utf8) + [0xC3, 0xBC] + Array("cher.example\r\n\r\n".utf8))
        XCTAssertNil(host.host)
        XCTAssertEqual(host.anomalies, [.badHost])
        // In the target: flagged and read; in the method: not HTTP.
        let target = try request([UInt8]("GET /".utf8) + [0xFF] + Array(" HTTP/1.1\r\nHost: claude.ai\r\n\r\n".utf8))
        XCTAssertEqual(target.host, "claude.ai")
        XCTAssertEqual(target.anomalies, [.malformedRequestLine])
        XCTAssertEqual(outcome([0x47, 0xC3, 0x89, 0x54, 0x20]), .success(.notHTTP))
        // In a field name: invalid.
        assertInvalid([UInt8]("GET / HTTP/1.1\r\nX".utf8) + [0xE9] + Array(": 1\r\n\r\n".utf8), Head.badHeader)
    }

    /// Decision: methods are case-sensitive upper-case tokens, so `get` is not HTTP (see the type's doc).
    func testLowerCaseMethodIsNotHTTP() {
        XCTAssertEqual(outcome(Array("get / HTTP/1.1\r\nHost: chatgpt.com\r\n\r\n".utf8)), .success(.notHTTP))
        XCTAssertEqual(outcome(Array("Get / HTTP/1.1\r\n\r\n".utf8)), .success(.notHTTP))
        XCTAssertEqual(outcome(Array("g".utf8)), .success(.notHTTP))
    }

    func testOtherProtocolsAreNotHTTP() {
        XCTAssertEqual(outcome([22, 3, 1, 0, 200, 1]), .success(.notHTTP))                 // TLS
        XCTAssertEqual(outcome(Array("SSH-2.0-OpenSSH_9.2\r\n".utf8)), .success(.notHTTP))  // '2' in the "method"
        XCTAssertEqual(outcome(Array("\r\nGET / HTTP/1.1\r\n\r\n".utf8)), .success(.notHTTP))
        XCTAssertEqual(outcome(Array(" GET".utf8)), .success(.notHTTP))
        XCTAssertEqual(outcome(Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)), .success(.notHTTP))
    }

    func testFirstBytesOfAMethodNeedMoreData() {
        XCTAssertEqual(outcome([]), .success(.needMoreData))
        XCTAssertEqual(outcome(Array("POS".utf8)), .success(.needMoreData))
        XCTAssertEqual(outcome(Array("POST /v1/files HTTP/1.1\r\nHost: api.open".utf8)), .success(.needMoreData))
    }

    func testVersionsOtherThan1xAreInvalid() {
        assertInvalid("GET / HTTP/2.0\r\nHost: a.example\r\n\r\n", Head.unsupportedVersion)
        assertInvalid("GET / HTTP/1.1x\r\n\r\n", Head.badRequestLine)
        assertInvalid("GET /\r\n\r\n", Head.badRequestLine)  // HTTP/0.9
        assertInvalid("GET  /  \r\n\r\n", Head.badRequestLine)  // HTTP/0.9 with spaces
        assertInvalid("GET / HTTP/1.1 x\r\n\r\n", Head.badRequestLine)  // the last word is the version
    }

    // MARK: limits

    func testMethodOfMaxLengthIsReadAndOneMoreIsNotHTTP() throws {
        let atLimit = String(repeating: "M", count: Head.maxMethodBytes)
        XCTAssertEqual(try request("\(atLimit) / HTTP/1.1\r\nHost: a.example\r\n\r\n").method, atLimit)
        XCTAssertEqual(outcome(Array("\(atLimit)M / HTTP/1.1\r\n\r\n".utf8)), .success(.notHTTP))
    }

    func testHeadOfMaxBytesIsReadAndOneMoreIsTooLarge() throws {
        let start = "GET / HTTP/1.1\r\nHost: chatgpt.com\r\nX-Pad: "
        let end = "\r\n\r\n"
        let pad = Head.maxHeadBytes - start.utf8.count - end.utf8.count
        let atLimit = Array((start + String(repeating: "p", count: pad) + end).utf8)
        XCTAssertEqual(atLimit.count, Head.maxHeadBytes)
        XCTAssertEqual(try request(atLimit).headLength, Head.maxHeadBytes)
        // Everything but the last byte: still waiting, not yet over the cap.
        XCTAssertEqual(outcome(Array(atLimit.dropLast())), .success(.needMoreData))
        let over = Array((start + String(repeating: "p", count: pad + 1) + end).utf8)
        assertInvalid(over, Head.headTooLarge)
        // The cap is judged as soon as that many bytes are here, without waiting for an end.
        assertInvalid(Array(over.prefix(Head.maxHeadBytes)), Head.headTooLarge)
        assertInvalid(Array(("GET /" + String(repeating: "a", count: 70_000)).utf8), Head.headTooLarge)
    }

    func testManySmallHeadersUnderTheCapAreRead() throws {
        var text = "GET / HTTP/1.1\r\n"
        for i in 0..<1_000 { text += "X-\(i): \(i)\r\n" }
        let r = try request(text + "Host: gemini.google.com\r\n\r\n")
        XCTAssertEqual(r.host, "gemini.google.com")
    }

    func testBodyAfterTheHeadIsNotRead() throws {
        let head = "POST /v1/files HTTP/1.1\r\nHost: api.openai.com\r\nContent-Length: 5\r\n\r\n"
        let r = try request(head + "\u{0}\u{1}\r\n\u{2}")
        XCTAssertEqual(r.headLength, head.utf8.count)
    }

    func testRandomBytesAfterAMethodNeverTrap() {
        var rng = SplitMix64(seed: 16_384)
        let alphabet = Array("GET /:Host\r\n \t[]@?#.0123456789abc".utf8) + [0, 0x80, 0xFF]
        for _ in 0..<20_000 {
            var bytes = Array("GET ".utf8)
            for _ in 0..<Int(rng.next() % 120) { bytes.append(alphabet[Int(rng.next() % UInt64(alphabet.count))]) }
            _ = outcome(bytes)
        }
    }

    // MARK: helpers

    private func request(_ text: String) throws -> Head.Request { try request(Array(text.utf8)) }

    private func request(_ bytes: [UInt8]) throws -> Head.Request {
        guard case .request(let r) = try Head.parse(bytes) else {
            XCTFail("not a request: \(String(decoding: bytes.prefix(80), as: UTF8.self))")
            throw XCTSkip("not a request")
        }
        return r
    }

    private func assertInvalid(_ text: String, _ code: DecodeError.Code, line: UInt = #line) {
        assertInvalid(Array(text.utf8), code, line: line)
    }

    private func assertInvalid(_ bytes: [UInt8], _ code: DecodeError.Code, line: UInt = #line) {
        XCTAssertEqual(outcome(bytes), .failure(DecodeError(code, at: 0)), line: line)
    }

    private func outcome(_ bytes: [UInt8]) -> Result<Head.Result, DecodeError> {
        Result { () throws(DecodeError) in try Head.parse(bytes) }
    }

    /// Feeds growing prefixes in chunks of the given sizes (as segments arrive) until the answer is not
    /// needMoreData or the bytes run out.
    private func dripFeed(_ bytes: [UInt8], chunk: () -> Int) -> Result<Head.Result, DecodeError> {
        var have = 0
        var last: Result<Head.Result, DecodeError> = .success(.needMoreData)
        while have < bytes.count {
            have = min(bytes.count, have + chunk())
            last = outcome(Array(bytes.prefix(have)))
            if last != .success(.needMoreData) { return last }
        }
        return last
    }

    /// The payload-carrying client segments of every connection to port 80, with frame numbers, in order
    /// of each connection's first payload (the seed capture has no loss or reordering to undo).
    private func clientStreams(_ path: String) throws -> [[(frame: Int, payload: [UInt8])]] {
        let reader = try PcapReader(path: path)
        let link = try XCTUnwrap(LinkType(dlt: reader.dlt))
        var order: [UInt16] = []
        var byPort: [UInt16: [(frame: Int, payload: [UInt8])]] = [:]
        var nextSeq: [UInt16: UInt32] = [:]
        var frame = 0
        while case .packet(_, let bytes, _) = reader.next() {
            frame += 1
            guard case .ipv4(let c) = try LinkLayer.decode(bytes, linkType: link) else { continue }
            let ip = try IPDecoder.decodeV4(c)
            guard ip.proto == 6 else { continue }
            let tcp = try TCPSegment.decode(ip.payload)
            guard tcp.destinationPort == 80, !tcp.payload.isEmpty else { continue }
            // Skip retransmissions: only the segment that continues the stream counts.
            if let expected = nextSeq[tcp.sourcePort], expected != tcp.seq { continue }
            nextSeq[tcp.sourcePort] = tcp.seq &+ UInt32(tcp.payload.count)
            if byPort[tcp.sourcePort] == nil { order.append(tcp.sourcePort) }
            byPort[tcp.sourcePort, default: []].append((frame, Array(tcp.payload)))
        }
        return order.compactMap { byPort[$0] }
    }
}

/// fixtures/crafted-http-malformed.pcap (craft_packets.py http-malformed): request lines that break
/// the grammar. tshark 4.0.17 (`-Y http.request -T fields -e tcp.stream -e http.host`) reads a Host
/// from all seven connections; so do we, each flagged but for the well-formed last one, none skipped.
final class MalformedRequestLineCaptureTests: XCTestCase {
    func testEveryConnectionIsNamedAsTsharkNamesIt() throws {
        let (observations, report) = try scan(TestPaths.fixture("crafted-http-malformed.pcap"))
        XCTAssertEqual(observations.map(\.host), ["api.openai.com", "claude.ai", "chatgpt.com", "api.mistral.ai",
                                                   "gemini.google.com", "www.perplexity.ai", "example.com"])
        XCTAssertEqual(observations.map(\.hostSource), Array(repeating: .httpHost, count: 7))
        XCTAssertEqual(observations.map(\.method), ["GET", "GET", "GET", "POST", "GET", "GET", "GET"])
        XCTAssertEqual(observations.map(\.urlPath), ["/v1/models", "/chat/new chat", nil, "/v1/chat/completions",
                                                      "/app/\u{E9}t\u{FFFD}", "/", "/"])
        XCTAssertEqual(report.skipped, 0, "\(report.skippedSamples)")
        XCTAssertEqual(report.anomalies[HTTPRequestHead.Anomaly.malformedRequestLine.rawValue], 6)
    }
}

