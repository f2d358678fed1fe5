import Foundation
import TestSupport
import XCTest

/// The hostile corpus (Tests/Hostile/corpus, written by Tests/Hostile/make_hostile.py) through the real
/// `shadowscope scan`, one run per category folder: the process exits 0 or 3, never dies of a signal,
/// lists every file in the summary, and each file marked "flagged" in expect.tsv shows a counted skip,
/// a hit cap, a not-analyzed count, a counted anomaly or a named error.
final class HostileCorpusTests: XCTestCase {
    static var corpus: URL { TestPaths.repoRoot.appendingPathComponent("Tests/Hostile/corpus") }

    func testEveryHostileInputIsCountedOrNamedAndNeverTraps() throws {
        let expectations = try readTSV(Self.corpus.appendingPathComponent("expect.tsv").path)
        var expected: [String: String] = [:]
        for row in expectations { expected[row["file"] ?? ""] = row["expect"] }
        XCTAssertGreaterThanOrEqual(expected.count, 300)
        let categories = try FileManager.default.contentsOfDirectory(atPath: Self.corpus.path)
            .filter { !$0.hasSuffix(".tsv") }.sorted()
        var seen = 0
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("hostile-\(getpid())")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        for category in categories {
            let summary = tmp.appendingPathComponent(category + ".json").path
            let dir = Self.corpus.appendingPathComponent(category).path
            let (status, _, stderr, reason) = try runProgram(TestPaths.binary, ["scan", "--jobs", "2", "--summary", summary, dir])
            XCTAssertEqual(reason, .exit, "\(category): killed by signal \(status)\n\(stderr.suffix(2000))")
            XCTAssertTrue(status == 0 || status == 3, "\(category): exit \(status)\n\(stderr.suffix(2000))")
            guard reason == .exit, let data = FileManager.default.contents(atPath: summary),
                  let json = try JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let inputs = json["input"] as? [[String: Any]] else {
                XCTFail("\(category): no summary")
                continue
            }
            for input in inputs {
                guard let file = input["file"] as? String, let range = file.range(of: "corpus/") else { continue }
                let key = String(file[range.upperBound...])
                seen += 1
                let skipped = input["skipped"] as? Int ?? 0
                let error = input["error"] as? String
                let caps = (input["caps_hit"] as? [String: Any]) ?? [:]
                let notAnalyzed = (input["not_analyzed"] as? [String: Any]) ?? [:]
                let anomalies = (input["anomalies"] as? [String: Int]) ?? [:]
                if expected[key] == "flagged" {
                    XCTAssertTrue(error != nil || skipped > 0 || !caps.isEmpty || !notAnalyzed.isEmpty || !anomalies.isEmpty,
                                  "\(key): nothing counted or named in the summary")
                }
                if !anomalies.isEmpty {
                    let samples = input["anomaly_samples"] as? [[String: Any]] ?? []
                    XCTAssertFalse(samples.isEmpty, "\(key): \(anomalies) counted without a sample")
                }
                if skipped > 0 {
                    let samples = input["skipped_samples"] as? [[String: Any]] ?? []
                    XCTAssertFalse(samples.isEmpty, "\(key): \(skipped) skipped without a sample")
                }
            }
        }
        XCTAssertEqual(seen, expected.count, "every corpus file appears in a summary")
    }

    /// Oddities in records that are still used are counted by stable name, with a sample that says where.
    func testAnomaliesAreCountedByNameWithASample() throws {
        let cases: [(file: String, anomaly: String, at: String)] = [
            ("dns/dns-query-pointer-to-self.pcap", "dns.pointer-loop", ":1"),
            ("dns/dns-query-labels-128.pcap", "dns.name-too-long", ":1"),
            ("length-tls/tls-sni-nul.pcap", "tls.invalid-server-name", ":3"),  // SYN, SYN-ACK, ClientHello
            ("length-tls/tls-record-16385.pcap", "tls.client-hello-incomplete", ":1"),
            ("quic/quic-stream-frame-in-initial.pcap", "quic.unexpected-frame-in-initial", ":1"),
            ("compressed/gzip-then-garbage.log.gz", "gzip.trailing-bytes", ".log.gz"),
        ]
        for c in cases {
            let file = Self.corpus.appendingPathComponent(c.file).path
            let r = try runProgram(TestPaths.binary, ["scan", "--summary", "-", file])
            XCTAssertEqual(r.status, 0, c.file + r.stderr)
            let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
            let input = (json?["input"] as? [[String: Any]])?.first ?? [:]
            XCTAssertEqual((input["anomalies"] as? [String: Int])?[c.anomaly], 1, "\(c.file): \(input["anomalies"] ?? "none")")
            let sample = (input["anomaly_samples"] as? [[String: String]])?.first { $0["reason"]?.hasPrefix(c.anomaly) == true }
            XCTAssertEqual(sample?["at"], file.hasSuffix(c.at) ? file : file + c.at, c.file)
        }
    }

    func testDecompressionBombIsStoppedAtTheExpansionLimitAndReported() throws {
        let file = Self.corpus.appendingPathComponent("compressed/bomb-300MB-of-zeros.log.bz2").path
        let r = try runProgram(TestPaths.binary, ["scan", "--summary", "-", file])
        let (status, reason, stdout) = (r.status, r.reason, r.stdout + r.stderr)
        XCTAssertEqual(reason, .exit)
        XCTAssertEqual(status, 0)
        XCTAssertTrue(stdout.contains("decompression bomb"), stdout)
        XCTAssertTrue(stdout.contains("\"input-truncated\""), stdout)
    }
}
