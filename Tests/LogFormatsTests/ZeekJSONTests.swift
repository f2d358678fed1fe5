import Foundation
import ShadowScopeCore
import TestSupport
import XCTest

@testable import LogFormats

/// Rewrites a Zeek TSV log as the JSON writer would: same names, unset fields left out, counts and
/// times as numbers, sets and vectors as arrays.
func zeekTSVToJSON(_ tsv: String) -> String {
    var names: [String] = [], types: [String] = []
    var out: [String] = []
    for line in tsv.split(separator: "\n", omittingEmptySubsequences: true) {
        let cells = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        if cells[0] == "#fields" { names = Array(cells.dropFirst()); continue }
        if cells[0] == "#types" { types = Array(cells.dropFirst()); continue }
        if line.hasPrefix("#") { continue }
        var members: [String] = []
        for (k, v) in cells.enumerated() where k < names.count && v != "-" {
            let t = types[k]
            let value: String
            if t.hasPrefix("set[") || t.hasPrefix("vector[") {
                value = v == "(empty)" ? "[]" : "[" + v.split(separator: ",").map { "\"\($0)\"" }.joined(separator: ",") + "]"
            } else if ["count", "port", "int", "time", "interval", "double"].contains(t) {
                value = v
            } else if t == "bool" {
                value = v == "T" ? "true" : "false"
            } else {
                value = "\"" + v.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
            }
            members.append("\"\(names[k])\":\(value)")
        }
        out.append("{" + members.joined(separator: ",") + "}")
    }
    return out.joined(separator: "\n") + "\n"
}

final class ZeekJSONTests: XCTestCase {
    /// lnav's conn.log (real Zeek output) rewritten as Zeek's JSON writer lays it out: the same 92 flows and byte
    /// sums the TSV reader finds (ZeekTSVTests), so both readers agree field for field.
    func testConnLogAsJSONMatchesTheTSVReader() throws {
        let tsv = try String(contentsOfFile: TestPaths.corpus("lnav/logfile_bro_conn.log.0"), encoding: .utf8)
        let (json, report) = try scanLog(try temporaryLogFile(self, zeekTSVToJSON(tsv)), format: ZeekJSON())
        XCTAssertEqual(report.skipped, 0, "\(report.skippedSamples)")
        let (fromTSV, _) = try scanLog(TestPaths.corpus("lnav/logfile_bro_conn.log.0"), format: ZeekTSV())
        XCTAssertEqual(json.count, 92)
        XCTAssertEqual(json.compactMap(\.bytesUp).reduce(0, +), 116_105)
        XCTAssertEqual(json.compactMap(\.bytesDown).reduce(0, +), 3_445_765)
        for (a, b) in zip(json, fromTSV) {
            XCTAssertEqual(a.timestamp, b.timestamp)
            XCTAssertEqual(a.clientIP, b.clientIP)
            XCTAssertEqual(a.clientPort, b.clientPort)
            XCTAssertEqual(a.serverIP, b.serverIP)
            XCTAssertEqual(a.serverPort, b.serverPort)
            XCTAssertEqual(a.transport, b.transport)
            XCTAssertEqual(a.bytesUp, b.bytesUp)
            XCTAssertEqual(a.bytesDown, b.bytesDown)
            XCTAssertEqual(a.packetsUp, b.packetsUp)
            XCTAssertEqual(a.durationMs, b.durationMs)
        }
    }

    /// The same for lnav's http.log: hosts, paths without query, bodies.
    func testHTTPLogAsJSON() throws {
        let tsv = try String(contentsOfFile: TestPaths.corpus("lnav/logfile_bro_http.log.0"), encoding: .utf8)
        let (json, report) = try scanLog(try temporaryLogFile(self, zeekTSVToJSON(tsv)), format: ZeekJSON())
        XCTAssertEqual(report.skipped, 0, "\(report.skippedSamples)")
        XCTAssertEqual(json.count, 197)
        let o = json[0]
        XCTAssertEqual(o.host, "www.reddit.com")
        XCTAssertEqual(o.hostSource, .httpHost)
        XCTAssertEqual(o.urlPath, "/")
        XCTAssertEqual(o.method, "GET")
        XCTAssertEqual(o.status, 200)
        XCTAssertEqual(o.bytesUp, 0)
        XCTAssertEqual(o.bytesDown, 109_978)
        XCTAssertEqual(o.transport, .tcp)
        XCTAssertTrue(json.allSatisfy { $0.urlPath.map { !$0.contains("?") } ?? true })
    }

