import Foundation
import ShadowScopeCore
import TestSupport
import XCTest

@testable import LogFormats

final class PaloAltoCSVTests: XCTestCase {
    let f = PaloAltoCSV()

    /// The TRAFFIC sample of Sumo Logic's Palo Alto Networks template
    /// (https://www.sumologic.com/help/docs/manage/field-extractions/fer-templates/palo-alto-networks): BSD syslog
    /// header, then PAN-OS's CSV. The source user is empty, the destination user is `sumo\mkwan`.
    static let traffic = #"Jul 13 20:39:44 1,2017/07/13 20:39:44,0009C101317,TRAFFIC,end,1,2017/07/13 20:39:44,10.183.12.108,10.183.51.49,0.0.0.0,0.0.0.0,WinDomain_AUTH_TO_DC,,sumo\mkwan,msrpc,vsys1,ENG_USER,ENG_INFRA,ivlan_712,ivlan_751,Syslog,2017/07/13 20:39:44,1070831,1,65123,135,0,0,0x0,tcp,allow,1194,644,550,12,1,40,any,0,3297977305,0x0,10.0.0.0_10.255.255.255,10.0.0.0_10.255.255.255,0,7,5"#

    /// A URL filtering (THREAT, subtype url) line constructed to the field list of PAN-OS's "Threat Log Fields"
    /// (https://docs.paloaltonetworks.com/pan-os/9-1/pan-os-admin/monitoring/use-syslog-for-monitoring/syslog-field-descriptions/threat-log-fields):
    /// 31 URL/Filename (quoted, no scheme), 63 HTTP Method; IETF syslog header.
    static func threatURL(url: String = "\"chatgpt.com/backend-api/conversation?model=gpt-4o\"", method: String = "post") -> String {
        var v = Array(repeating: "", count: 70)
        v[0] = "1"; v[1] = "2026/11/25 12:00:05"; v[2] = "013201001234"; v[3] = "THREAT"; v[4] = "url"
        v[6] = "2026/11/25 12:00:04"; v[7] = "10.0.0.5"; v[8] = "104.18.32.47"; v[11] = "allow-web"
        v[12] = "corp\\jdoe"; v[14] = "openai-chatgpt"; v[15] = "vsys1"; v[24] = "51000"; v[25] = "443"; v[29] = "tcp"
        v[30] = "alert"; v[31] = url; v[33] = "artificial-intelligence"; v[34] = "informational"; v[35] = "client-to-server"
        v[46] = "\"Mozilla/5.0 (X11; Linux x86_64)\""; v[63] = method
        return "<14>1 2026-11-25T12:00:05+00:00 PA-440 - - - - " + v.joined(separator: ",")
    }

    func testTrafficSample() throws {
        let o = try XCTUnwrap(parseLine(f, Self.traffic).observation)
        XCTAssertEqual(o.timestamp.rfc3339, "2017-07-13T20:39:44.000Z", "generated time, local, taken as UTC")
        XCTAssertEqual(o.clientIP, IPAddress("10.183.12.108"))
        XCTAssertEqual(o.clientPort, 65123)
        XCTAssertEqual(o.serverIP, IPAddress("10.183.51.49"))
        XCTAssertEqual(o.serverPort, 135)
        XCTAssertEqual(o.transport, .tcp)
        XCTAssertNil(o.user, "the source user column is empty")
        XCTAssertEqual(o.bytesUp, 644)
        XCTAssertEqual(o.bytesDown, 550)
        XCTAssertEqual(o.packetsUp, 7)
        XCTAssertEqual(o.packetsDown, 5)
        XCTAssertEqual(o.durationMs, 40_000)
        XCTAssertNil(o.host)
    }

