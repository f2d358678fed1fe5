import Foundation
import ShadowScopeCore
import TestSupport
import XCTest

@testable import PacketDecoding

/// QUIC, DNS and plain HTTP through the whole capture path, against the seed captures' ground truth
/// (tshark's figures in ../shared/bench/seeds).
final class CaptureProtocolsTests: XCTestCase {
    /// SNI-check.txt section for `file`: rows of tab-separated cells.
    func sniCheck(_ file: String) throws -> [[String]] {
        let text = try String(contentsOfFile: TestPaths.seed("SNI-check.txt"), encoding: .utf8)
        let section = try XCTUnwrap(text.components(separatedBy: "## ").first { $0.hasPrefix(file + "\n") })
        return section.split(separator: "\n").dropFirst().map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
    }

    func flows(_ file: String) throws -> [[String: String]] {
        try readTSV(TestPaths.seed("FLOWS.tsv")).filter { $0["file"] == file }
    }

    func testQUICFlowsYieldSNIAtTheFrameTsharkNamesAndUDPPayloadBytes() throws {
        for file in ["quic-aioquic.pcap", "quic-chromium.pcap"] {
            let (observations, report) = try scan(TestPaths.seed(file))
            let expected = try sniCheck(file)
            XCTAssertEqual(observations.count, expected.count, file)
            for (o, row) in zip(observations, expected) {
                XCTAssertEqual(o.source.position, .frame(Int(row[0])!), file)
                XCTAssertEqual(o.clientPort, UInt16(row[1]), file)
                XCTAssertEqual(o.host, row[2], file)
                XCTAssertEqual(o.hostSource, .quicSNI)
                XCTAssertEqual(o.transport, .udp)
            }
            // Bytes: the sum of UDP payloads each way (tshark's udp.length - 8).
            for row in try flows(file) {
                let port = UInt16(row["client"]!.split(separator: ":").last!)!
                let o = try XCTUnwrap(observations.first { $0.clientPort == port }, "\(file) \(row)")
                XCTAssertEqual(o.bytesUp, Int64(row["bytes_up"]!), "\(file) \(row)")
                XCTAssertEqual(o.bytesDown, Int64(row["bytes_down"]!), "\(file) \(row)")
            }
            XCTAssertEqual(report.skipped, 0, "\(report.skippedSamples)")
        }
    }

    func testEveryDNSResponseIsOneObservationWithItsAnswers() throws {
        for file in ["dns-dnsmasq.pcap", "dns-bind.pcap"] {
            let (observations, report) = try scan(TestPaths.seed(file))
            let responses = try sniCheck(file).filter { $0[1] == "1" }
            XCTAssertEqual(observations.count, responses.count, file)
            for (o, r) in zip(observations, responses) {
                XCTAssertEqual(o.source.position, .frame(Int(r[0])!), file)
                XCTAssertEqual(o.host, r[2])
                XCTAssertEqual(o.hostSource, .dnsQuery)
                XCTAssertEqual(o.dns?.type, ["1": "A", "28": "AAAA", "65": "HTTPS"][r[3]])
                let answers = [r[4], r.count > 5 ? r[5] : ""].filter { !$0.isEmpty }
                XCTAssertEqual(o.dns?.answers, answers, "\(file) \(r)")
                XCTAssertNotNil(o.durationMs, "the query was seen, so the round trip is known")
            }
            XCTAssertEqual(report.skipped, 0)
        }
        // dnsmasq refuses HTTPS queries (no upstream); BIND answers github.com AAAA with no data.
        let (dnsmasq, _) = try scan(TestPaths.seed("dns-dnsmasq.pcap"))
        XCTAssertEqual(dnsmasq[2].dns, DNSInfo(type: "HTTPS", rcode: "REFUSED", answers: []))
        let (bind, _) = try scan(TestPaths.seed("dns-bind.pcap"))
        XCTAssertEqual(bind.first { $0.host == "github.com" && $0.dns?.type == "AAAA" }?.dns?.rcode, "NOERROR")
    }

    func testPlainHTTPFlowsCarryHostMethodPathAndBytes() throws {
        let (observations, _) = try scan(TestPaths.seed("http-curl.pcap"))
        let expected = try sniCheck("http-curl.pcap")
        XCTAssertEqual(observations.map(\.host), expected.map { $0[2] })
        XCTAssertEqual(observations.map(\.method), expected.map { $0[1] })
        XCTAssertEqual(observations.last?.urlPath, "/backend-api/files")
        XCTAssertTrue(observations.allSatisfy { $0.hostSource == .httpHost })
        for row in try flows("http-curl.pcap") {
            let port = UInt16(row["client"]!.split(separator: ":").last!)!
            let o = try XCTUnwrap(observations.first { $0.clientPort == port })
            XCTAssertEqual(o.bytesUp, Int64(row["bytes_up"]!)! - Int64(row["retrans_up"]!)!)
            XCTAssertEqual(o.bytesDown, Int64(row["bytes_down"]!)! - Int64(row["retrans_down"]!)!)
        }
    }
}

