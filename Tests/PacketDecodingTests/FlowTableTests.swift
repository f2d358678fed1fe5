@testable import PacketDecoding
import ShadowScopeCore
import TestSupport
import XCTest

/// The flow table's cap and idle timeouts: which flows end, when, and in what order.
final class FlowTableTests: XCTestCase {
    /// An IPv4 + TCP packet from 10.0.x.y:`clientPort` to 192.0.2.1:443 (or back), decoded as the scanner does.
    func feed(_ table: inout FlowTable, client: Int, clientPort: UInt16, flags: UInt8, toServer: Bool = true, at seconds: Int64,
              seq: UInt32 = 1, payload: [UInt8] = [], report: inout InputReport, into out: inout [Observation]) throws {
        let c: [UInt8] = [10, UInt8(client >> 16 & 0xFF), UInt8(client >> 8 & 0xFF), UInt8(client & 0xFF)], s: [UInt8] = [192, 0, 2, 1]
        let (src, dst) = toServer ? (c, s) : (s, c)
        let (sp, dp) = toServer ? (clientPort, UInt16(443)) : (UInt16(443), clientPort)
        let length = 40 + payload.count
        var bytes: [UInt8] = [0x45, 0, UInt8(length >> 8), UInt8(length & 0xFF), 0, 0, 0x40, 0, 64, 6, 0, 0] + src + dst
        bytes += [UInt8(sp >> 8), UInt8(sp & 0xFF), UInt8(dp >> 8), UInt8(dp & 0xFF)]
        bytes += [UInt8(seq >> 24), UInt8(seq >> 16 & 0xFF), UInt8(seq >> 8 & 0xFF), UInt8(seq & 0xFF), 0, 0, 0, 0, 0x50, flags, 0xFF, 0xFF, 0, 0, 0, 0]
        bytes += payload
        try bytes.withUnsafeBytes { raw in
            let ip = try IPDecoder.decodeV4(ByteCursor(raw))
            let tcp = try TCPSegment.decode(ip.payload)
            table.add(ip, tcp, ts: Timestamp(seconds: seconds), frame: 1, report: &report) { out.append($0) }
        }
    }

    /// At the cap the least recently active flow is finished first, and each eviction is counted.
    func testAtTheCapTheLeastRecentlyActiveFlowIsEvicted() throws {
        var table = FlowTable(file: "t", limits: FlowTable.Limits(maxFlows: 100))
        var report = InputReport(file: "t", format: "pcap")
        var out: [Observation] = []
        for i in 0..<100 { try feed(&table, client: i, clientPort: 40_000, flags: 0x02, at: 1_000, report: &report, into: &out) }
        // Flow 0 is active again: flow 1 is now the least recently active.
        try feed(&table, client: 0, clientPort: 40_000, flags: 0x12, toServer: false, at: 1_000, report: &report, into: &out)
        for i in 100..<1_000 { try feed(&table, client: i, clientPort: 40_000, flags: 0x02, at: 1_000, report: &report, into: &out) }
        XCTAssertEqual(table.count, 100)
        XCTAssertEqual(table.evicted, 900)
        XCTAssertEqual(report.capsHit["flow-table-full"], 900)
        XCTAssertEqual(out.count, 900)
        XCTAssertEqual(out.first?.clientIP, IPAddress.v4(0x0A00_0001), "flow 1, not the re-activated flow 0, went first")
        XCTAssertEqual(out[98].clientIP, IPAddress.v4(0x0A00_0063), "then flows 2...99")
        XCTAssertEqual(out[99].clientIP, IPAddress.v4(0x0A00_0000), "then flow 0, last touched before flow 100 came")
        table.finishAll(report: &report) { out.append($0) }
        XCTAssertEqual(out.count, 1_000)
    }

