import Foundation
import ShadowScopeCore
import TestSupport
import XCTest

@testable import LogFormats

final class WindowsDNSDebugTests: XCTestCase {
    let f = WindowsDNSDebug()

    /// The line quoted in "What Do the Numbers In Parentheses Mean In My Windows DNS Debug Log?"
    /// (https://serverfault.com/questions/513538), a real Windows Server debug log.
    static let serverFault = "6/5/2013 10:00:32 AM 0E70 PACKET  00000000033397A0 UDP Rcv 10.161.60.71    5b47   Q [0001   D   NOERROR] A      (12)somecomputer(6)domain(3)com(0)"

    /// The header block as Windows writes it (layout from the "Message logging key" quoted on
    /// https://serverfault.com/questions/684782), then packets constructed to that key.
    static let file = """
        DNS Server log file creation at 11/25/2026 11:59:58 AM
        Log file wrap at 11/25/2026 11:59:58 AM

        Message logging key (for packets - other items use a subset of these fields):
        \tField #  Information         Values
        \t-------  -----------         ------
        \t   1     Date
        \t   2     Time
        \t   3     Thread ID
        \t   4     Context
        \t   5     Internal packet identifier
        \t  10     Query/Response      R = Response
        \t                             blank = Query

        11/25/2026 12:00:01 PM 0E70 PACKET  00000000033397A0 UDP Rcv 10.0.0.5        5b47   Q [0001   D   NOERROR] A      (7)chatgpt(3)com(0)
        11/25/2026 12:00:01 PM 0E70 PACKET  00000000033397A0 UDP Snd 10.0.0.53       9a01   Q [0001   D   NOERROR] A      (7)chatgpt(3)com(0)
        11/25/2026 12:00:01 PM 0E70 PACKET  00000000033397A0 UDP Rcv 10.0.0.53       9a01 R Q [8081   DR  NOERROR] A      (7)chatgpt(3)com(0)
        11/25/2026 12:00:01 PM 0E70 PACKET  00000000033397A0 UDP Snd 10.0.0.5        5b47 R Q [8081   DR  NOERROR] A      (7)chatgpt(3)com(0)
        11/25/2026 12:00:02 AM 0E70 PACKET  0000000003339800 TCP Rcv fe80::1         0001   Q [0001   D   NOERROR] AAAA   (6)claude(2)ai(0)
        11/25/2026 12:00:03 PM 0E70 EVENT   The DNS server has started.
        11/25/2026 12:00:04 PM 0E70 PACKET  0000000003339900 UDP Rcv 10.0.0.9        0002   U [0028       NOERROR] SOA    (4)corp(5)local(0)

        """

    func testServerFaultLine() throws {
        let o = try XCTUnwrap(parseLine(f, Self.serverFault).observation)
        XCTAssertEqual(o.timestamp.rfc3339, "2013-06-05T10:00:32.000Z")
        XCTAssertEqual(o.clientIP, IPAddress("10.161.60.71"))
        XCTAssertEqual(o.host, "somecomputer.domain.com")
        XCTAssertEqual(o.hostSource, .dnsQuery)
        XCTAssertEqual(o.dns, DNSInfo(type: "A", rcode: nil, answers: []))
        XCTAssertEqual(o.transport, .udp)
        XCTAssertNil(o.clientPort)
        XCTAssertNil(o.bytesUp)
    }

    func testOnlyClientQueriesAreObservations() throws {
        let (observations, report) = try scanLog(try temporaryLogFile(self, Self.file), format: f)
        XCTAssertEqual(report.skipped, 0, "\(report.skippedSamples)")
        XCTAssertEqual(observations.map(\.source.position), [.line(15), .line(19)])
        XCTAssertEqual(observations.map(\.host), ["chatgpt.com", "claude.ai"])
        XCTAssertEqual(observations[0].timestamp.rfc3339, "2026-11-25T12:00:01.000Z", "12 PM is noon")
        XCTAssertEqual(observations[1].timestamp.rfc3339, "2026-11-25T00:00:02.000Z", "12 AM is midnight")
        XCTAssertEqual(observations[1].transport, .tcp)
        XCTAssertEqual(observations[1].clientIP, IPAddress("fe80::1"))
        XCTAssertEqual(observations[1].dns?.type, "AAAA")
        XCTAssertEqual(report.records, 2, "header, responses, forwarding, events and updates are not records")
    }

    func testOtherDateLocales() throws {
        let a = try XCTUnwrap(parseLine(f, "2019/08/20 11:48:27 0BE4 PACKET  000000149B80B390 UDP Rcv 10.1.1.1 ccfb   Q [0001   D   NOERROR] A      (6)google(3)com(0)").observation)
        XCTAssertEqual(a.timestamp.rfc3339, "2019-08-20T11:48:27.000Z")
        let b = try XCTUnwrap(parseLine(f, "25.11.2026 13:05:00 0BE4 PACKET  000000149B80B390 UDP Rcv 10.1.1.1 ccfb   Q [0001   D   NOERROR] A      (6)google(3)com(0)").observation)
        XCTAssertEqual(b.timestamp.rfc3339, "2026-11-25T13:05:00.000Z")
    }

