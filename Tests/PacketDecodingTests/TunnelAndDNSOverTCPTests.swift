import Foundation
import ShadowScopeCore
import TestSupport
import XCTest

@testable import PacketDecoding

/// fixtures/crafted-dns-tcp.pcap (craft_packets.py dns-tcp): dnsmasq's own messages from the seed,
/// framed over TCP. tshark 4.0.17 (`tcp.reassemble_out_of_order:TRUE`) decodes the same queries, answers
/// and rcodes in frames 4, 6, 15, 16 and 24; frame 24 starts with a 5-byte message.
final class DNSOverTCPTests: XCTestCase {
    func testDNSOverTCPGivesTheSameObservationsAsUDP() throws {
        let (observations, report) = try scan(TestPaths.fixture("crafted-dns-tcp.pcap"))
        XCTAssertEqual(observations.count, 4)
        XCTAssertTrue(observations.allSatisfy { $0.transport == .tcp && $0.host == "chatgpt.com" && $0.hostSource == .dnsQuery })
        XCTAssertEqual(observations.map(\.dns), [
            DNSInfo(type: "A", rcode: "NOERROR", answers: ["104.18.32.47"]),
            DNSInfo(type: "AAAA", rcode: "NOERROR", answers: ["2606:4700:4400::ac40:9b2f"]),
            DNSInfo(type: "HTTPS", rcode: "REFUSED", answers: []),
            DNSInfo(type: "A", rcode: nil, answers: []),  // never answered
        ])
        XCTAssertEqual(observations.map(\.source.position), [6, 6, 16, 24].map { .frame($0) })
        XCTAssertEqual(observations.map(\.clientPort), [41001, 41001, 41002, 41003])
        XCTAssertEqual(observations.map(\.serverPort), [53, 53, 53, 53])
        // Each message with its 2-byte prefix: the UDP payloads of the seed (52, 56, 52, 68, 52, 46) + 2.
        XCTAssertEqual(observations.map(\.bytesUp), [54, 54, 54, 54])
        XCTAssertEqual(observations.map(\.bytesDown), [58, 70, 48, nil])
        // The 5-byte message is a counted skip; the connections are reported by their messages.
        XCTAssertEqual(report.skipped, 1)
        XCTAssertTrue(report.skippedSamples.first?.reason.hasPrefix("DNS over TCP: dns.") ?? false, "\(report.skippedSamples)")
        XCTAssertEqual(report.skippedSamples.first?.location.hasSuffix(":24"), true)
        XCTAssertEqual(report.notAnalyzed["tcp-flows-dns"], 3)
    }

    func testDNSAnswerOverTCPNamesALaterFlow() throws {
        // The A answer (104.18.32.47) seen over TCP names a nameless TLS flow to that address.
        var w = PcapWriter()
        let dns = try Data(contentsOf: URL(fileURLWithPath: TestPaths.fixture("crafted-dns-tcp.pcap")))
        w.appendFrames(ofPcap: Array(dns))
        w.tcp(from: ("10.20.30.41", 42000), to: ("104.18.32.47", 443), seq: 1, flags: 0x18, Array(repeating: 0x17, count: 40))
        let (observations, _) = try w.scanned()
        let tls = try XCTUnwrap(observations.last)
        XCTAssertEqual(tls.host, "chatgpt.com")
        XCTAssertEqual(tls.hostSource, .dnsAnswer)
    }

    func testMessageLargerThanTheWindowIsSteppedOverAndCounted() throws {
        var w = PcapWriter()
        let query = try dnsmasqQuery()
        let big = [UInt8(0xFF), 0xFF] + Array(repeating: 0, count: 65_535)
        var stream = big + [UInt8(query.count >> 8), UInt8(query.count & 0xFF)] + query
        var seq: UInt32 = 1
        // 1,400-byte segments, the second one last: the skip must still find the query behind.
        var segments: [(UInt32, [UInt8])] = []
        while !stream.isEmpty {
            let n = min(1400, stream.count)
            segments.append((seq, Array(stream.prefix(n))))
            stream.removeFirst(n)
            seq &+= UInt32(n)
        }
        segments.append(segments.remove(at: 1))
        for (s, bytes) in segments { w.tcp(from: ("10.20.30.41", 42001), to: ("10.20.30.1", 53), seq: s, flags: 0x18, bytes) }
        let (observations, report) = try w.scanned()
        XCTAssertEqual(observations.map(\.host), ["chatgpt.com"])
        XCTAssertEqual(report.capsHit["dns-tcp-message-bytes"], 1)
        XCTAssertEqual(report.skipped, 0)
    }

