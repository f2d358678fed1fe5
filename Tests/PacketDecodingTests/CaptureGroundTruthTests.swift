import Foundation
import ShadowScopeCore
import TestSupport
import XCTest

@testable import PacketDecoding

/// Whole captures made by real clients, checked against tshark's figures (the oracle).
final class CaptureGroundTruthTests: XCTestCase {
    func testFixtureCaptureMatchesTsharkFlowByFlow() throws {
        try assertMatchesExpected(capture: "ai-traffic.pcap", expected: "ai-traffic.expected.tsv", flows: 15)
    }

    func testLinuxCookedPcapngMatchesTsharkFlowByFlow() throws {
        try assertMatchesExpected(capture: "ai-traffic-sll.pcapng", expected: "ai-traffic-sll.expected.tsv", flows: 4)
    }

    /// Every column a user relies on: frame of the ClientHello, both endpoints, SNI, payload bytes and
    /// packets each way, exactly as tshark counted them in the same file.
    private func assertMatchesExpected(capture: String, expected: String, flows: Int) throws {
        let (observations, report) = try scan(TestPaths.fixture(capture))
        let rows = try readTSV(TestPaths.fixture(expected))
        XCTAssertEqual(rows.count, flows)
        XCTAssertEqual(observations.count, rows.count)
        XCTAssertEqual(report.skipped, 0, "\(report.skippedSamples)")
        for (o, row) in zip(observations, rows) {
            XCTAssertEqual(o.source.position, .frame(Int(row["sni_frame"]!)!))
            XCTAssertEqual(o.clientIP, IPAddress(row["client_ip"]!))
            XCTAssertEqual(o.clientPort, UInt16(row["client_port"]!))
            XCTAssertEqual(o.serverIP, IPAddress(row["server_ip"]!))
            XCTAssertEqual(o.serverPort, UInt16(row["server_port"]!))
            XCTAssertEqual(o.host, row["sni"])
            XCTAssertEqual(o.hostSource, .tlsSNI)
            XCTAssertEqual(o.transport, .tcp)
            // Retransmitted bytes count once: tshark's sum minus what it flagged as retransmitted.
            XCTAssertEqual(o.bytesUp, Int64(row["bytes_up"]!)! - Int64(row["retrans_up"]!)!, "\(row)")
            XCTAssertEqual(o.bytesDown, Int64(row["bytes_down"]!)! - Int64(row["retrans_down"]!)!, "\(row)")
            XCTAssertEqual(o.packetsUp, Int64(row["packets_up"]!))
            XCTAssertEqual(o.packetsDown, Int64(row["packets_down"]!))
            let first = Double(row["first_ts"]!)!
            XCTAssertEqual(Double(o.timestamp.microseconds) / 1e6, first, accuracy: 0.000_001)
        }
    }

    func testUploadFlowsCarryTheExactUploadedBytes() throws {
        let (observations, _) = try scan(TestPaths.fixture("ai-traffic.pcap"))
        // Three POSTs of the same 102,400-byte body over IPv4 and one over IPv6: tshark counts
        // 103,348 / 103,354 / 103,345 / 103,358 TLS payload bytes up (body + headers + handshake).
        let uploads = observations.filter { ($0.bytesUp ?? 0) > 102_400 }
        XCTAssertEqual(uploads.map(\.host), ["api.openai.com", "chatgpt.com", "claude.ai", "api.deepseek.com"])
        XCTAssertEqual(uploads.map(\.bytesUp), [103_348, 103_354, 103_345, 103_358])
    }

    /// The seed captures in ../shared (curl, openssl s_client, Python ssl, Chromium with a two-segment
    /// post-quantum ClientHello): SNI, ClientHello frame and client port equal SNI-check.txt.
    func testSeedCapturesYieldEverySNIAtTheFrameTsharkNames() throws {
        let check = try String(contentsOfFile: TestPaths.seed("SNI-check.txt"), encoding: .utf8)
        var expected: [String: [(frame: Int, port: UInt16, sni: String)]] = [:]
        var current = ""
        for line in check.split(separator: "\n") {
            if line.hasPrefix("## ") { current = String(line.dropFirst(3)); continue }
            let cells = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard current.hasPrefix("tls-"), cells.count == 3 else { continue }
            expected[current, default: []].append((Int(cells[0])!, UInt16(cells[1])!, cells[2]))
        }
        XCTAssertEqual(Set(expected.keys), ["tls-curl.pcap", "tls-openssl.pcap", "tls-python.pcap", "tls-chromium.pcap"])
        for (file, rows) in expected {
            let (observations, report) = try scan(TestPaths.seed(file))
            XCTAssertEqual(report.skipped, 0, "\(file): \(report.skippedSamples)")
            let got = observations.map { (frame: $0.source.position, port: $0.clientPort, sni: $0.host) }
            XCTAssertEqual(got.count, rows.count, file)
            for (g, r) in zip(got, rows) {
                XCTAssertEqual(g.frame, .frame(r.frame), file)
                XCTAssertEqual(g.port, r.port, file)
                XCTAssertEqual(g.sni, r.sni, file)
            }
        }
    }

