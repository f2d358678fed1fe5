import AlertDelivery
import Output
@testable import ShadowScopeCore
import XCTest

/// RFC 5424 bytes, the severity map, and RFC 6587 octet-counting frames.
final class SyslogMessageTests: XCTestCase {
    let time = Timestamp(rfc3339: "2026-11-25T12:10:02.127Z") ?? Timestamp(microseconds: 0)

    func testMessageBytesAreExactRFC5424WithBOM() {
        let f = SyslogMessageFormat(hostname: "gw1.example.net", procID: "4242")
        let m = f.message(json: Array(#"{"a":"jörg"}"#.utf8), ecsSeverity: 73, at: time)
        let expected = Array("<35>1 2026-11-25T12:10:02.127Z gw1.example.net shadowscope 4242 alert - ".utf8)
            + [0xEF, 0xBB, 0xBF] + Array(#"{"a":"jörg"}"#.utf8)
        XCTAssertEqual(m, expected, "PRI 35 = facility 4 (auth) × 8 + severity 3 (error)")
    }

    func testFacilityCanBeChosenAndIsClamped() {
        let f = SyslogMessageFormat(hostname: "h", procID: "1", facility: 16)  // local0
        XCTAssertTrue(f.message(json: [], ecsSeverity: 21, at: time).starts(with: Array("<133>1 ".utf8)))
        XCTAssertEqual(SyslogMessageFormat(hostname: "h", procID: "1", facility: 99).facility, 23)
    }

    func testECSSeverityMapsToSyslogSeverity() {
        XCTAssertEqual([0, 20, 21, 46, 47, 72, 73, 98, 99, 100].map { syslogSeverity(ecs: $0) }, [6, 6, 5, 5, 4, 4, 3, 3, 2, 2])
        XCTAssertEqual(syslogSeverity(ecs: Severity.low), 5)
        XCTAssertEqual(syslogSeverity(ecs: Severity.medium), 4)
        XCTAssertEqual(syslogSeverity(ecs: Severity.high), 3)
    }

    func testHeaderFieldsAreCutToWhatRFC5424Allows() {
        XCTAssertEqual(SyslogMessageFormat(hostname: "two words", procID: "").hostname, "two")
        XCTAssertEqual(SyslogMessageFormat(hostname: "", procID: "").hostname, "-")
        XCTAssertEqual(SyslogMessageFormat(hostname: "", procID: "").procID, "-")
        XCTAssertEqual(SyslogMessageFormat(hostname: "ünicode", procID: "1").hostname, "-")
        XCTAssertEqual(SyslogMessageFormat(hostname: String(repeating: "a", count: 300), procID: "1").hostname.count, 255)
        XCTAssertEqual(SyslogMessageFormat(hostname: "h", procID: String(repeating: "9", count: 200)).procID.count, 128)
        let local = SyslogMessageFormat.local()
        XCTAssertEqual(local.procID, String(getpid()))
        XCTAssertFalse(local.hostname.isEmpty)
    }

    func testAlertMessageCarriesExactlyWhatWriteAlertWrites() {
        let alert = Alert(ruleID: "large-upload-connection", ruleName: "Large upload", severity: Severity.high,
                          message: "alice sent 100 kB to \"ChatGPT\"", user: "alice", sourceIP: "10.0.0.1",
                          destinationDomain: "chatgpt.com", destinationIP: nil, country: "US", uploadBytes: 102_400,
                          downloadBytes: nil, serviceID: "openai-chatgpt", vendor: "OpenAI", tier: "consumer",
                          windowStart: time, windowEnd: time, evidence: ["a.pcap:frame 4"])
        var w = JSONWriter()
        writeAlert(alert, into: &w)
        let m = SyslogMessageFormat(hostname: "h", procID: "1").message(for: alert, at: time)
        let header = Array("<35>1 2026-11-25T12:10:02.127Z h shadowscope 1 alert - ".utf8) + SyslogMessageFormat.bom
        XCTAssertEqual(Array(m.prefix(header.count)), header)
        XCTAssertEqual(Array(m.dropFirst(header.count)), w.bytes)
    }

    func testOctetCountingFrameIsLengthSpaceMessage() {
        XCTAssertEqual(octetCountingFrame(Array("abc".utf8)), Array("3 abc".utf8))
        let big = [UInt8](repeating: 0x41, count: 1234)
        XCTAssertEqual(Array(octetCountingFrame(big).prefix(5)), Array("1234 ".utf8))
        XCTAssertEqual(octetCountingFrame([0xEF, 0xBB, 0xBF]), Array("3 ".utf8) + [0xEF, 0xBB, 0xBF], "the length counts bytes, not characters")
    }

    /// Reads every frame from a stream fed in the given pieces, as a receiver would.
    func decodeFrames(_ pieces: [ArraySlice<UInt8>]) -> [[UInt8]]? {
        var buffer: [UInt8] = []
        var out: [[UInt8]] = []
        for piece in pieces {
            buffer += piece
            while !buffer.isEmpty {
                switch OctetCountedFrame(parsing: buffer[...]) {
                case .needMoreData: break
                case .invalid: return nil
                case .frame(let m, let consumed):
                    out.append(Array(m))
                    buffer.removeFirst(consumed)
                    continue
                }
                break
            }
        }
        return buffer.isEmpty ? out : nil
    }

    func testFramesDecodeTheSameWholeByteByByteAndInRandomSplits() {
        let messages: [[UInt8]] = [Array("hello".utf8), [0x20], [0x20, 0x20], Array(repeating: 0x7B, count: 300),
                                   SyslogMessageFormat(hostname: "h", procID: "1").message(json: Array("{}".utf8), ecsSeverity: 47, at: time)]
        let stream = messages.flatMap { octetCountingFrame($0) }
        XCTAssertEqual(decodeFrames([stream[...]]), messages, "whole")
        XCTAssertEqual(decodeFrames(stream.indices.map { stream[$0...$0] }), messages, "byte by byte")
        var rng = SplitMix(seed: 7)
        for _ in 0..<50 {
            var pieces: [ArraySlice<UInt8>] = []
            var i = 0
            while i < stream.count {
                let n = min(stream.count - i, 1 + Int(rng.next() % 40))
                pieces.append(stream[i..<(i + n)])
                i += n
            }
            XCTAssertEqual(decodeFrames(pieces), messages, "random split")
        }
    }

    func testFrameDecoderRefusesHostileLengths() {
        func parse(_ s: String) -> OctetCountedFrame { OctetCountedFrame(parsing: Array(s.utf8)[...]) }
        XCTAssertEqual(parse("012 abcdefghijkl"), .invalid, "leading zero")
        XCTAssertEqual(parse("x2 ab"), .invalid)
        XCTAssertEqual(parse(" ab"), .invalid, "no digits")
        XCTAssertEqual(parse("-1 a"), .invalid)
        XCTAssertEqual(parse("12345678"), .invalid, "eight digits is above any frame we accept")
        XCTAssertEqual(parse("1048577 "), .invalid, "one above the limit")
        XCTAssertEqual(parse("1048576 "), .needMoreData, "at the limit")
        XCTAssertEqual(parse("5 ab"), .needMoreData)
        XCTAssertEqual(parse("12"), .needMoreData)
        XCTAssertEqual(parse(""), .needMoreData)
        guard case .frame(let m, let consumed) = parse("2 abc") else { return XCTFail("a frame") }
        XCTAssertEqual(Array(m), Array("ab".utf8))
        XCTAssertEqual(consumed, 4)
    }
}

/// A small deterministic generator for split points and hostile bytes.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
