import Foundation
import ShadowScopeCore
import TestSupport
import XCTest

@testable import PacketDecoding

/// ../shared/corpus/zeek: every btest in its MANIFEST.md that has a trace and a baseline. Each
/// ssl.log/quic.log `server_name`, dns.log `query` and http.log `host` in the baselines is compared with
/// our observations of the same traces (one name per connection for TLS, QUIC and HTTP; one per DNS
/// transaction), and every conn.log `orig_bytes`/`resp_bytes` with our `bytes_up`/`bytes_down` of that
/// connection. Where we differ on purpose, `differences` holds both sides exactly, with the reason.
final class ZeekCorpusTests: XCTestCase {
    struct BTest {
        var name: String
        var traces: [String]
        var baseline: String
        var files: [String]
    }

    enum Kind: String, CaseIterable { case sni, dns, http }

    /// Agreed differences: test → kind → (Zeek's names, ours), each name with its count.
    static let differences: [String: [Kind: (zeek: [String: Int], ours: [String: Int], why: String)]] = [
        // Zeek logs the SNI bytes as sent; the quic-go interop client puts a port in it, which RFC 6066 §3
        // does not allow in a HostName. Our host never carries a port (DESIGN.md), so we keep the host.
        "quic/interop/quic-go_quic-go/handshake.zeek": [.sni: (["server4:443": 1], ["server4": 1], "port in SNI")],
        "quic/interop/quic-go_quic-go/retry.zeek": [.sni: (["server4:443": 1], ["server4": 1], "port in SNI")],
        "quic/interop/quic-go_quic-go/zerortt.zeek": [.sni: (["server4:443": 2], ["server4": 2], "port in SNI")],
        // The Host header is `secure.newegg.com:443`; our host has no port.
        "http/http-connect-with-header.zeek": [.http: (["secure.newegg.com:443": 1], ["secure.newegg.com": 1], "port in Host")],
        // dns.ed448.log was cut (zeek-cut) without the query column, so it names no query; the messages
        // ask ed448.no (tshark: dns.qry.name).
        "dns/dnssec.zeek": [.dns: (["ed25519.no": 2], ["ed25519.no": 2, "ed448.no": 2], "baseline lacks the column")],
        // RFC 2136 §2.3: an UPDATE's first section is the zone (stratolab.org, as tshark shows it); Zeek
        // logs the name being updated from the prerequisite section instead. We keep the wire's zone.
        "dns/dynamic-update.zeek": [.dns: (["nwin1.stratolab.org": 1, "nwin2.stratolab.org": 1], ["stratolab.org": 2], "UPDATE zone")],
        // Frame 1 is a response whose question is aei.mpg.de DS (tshark agrees); Zeek leaves its query
        // unset because it saw no request.
        "dns/notify.zeek": [.dns: (["dhcp.lbnl.us": 1, "_acme-challenge.intmail.cbs.mpg.de": 1],
                                   ["dhcp.lbnl.us": 1, "_acme-challenge.intmail.cbs.mpg.de": 1, "aei.mpg.de": 1], "response without request")],
        // methods.pcap sends malformed request lines (`OPTIONS HTTP/1.1` with no target, `GET / HTTP/1.`,
        // ...), which RFC 9112 §3 makes a 400. Zeek and tshark still read their Host header; we count and
        // sample them as skipped (18 here) rather than guess, so only the 8 well-formed requests name a host.
        "http/http-methods.zeek": [.http: (["www.google.com": 26], ["www.google.com": 8], "malformed request lines")],
    ]

