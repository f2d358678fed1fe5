import Foundation
import ShadowScopeCore
import TestSupport
import XCTest

@testable import PacketDecoding

/// TCPReassembly on plain bytes: order, overlaps, retransmissions, the window and the skip-ahead.
final class TCPReassemblyTests: XCTestCase {
    private func add(_ r: inout TCPReassembly, _ seq: UInt32, _ bytes: [UInt8]) -> TCPReassembly.AddResult {
        bytes.withUnsafeBytes { r.add(seq: seq, $0) }
    }

    func testInOrderSegmentsGrowTheStream() {
        var r = TCPReassembly(base: 100, window: 64)
        XCTAssertEqual(add(&r, 100, [1, 2, 3]), .grew)
        XCTAssertEqual(add(&r, 103, [4, 5]), .grew)
        XCTAssertEqual(r.contiguous, [1, 2, 3, 4, 5])
        XCTAssertEqual(r.heldBytes, 5)
    }

    func testEarlySegmentWaitsForTheGapThenJoins() {
        var r = TCPReassembly(base: 0, window: 64)
        XCTAssertEqual(add(&r, 3, [4, 5, 6]), .unchanged)
        XCTAssertTrue(r.hasGap)
        XCTAssertEqual(r.contiguous, [])
        XCTAssertEqual(r.heldBytes, 3)
        XCTAssertEqual(add(&r, 0, [1, 2, 3]), .grew)
        XCTAssertFalse(r.hasGap)
        XCTAssertEqual(r.contiguous, [1, 2, 3, 4, 5, 6])
    }

    func testRetransmissionsAndOverlapsCountOnce() {
        var r = TCPReassembly(base: 0, window: 64)
        XCTAssertEqual(add(&r, 0, [1, 2, 3, 4]), .grew)
        XCTAssertEqual(add(&r, 0, [1, 2, 3, 4]), .unchanged)
        XCTAssertEqual(add(&r, 2, [3, 4, 5, 6]), .grew)  // repacketised: half old, half new
        XCTAssertEqual(add(&r, 8, [9, 10]), .unchanged)
        XCTAssertEqual(add(&r, 7, [8, 9, 10, 11]), .unchanged)  // overlaps the early one, still a gap at 6
        XCTAssertEqual(add(&r, 6, [7]), .grew)
        XCTAssertEqual(r.contiguous, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
        XCTAssertEqual(r.heldBytes, 11)
    }

    func testBytesBeforeBaseAreIgnoredAcrossTheSequenceWrap() {
        var r = TCPReassembly(base: 2, window: 64)
        XCTAssertEqual(add(&r, UInt32.max - 1, [0, 0, 0, 0]), .unchanged)  // ends exactly at base
        XCTAssertEqual(add(&r, UInt32.max, [0, 0, 0, 1, 2]), .grew)       // wraps past zero into base
        XCTAssertEqual(r.contiguous, [1, 2])
    }

    func testWindowLimitAndOnePastIt() {
        var r = TCPReassembly(base: 0, window: 8)
        XCTAssertEqual(add(&r, 4, [5, 6, 7, 8]), .unchanged)  // ends at the limit: kept
        XCTAssertEqual(add(&r, 8, [9]), .dropped)             // one byte past it
        XCTAssertEqual(add(&r, 0, [1, 2, 3, 4, 99, 99]), .grew)
        XCTAssertEqual(r.contiguous, [1, 2, 3, 4, 99, 99, 7, 8])
        XCTAssertEqual(r.heldBytes, 8)
    }

    func testEarlySegmentsAreCappedInNumber() {
        var r = TCPReassembly(base: 0, window: 10_000)
        for i in 0..<TCPReassembly.maxPendingSegments {
            XCTAssertEqual(add(&r, UInt32(2 + 2 * i), [1]), .unchanged, "segment \(i)")
        }
        XCTAssertEqual(add(&r, UInt32(2 + 2 * TCPReassembly.maxPendingSegments), [1]), .dropped)
        XCTAssertEqual(r.heldBytes, TCPReassembly.maxPendingSegments)
    }

    func testConsumePastTheBytesHereSkipsAhead() {
        var r = TCPReassembly(base: 0, window: 8)
        XCTAssertEqual(add(&r, 0, [1, 2, 3]), .grew)
        XCTAssertEqual(add(&r, 12, [13, 14]), .dropped)  // past the window for now
        r.consume(10)  // a 10-byte message we will not hold: 7 of its bytes are still to come
        XCTAssertEqual(r.base, 10)
        XCTAssertEqual(r.heldBytes, 0)
        XCTAssertEqual(add(&r, 5, [6, 7, 8, 9, 10, 11]), .grew)  // the message's tail is dropped
        XCTAssertEqual(r.contiguous, [11])
        XCTAssertEqual(add(&r, 11, [12, 13]), .grew)
        XCTAssertEqual(r.contiguous, [11, 12, 13])
    }

    func testConsumeShiftsWaitingSegments() {
        var r = TCPReassembly(base: 0, window: 16)
        XCTAssertEqual(add(&r, 0, [1, 2, 3, 4]), .grew)
        XCTAssertEqual(add(&r, 6, [7, 8]), .unchanged)
        r.consume(3)
        XCTAssertEqual(r.contiguous, [4])
        XCTAssertEqual(add(&r, 4, [5, 6]), .grew)
        XCTAssertEqual(r.contiguous, [4, 5, 6, 7, 8])
    }

    /// The style's drip-feed check: any split and any order give the same bytes.
    func testAnySplitInAnyOrderGivesTheSameStream() {
        let data = (0..<600).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        var rng = SplitMix64(seed: 7)
        for _ in 0..<200 {
            var cuts = Set<Int>()
            for _ in 0..<Int(rng.next() % 20) { cuts.insert(1 + Int(rng.next() % 599)) }
            let edges = [0] + cuts.sorted() + [600]
            var pieces = (0..<edges.count - 1).map { (edges[$0], edges[$0 + 1]) }
            pieces.shuffle(using: &rng)
            pieces += pieces.prefix(2)  // and a couple of retransmissions
            var r = TCPReassembly(base: 4_000_000_000, window: 1024)
            for (a, b) in pieces { _ = add(&r, 4_000_000_000 &+ UInt32(a), Array(data[a..<b])) }
            XCTAssertEqual(r.contiguous, data)
            XCTAssertFalse(r.hasGap)
        }
    }
}

/// fixtures/crafted-tcp-reassembly.pcap (craft_packets.py reassembly): real ClientHellos and an HTTP
/// head out of order, retransmitted, in a SYN (TFO) and mid-stream. Expected figures are tshark 4.0.17's
/// with `tcp.reassemble_out_of_order:TRUE`: the frame that completes each hello or head, its name, and
/// each direction's sequence span (tcp.seq_raw, tcp.len).
final class CaptureReassemblyTests: XCTestCase {
    func testOutOfOrderRetransmittedTFOAndMidStreamFlowsYieldTsharksNamesAndBytes() throws {
        let (observations, report) = try scan(TestPaths.fixture("crafted-tcp-reassembly.pcap"))
        XCTAssertEqual(report.skipped, 0, "\(report.skippedSamples)")
        XCTAssertEqual(observations.map(\.clientPort), [40001, 40002, 40003, 40004, 40005, 40006])
        XCTAssertEqual(observations.map(\.host), ["chatgpt.com", "api.openai.com", "claude.ai", nil, "gemini.google.com", "api.deepseek.com"])
        XCTAssertEqual(observations.map(\.hostSource), [.tlsSNI, .tlsSNI, .tlsSNI, nil, .tlsSNI, .httpHost])
        // The frame that completed the name; the nameless flow keeps its first frame.
        XCTAssertEqual(observations.map(\.source.position), [8, 20, 26, 32, 48, 58].map { .frame($0) })
        XCTAssertEqual(observations.map(\.bytesUp), [1988, 517, 517, 261, 517, 153])
        XCTAssertEqual(observations.map(\.bytesDown), [3000, 1200, 2000, 517, 800, 38])
        XCTAssertEqual(observations.map(\.packetsUp), [12, 5, 4, 3, 13, 7])
        XCTAssertEqual(observations.map(\.packetsDown), [4, 3, 3, 2, 3, 3])
        XCTAssertEqual(observations[5].method, "POST")
        XCTAssertEqual(observations[5].urlPath, "/v1/chat/completions")
        XCTAssertNil(report.capsHit["tcp-reassembly-window"])
    }

