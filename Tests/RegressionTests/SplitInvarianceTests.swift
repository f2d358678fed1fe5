import Foundation
@testable import LogFormats
@testable import PacketDecoding
import ShadowScopeCore
import Signatures
import TestSupport
import XCTest

/// Where a capture's segments are cut must not change what is observed. Each fixture capture is
/// rewritten (a tiny pcap writer) with TCP payloads split into more segments: the first client and
/// server payloads cut at every byte offset, cut into one-byte segments, and every payload cut at
/// random points. The observations must be identical in every field that does not count packets or
/// frames: transport, endpoints, host and how it was learned, method, URL path, DNS, byte counts,
/// timestamp and duration. Packet counts must be the original plus the segments the split added in
/// that direction; the frame that carried the name may move (frames are renumbered) and is not compared.
///
/// Logs: every fixture and seed log read in chunks of random size gives the same observations and
/// the same aggregates as when read whole.
final class SplitInvarianceTests: XCTestCase {
    override func setUp() { loaded = [:] }

    // MARK: captures

    struct Frame {
        var ts: Timestamp
        var bytes: [UInt8]
    }

    /// A TCP segment's layout in its frame.
    struct Segment {
        var flow: String  // "src>dst", directed
        var ipOffset: Int
        var isV6: Bool
        var tcpOffset: Int
        var payloadOffset: Int
        var payloadLength: Int
        var seq: UInt32
        var flags: UInt8
    }

    static let captures = ["ai-traffic.pcap", "ai-traffic-sll.pcapng", "dns-answer.pcap"]

    func readCapture(_ path: String) throws -> (dlt: Int32, linkType: LinkType, frames: [Frame]) {
        let reader = try PcapReader(path: path)
        let linkType = try XCTUnwrap(LinkType(dlt: reader.dlt))
        var frames: [Frame] = []
        loop: while true {
            switch reader.next() {
            case .packet(let ts, let bytes, let original):
                XCTAssertEqual(bytes.count, original, "fixture frames are whole")
                frames.append(Frame(ts: ts, bytes: Array(bytes)))
            case .end, .timeout: break loop
            case .error(let e): XCTFail(e); break loop
            }
        }
        return (reader.dlt, linkType, frames)
    }

    func segment(_ frame: [UInt8], _ linkType: LinkType) -> Segment? {
        frame.withUnsafeBytes { raw -> Segment? in
            guard let link = try? LinkLayer.decode(raw, linkType: linkType) else { return nil }
            let ip: IPPacket, ipOffset: Int, isV6: Bool
            switch link {
            case .ipv4(let c): guard let p = try? IPDecoder.decodeV4(c) else { return nil }; ip = p; ipOffset = c.position; isV6 = false
            case .ipv6(let c): guard let p = try? IPDecoder.decodeV6(c) else { return nil }; ip = p; ipOffset = c.position; isV6 = true
            case .other, .otherPPP: return nil
            }
            guard ip.proto == 6, let tcp = try? TCPSegment.decode(ip.payload) else { return nil }
            let length = ip.transportLength - tcp.headerLength
            guard length > 0, tcp.payload.count >= length else { return nil }
            return Segment(flow: "\(ip.source):\(tcp.sourcePort)>\(ip.destination):\(tcp.destinationPort)",
                           ipOffset: ipOffset, isV6: isV6, tcpOffset: ip.payload.position,
                           payloadOffset: ip.payload.position + tcp.headerLength, payloadLength: length,
                           seq: tcp.seq, flags: tcp.flags)
        }
    }

