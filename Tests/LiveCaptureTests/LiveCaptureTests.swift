import Foundation
import ShadowScopeCore
import TestSupport
import XCTest

/// `shadowscope capture` on a real interface: a veth pair between two network namespaces that
/// live_capture.sh creates, real clients and servers, tcpdump's copy of the same packets read by
/// tshark as the oracle. Needs root (namespaces, raw sockets); CI runs as root.
final class LiveCaptureTests: XCTestCase {
    var work = ""

    override func setUpWithError() throws {
        try XCTSkipUnless(getuid() == 0, "live capture needs root: network namespaces and raw sockets (CI runs `make test` as root)")
        for tool in ["/usr/bin/tshark", "/usr/bin/tcpreplay", "/usr/bin/tcpdump", "/usr/bin/curl", "/usr/bin/openssl", "/usr/sbin/ethtool"] {
            XCTAssertTrue(FileManager.default.isExecutableFile(atPath: tool), "\(tool) is missing: `make test` installs it")
        }
        work = FileManager.default.temporaryDirectory.appendingPathComponent("live-\(UUID().uuidString)").path
    }

    override func tearDown() {
        if !work.isEmpty { try? FileManager.default.removeItem(atPath: work) }
    }

    func script(_ arguments: [String]) throws {
        let path = TestPaths.repoRoot.appendingPathComponent("Tests/LiveCaptureTests/live_capture.sh").path
        let r = try runProgram("/bin/bash", [path] + arguments)
        XCTAssertEqual(r.status, 0, "live_capture.sh \(arguments.first ?? ""): \(r.stdout)\n\(r.stderr)")
    }

    func read(_ name: String) -> String {
        (try? String(contentsOfFile: work + "/" + name, encoding: .utf8)) ?? ""
    }