    func testNameLimits() {
        let label63 = String(repeating: "a", count: 63)
        XCTAssertEqual(Array("(63)\(label63)(3)com(0)".utf8).withUnsafeBytes { WindowsDNSDebug.decodeName($0) }, label63 + ".com")
        XCTAssertNil(Array("(64)\(label63)a(3)com(0)".utf8).withUnsafeBytes { WindowsDNSDebug.decodeName($0) }, "label over 63")
        // Wire length counts each label's length byte and the root's: 4 * 51 + 50 + 1 = 255 is the limit.
        let four = String(repeating: "(50)" + String(repeating: "b", count: 50), count: 4)
        let at = four + "(49)" + String(repeating: "c", count: 49) + "(0)"
        let over = four + "(50)" + String(repeating: "c", count: 50) + "(0)"
        XCTAssertEqual(Array(at.utf8).withUnsafeBytes { WindowsDNSDebug.decodeName($0) }?.count, 253, "255 wire bytes: accepted")
        XCTAssertNil(Array(over.utf8).withUnsafeBytes { WindowsDNSDebug.decodeName($0) }, "256 wire bytes: over the limit")
        XCTAssertNil(Array("(0)".utf8).withUnsafeBytes { WindowsDNSDebug.decodeName($0) }, "the root alone")
        XCTAssertNil(Array("(7)chatgpt(3)com".utf8).withUnsafeBytes { WindowsDNSDebug.decodeName($0) }, "no (0)")
        XCTAssertNil(Array("(9)chatgpt(3)com(0)".utf8).withUnsafeBytes { WindowsDNSDebug.decodeName($0) }, "length runs past the label")
    }

    func testHostileLinesHaveExactReasons() {
        let head = "11/25/2026 12:00:01 PM 0E70 PACKET  00000000033397A0 "
        let cases: [(String, String)] = [
            (head + "SCTP Rcv 10.0.0.5 5b47   Q [0001   D   NOERROR] A (7)chatgpt(3)com(0)", "protocol 'SCTP' is not UDP or TCP"),
            (head + "UDP Got 10.0.0.5 5b47   Q [0001   D   NOERROR] A (7)chatgpt(3)com(0)", "direction 'Got' is not Snd or Rcv"),
            (head + "UDP Rcv 10.0.0.500 5b47   Q [0001   D   NOERROR] A (7)chatgpt(3)com(0)", "remote '10.0.0.500' is not an address"),
            (head + "UDP Rcv 10.0.0.5 5g47   Q [0001   D   NOERROR] A (7)chatgpt(3)com(0)", "xid '5g47' is not hexadecimal"),
            (head + "UDP Rcv 10.0.0.5 5b47   QQ [0001   D   NOERROR] A (7)chatgpt(3)com(0)", "opcode 'QQ' is not one letter"),
            (head + "UDP Rcv 10.0.0.5 5b47   Q 0001   D   NOERROR] A (7)chatgpt(3)com(0)", "no '[flags' after the opcode"),
            (head + "UDP Rcv 10.0.0.5 5b47   Q [0001   D   NOERROR A (7)chatgpt(3)com(0)", "flags are not '[hex letters RCODE]'"),
            (head + "UDP Rcv 10.0.0.5 5b47   Q [0001   D   NOERROR] A", "no question type and name after the flags"),
            (head + "UDP Rcv 10.0.0.5 5b47   Q [0001   D   NOERROR] A (7)chatgpt(3)com(0) extra", "unexpected text after the question name: 'extra'"),
            (head + "UDP Rcv 10.0.0.5 5b47   Q [0001   D   NOERROR] A (7)chat(3)com(0)", "question name '(7)chat(3)com(0)' is not (n)label...(0)"),
            ("13/25/2026 12:00:01 PM 0E70 PACKET x", "'13/25/2026 12:00:01 PM 0E70 PACKET x' does not start with a date and time"),
            ("11/25/2026 13:00:01 PM 0E70 PACKET x", "'11/25/2026 13:00:01 PM 0E70 PACKET x' does not start with a date and time"),
        ]
        for (line, reason) in cases {
            XCTAssertEqual(parseLine(f, line).skipReason, reason, line)
        }
    }

    func testEveryPrefixOfAGoodLineIsSafe() {
        let bytes = Array(Self.serverFault.utf8)
        for cut in 0..<bytes.count {
            if let o = parseLine(f, String(decoding: bytes[..<cut], as: UTF8.self)).observation {
                XCTFail("prefix \(cut) made an observation for \(o.host ?? "-")")
            }
        }
    }

    func testDetectionThroughTheHeaderBlock() {
        XCTAssertEqual(Data(Self.file.utf8).withUnsafeBytes { detectLogFormat(sample: $0)?.name }, "windows-dns")
    }
}
