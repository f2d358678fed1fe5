import Foundation
import ShadowScopeCore
import TestSupport
import XCTest

@testable import LogFormats

/// Lines below follow the layout in Suricata's "Eve JSON Format" page
/// (https://docs.suricata.io/en/latest/output/eve/eve-json-format.html) and EVE index; they are
/// constructed, not captured, except where a comment cites a published sample.
final class SuricataEveTests: XCTestCase {
    let f = SuricataEve()

    func testTLSAndQUICGiveTheSNI() throws {
        let tls = try XCTUnwrap(parseLine(f, #"{"timestamp":"2026-11-25T12:00:00.123456+0100","in_iface":"eth0","event_type":"tls","src_ip":"10.0.0.5","src_port":50000,"dest_ip":"104.18.32.47","dest_port":443,"proto":"TCP","tls":{"subject":"CN=chatgpt.com","version":"TLS 1.3","sni":"chatgpt.com","ja3":{"hash":"x"}}}"#).observation)
        XCTAssertEqual(tls.timestamp.rfc3339, "2026-11-25T11:00:00.123Z")
        XCTAssertEqual(tls.host, "chatgpt.com")
        XCTAssertEqual(tls.hostSource, .tlsSNI)
        XCTAssertEqual(tls.clientIP, IPAddress("10.0.0.5"))
        XCTAssertEqual(tls.clientPort, 50000)
        XCTAssertEqual(tls.serverIP, IPAddress("104.18.32.47"))
        XCTAssertEqual(tls.serverPort, 443)
        XCTAssertEqual(tls.transport, .tcp)
        XCTAssertNil(tls.bytesUp)
        XCTAssertNil(tls.bytesDown)
        let quic = try XCTUnwrap(parseLine(f, #"{"timestamp":"2026-11-25T12:00:01.000000+0000","event_type":"quic","src_ip":"2001:db8::5","src_port":40000,"dest_ip":"2001:db8::1","dest_port":443,"proto":"UDP","quic":{"version":"1","sni":"Gemini.Google.com","ua":"x","extensions":[{"name":"alpn","values":["h3"]}]}}"#).observation)
        XCTAssertEqual(quic.host, "gemini.google.com")
        XCTAssertEqual(quic.hostSource, .quicSNI)
        XCTAssertEqual(quic.transport, .udp)
    }

    func testHTTPKeepsPathWithoutQueryAndResponseLength() throws {
        let o = try XCTUnwrap(parseLine(f, #"{"timestamp":"2026-11-25T12:00:02.500000+0000","event_type":"http","src_ip":"10.0.0.5","src_port":50010,"dest_ip":"93.184.216.34","dest_port":80,"proto":"TCP","tx_id":0,"http":{"hostname":"api.openai.com","url":"/v1/chat/completions?key=secret","http_user_agent":"curl/8.5.0","http_content_type":"application/json","http_method":"POST","protocol":"HTTP/1.1","status":200,"length":1532}}"#).observation)
        XCTAssertEqual(o.host, "api.openai.com")
        XCTAssertEqual(o.hostSource, .httpHost)
        XCTAssertEqual(o.urlPath, "/v1/chat/completions")
        XCTAssertEqual(o.method, "POST")
        XCTAssertEqual(o.status, 200)
        XCTAssertEqual(o.bytesDown, 1532)
        XCTAssertNil(o.bytesUp, "eve http has no request size")
        let noHost = try XCTUnwrap(parseLine(f, #"{"timestamp":"2026-11-25T12:00:02Z","event_type":"http","src_ip":"10.0.0.5","dest_ip":"10.0.0.1","http":{"url":"http://claude.ai:8080/x?y","http_method":"CONNECT"}}"#).observation)
        XCTAssertEqual(noHost.host, "claude.ai")
        XCTAssertEqual(noHost.urlPath, "/x")
        XCTAssertNil(noHost.status)
        XCTAssertNil(noHost.bytesDown)
    }

    func testDNSAnswerIsTheObservationAndQueriesAreIgnored() throws {
        let query = #"{"timestamp":"2026-11-25T12:00:03.000000+0000","event_type":"dns","src_ip":"10.0.0.5","src_port":53000,"dest_ip":"10.0.0.53","dest_port":53,"proto":"UDP","dns":{"type":"query","id":4660,"rrname":"claude.ai","rrtype":"A","tx_id":0}}"#
        XCTAssertTrue(parseLine(f, query).isIgnored)
        // version 2, detailed and grouped answers: the detailed ones are used, once.
        let v2 = try XCTUnwrap(parseLine(f, #"{"timestamp":"2026-11-25T12:00:03.010000+0000","event_type":"dns","src_ip":"10.0.0.53","src_port":53,"dest_ip":"10.0.0.5","dest_port":53000,"proto":"UDP","dns":{"version":2,"type":"answer","id":4660,"flags":"8180","qr":true,"rd":true,"ra":true,"rrname":"claude.ai.","rrtype":"A","rcode":"NOERROR","answers":[{"rrname":"claude.ai","rrtype":"A","ttl":300,"rdata":"160.79.104.10"}],"grouped":{"A":["160.79.104.10"]}}}"#).observation)
        XCTAssertEqual(v2.host, "claude.ai")
        XCTAssertEqual(v2.hostSource, .dnsQuery)
        XCTAssertEqual(v2.dns, DNSInfo(type: "A", rcode: "NOERROR", answers: ["160.79.104.10"]))
        XCTAssertEqual(v2.clientIP, IPAddress("10.0.0.5"), "the answer's destination is the client")
        XCTAssertEqual(v2.clientPort, 53000)
        XCTAssertEqual(v2.serverIP, IPAddress("10.0.0.53"))
        XCTAssertEqual(v2.transport, .udp)
        // version 3 (Suricata 8): the name is in queries[], answers carry rdata.
        let v3 = try XCTUnwrap(parseLine(f, #"{"timestamp":"2026-11-25T12:00:03.020000+0000","event_type":"dns","src_ip":"10.0.0.53","src_port":53,"dest_ip":"10.0.0.5","dest_port":53001,"proto":"UDP","dns":{"version":3,"type":"response","id":1,"rcode":"NXDOMAIN","queries":[{"rrname":"nope.example","rrtype":"AAAA"}]}}"#).observation)
        XCTAssertEqual(v3.host, "nope.example")
        XCTAssertEqual(v3.dns, DNSInfo(type: "AAAA", rcode: "NXDOMAIN", answers: []))
        // grouped only.
        let grouped = try XCTUnwrap(parseLine(f, #"{"timestamp":"2026-11-25T12:00:03Z","event_type":"dns","src_ip":"10.0.0.53","dest_ip":"10.0.0.5","dns":{"version":2,"type":"answer","rrname":"chatgpt.com","rrtype":"CNAME","rcode":"NOERROR","grouped":{"CNAME":["chatgpt.com.cdn.cloudflare.net"],"A":["104.18.32.47","172.64.155.209"]}}}"#).observation)
        XCTAssertEqual(grouped.dns?.answers, ["chatgpt.com.cdn.cloudflare.net", "104.18.32.47", "172.64.155.209"])
    }

    func testFlowGivesBytesBothWays() throws {
        let o = try XCTUnwrap(parseLine(f, #"{"timestamp":"2026-11-25T12:00:09.000000+0000","event_type":"flow","src_ip":"10.0.0.5","src_port":50000,"dest_ip":"104.18.32.47","dest_port":443,"proto":"TCP","app_proto":"tls","flow":{"pkts_toserver":27,"pkts_toclient":35,"bytes_toserver":2302,"bytes_toclient":4520,"start":"2026-11-25T12:00:00.000000+0000","end":"2026-11-25T12:00:09.000000+0000","age":9,"state":"closed","reason":"timeout","alerted":false},"tcp":{"tcp_flags":"1b"}}"#).observation)
        XCTAssertEqual(o.bytesUp, 2302)
        XCTAssertEqual(o.bytesDown, 4520)
        XCTAssertEqual(o.packetsUp, 27)
        XCTAssertEqual(o.packetsDown, 35)
        XCTAssertEqual(o.durationMs, 9000)
        XCTAssertNil(o.host)
    }

    /// The alert sample from Tenzir's Suricata page (https://docs.tenzir.com/tql2/operators/read_suricata), cut
    /// to one line: alerts are not connections, they are ignored.
    /// A handshake and its flow record become one observation: the name, the handshake's time and line, the
    /// flow's sizes. Handshakes without a flow record come out at the end, in input order, sizes unknown.
    func testHandshakeAndFlowAreJoinedByFlowID() throws {
        let text = [
            #"{"timestamp":"2026-11-25T12:00:00.000000+0000","flow_id":100,"event_type":"tls","src_ip":"10.0.0.5","src_port":50000,"dest_ip":"104.18.32.47","dest_port":443,"proto":"TCP","tls":{"sni":"chatgpt.com"}}"#,
            #"{"timestamp":"2026-11-25T12:00:01.000000+0000","flow_id":200,"event_type":"quic","src_ip":"10.0.0.5","src_port":50001,"dest_ip":"142.250.1.1","dest_port":443,"proto":"UDP","quic":{"sni":"gemini.google.com"}}"#,
            #"{"timestamp":"2026-11-25T12:00:02.000000+0000","flow_id":500,"event_type":"dns","src_ip":"10.0.0.53","dest_ip":"10.0.0.5","dns":{"type":"answer","rrname":"claude.ai","rrtype":"A","rcode":"NOERROR"}}"#,
            #"{"timestamp":"2026-11-25T12:00:09.000000+0000","flow_id":100,"event_type":"flow","src_ip":"10.0.0.5","src_port":50000,"dest_ip":"104.18.32.47","dest_port":443,"proto":"TCP","flow":{"pkts_toserver":27,"pkts_toclient":35,"bytes_toserver":2302,"bytes_toclient":4520,"age":9}}"#,
            #"{"timestamp":"2026-11-25T12:00:10.000000+0000","flow_id":300,"event_type":"flow","src_ip":"10.0.0.6","src_port":1,"dest_ip":"10.0.0.7","dest_port":2,"proto":"TCP","flow":{"bytes_toserver":1,"bytes_toclient":2}}"#,
            #"{"timestamp":"2026-11-25T12:00:11.000000+0000","flow_id":400,"event_type":"tls","src_ip":"10.0.0.5","src_port":50002,"dest_ip":"160.79.104.10","dest_port":443,"proto":"TCP","tls":{"sni":"claude.ai"}}"#,
        ].joined(separator: "\n")
        let (observations, report) = try scanLog(try temporaryLogFile(self, text), format: f)
        XCTAssertEqual(report.skipped, 0, "\(report.skippedSamples)")
        XCTAssertEqual(observations.map(\.source.position), [.line(3), .line(1), .line(5), .line(2), .line(6)])
        XCTAssertEqual(report.records, 3, "held handshakes are not counted as records of their own")
        let joined = observations[1]
        XCTAssertEqual(joined.host, "chatgpt.com")
        XCTAssertEqual(joined.timestamp.rfc3339, "2026-11-25T12:00:00.000Z")
        XCTAssertEqual(joined.bytesUp, 2302)
        XCTAssertEqual(joined.bytesDown, 4520)
        XCTAssertEqual(joined.packetsUp, 27)
        XCTAssertEqual(joined.durationMs, 9000)
        XCTAssertNil(observations[2].host, "a flow without a handshake stays nameless")
        XCTAssertEqual(observations[3].host, "gemini.google.com")
        XCTAssertNil(observations[3].bytesUp, "no flow record: unknown")
        XCTAssertEqual(observations[4].host, "claude.ai")
    }

    func testPendingHandshakeLimit() {
        var parser = f.makeParser()
        func tls(_ id: Int) -> LineResult {
            let line = #"{"timestamp":"2026-11-25T12:00:00Z","flow_id":\#(id),"event_type":"tls","src_ip":"10.0.0.5","tls":{"sni":"chatgpt.com"}}"#
            return Array(line.utf8).withUnsafeBytes { parser.parse($0, source: SourceRef(file: "t", position: .line(id))) }
        }
        for id in 1...SuricataEve.maxPending { XCTAssertTrue(tls(id).isIgnored) }
        XCTAssertNotNil(tls(SuricataEve.maxPending + 1).observation, "over the limit: out at once, unjoined")
        XCTAssertEqual(parser.finish().count, SuricataEve.maxPending)
    }

    func testAlertsAndOtherEventsAreIgnored() {
        XCTAssertTrue(parseLine(f, #"{"timestamp":"2011-08-12T14:52:57.716360+0200","flow_id":1031464864740687,"pcap_cnt":83,"event_type":"alert","src_ip":"147.32.84.165","src_port":1181,"dest_ip":"78.40.125.4","dest_port":6667,"proto":"TCP","alert":{"action":"allowed","gid":1,"signature_id":2017318,"rev":4,"signature":"ET CURRENT_EVENTS SUSPICIOUS IRC - PRIVMSG *.(exe|tar|tgz|zip) download command","category":"Potentially Bad Traffic","severity":2},"flow":{"pkts_toserver":27,"pkts_toclient":35,"bytes_toserver":2302,"bytes_toclient":4520,"start":"2011-08-12T14:47:24.357711+0200"}}"#).isIgnored)
        XCTAssertTrue(parseLine(f, #"{"timestamp":"2026-11-25T12:00:00Z","event_type":"stats","stats":{"uptime":1}}"#).isIgnored)
    }

    func testHostileLinesHaveExactReasons() {
        let cases: [(String, String)] = [
            (#"{"timestamp":"2026-11-25T12:00:00Z","event_type":"tls","tls":{"sni":"a.com"}"#, "not JSON: JSON ends early at byte 76"),
            (#"{"timestamp":"2026-11-25T12:00:00Z","tls":{"sni":"a.com"}}"#, "no event_type"),
            (#"{"timestamp":"25/11/2026","event_type":"tls","tls":{"sni":"a.com"}}"#, #"timestamp "25/11/2026" is not an ISO 8601 time"#),
            (#"{"timestamp":"2026-02-30T12:00:00Z","event_type":"tls","tls":{"sni":"a.com"}}"#, #"timestamp "2026-02-30T12:00:00Z" is not an ISO 8601 time"#),
            (#"{"event_type":"tls","tls":{"sni":"a.com"}}"#, "timestamp absent is not an ISO 8601 time"),
            (#"{"timestamp":"2026-11-25T12:00:00Z","event_type":"tls","src_ip":"a.b.c.d","tls":{"sni":"a.com"}}"#, #"src_ip "a.b.c.d" is not an address"#),
            (#"{"timestamp":"2026-11-25T12:00:00Z","event_type":"tls","dest_port":"443","tls":{"sni":"a.com"}}"#, #"dest_port "443" is not a port"#),
            (#"{"timestamp":"2026-11-25T12:00:00Z","event_type":"flow","flow":{"bytes_toserver":1.5}}"#, "flow.bytes_toserver 1.5 is not a count"),
            (#"{"timestamp":"2026-11-25T12:00:00Z","event_type":"http","http":{"status":"OK"}}"#, #"http.status "OK" is not an HTTP status"#),
            (#"{"timestamp":"2026-11-25T12:00:00Z","event_type":"dns","dns":{"type":"answer","rcode":"NOERROR"}}"#, "dns answer without rrname"),
            (#"{"timestamp":"2026-11-25T12:00:00Z","event_type":"dns","dns":{"type":"mystery","rrname":"a.com"}}"#, #"dns.type "mystery" is not query or answer"#),
        ]
        for (line, reason) in cases {
            XCTAssertEqual(parseLine(f, line).skipReason, reason, line)
        }
    }

    func testEveryPrefixOfAGoodLineIsSafe() {
        let line = #"{"timestamp":"2026-11-25T12:00:03.010000+0000","event_type":"dns","src_ip":"10.0.0.53","src_port":53,"dest_ip":"10.0.0.5","dest_port":53000,"proto":"UDP","dns":{"version":2,"type":"answer","rrname":"claude.ai","rrtype":"A","rcode":"NOERROR","answers":[{"rrname":"claude.ai","rdata":"160.79.104.10"}]}}"#
        let bytes = Array(line.utf8)
        for cut in 0..<bytes.count {
            XCTAssertNil(parseLine(f, String(decoding: bytes[..<cut], as: UTF8.self)).observation, "prefix \(cut)")
        }
        XCTAssertEqual(parseLine(f, line).observation?.host, "claude.ai")
    }

    func testDetection() {
        let text = """
            {"timestamp":"2026-11-25T12:00:00.123456+0100","event_type":"tls","src_ip":"10.0.0.5","src_port":50000,"dest_ip":"104.18.32.47","dest_port":443,"proto":"TCP","tls":{"sni":"chatgpt.com"}}
            {"timestamp":"2026-11-25T12:00:01.000000+0100","event_type":"stats","stats":{"uptime":1}}

            """
        XCTAssertEqual(Data(text.utf8).withUnsafeBytes { detectLogFormat(sample: $0)?.name }, "suricata-eve")
    }
}