    func jsonLines(_ name: String) -> [[String: Any]] {
        read(name).split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    /// Six TLS connections in two runs of the capture (kill -9 between them, SIGHUP during the
    /// second): every SNI and byte count as tshark has it, every alert once, the day resumed.
    func testRealTrafficKillAndRestartReloadAndShutdown() throws {
        try script(["traffic", TestPaths.binary, work])
        XCTAssertEqual(read("capture.status").trimmingCharacters(in: .whitespacesAndNewlines), "0", "SIGTERM exits 0")
        XCTAssertTrue(read("capture.err").contains("resumed "), read("capture.err"))
        XCTAssertTrue(read("capture.err").contains("reloaded signatures, policy and users"))

        // tshark's view: bytes are payload minus retransmitted bytes (Zeek's orig_bytes), packets all.
        let oracle = try readTSV(work + "/oracle.tsv")
        XCTAssertEqual(oracle.map { $0["sni"] ?? "" }, ["chatgpt.com", "claude.ai", "api.anthropic.com", "api.openai.com", "chat.deepseek.com", "www.example.org"])
        func expected(_ row: [String: String]) -> String {
            let up = Int(row["bytes_up"] ?? "")! - Int(row["retrans_up"] ?? "")!
            let down = Int(row["bytes_down"] ?? "")! - Int(row["retrans_down"] ?? "")!
            return "\(row["client_port"]!) \(row["sni"]!) tls-sni \(up) \(down) \(row["packets_up"]!) \(row["packets_down"]!)"
        }
        let observations = jsonLines("observations.ndjson").map { o -> String in
            let client = o["client"] as? [String: Any]
            return "\(client?["port"] as? Int ?? -1) \(o["host"] as? String ?? "-") \(o["host_source"] as? String ?? "-") \(o["bytes_up"] as? Int ?? -1) \(o["bytes_down"] as? Int ?? -1) \(o["packets_up"] as? Int ?? -1) \(o["packets_down"] as? Int ?? -1)"
        }
        XCTAssertEqual(observations.sorted(), oracle.map(expected).sorted())
        XCTAssertEqual(oracle.first { $0["sni"] == "claude.ai" }?["bytes_up"], "103354", "the fixture server and curl make this exact upload")

        // Alerts: each id once across both runs; the phase-1 upload alert survived the kill -9.
        let alerts = jsonLines("alerts.ndjson")
        let ids = alerts.compactMap { $0["event.id"] as? String }
        XCTAssertEqual(ids.count, Set(ids).count, "no alert raised twice")
        func alert(_ rule: String, _ service: String) -> [String: Any]? {
            alerts.first { $0["rule.id"] as? String == rule && $0["shadowscope.service.id"] as? String == service }
        }
        XCTAssertEqual(alert("large-upload-connection", "anthropic-claude")?["source.bytes"] as? Int, 103_354)
        XCTAssertNotNil(alert("large-upload-connection", "anthropic-api"))
        XCTAssertNotNil(alert("unapproved-service", "deepseek-chat"))
        XCTAssertNotNil(alert("consumer-tier-instead-of-approved", "openai-chatgpt"))
        XCTAssertEqual(Set(alerts.filter { $0["rule.id"] as? String == "first-seen" }.compactMap { $0["shadowscope.service.id"] as? String }),
                       ["anthropic-claude", "anthropic-api", "openai-chatgpt", "openai-api", "deepseek-chat"])

        // The day's summary, written on shutdown, holds both runs: phase 1 came back from the checkpoint.
        let summaries = try FileManager.default.contentsOfDirectory(atPath: work + "/state/summaries").filter { $0.hasSuffix(".json") }
        XCTAssertEqual(summaries.count, 1, "\(summaries)")
        let data = try Data(contentsOf: URL(fileURLWithPath: work + "/state/summaries/" + (summaries.first ?? "")))
        let summary = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        let rows = summary["aggregates"] as? [[String: Any]] ?? []
        XCTAssertEqual(rows.first { $0["service_id"] as? String == "anthropic-claude" }?["bytes_up"] as? Int, 103_354)
        XCTAssertEqual(rows.first { $0["service_id"] as? String == "openai-chatgpt" }?["bytes_up"] as? Int, 718)
        XCTAssertEqual(Set(rows.compactMap { $0["service_id"] as? String }), ["anthropic-claude", "anthropic-api", "openai-chatgpt", "openai-api", "deepseek-chat"])
    }

    /// At midnight the day's summary is written and the next day starts empty.
    func testMidnightWritesTheDaySummaryAndStartsTheNextDay() throws {
        try script(["midnight", TestPaths.binary, work])
        XCTAssertEqual(read("capture.status").trimmingCharacters(in: .whitespacesAndNewlines), "0")
        let names = try FileManager.default.contentsOfDirectory(atPath: work + "/state/summaries").filter { $0.hasSuffix(".json") }.sorted()
        XCTAssertEqual(names.count, 2, "\(names)")
        guard names.count == 2 else { return }
        XCTAssertEqual(shiftDay(String(names[0].dropLast(5)), by: 1), String(names[1].dropLast(5)), "consecutive days")
        func services(_ name: String) throws -> [String] {
            let data = try Data(contentsOf: URL(fileURLWithPath: work + "/state/summaries/" + name))
            let summary = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
            return (summary["aggregates"] as? [[String: Any]] ?? []).compactMap { $0["service_id"] as? String }
        }
        XCTAssertEqual(try services(names[0]), ["openai-chatgpt"], "before midnight")
        XCTAssertEqual(try services(names[1]), ["anthropic-claude"], "after midnight, the new day alone")
    }

    /// Ten million distinct flows (TCP SYNs from tcpreplay --unique-ip) through the interface: memory
    /// stays under the ceiling README states for the default cap of 1,000,000 flows, and every packet
    /// is either analysed or reported dropped; flows past the cap are counted.
    func testTenMillionFlowsStayUnderTheMemoryCeiling() throws {
        let flows = 10_000_000
        try script(["flood", TestPaths.binary, work, String(flows)])
        XCTAssertEqual(read("capture.status").trimmingCharacters(in: .whitespacesAndNewlines), "0")
        XCTAssertTrue(read("tcpreplay.out").contains("Successful packets:        \(flows)"), read("tcpreplay.out"))
        let peakKB = try XCTUnwrap(Int(read("peak.rss").trimmingCharacters(in: .whitespacesAndNewlines)))
        XCTAssertLessThan(peakKB, 1_200 * 1024, "README: at most 1.2 GB resident with the default 1,000,000-flow cap")
        let summaries = try FileManager.default.contentsOfDirectory(atPath: work + "/state/summaries").filter { $0.hasSuffix(".json") }
        let data = try Data(contentsOf: URL(fileURLWithPath: work + "/state/summaries/" + (summaries.first ?? "")))
        let summary = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        let input = try XCTUnwrap((summary["input"] as? [[String: Any]])?.first)
        let packets = input["packets"] as? Int ?? 0, drops = input["drops"] as? Int ?? 0
        // A few packets of the interface's own (IPv6 neighbour discovery) may come on top.
        XCTAssertGreaterThanOrEqual(packets + drops, flows, "analysed or reported dropped: none lost silently")
        XCTAssertLessThan(packets + drops, flows + 100)
        let evicted = (input["caps_hit"] as? [String: Int])?["flow-table-full"] ?? 0
        print("10 M flows: peak RSS \(peakKB) kB, \(packets) packets analysed, \(drops) dropped by the kernel, \(evicted) flows evicted at the cap")
        XCTAssertGreaterThanOrEqual(evicted, packets - 1_000_000 - 100, "every flow past the cap is an eviction, counted")
    }
}