    func testEveryTruncationOfADNSOverTCPStreamIsSafe() throws {
        let query = try dnsmasqQuery()
        let stream = [UInt8(query.count >> 8), UInt8(query.count & 0xFF)] + query
        var rng = SplitMix64(seed: 3)
        for n in 0...stream.count {
            var w = PcapWriter()
            var cut = Array(stream.prefix(n))
            if n > 4, rng.next() % 2 == 0 { cut[Int(rng.next() % UInt64(n))] ^= 0xFF }  // and corrupt half of them
            w.tcp(from: ("10.20.30.41", 42002), to: ("10.20.30.1", 53), seq: 1, flags: 0x18, cut)
            let (observations, report) = try w.scanned()
            XCTAssertLessThanOrEqual(observations.count + report.skipped, 2, "prefix \(n)")
        }
    }

    /// The first query datagram of the dnsmasq seed (chatgpt.com A).
    private func dnsmasqQuery() throws -> [UInt8] {
        let reader = try PcapReader(path: TestPaths.seed("dns-dnsmasq.pcap"))
        guard case .packet(_, let bytes, _) = reader.next(), case .ipv4(let c) = try LinkLayer.decode(bytes, linkType: .ethernet) else {
            throw XCTSkip("no first frame")
        }
        let ip = try IPDecoder.decodeV4(c)
        return Array(try UDPDatagram.decode(ip.payload, ipPayloadLength: ip.transportLength).payload)
    }
}

/// fixtures/crafted-tunnels.pcap (craft_packets.py tunnels): the first seven flows of the curl seed, in
/// VXLAN, GRE with key and sequence, ERSPAN II, ERSPAN III with its subheader, PPPoE, IP in IP, and IPv6
/// with hop-by-hop, destination options and an atomic fragment header; then a UDP datagram in two IPv4
/// and in two IPv6 fragments. tshark 4.0.17 finds the same SNIs in the same frames; the bytes are the
/// seed's (FLOWS.tsv), which tshark's sequence spans in this file repeat.
final class TunnelTests: XCTestCase {
    func testEveryEncapsulatedFlowKeepsItsSNIFrameAndBytes() throws {
        let (observations, report) = try scan(TestPaths.fixture("crafted-tunnels.pcap"))
        XCTAssertEqual(report.skipped, 0, "\(report.skippedSamples)")
        XCTAssertEqual(observations.map(\.host), ["chatgpt.com", "api.openai.com", "claude.ai", "api.anthropic.com",
                                                  "gemini.google.com", "copilot.microsoft.com", "chat.deepseek.com"])
        XCTAssertEqual(observations.map(\.source.position), [4, 43, 79, 115, 151, 186, 224].map { .frame($0) })
        XCTAssertEqual(observations.map(\.clientPort), [37460, 37474, 37476, 37480, 37486, 37502, 37510])
        XCTAssertEqual(observations.map(\.bytesUp), [718, 721, 716, 724, 724, 728, 724])
        XCTAssertEqual(observations.map(\.bytesDown), [25987, 25990, 25985, 25993, 25993, 25997, 25993])
        XCTAssertEqual(observations.map(\.packetsUp), [16, 12, 11, 12, 12, 14, 11])
        XCTAssertEqual(observations.map(\.packetsDown), [23, 24, 25, 24, 23, 24, 25])
        // The inner addresses, not the tunnel's.
        XCTAssertEqual(observations[0].serverIP, IPAddress("127.0.0.1"))
        XCTAssertEqual(observations[6].clientIP, IPAddress("fd00:20::41"))
        XCTAssertEqual(observations[6].serverIP, IPAddress("2402:4e00:1900:1700::5"))
        XCTAssertEqual(report.notAnalyzed["ipv4-fragments"], 2)
        XCTAssertEqual(report.notAnalyzed["ipv6-fragments"], 2)
    }

    /// Every prefix of every frame, and frames with bytes flipped inside the tunnel headers: decoded
    /// or counted, never a trap.
    func testTruncatedAndCorruptedTunnelFramesAreCountedNotFatal() throws {
        let reader = try PcapReader(path: TestPaths.fixture("crafted-tunnels.pcap"))
        var frames: [[UInt8]] = []
        while case .packet(_, let bytes, _) = reader.next() { frames.append(Array(bytes)) }
        // One frame of each encapsulation: the first of each flow, and the fragments.
        let picked = [0, 39, 75, 111, 147, 182, 220, frames.count - 3, frames.count - 1].map { frames[$0] }
        var w = PcapWriter()
        var rng = SplitMix64(seed: 11)
        for f in picked {
            for n in 0..<min(f.count, 140) { w.frame(Array(f.prefix(n))) }
            for _ in 0..<200 {
                var g = f
                for _ in 0..<2 { g[14 + Int(rng.next() % UInt64(min(g.count - 14, 100)))] = UInt8(truncatingIfNeeded: rng.next()) }
                w.frame(g)
            }
        }
        let (_, report) = try w.scanned()
        XCTAssertEqual(report.records, picked.reduce(0) { $0 + min($1.count, 140) + 200 })
        XCTAssertGreaterThan(report.skipped, 0)
    }