    /// A real dns.log line from Phil Hagen's SANS JSON/jq handout
    /// (https://gist.github.com/philhagen/8549ef52b69dfa245fe797b647ed0f7d).
    func testDNSLineFromSANSHandout() throws {
        let line = #"{"ts":1602265824.123071,"uid":"CHFRflzsgM15k9et4","id.orig_h":"192.168.75.169","id.orig_p":58506,"id.resp_h":"192.168.75.1","id.resp_p":53,"proto":"udp","trans_id":50763,"rtt":0.022633075714111329,"query":"www.sansgear.com","qclass":1,"qclass_name":"C_INTERNET","qtype":1,"qtype_name":"A","rcode":0,"rcode_name":"NOERROR","AA":false,"TC":false,"RD":true,"RA":true,"Z":0,"answers":["vhost1.identityvector.com","70.32.97.206"],"TTLs":[3600.0,3600.0],"rejected":false}"#
        XCTAssertTrue(Array(line.utf8).withUnsafeBytes { ZeekJSON().recognizes($0) })
        let o = try XCTUnwrap(parseLine(ZeekJSON(), line).observation)
        XCTAssertEqual(o.timestamp, Timestamp(seconds: 1_602_265_824, microseconds: 123_071))
        XCTAssertEqual(o.host, "www.sansgear.com")
        XCTAssertEqual(o.hostSource, .dnsQuery)
        XCTAssertEqual(o.dns, DNSInfo(type: "A", rcode: "NOERROR", answers: ["vhost1.identityvector.com", "70.32.97.206"]))
        XCTAssertEqual(o.clientIP, IPAddress("192.168.75.169"))
        XCTAssertEqual(o.clientPort, 58506)
        XCTAssertEqual(o.serverIP, IPAddress("192.168.75.1"))
        XCTAssertEqual(o.serverPort, 53)
        XCTAssertEqual(o.transport, .udp)
        XCTAssertNil(o.bytesUp)
        XCTAssertNil(o.bytesDown)
    }