    /// FLOWS.tsv byte counts (tshark's tcp.len sums less retransmissions) for every seed TLS flow.
    func testSeedFlowBytesEqualSequenceNumberSpan() throws {
        let rows = try readTSV(TestPaths.seed("FLOWS.tsv")).filter { $0["file"]!.hasPrefix("tls-") }
        XCTAssertGreaterThan(rows.count, 40)
        var byFile: [String: [Observation]] = [:]
        for file in Set(rows.map { $0["file"]! }) { byFile[file] = try scan(TestPaths.seed(file)).0 }
        for row in rows {
            let port = UInt16(row["client"]!.split(separator: ":").last!)!
            let o = try XCTUnwrap(byFile[row["file"]!]?.first { $0.clientPort == port }, "\(row)")
            XCTAssertEqual(o.bytesUp, Int64(row["bytes_up"]!)! - Int64(row["retrans_up"]!)!, "\(row)")
            XCTAssertEqual(o.bytesDown, Int64(row["bytes_down"]!)! - Int64(row["retrans_down"]!)!, "\(row)")
        }
    }

    func testTruncatedCaptureGivesCountedSampledSkipAndKeepsEarlierFlows() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: TestPaths.fixture("ai-traffic.pcap")))
        // Cut in the middle of a packet record, about a third of the way in.
        let cut = data.prefix(data.count / 3 + 7)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("truncated-\(UUID()).pcap").path
        try cut.write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (observations, report) = try scan(path)
        XCTAssertEqual(report.skipped, 1)
        XCTAssertTrue(report.skippedSamples[0].reason.contains("truncated"), report.skippedSamples[0].reason)
        XCTAssertTrue(report.skippedSamples[0].location.hasPrefix(path + ":"))
        // The flows that started before the cut are still reported, with their names.
        XCTAssertGreaterThanOrEqual(observations.count, 4)
        XCTAssertEqual(observations.first?.host, "chatgpt.com")
    }

    func testEveryPrefixOfACaptureIsReadWithoutCrashing() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: TestPaths.fixture("ai-traffic-sll.pcapng")))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("prefix-\(UUID()).pcapng").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        // Every 97th prefix length (about 1,100 files) keeps the test quick while hitting every block kind.
        for length in stride(from: 0, to: data.count, by: 97) {
            try data.prefix(length).write(to: URL(fileURLWithPath: path))
            if let reader = try? PcapReader(path: path) {
                var report = InputReport(file: path, format: "pcap")
                CaptureScanner().scan(reader, file: path, report: &report) { _ in }
            }
        }
    }

    func testCorruptedFramesAreCountedNotFatal() throws {
        // Flip bytes inside the headers of every frame of a real capture and decode them all.
        let reader = try PcapReader(path: TestPaths.fixture("ai-traffic.pcap"))
        var rng = SplitMix64(seed: 42)
        var decoded = 0, rejected = 0
        while case .packet(_, let bytes, _) = reader.next() {
            for _ in 0..<20 {
                var frame = Array(bytes)
                for _ in 0..<3 { frame[Int(rng.next() % UInt64(min(frame.count, 80)))] = UInt8(truncatingIfNeeded: rng.next()) }
                frame.withUnsafeBytes { raw in
                    do {
                        if case .ipv4(let c) = try LinkLayer.decode(raw, linkType: .ethernet) {
                            let ip = try IPDecoder.decodeV4(c)
                            if ip.proto == 6 { _ = try TCPSegment.decode(ip.payload) }
                        }
                        decoded += 1
                    } catch {
                        rejected += 1
                    }
                }
            }
        }
        XCTAssertEqual(decoded + rejected, 769 * 20)
        XCTAssertGreaterThan(rejected, 0)
    }
}

/// Scans a capture file the way `shadowscope scan` does.
func scan(_ path: String, describesDNS: Bool = true) throws -> ([Observation], InputReport) {
    let reader = try PcapReader(path: path)
    var report = InputReport(file: path, format: "pcap")
    var out: [Observation] = []
    var scanner = CaptureScanner()
    scanner.describesDNS = describesDNS
    scanner.scan(reader, file: path, report: &report) { out.append($0) }
    return (out, report)
}

final class DNSDetailTests: XCTestCase {
    /// Without DNS details (a scan that keeps only aggregates) every observation is the same but for
    /// its `dns` field: names, sizes, times and the dns-answer attribution of flows do not change.
    func testObservationsWithoutDNSDetailsDifferOnlyInThatField() throws {
        for seed in ["dns-bind.pcap", "dns-dnsmasq.pcap"] {
            let path = "../shared/bench/seeds/" + seed
            let (full, fullReport) = try scan(path)
            let (bare, bareReport) = try scan(path, describesDNS: false)
            XCTAssertEqual(full.count, bare.count, seed)
            XCTAssertGreaterThan(full.filter { $0.dns != nil }.count, 0, seed)
            XCTAssertTrue(bare.allSatisfy { $0.dns == nil }, seed)
            for (f, b) in zip(full, bare) {
                XCTAssertEqual(f.host, b.host, seed)
                XCTAssertEqual(f.hostSource, b.hostSource, seed)
                XCTAssertEqual(f.timestamp, b.timestamp, seed)
                XCTAssertEqual(f.source.description, b.source.description, seed)
                XCTAssertEqual(f.clientIP, b.clientIP, seed)
                XCTAssertEqual(f.serverIP, b.serverIP, seed)
                XCTAssertEqual(f.bytesUp, b.bytesUp, seed)
                XCTAssertEqual(f.bytesDown, b.bytesDown, seed)
                XCTAssertEqual(f.durationMs, b.durationMs, seed)
            }
            XCTAssertEqual(fullReport.records, bareReport.records)
        }
    }
}

/// A small deterministic generator so hostile-input tests replay the same bytes.
struct SplitMix64: RandomNumberGenerator {
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