    func testPPPoEWithAnotherProtocolAndBadHeaderAreCounted() throws {
        var w = PcapWriter()
        let eth: [UInt8] = Array(repeating: 2, count: 12) + [0x88, 0x64]
        w.frame(eth + [0x11, 0, 0, 1, 0, 4, 0xC0, 0x21, 1, 1])   // LCP
        w.frame(eth + [0x12, 0, 0, 1, 0, 4, 0x00, 0x21, 1, 1])   // version 1, type 2
        w.frame(eth + [0x11, 0, 0, 1])                             // cut short
        let (_, report) = try w.scanned()
        XCTAssertEqual(report.notAnalyzed["ppp-protocol-0xc021"], 1)
        XCTAssertEqual(report.skipped, 2)
        XCTAssertEqual(report.skippedSamples.map { $0.reason.components(separatedBy: " ").first }, ["pppoe.bad-header", "ppp.truncated"].map { Optional($0) })
    }

    func testTunnelsNestedPastTheLimitAreCounted() throws {
        // IPv4 in IPv4, five deep, around a TCP SYN: the fifth layer is not peeled.
        var ip = PcapWriter.ipv4(src: "10.0.0.1", dst: "10.0.0.2", proto: 6, PcapWriter.tcpHeader(sport: 1, dport: 2, seq: 1, flags: 2))
        for _ in 0..<CaptureScanner.maxTunnels + 1 { ip = PcapWriter.ipv4(src: "192.0.2.1", dst: "192.0.2.2", proto: 4, ip) }
        var w = PcapWriter()
        w.frame(Array(repeating: 2, count: 12) + [0x08, 0x00] + ip)
        let (observations, report) = try w.scanned()
        XCTAssertEqual(observations.count, 0)
        XCTAssertEqual(report.notAnalyzed["ip-proto-4"], 1)
    }
}

/// Writes small Ethernet captures for tests: whole frames, or TCP segments over IPv4.
struct PcapWriter {
    private var records: [([UInt8], Int)] = []

    mutating func frame(_ bytes: [UInt8]) { records.append((bytes, records.count)) }

    /// Every frame of a classic little-endian pcap (as craft_packets.py writes them).
    mutating func appendFrames(ofPcap data: [UInt8]) {
        var off = 24
        while off + 16 <= data.count {
            let incl = Int(data[off + 8]) | Int(data[off + 9]) << 8 | Int(data[off + 10]) << 16 | Int(data[off + 11]) << 24
            frame(Array(data[(off + 16)..<min(data.count, off + 16 + incl)]))
            off += 16 + incl
        }
    }

    mutating func tcp(from: (String, UInt16), to: (String, UInt16), seq: UInt32, flags: UInt8, _ payload: [UInt8]) {
        let seg = Self.tcpHeader(sport: from.1, dport: to.1, seq: seq, flags: flags) + payload
        frame(Array(repeating: 2, count: 12) + [0x08, 0x00] + Self.ipv4(src: from.0, dst: to.0, proto: 6, seg))
    }

    static func tcpHeader(sport: UInt16, dport: UInt16, seq: UInt32, flags: UInt8) -> [UInt8] {
        [UInt8(sport >> 8), UInt8(sport & 0xFF), UInt8(dport >> 8), UInt8(dport & 0xFF),
         UInt8(seq >> 24), UInt8((seq >> 16) & 0xFF), UInt8((seq >> 8) & 0xFF), UInt8(seq & 0xFF),
         0, 0, 0, 0, 0x50, flags, 0xFF, 0xFF, 0, 0, 0, 0]
    }

    static func ipv4(src: String, dst: String, proto: UInt8, _ payload: [UInt8]) -> [UInt8] {
        let total = 20 + payload.count
        func quad(_ s: String) -> [UInt8] { s.split(separator: ".").map { UInt8($0)! } }
        return [0x45, 0, UInt8(total >> 8), UInt8(total & 0xFF), 0, 0, 0x40, 0, 64, proto, 0, 0] + quad(src) + quad(dst) + payload
    }

    /// Writes the capture to a temporary file, scans it (`scan(_:)`) and removes the file.
    func scanned() throws -> ([Observation], InputReport) {
        let path = try write()
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try scan(path)
    }

    /// Writes the capture to a temporary file and returns its path.
    func write() throws -> String {
        func le32(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF), UInt8((v >> 16) & 0xFF), UInt8((v >> 24) & 0xFF)] }
        var file: [UInt8] = [0xD4, 0xC3, 0xB2, 0xA1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0, 0, 1, 0, 0, 0]
        for (bytes, i) in records {
            file += le32(1_717_200_000) + le32(i) + le32(bytes.count) + le32(bytes.count) + bytes
        }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("written-\(UUID()).pcap").path
        try Data(file).write(to: URL(fileURLWithPath: path))
        return path
    }
}