    /// ssl and quic records, written to Zeek's ssl.log/quic.log field lists (constructed, not captured): SNI,
    /// `_path`, the nested `id` form, an ISO 8601 `ts`, and escapes in strings.
    func testSSLAndQUICRecords() throws {
        let f = ZeekJSON()
        let ssl = try XCTUnwrap(parseLine(f, #"{"ts":1700000000.5,"uid":"C1","id.orig_h":"10.0.0.5","id.orig_p":50000,"id.resp_h":"104.18.32.47","id.resp_p":443,"version":"TLSv13","cipher":"TLS_AES_128_GCM_SHA256","server_name":"ChatGPT.com","established":true}"#).observation)
        XCTAssertEqual(ssl.host, "chatgpt.com")
        XCTAssertEqual(ssl.hostSource, .tlsSNI)
        XCTAssertNil(ssl.transport, "ssl.log also holds QUIC handshakes")
        XCTAssertEqual(ssl.timestamp, Timestamp(seconds: 1_700_000_000, microseconds: 500_000))
        let quic = try XCTUnwrap(parseLine(f, #"{"ts":1700000001.0,"uid":"C2","id.orig_h":"10.0.0.5","id.orig_p":50001,"id.resp_h":"142.250.1.1","id.resp_p":443,"version":"1","client_initial_dcid":"95412c47018cdfe8","server_name":"gemini.google.com","client_protocol":"h3","history":"ISishIH"}"#).observation)
        XCTAssertEqual(quic.host, "gemini.google.com")
        XCTAssertEqual(quic.hostSource, .quicSNI)
        XCTAssertEqual(quic.transport, .udp)
        let nested = try XCTUnwrap(parseLine(f, #"{"_path":"ssl","_write_ts":"2026-11-25T12:00:01.000000Z","ts":"2026-11-25T12:00:00.250000Z","uid":"C3","id":{"orig_h":"2001:db8::5","orig_p":40000,"resp_h":"2001:db8::443","resp_p":443},"server_name":"api.anthropic\u002ecom"}"#).observation)
        XCTAssertEqual(nested.host, "api.anthropic.com", "\\u escape decoded")
        XCTAssertEqual(nested.clientIP, IPAddress("2001:db8::5"))
        XCTAssertEqual(nested.serverPort, 443)
        XCTAssertEqual(nested.timestamp.rfc3339, "2026-11-25T12:00:00.250Z")
        XCTAssertTrue(parseLine(f, #"{"ts":1700000000.0,"fuid":"F1","source":"HTTP","mime_type":"text/plain"}"#).isIgnored, "files.log")
        // Field lists of other Zeek 6 logs (values ours): a duration, a host or a trans_depth alone do not make a record.
        XCTAssertTrue(parseLine(f, #"{"ts":1700000000.0,"fuid":"F2","uid":"C9","id.orig_h":"10.0.0.5","id.orig_p":1,"id.resp_h":"10.0.0.6","id.resp_p":80,"source":"HTTP","duration":0.5,"seen_bytes":10}"#).isIgnored, "files.log with uid and duration")
        XCTAssertTrue(parseLine(f, #"{"ts":1700000000.0,"host":"10.0.0.5","host_p":22,"software_type":"SSH::SERVER","name":"OpenSSH"}"#).isIgnored, "software.log")
        XCTAssertTrue(parseLine(f, #"{"ts":1700000000.0,"uid":"C8","id.orig_h":"10.0.0.5","id.orig_p":1,"id.resp_h":"10.0.0.6","id.resp_p":25,"trans_depth":1,"helo":"x","mailfrom":"a@b.c"}"#).isIgnored, "smtp.log")
    }

    func testHostileLinesHaveExactReasons() throws {
        let f = ZeekJSON()
        let cases: [(String, String)] = [
            (#"{"ts":1.5,"uid":"C","server_name":"a.com""#, "not JSON: JSON ends early at byte 41"),
            (#"{"ts":1.5,"uid":"C","server_name":"a.com"} x"#, "not JSON: bytes after the JSON object at byte 43"),
            (#"{"ts":1.5,"uid":"C","server_name":"a\qcom"}"#, "not JSON: invalid string escape at byte 36"),
            (#"{"ts":1.5,"uid":"C","server_name":"a.com",}"#, "not JSON: unexpected byte at byte 42"),
            (#"{"ts":01x,"uid":"C","server_name":"a.com"}"#, "not JSON: invalid number at byte 6"),
            (#"{"ts":1.5,"uid":"C","x":[[[[[[[[1]]]]]]]],"server_name":"a.com"}"#, "not JSON: nested deeper than 8 levels at byte 31"),
            (#"["ts",1.5]"#, "not JSON: not a JSON object at byte 0"),
            (#"{"ts":"yesterday","uid":"C","server_name":"a.com"}"#, #"ts "yesterday" is not a time"#),
            (#"{"ts":-1.5,"uid":"C","server_name":"a.com"}"#, "ts -1.5 is not a time"),
            (#"{"uid":"C","server_name":"a.com"}"#, "no ts"),
            (#"{"ts":1.5,"uid":"C","id.orig_h":"10.0.0.300","server_name":"a.com"}"#, #"id.orig_h "10.0.0.300" is not an address"#),
            (#"{"ts":1.5,"uid":"C","id.orig_p":70000,"server_name":"a.com"}"#, "id.orig_p 70000 is not a port"),
            (#"{"ts":1.5,"uid":"C","conn_state":"SF","orig_bytes":-3}"#, "orig_bytes -3 is not a count"),
            (#"{"ts":1.5,"uid":"C","method":"GET","status_code":2000}"#, "status_code 2000 is not an HTTP status"),
        ]
        for (line, reason) in cases {
            XCTAssertEqual(parseLine(f, line).skipReason, reason, line)
        }
        // 7 levels of arrays inside the top object is the limit: accepted.
        XCTAssertNotNil(parseLine(f, #"{"ts":1.5,"uid":"C","x":[[[[[[[1]]]]]]],"server_name":"a.com"}"#).observation)
        let bad = try XCTUnwrap(parseLine(f, #"{"ts":1.5,"uid":"C","server_name":"bad host"}"#).observation)
        XCTAssertNil(bad.host, "not a host name: null, the record is kept")
        XCTAssertTrue(parseLine(f, "   ").isIgnored)
    }

    /// The scanner on its own: blanks between tokens, empty containers, escapes (a surrogate pair joined, a lone
    /// surrogate replaced), the paths it reports, and its error codes and offsets.
    func testFlatJSONScannerPathsAndEscapes() {
        let line = #" { "a" : { "b" : [ 1 , { "c" : "x\ud83d\ude00\ud800y\n" } ] , "e" : [ ] , "f" : { } } , "g" : null } "#
        var paths: [String] = []
        var decoded: [String] = []
        let error = Array(line.utf8).withUnsafeBytes { b in
            FlatJSON.scan(b) { path, v in
                paths.append(path.map { String(decoding: $0, as: UTF8.self) }.joined(separator: "."))
                if case .string(let raw, let escaped) = v {
                    decoded.append(String(decoding: jsonStringBytes(raw, escaped: escaped), as: UTF8.self))
                }
            }
        }
        XCTAssertNil(error)
        XCTAssertEqual(paths, ["a.b", "a.b.c", "g"])
        XCTAssertEqual(decoded, ["x\u{1F600}\u{FFFD}y\n"])
        func scan(_ s: String) -> FlatJSONError? { Array(s.utf8).withUnsafeBytes { FlatJSON.scan($0) { _, _ in } } }
        XCTAssertNil(scan("{}"))
        XCTAssertEqual(scan("{\"a\":\"\u{01}\"}"), FlatJSONError(code: .controlByte, offset: 6))
        XCTAssertEqual(scan(#"{"a":"\u12G4"}"#), FlatJSONError(code: .badEscape, offset: 6))
        XCTAssertEqual(scan(#"{"a":tru}"#), FlatJSONError(code: .unexpectedByte, offset: 8))
        XCTAssertEqual(scan(#"{"a":1.}"#), FlatJSONError(code: .badNumber, offset: 5))
        XCTAssertEqual(scan(#"{"a" 1}"#), FlatJSONError(code: .unexpectedByte, offset: 5))
        XCTAssertEqual(scan(#"{1:2}"#), FlatJSONError(code: .unexpectedByte, offset: 1))
    }

    func testEveryPrefixOfAGoodLineIsSafe() {
        let line = #"{"ts":1602265824.123071,"uid":"CHFRflzsgM15k9et4","id.orig_h":"192.168.75.169","id.orig_p":58506,"query":"www.sansgear.com","qtype_name":"A","answers":["a\"b","70.32.97.206"],"x":{"y":[1,2e5,-0.5,true,false,null]}}"#
        let bytes = Array(line.utf8)
        for cut in 0..<bytes.count {
            let r = parseLine(ZeekJSON(), String(decoding: bytes[..<cut], as: UTF8.self))
            XCTAssertNil(r.observation, "prefix \(cut) is not a whole object")
        }
        XCTAssertEqual(parseLine(ZeekJSON(), line).observation?.dns?.answers, ["a\"b", "70.32.97.206"])
    }

    func testDetection() throws {
        let tsv = try String(contentsOfFile: TestPaths.corpus("lnav/logfile_bro_conn.log.0"), encoding: .utf8)
        let data = Data(zeekTSVToJSON(tsv).utf8)
        XCTAssertEqual(data.withUnsafeBytes { detectLogFormat(sample: $0)?.name }, "zeek-json")
    }
}