    /// The frame with its TCP payload cut at `cuts` (offsets inside the payload, ascending).
    func split(_ frame: [UInt8], _ s: Segment, at cuts: [Int]) -> [[UInt8]] {
        let bounds = [0] + cuts + [s.payloadLength]
        var out: [[UInt8]] = []
        for i in 0..<(bounds.count - 1) {
            let (a, b) = (bounds[i], bounds[i + 1])
            var f = Array(frame[0..<s.payloadOffset]) + frame[(s.payloadOffset + a)..<(s.payloadOffset + b)]
            f += frame[(s.payloadOffset + s.payloadLength)...]  // Ethernet padding, if any
            let removed = s.payloadLength - (b - a)
            let lengthField = s.ipOffset + (s.isV6 ? 4 : 2)
            let old = Int(f[lengthField]) << 8 | Int(f[lengthField + 1])
            f[lengthField] = UInt8((old - removed) >> 8)
            f[lengthField + 1] = UInt8((old - removed) & 0xFF)
            let seq = s.seq &+ UInt32(a)
            f[s.tcpOffset + 4] = UInt8(seq >> 24)
            f[s.tcpOffset + 5] = UInt8(seq >> 16 & 0xFF)
            f[s.tcpOffset + 6] = UInt8(seq >> 8 & 0xFF)
            f[s.tcpOffset + 7] = UInt8(seq & 0xFF)
            if i < bounds.count - 2 { f[s.tcpOffset + 13] &= ~0x05 }  // FIN and RST only on the last piece
            out.append(f)
        }
        return out
    }

    func writePcap(_ frames: [Frame], dlt: Int32, to path: String) throws {
        var out: [UInt8] = []
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        u32(0xA1B2_C3D4); u16(2); u16(4); u32(0); u32(0); u32(262_144); u32(UInt32(dlt))
        for f in frames {
            u32(UInt32(f.ts.microseconds / 1_000_000)); u32(UInt32(f.ts.microseconds % 1_000_000))
            u32(UInt32(f.bytes.count)); u32(UInt32(f.bytes.count))
            out += f.bytes
        }
        try Data(out).write(to: URL(fileURLWithPath: path))
    }

    func observe(_ path: String) throws -> [Observation] {
        let reader = try PcapReader(path: path)
        var report = InputReport(file: "split", format: "pcap")
        var list: [Observation] = []
        CaptureScanner().scan(reader, file: "split", report: &report) { list.append($0) }
        XCTAssertNil(report.error)
        return list
    }

    /// The fields no cut may change; packets less the pieces added in each direction.
    func key(_ o: Observation, extra: [String: Int]) -> String {
        let up = "\(o.clientIP.map { "\($0)" } ?? "-"):\(o.clientPort ?? 0)>\(o.serverIP.map { "\($0)" } ?? "-"):\(o.serverPort ?? 0)"
        let down = "\(o.serverIP.map { "\($0)" } ?? "-"):\(o.serverPort ?? 0)>\(o.clientIP.map { "\($0)" } ?? "-"):\(o.clientPort ?? 0)"
        let packetsUp = o.packetsUp.map { $0 - Int64(o.transport == .tcp ? extra[up] ?? 0 : 0) }
        let packetsDown = o.packetsDown.map { $0 - Int64(o.transport == .tcp ? extra[down] ?? 0 : 0) }
        return [
            "\(o.timestamp.microseconds)", "\(String(describing: o.transport))", up,
            o.host ?? "-", o.hostSource.map { "\($0)" } ?? "-", o.method ?? "-", o.urlPath ?? "-",
            o.dns.map { "\($0.type) \($0.rcode ?? "-") \($0.answers)" } ?? "-",
            "up \(o.bytesUp.map(String.init) ?? "null")", "down \(o.bytesDown.map(String.init) ?? "null")",
            "packets \(packetsUp.map(String.init) ?? "null")/\(packetsDown.map(String.init) ?? "null")",
            "duration \(o.durationMs.map(String.init) ?? "null")",
        ].joined(separator: " ")
    }

    /// The connection a TCP frame belongs to, either direction ("a|b" with a < b); nil for other frames.
    func connection(_ frame: [UInt8], _ linkType: LinkType) -> String? {
        frame.withUnsafeBytes { raw -> String? in
            guard let link = try? LinkLayer.decode(raw, linkType: linkType) else { return nil }
            let ip: IPPacket
            switch link {
            case .ipv4(let c): guard let p = try? IPDecoder.decodeV4(c) else { return nil }; ip = p
            case .ipv6(let c): guard let p = try? IPDecoder.decodeV6(c) else { return nil }; ip = p
            case .other, .otherPPP: return nil
            }
            guard ip.proto == 6, let tcp = try? TCPSegment.decode(ip.payload) else { return nil }
            return Self.connection("\(ip.source):\(tcp.sourcePort)", "\(ip.destination):\(tcp.destinationPort)")
        }
    }

    static func connection(_ a: String, _ b: String) -> String { a < b ? a + "|" + b : b + "|" + a }