    /// A global budget smaller than one hello: the flow gives up its name, is counted, and its bytes
    /// still count.
    func testGlobalReassemblyBudgetGivesUpTheNameAndIsCounted() throws {
        let reader = try PcapReader(path: TestPaths.fixture("crafted-tcp-reassembly.pcap"))
        var report = InputReport(file: "t", format: "pcap")
        var out: [Observation] = []
        CaptureScanner(limits: FlowTable.Limits(maxReassemblyBytes: 1000)).scan(reader, file: "t", report: &report) { out.append($0) }
        // Chromium's 1,951-byte hello needs more than 1,000 bytes held; 517-byte hellos fit.
        XCTAssertNil(out[0].host)
        XCTAssertEqual(out[0].bytesUp, 1988)
        XCTAssertEqual(out[1].host, "api.openai.com")
        XCTAssertEqual(report.capsHit["tcp-reassembly-budget"], 1)
    }

    /// The per-flow window is the hello limit: when the first data segment was never captured and the
    /// bytes after it run past the window, the flow gives up its name once, frees what it held, and
    /// still counts the whole sequence span.
    func testLostFirstSegmentGivesUpTheNameOnceTheWindowIsPassed() throws {
        XCTAssertEqual(FlowTable.headWindow, TLSClientHello.maxHelloBytes)
        var w = PcapWriter()
        w.tcp(from: ("10.20.30.41", 40100), to: ("104.18.32.47", 443), seq: 1000, flags: 0x02, [])
        for i in 1..<15 {  // segment 0 (bytes 0..<1400 after the ISN) is missing
            w.tcp(from: ("10.20.30.41", 40100), to: ("104.18.32.47", 443), seq: 1001 + UInt32(i * 1400), flags: 0x18,
                  Array(repeating: 0x17, count: 1400))
        }
        let (observations, report) = try w.scanned()
        XCTAssertNil(observations.first?.host)
        XCTAssertEqual(observations.first?.bytesUp, 15 * 1400)
        XCTAssertEqual(report.capsHit["tcp-reassembly-window"], 1)
    }
}