    func testEveryNameAndByteCountInTheZeekBaselinesMatches() throws {
        let root = TestPaths.corpus("zeek")
        let tests = try Self.btests(manifest: root + "/MANIFEST.md")
        XCTAssertEqual(tests.count, 80)
        var compared: [Kind: Int] = [:], bytesCompared = 0, differing = Set<String>()
        for test in tests {
            var observations: [Observation] = []
            for trace in test.traces { observations += try scanTrace(root + "/Traces/" + trace) }
            var zeek: [Kind: [String: Int]] = [:]
            var conn: [[String: String]] = []
            // One name per connection: ssl.log and quic.log both log a QUIC connection, and http.log has
            // one row per request. uid alone repeats across the traces of one test; with ports it does not.
            var seen = Set<String>()
            for file in test.files {
                let path = root + "/Baseline/" + test.baseline + "/" + file
                guard FileManager.default.fileExists(atPath: path) else { continue }
                let rows = try Self.zeekLog(path)
                for (i, row) in rows.enumerated() {
                    for (kind, column, prefixes) in [(Kind.sni, "server_name", ["ssl", "quic"]), (.dns, "query", ["dns"]), (.http, "host", ["http"])]
                    where prefixes.contains(where: file.hasPrefix) {
                        guard let value = row[column], value != "-", value != "(empty)" else { continue }
                        let key = kind == .dns ? "\(file):\(i)" : "\(row["uid"] ?? "\(file):\(i)")/\(row["id.orig_p"] ?? "")/\(row["id.resp_p"] ?? "")/\(kind)"
                        if seen.insert(key).inserted { zeek[kind, default: [:]][value.lowercased(), default: 0] += 1 }
                    }
                }
                if file.hasPrefix("conn") { conn += rows.filter { $0["orig_bytes"] != nil } }
            }
            var ours: [Kind: [String: Int]] = [:]
            for o in observations {
                guard let host = o.host else { continue }
                let kind: Kind?
                switch o.hostSource {
                case .tlsSNI?, .quicSNI?: kind = .sni
                case .dnsQuery?: kind = .dns
                case .httpHost?, .proxyConnect?, .proxyURL?: kind = .http
                default: kind = nil
                }
                if let kind { ours[kind, default: [:]][host, default: 0] += 1 }
            }
            for kind in Kind.allCases {
                let z = zeek[kind] ?? [:], g = ours[kind] ?? [:]
                compared[kind, default: 0] += z.values.reduce(0, +)
                if let agreed = Self.differences[test.name]?[kind] {
                    differing.insert(test.name)
                    XCTAssertEqual(z, agreed.zeek, "\(test.name) \(kind): Zeek's side of '\(agreed.why)' changed")
                    XCTAssertEqual(g, agreed.ours, "\(test.name) \(kind): our side of '\(agreed.why)' changed")
                } else {
                    XCTAssertEqual(g, z, "\(test.name) \(kind)")
                }
            }
            for row in conn {
                let o = observations.filter {
                    $0.clientPort.map(String.init) == row["id.orig_p"] && $0.serverPort.map(String.init) == row["id.resp_p"]
                }
                XCTAssertEqual(o.count, 1, "\(test.name) \(row)")
                XCTAssertEqual(o.first?.bytesUp.map(String.init), row["orig_bytes"], "\(test.name) \(row)")
                XCTAssertEqual(o.first?.bytesDown.map(String.init), row["resp_bytes"], "\(test.name) \(row)")
                bytesCompared += 2
            }
        }
        // What was compared: Zeek's names by kind (connections or transactions), and conn.log byte counts.
        XCTAssertEqual(compared, [.sni: 28, .dns: 36, .http: 44])
        XCTAssertEqual(bytesCompared, 14)
        XCTAssertEqual(differing, Set(Self.differences.keys))
    }

    /// The ECH trace: the outer SNI of both connections, marked as ECH in the caps.
    func testECHConnectionsReportTheOuterSNIAndAreMarked() throws {
        let path = TestPaths.corpus("zeek/Traces/tls/tls13-ech.pcap")
        let reader = try PcapReader(path: path)
        var report = InputReport(file: path, format: "pcap")
        var out: [Observation] = []
        CaptureScanner().scan(reader, file: path, report: &report) { out.append($0) }
        XCTAssertEqual(out.compactMap(\.host), ["cloudflare-ech.com", "cloudflare-ech.com"])
        XCTAssertEqual(report.capsHit["tls-ech-outer-sni"], 2)
    }

    /// The 1,747-byte post-quantum ClientHello (X25519Kyber768) is read whole.
    func testPostQuantumHelloOverOneMTUIsRead() throws {
        let (observations, report) = try scan(TestPaths.corpus("zeek/Traces/tls/chrome-1250-tls-x25519-kyber.pcap"))
        XCTAssertEqual(observations.compactMap(\.host), ["lh3.google.com"])
        XCTAssertEqual(report.skipped, 0)
    }

    // MARK: helpers

    /// Scans a trace; a `.gz` one is unpacked first (libpcap reads plain files).
    private func scanTrace(_ path: String) throws -> [Observation] {
        guard path.hasSuffix(".gz") else { return try scan(path).0 }
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("zeek-\(UUID()).pcap")
        defer { try? FileManager.default.removeItem(at: tmp) }
        let unpacked = try runProgram("/bin/sh", ["-c", "gzip -dc \"$0\" > \"$1\"", path, tmp.path])
        XCTAssertEqual(unpacked.status, 0, unpacked.stderr)
        return try scan(tmp.path).0
    }

    /// The "All copied btests" table of MANIFEST.md.
    static func btests(manifest: String) throws -> [BTest] {
        let text = try String(contentsOfFile: manifest, encoding: .utf8)
        return text.split(separator: "\n").compactMap { line in
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count == 3, cells[0].hasSuffix(".zeek") || cells[0].hasSuffix(".test"),
                  let slash = cells[2].range(of: "/: ") else { return nil }
            return BTest(name: cells[0], traces: cells[1].components(separatedBy: ", "),
                         baseline: String(cells[2][..<slash.lowerBound]),
                         files: cells[2][slash.upperBound...].components(separatedBy: ", "))
        }
    }

    /// A Zeek TSV log (`#fields` header) or a zeek-cut file (one plain header line), as rows.
    static func zeekLog(_ path: String) throws -> [[String: String]] {
        var fields: [String]? = nil
        var rows: [[String: String]] = []
        for line in try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n") {
            let cells = line.components(separatedBy: "\t")
            if line.hasPrefix("#fields") { fields = Array(cells.dropFirst()); continue }
            if line.hasPrefix("#") { continue }
            guard let f = fields else { fields = cells; continue }
            rows.append(Dictionary(zip(f, cells), uniquingKeysWith: { a, _ in a }))
        }
        return rows
    }
}