    func testURLFilteringLog() throws {
        let o = try XCTUnwrap(parseLine(f, Self.threatURL()).observation)
        XCTAssertEqual(o.timestamp.rfc3339, "2026-11-25T12:00:04.000Z")
        XCTAssertEqual(o.user, "corp\\jdoe")
        XCTAssertEqual(o.host, "chatgpt.com")
        XCTAssertEqual(o.hostSource, .proxyURL)
        XCTAssertEqual(o.urlPath, "/backend-api/conversation")
        XCTAssertEqual(o.method, "POST")
        XCTAssertNil(o.bytesUp, "URL logs carry no byte counts")
        XCTAssertNil(o.bytesDown)
        let withPort = try XCTUnwrap(parseLine(f, Self.threatURL(url: "api.openai.com:8443/v1/files", method: "")).observation)
        XCTAssertEqual(withPort.host, "api.openai.com")
        XCTAssertEqual(withPort.urlPath, "/v1/files")
        XCTAssertNil(withPort.method)
    }

    func testOtherTypesAreIgnored() {
        XCTAssertTrue(parseLine(f, "Jul 13 20:39:44 fw 1,2017/07/13 20:39:44,0009C101317,SYSTEM,general,0,2017/07/13 20:39:44,,general,,0,0,general,informational,\"User admin logged in\",1,0x0").isIgnored)
        XCTAssertTrue(parseLine(f, "Jul 13 20:39:44 fw 1,2017/07/13 20:39:44,0009C101317,THREAT,virus,1,2017/07/13 20:39:44,10.0.0.5,1.2.3.4").isIgnored)
    }

    func testHostileLinesHaveExactReasons() {
        func traffic(_ k: Int, _ value: String) -> String {
            var cells = Self.traffic.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            cells[k] = value
            return cells.joined(separator: ",")
        }
        let cases: [(String, String)] = [
            ("Jul 13 20:39:44 fw hello", "no ',YYYY/MM/DD HH:MM:SS,' receive time: not a PAN-OS CSV log"),
            ("1,2017/07/13 20:39:44,0009C101317,TRAFFIC", "4 fields: no type and subtype"),
            ("1,2017/07/13 20:39:44,0009C101317,TRAFFIC,end,1,2017/07/13 20:39:44,10.0.0.1", "TRAFFIC log with 8 fields, 34 at least expected"),
            (traffic(6, "2017/13/13 20:39:44"), "generated time '2017/13/13 20:39:44' is not YYYY/MM/DD HH:MM:SS"),
            (traffic(7, "10.183.12.1080"), "source address '10.183.12.1080' is not an address"),
            (traffic(8, "host.example"), "destination address 'host.example' is not an address"),
            (traffic(24, "70000"), "source port '70000' is not a port"),
            (traffic(32, "x"), "bytes sent 'x' is not a count"),
            (traffic(33, ""), "bytes received '' is not a count"),
            (traffic(12, "\"unclosed"), "field 13 has no closing quote"),
            (traffic(12, "\"a\"b"), "text after the closing quote of field 13"),
            (Self.threatURL(url: "\"/no-host\""), "URL '/no-host' has no host"),
        ]
        for (line, reason) in cases {
            XCTAssertEqual(parseLine(f, line).skipReason, reason, line)
        }
    }

    func testFieldLimit() {
        let padded = Self.traffic + String(repeating: ",", count: PaloAltoCSV.maxFields - 46)  // the sample has 46 fields
        XCTAssertNotNil(parseLine(f, padded).observation, "256 fields")
        XCTAssertEqual(parseLine(f, padded + ",").skipReason, "more than 256 fields")
    }

    func testEveryPrefixOfAGoodLineIsSafe() {
        for line in [Self.traffic, Self.threatURL()] {
            let bytes = Array(line.utf8)
            for cut in 0..<bytes.count {
                if let o = parseLine(f, String(decoding: bytes[..<cut], as: UTF8.self)).observation {
                    XCTAssertNotNil(o.clientIP, "prefix \(cut)")
                }
            }
        }
    }

    func testDetection() {
        let text = Self.traffic + "\n" + Self.threatURL() + "\n"
        XCTAssertEqual(Data(text.utf8).withUnsafeBytes { detectLogFormat(sample: $0)?.name }, "panos")
    }
}