final class DNSAnswerCacheTests: XCTestCase {
    func testAnswerNamesLaterFlowsWithinItsTTLOnly() {
        var cache = DNSAnswerCache()
        var report = InputReport(file: "t", format: "pcap")
        let t0 = Timestamp(seconds: 1_000)
        cache.insert(IPAddress("160.79.104.10")!, name: "claude.ai", ttl: 60, at: t0, report: &report)
        XCTAssertEqual(cache.name(for: IPAddress("160.79.104.10")!, at: Timestamp(seconds: 1_030)), "claude.ai")
        XCTAssertNil(cache.name(for: IPAddress("160.79.104.10")!, at: Timestamp(seconds: 999)), "a flow before the answer")
        XCTAssertNil(cache.name(for: IPAddress("160.79.104.10")!,
                                at: Timestamp(seconds: 1_000 + 60 + DNSAnswerCache.graceSeconds + 1)), "expired")
        XCTAssertNil(cache.name(for: IPAddress("160.79.104.11")!, at: Timestamp(seconds: 1_030)))
    }

    /// Full, the cache drops the answer that arrived longest ago, one per new address, counted. (It used
    /// to scan every entry for each new address: 50,000 past the cap took minutes; this test would not end.)
    func testFullCacheDropsTheOldestAnswersOnePerNewAddress() {
        var cache = DNSAnswerCache()
        var report = InputReport(file: "t", format: "pcap")
        let extra = 50_000
        func address(_ i: Int) -> IPAddress { IPAddress(v4: 10, UInt8(i >> 16 & 0xFF), UInt8(i >> 8 & 0xFF), UInt8(i & 0xFF)) }
        // Address 0 goes first, then is answered again near the end: it comes back as the youngest,
        // and its return costs one more eviction.
        let total = DNSAnswerCache.maxEntries + extra
        for i in 0..<total {
            cache.insert(address(i), name: "n\(i).example", ttl: 3600, at: Timestamp(seconds: 1_000), report: &report)
            if i == total - 10 { cache.insert(address(0), name: "again.example", ttl: 3600, at: Timestamp(seconds: 1_000), report: &report) }
        }
        XCTAssertEqual(report.capsHit["dns-answer-cache"], extra + 1)
        let at = Timestamp(seconds: 1_001)
        XCTAssertEqual(cache.name(for: address(0), at: at), "again.example")
        XCTAssertNil(cache.name(for: address(1), at: at))
        XCTAssertNil(cache.name(for: address(extra), at: at))
        XCTAssertEqual(cache.name(for: address(extra + 1), at: at), "n\(extra + 1).example")
        XCTAssertEqual(cache.name(for: address(total - 1), at: at), "n\(total - 1).example")
    }