    /// Closed connections linger 5 s, open ones idle out after 300 s; a sweep finishes only those.
    func testIdleTimeoutsPerKindOfFlow() throws {
        var table = FlowTable(file: "t")
        var report = InputReport(file: "t", format: "pcap")
        var out: [Observation] = []
        try feed(&table, client: 1, clientPort: 1, flags: 0x02, at: 0, report: &report, into: &out)   // open
        try feed(&table, client: 2, clientPort: 2, flags: 0x02, at: 0, report: &report, into: &out)   // will be reset
        try feed(&table, client: 2, clientPort: 2, flags: 0x04, at: 1, report: &report, into: &out)
        try feed(&table, client: 3, clientPort: 3, flags: 0x02, at: 2, report: &report, into: &out)   // open, later
        try feed(&table, client: 9, clientPort: 9, flags: 0x02, at: 7, report: &report, into: &out)   // sweep at 7 s
        XCTAssertEqual(out.map(\.clientPort), [2], "the reset flow, 6 s after its RST")
        try feed(&table, client: 9, clientPort: 9, flags: 0x10, at: 301, report: &report, into: &out)
        XCTAssertEqual(out.map(\.clientPort), [2, 1], "flow 1 idle 301 s; flow 3 only 299 s")
        try feed(&table, client: 9, clientPort: 9, flags: 0x10, at: 303, report: &report, into: &out)
        XCTAssertEqual(out.map(\.clientPort), [2, 1, 3])
        XCTAssertEqual(table.count, 1)
    }

    /// Issue 4: at most 400 bytes of memory per live flow, the table included. 50,000 TLS connections
    /// that sent their SYN and a real ClientHello (curl's, to chatgpt.com) and stay open, as a gateway
    /// holds them: the heap they take (glibc's count of bytes in use, so the flow objects, the table's
    /// buckets and anything a flow still holds) divided by the flows.
    func testALiveNamedFlowTakesAtMostFourHundredBytes() throws {
        let hello = try TLSClientHelloTests.realHello()
        let flows = 50_000
        var out: [Observation] = []
        var report = InputReport(file: "t", format: "pcap")
        let before = heapBytesInUse()
        var table = FlowTable(file: "t")
        for i in 0..<flows {
            try feed(&table, client: i, clientPort: 40_000, flags: 0x02, at: 1_000, report: &report, into: &out)
            try feed(&table, client: i, clientPort: 40_000, flags: 0x18, at: 1_000, seq: 2, payload: hello, report: &report, into: &out)
        }
        let perFlow = Double(heapBytesInUse() - before) / Double(flows)
        XCTAssertEqual(table.count, flows)
        XCTAssertEqual(table.reassemblyBytes, 0, "nothing held once the names are read")
        XCTAssertLessThanOrEqual(perFlow, 400)
        print("flow table: \(Int(perFlow)) bytes per live flow")
        table.finishAll(report: &report) { out.append($0) }
        XCTAssertEqual(out.count, flows)
        XCTAssertEqual(Set(out.map(\.host)), ["chatgpt.com"])
        XCTAssertEqual(out.first?.bytesUp, Int64(hello.count))
    }
}

/// The flow index against a Dictionary doing the same inserts, lookups and removals, with hashes
/// forced into a few home slots so that runs collide, wrap past the end and are shifted back.
final class FlowIndexTests: XCTestCase {
    func flow(_ i: Int) -> Flow {
        Flow(order: i, client: .v4(UInt32(0x0A00_0000 + i)), clientPort: UInt16(1024 + i % 60_000), server: .v4(0xC000_0201),
             serverPort: 443, ts: Timestamp(microseconds: 0), frame: i)
    }

    func testAgreesWithADictionaryUnderCollisionsWrapAndRemoval() {
        var rng = SystemRandomNumberGenerator()
        for homes in [1, 3, 1 << 20] {
            var index = FlowIndex(capacity: 8)
            var model: [Int: (Flow, UInt32)] = [:]
            // Hashes end near the top of a 16-slot table (14, 15, ...) so runs wrap to slot 0.
            func hash(_ i: Int) -> UInt32 { UInt32(truncatingIfNeeded: 14 + (i * 7_919) % homes) }
            for step in 0..<6_000 {
                let i = Int.random(in: 0..<400, using: &rng)
                if let (f, h) = model[i], Bool.random(using: &rng) {
                    index.remove(f, hash: h)
                    model[i] = nil
                } else if model[i] == nil {
                    let f = flow(i)
                    index.insert(f, hash: hash(i))
                    model[i] = (f, hash(i))
                }
                if step % 97 == 0 {
                    for j in 0..<400 {
                        XCTAssert(index.find(flow(j).key, hash: hash(j)) === model[j]?.0, "homes \(homes), step \(step), flow \(j)")
                    }
                }
                XCTAssertEqual(index.count, model.count)
            }
            XCTAssertEqual(Set(index.all.map(\.order)), Set(model.keys))
        }
    }
}