    struct Fixture {
        var dlt: Int32
        var linkType: LinkType
        var frames: [Frame]
        var connections: [String?]
        var segments: [Segment?]
        var observations: [Observation]
    }

    var loaded: [String: Fixture] = [:]

    func fixture(_ name: String) throws -> Fixture {
        if let f = loaded[name] { return f }
        let (dlt, linkType, frames) = try readCapture(TestPaths.fixture(name))
        let f = Fixture(dlt: dlt, linkType: linkType, frames: frames, connections: frames.map { connection($0.bytes, linkType) },
                        segments: frames.map { segment($0.bytes, linkType) },
                        observations: try observe(TestPaths.fixture(name)))
        loaded[name] = f
        return f
    }

    /// Rewrites `fixture` with `cuts(index, segment, isFirstPayloadOfItsDirection)` applied to each TCP
    /// payload and compares. With `onlyCutConnections`, TCP connections with no cut are left out of the
    /// rewrite and of the comparison (other frames, DNS among them, stay): the same check, scanned faster.
    func assertInvariant(_ name: String, _ label: String, onlyCutConnections: Bool = false,
                         file: StaticString = #filePath, line: UInt = #line,
                         cuts: (Int, Segment, Bool) -> [Int]) throws {
        let fx = try fixture(name)
        XCTAssertFalse(fx.observations.isEmpty)
        var seenFlows = Set<String>()
        var rewritten: [(frame: Frame, connection: String?)] = []
        var extra: [String: Int] = [:]
        var cutConnections = Set<String>()
        for (i, f) in fx.frames.enumerated() {
            guard let s = fx.segments[i], s.flags & 0x02 == 0 else { rewritten.append((f, fx.connections[i])); continue }
            let first = seenFlows.insert(s.flow).inserted
            let at = cuts(i, s, first).filter { $0 > 0 && $0 < s.payloadLength }
            if at.isEmpty { rewritten.append((f, fx.connections[i])); continue }
            let pieces = split(f.bytes, s, at: Array(Set(at)).sorted())
            extra[s.flow, default: 0] += pieces.count - 1
            if let c = fx.connections[i] { cutConnections.insert(c) }
            rewritten += pieces.map { (Frame(ts: f.ts, bytes: $0), fx.connections[i]) }
        }
        var kept = rewritten.map(\.frame)
        var original = fx.observations
        if onlyCutConnections {
            // Rebuild from the rewrite, dropping frames of connections that were not cut.
            kept = rewritten.filter { $0.connection.map(cutConnections.contains) ?? true }.map(\.frame)
            original = original.filter { o in
                o.transport != .tcp || cutConnections.contains(Self.connection(
                    "\(o.clientIP.map { "\($0)" } ?? "-"):\(o.clientPort ?? 0)", "\(o.serverIP.map { "\($0)" } ?? "-"):\(o.serverPort ?? 0)"))
            }
        }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("split-\(getpid()).pcap").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try writePcap(kept, dlt: fx.dlt, to: path)
        let got = try observe(path).map { key($0, extra: extra) }.sorted()
        XCTAssertEqual(got, original.map { key($0, extra: [:]) }.sorted(), "\(name), \(label)", file: file, line: line)
    }

    /// Every offset of each connection's first client and server payloads (to 2 KiB: every ClientHello
    /// and request head of the fixtures); connections shorter than the offset drop out of the rewrite.
    func testFirstPayloadOfEveryTCPFlowCutAtEveryByteGivesIdenticalObservations() throws {
        for fixture in Self.captures {
            // The longest first payload a client sent (its ClientHello or request head) bounds the offsets.
            let (_, linkType, frames) = try readCapture(TestPaths.fixture(fixture))
            var seen = Set<String>(), longest = 0
            for f in frames {
                guard let s = segment(f.bytes, linkType), s.flags & 0x02 == 0, seen.insert(s.flow).inserted else { continue }
                longest = max(longest, min(s.payloadLength, 2048))
            }
            for k in stride(from: 1, to: longest, by: 1) {
                try assertInvariant(fixture, "first payloads cut at byte \(k)", onlyCutConnections: true) { _, _, first in first ? [k] : [] }
            }
        }
    }