    /// Past 65,536 queries waiting for an answer, each new one writes out the oldest as unanswered,
    /// in arrival order, counted. (It used to scan all waiting queries for the oldest each time.)
    func testPendingQueriesPastTheCapGoOutOldestFirst() throws {
        var tracker = DNSTracker()
        var report = InputReport(file: "t", format: "pcap")
        var unanswered: [String] = []
        let extra = 1_000
        let server = IPAddress(v4: 192, 0, 2, 53)
        for i in 0..<(DNSTracker.maxPendingQueries + extra) {
            let name = "q\(i).example"
            var query: [UInt8] = [UInt8(i >> 8 & 0xFF), UInt8(i & 0xFF), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
            for label in name.split(separator: ".") { query.append(UInt8(label.utf8.count)); query += Array(label.utf8) }
            query += [0, 0, 1, 0, 1]
            let m = try DNSMessage.parse(query)
            let client = IPAddress(v4: 10, 0, UInt8(i >> 16 & 0xFF), UInt8(i >> 8 & 0xFF))
            tracker.add(m, from: client, port: UInt16(1024 + i % 60_000), to: server, port: 53, transport: .udp,
                        size: Int64(query.count), ts: Timestamp(seconds: 1_000), source: SourceRef(file: "t", position: .frame(i + 1)),
                        report: &report) { unanswered.append($0.host ?? "?") }
        }
        XCTAssertEqual(report.capsHit["dns-pending-queries"], extra)
        XCTAssertEqual(unanswered, (0..<extra).map { "q\($0).example" })
    }

    func testInsertionOrderSkipsStaleEntriesAndStaysBounded() {
        var order = InsertionOrder<Int>()
        var live: [Int: Int] = [:]
        for stamp in 1...100_000 {
            let key = stamp % 1_000  // each key re-inserted 100 times
            live[key] = stamp
            order.append(key, stamp: stamp, live: live.count) { live[$0] == $1 }
        }
        XCTAssertLessThanOrEqual(order.count, 2 * 1_000 + 4_096 + 1)
        XCTAssertEqual(order.popOldest { live[$0] == $1 }, 1)  // stamp 99,001
        XCTAssertEqual(order.popOldest { live[$0] == $1 }, 2)
    }
}

/// fixtures/dns-answer.pcap: dig resolves claude.ai through a real dnsmasq, then curl connects to the
/// answered address with no SNI (an IP literal), then with SNI, then plain HTTP GET and POST.
final class DNSAnswerFixtureTests: XCTestCase {
    func testFlowWithoutSNIIsNamedByTheEarlierDNSAnswer() throws {
        let (observations, report) = try scan(TestPaths.fixture("dns-answer.pcap"))
        XCTAssertEqual(report.skipped, 0)
        let rows = try readTSV(TestPaths.fixture("dns-answer.expected.tsv"))
        let tcp = observations.filter { $0.transport == .tcp }
        XCTAssertEqual(tcp.count, rows.count)
        for (o, row) in zip(tcp, rows) {
            XCTAssertEqual(o.clientPort, UInt16(row["client_port"]!))
            XCTAssertEqual(o.bytesUp, Int64(row["bytes_up"]!))
            XCTAssertEqual(o.bytesDown, Int64(row["bytes_down"]!))
            XCTAssertEqual(o.packetsUp, Int64(row["packets_up"]!))
            XCTAssertEqual(o.packetsDown, Int64(row["packets_down"]!))
        }
        XCTAssertEqual(tcp.map(\.host), ["claude.ai", "api.openai.com", "api.openai.com", "api.openai.com"])
        XCTAssertEqual(tcp.map(\.hostSource), [.dnsAnswer, .tlsSNI, .httpHost, .httpHost])
        XCTAssertEqual(tcp.map(\.method), [nil, nil, "GET", "POST"])
        XCTAssertEqual(tcp.map(\.urlPath), [nil, nil, "/v1/models", "/v1/files"])
        let dns = try XCTUnwrap(observations.first { $0.transport == .udp })
        XCTAssertEqual(dns.dns, DNSInfo(type: "A", rcode: "NOERROR", answers: ["127.0.1.3"]))
        XCTAssertEqual(dns.source.position, .frame(2))
    }
}

final class MDNSPortTests: XCTestCase {
    /// A QUIC client whose ephemeral port happens to be 5353 (mDNS) is still read as QUIC: the
    /// aioquic seed with its first flow's client port rewritten to 5353 (UDP checksums are not checked).
    func testQUICFromPort5353IsNotMistakenForMDNS() throws {
        let reader = try PcapReader(path: TestPaths.seed("quic-aioquic.pcap"))
        var file: [UInt8] = [0xD4, 0xC3, 0xB2, 0xA1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0, 0, 1, 0, 0, 0]
        func le32(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF), UInt8((v >> 16) & 0xFF), UInt8((v >> 24) & 0xFF)] }
        while case .packet(let ts, let bytes, let length) = reader.next() {
            var frame = Array(bytes)
            // Ethernet (14) + IPv4 (20): UDP ports at 34 and 36. The first flow's client port is 48129.
            for offset in [34, 36] where frame.count > offset + 1 && Int(frame[offset]) << 8 | Int(frame[offset + 1]) == 48129 {
                frame[offset] = 0x14
                frame[offset + 1] = 0xE9  // 5353
            }
            file += le32(Int(ts.seconds)) + le32(Int(ts.microseconds % 1_000_000)) + le32(frame.count) + le32(length) + frame
        }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("quic-5353-\(UUID()).pcap").path
        try Data(file).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (observations, report) = try scan(path)
        XCTAssertEqual(report.skipped, 0, "\(report.skippedSamples)")
        XCTAssertEqual(observations.first?.clientPort, 5353)
        XCTAssertEqual(observations.first?.host, "chatgpt.com")
        XCTAssertEqual(observations.first?.hostSource, .quicSNI)
        XCTAssertEqual(observations.count, 10)
    }
}