    func testFirstPayloadsCutIntoOneByteSegmentsGiveIdenticalObservations() throws {
        for fixture in Self.captures {
            try assertInvariant(fixture, "one-byte segments") { _, s, first in first ? Array(1..<min(s.payloadLength, 4096)) : [] }
        }
    }

    func testEveryPayloadCutAtRandomPointsGivesIdenticalObservations() throws {
        for fixture in Self.captures {
            for round in 0..<10 {
                var rng = SplitMix64(seed: UInt64(round) &* 0x9E37_79B9 &+ 7)
                try assertInvariant(fixture, "random cuts, round \(round)") { _, s, _ in
                    let n = Int(rng.next() % 4)
                    return (0..<n).map { _ in 1 + Int(rng.next() % UInt64(max(1, s.payloadLength - 1))) }
                }
            }
        }
    }

    // MARK: logs

    struct ChunkSource: ByteSource {
        var bytes: [UInt8]
        var offset = 0
        var rng: SplitMix64?
        mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(ByteSourceError) -> Int {
            var want = buffer.count
            if var r = rng { want = 1 + Int(r.next() % 97); rng = r }
            let n = min(want, buffer.count, bytes.count - offset)
            guard n > 0, let dst = buffer.baseAddress else { return 0 }
            bytes.withUnsafeBytes { dst.copyMemory(from: $0.baseAddress! + offset, byteCount: n) }
            offset += n
            return n
        }
    }

    func testEveryLogReadInChunksOfRandomSizeGivesIdenticalObservationsAndAggregates() throws {
        let catalog = try CatalogLoader.load(directory: TestPaths.signatures)
        let attributor = Attributor(matcher: HostMatcher(catalog: catalog), geo: nil)
        var logs: [(String, any LogFormat)] = []
        let custom = try SquidCustom(logformat: String(contentsOfFile: TestPaths.seed("squid-custom.logformat"), encoding: .utf8))
        logs.append((TestPaths.seed("squid-custom.log"), custom))
        var paths = [TestPaths.fixture("squid-access.log"), TestPaths.seed("squid-native.log"),
                     TestPaths.seed("bind-query.log"), TestPaths.seed("dnsmasq.log")]
        paths += (0...6).map { TestPaths.corpus("lnav/logfile_w3c.\($0)") }
        paths += [TestPaths.corpus("lnav/logfile_bro_conn.log.0"), TestPaths.corpus("lnav/logfile_bro_http.log.0")]
        for path in paths {
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            let sample = Array(bytes.prefix(65_536))
            guard let format = sample.withUnsafeBytes({ detectLogFormat(sample: $0) }) else { XCTFail("\(path): no format"); continue }
            logs.append((path, format))
        }
        var checked = 0, observed = 0
        for (path, format) in logs {
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            func scan(_ rng: SplitMix64?) -> ([String], [String], InputReport) {
                var source = ChunkSource(bytes: bytes, rng: rng)
                var report = InputReport(file: "log", format: format.name)
                var observations: [String] = []
                var aggregates = Aggregates()
                LogScanner(format: format).scan(source: &source, file: "log", report: &report) { o in
                    observations.append("\(o.source) \(o.timestamp.microseconds) \(o.host ?? "-") \(o.user ?? "-") \(o.bytesUp.map(String.init) ?? "null") \(o.bytesDown.map(String.init) ?? "null") \(o.urlPath ?? "-")")
                    aggregates.add(o, attributor.attribute(o), hours: BusinessHours(), approved: [])
                }
                let rows = aggregates.rows.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
                return (observations, rows, report)
            }
            let (whole, wholeRows, wholeReport) = scan(nil)
            observed += whole.count
            for seed in 0..<5 {
                let (chunked, rows, report) = scan(SplitMix64(seed: UInt64(seed) + 1))
                XCTAssertEqual(chunked, whole, "\(path) (\(format.name)), chunk seed \(seed)")
                XCTAssertEqual(rows, wholeRows, "\(path): aggregates, chunk seed \(seed)")
                XCTAssertEqual(report.records, wholeReport.records)
                XCTAssertEqual(report.skipped, wholeReport.skipped)
            }
            checked += 1
        }
        XCTAssertEqual(checked, logs.count)
        XCTAssertGreaterThan(observed, 100)
    }
}

/// A small deterministic generator (SplitMix64), so a failing cut can be reproduced.
struct SplitMix64 {
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
