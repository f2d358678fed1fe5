import Foundation
import TestSupport
import XCTest

/// The `shadowscope` binary as a user runs it: exact output fields, exit statuses, stdin.
final class ScanCommandTests: XCTestCase {
    let bin = TestPaths.binary
    var dbip: String { TestPaths.dbipDatabase }

    func lines(_ text: String) -> [[String: Any]] {
        text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    func testObservationsOfTheFixtureCapture() throws {
        let r = try runProgram(bin, ["scan", "--geoip", dbip, "--observations", "-", TestPaths.fixture("ai-traffic.pcap")])
        XCTAssertEqual(r.status, 0, r.stderr)
        let obs = lines(r.stdout)
        XCTAssertEqual(obs.count, 15, "one observation per TCP connection; the summary is not on stdout")
        let first = obs[0]
        XCTAssertEqual(first["ts"] as? String, "2026-11-25T12:10:02.127Z")
        XCTAssertEqual(first["host"] as? String, "chatgpt.com")
        XCTAssertEqual(first["host_source"] as? String, "tls-sni")
        XCTAssertEqual(first["transport"] as? String, "tcp")
        XCTAssertEqual(first["client"] as? NSDictionary, ["ip": "10.20.30.41", "port": 40486, "user": NSNull()])
        XCTAssertEqual(first["server"] as? NSDictionary, ["ip": "104.18.32.47", "port": 443])
        XCTAssertEqual(first["source"] as? NSDictionary, ["file": TestPaths.fixture("ai-traffic.pcap"), "frame": 4, "line": NSNull()])
        XCTAssertEqual(first["bytes_up"] as? Int, 718)
        XCTAssertEqual(first["bytes_down"] as? Int, 22_600)
        XCTAssertEqual(first["packets_up"] as? Int, 12)
        XCTAssertEqual(first["packets_down"] as? Int, 21)
        for key in ["url_path", "method", "status", "dns"] { XCTAssertTrue(first[key] is NSNull, key) }
    }

    /// The daily summary of the demo inputs: figures from tshark (capture), squid's log, and DB-IP
    /// through mmdblookup (104.18.32.47 CA, 160.79.104.10 US, 2402:4e00:1900:1700::5 CN).
    func testSummaryOfCaptureAndSquidLog() throws {
        let r = try runProgram(bin, ["scan", "--geoip", dbip, TestPaths.fixture("ai-traffic.pcap"), TestPaths.fixture("squid-access.log")])
        XCTAssertEqual(r.status, 0, r.stderr)
        let summary = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(summary["schema"] as? String, "shadowscope.summary/1")
        XCTAssertEqual((summary["geoip"] as? [String: Any])?["attribution"] as? String,
                       "IP Geolocation by DB-IP (https://db-ip.com), CC BY 4.0")
        let inputs = try XCTUnwrap(summary["input"] as? [[String: Any]])
        XCTAssertEqual(inputs.map { $0["format"] as? String }, ["pcap (EN10MB)", "squid"])
        XCTAssertEqual(inputs.map { $0["records"] as? Int }, [769, 16])
        XCTAssertEqual(inputs.map { $0["observations"] as? Int }, [15, 16])
        XCTAssertEqual(inputs.map { $0["matched"] as? Int }, [13, 13])
        let rows = try XCTUnwrap(summary["aggregates"] as? [[String: Any]])
        func row(_ user: String, _ service: String) -> [String: Any]? {
            rows.first { $0["user"] as? String == user && $0["service_id"] as? String == service }
        }
        // Capture: two TLS connections each, one an upload of 102,400 bytes of body.
        let openai = try XCTUnwrap(row("10.20.30.41", "openai-api"))
        XCTAssertEqual(openai["connections"] as? Int, 2)
        XCTAssertEqual(openai["bytes_up"] as? Int, 730 + 103_348)
        XCTAssertEqual(openai["bytes_down"] as? Int, 22_600 + 2_191)
        XCTAssertEqual(openai["country"] as? String, "CA")
        XCTAssertEqual(openai["region_group"] as? String, "non-eu")
        XCTAssertEqual(openai["how"] as? String, "geoip")
        XCTAssertEqual(openai["tier"] as? String, "api")
        XCTAssertEqual(openai["vendor"] as? String, "OpenAI")
        XCTAssertEqual(openai["day"] as? String, "2026-11-25")
        XCTAssertEqual(row("10.20.30.41", "anthropic-claude")?["bytes_up"] as? Int, 716 + 103_345)
        XCTAssertEqual(row("10.20.30.41", "anthropic-claude")?["country"] as? String, "US")
        XCTAssertEqual(row("fd00:20::41", "deepseek-api")?["bytes_up"] as? Int, 732 + 103_358)
        XCTAssertEqual(row("fd00:20::41", "deepseek-api")?["country"] as? String, "CN")
        // Squid: users from the proxy's authentication; upload size unknown (native format), never 0.
        let alice = try XCTUnwrap(row("alice", "openai-api"))
        XCTAssertEqual(alice["connections"] as? Int, 3)
        XCTAssertTrue(alice["bytes_up"] is NSNull)
        XCTAssertEqual(alice["bytes_up_unknown"] as? Int, 3)
        XCTAssertEqual(alice["bytes_down"] as? Int, 22_639 + 2_230 + 404)
        XCTAssertEqual(alice["how"] as? String, "unknown", "127.0.1.x is not in any GeoIP database")
        XCTAssertNotNil(row("127.0.0.1", "anthropic-claude"), "a request without credentials counts under the client address")
        XCTAssertNil(rows.first { ($0["service_id"] as? String) == nil }, "non-AI hosts make no rows")
    }

    func testCaptureAndLogFromStandardInput() throws {
        let pcap = try Data(contentsOf: URL(fileURLWithPath: TestPaths.fixture("ai-traffic-sll.pcapng")))
        let r = try runProgram(bin, ["scan", "--geoip", dbip, "--observations", "-", "-"], stdin: pcap)
        XCTAssertEqual(r.status, 0, r.stderr)
        let obs = lines(r.stdout)
        XCTAssertEqual(obs.map { $0["host"] as? String }, ["claude.ai", "api.openai.com", "www.example.org", "api.deepseek.com"])
        XCTAssertEqual((obs[0]["source"] as? [String: Any])?["file"] as? String, "-")

        let log = try Data(contentsOf: URL(fileURLWithPath: TestPaths.fixture("squid-access.log")))
        let l = try runProgram(bin, ["scan", "--geoip", dbip, "--observations", "-", "-"], stdin: log)
        XCTAssertEqual(l.status, 0, l.stderr)
        XCTAssertEqual(lines(l.stdout).count, 16)
    }

    func testUnreadableInputExits3AndTheRestIsStillReported() throws {
        let garbage = FileManager.default.temporaryDirectory.appendingPathComponent("garbage-\(UUID()).txt").path
        try "hello\nworld\n".write(toFile: garbage, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: garbage) }
        let r = try runProgram(bin, ["scan", "--geoip", dbip, "/nonexistent/access.log", garbage, TestPaths.fixture("squid-access.log")])
        XCTAssertEqual(r.status, 3)
        XCTAssertTrue(r.stderr.contains("/nonexistent/access.log: No such file or directory"), r.stderr)
        XCTAssertTrue(r.stderr.contains("\(garbage): format not recognised"), r.stderr)
        let summary = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let inputs = try XCTUnwrap(summary["input"] as? [[String: Any]])
        XCTAssertEqual(inputs.count, 3)
        XCTAssertEqual(inputs[0]["error"] as? String, "No such file or directory")
        XCTAssertEqual(inputs[2]["observations"] as? Int, 16)
        XCTAssertFalse((summary["aggregates"] as? [Any] ?? []).isEmpty)
    }

    /// `--progress` shows how much of the inputs' total is read on standard error, each state over the
    /// last (carriage return, erase line), and erases it when the scan is done: nothing else changes.
    /// Without a terminal it is off by default, and `--no-progress` turns it off.
    func testProgressLineIsShownWhenAskedAndErasedAtTheEnd() throws {
        let squid = TestPaths.fixture("squid-access.log")
        let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: squid)[.size] as? Int)
        let quiet = try runProgram(bin, ["scan", "--geoip", dbip, squid])
        XCTAssertEqual(quiet.status, 0, quiet.stderr)
        XCTAssertEqual(quiet.stderr, "")
        let shown = try runProgram(bin, ["scan", "--geoip", dbip, "--progress", squid])
        XCTAssertEqual(shown.status, 0, shown.stderr)
        XCTAssertTrue(shown.stderr.hasPrefix("\r\u{1B}[Kscanning: "), shown.stderr)
        XCTAssertTrue(shown.stderr.contains(" of \(size / 1000) KB ("), shown.stderr)
        XCTAssertTrue(shown.stderr.hasSuffix("\r\u{1B}[K"), shown.stderr)
        XCTAssertEqual(shown.stdout, quiet.stdout)
        let off = try runProgram(bin, ["scan", "--geoip", dbip, "--no-progress", squid])
        XCTAssertEqual(off.stderr, "")
    }

    /// A forced format that no record of an input reads as is an unreadable input (exit 3, the error
    /// in the summary names the format and the first line), as an unrecognised one is; an input that
    /// has some records of the format is read, its other records counted as skipped, and exits 0.
    func testForcedFormatThatNoRecordReadsAsExits3() throws {
        let squid = TestPaths.fixture("squid-access.log")
        let r = try runProgram(bin, ["scan", "--geoip", dbip, "--format", "zeek-json", squid])
        XCTAssertEqual(r.status, 3, r.stderr)
        let records = try String(contentsOfFile: squid, encoding: .utf8).split(separator: "\n").count
        let expected = "no record reads as zeek-json: \(records) skipped; first: \(squid):1: not JSON: not a JSON object at byte 0"
        XCTAssertEqual(r.stderr, "shadowscope: \(squid): \(expected)\n")
        let summary = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let inputs = try XCTUnwrap(summary["input"] as? [[String: Any]])
        XCTAssertEqual(inputs[0]["error"] as? String, expected)

        let mixed = FileManager.default.temporaryDirectory.appendingPathComponent("mixed-\(UUID()).log").path
        try (String(contentsOfFile: squid, encoding: .utf8) + "not a squid line\n").write(toFile: mixed, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: mixed) }
        let m = try runProgram(bin, ["scan", "--geoip", dbip, "--format", "squid", mixed])
        XCTAssertEqual(m.status, 0, m.stderr)
        XCTAssertTrue(m.stderr.contains("\(mixed): skipped 1 record(s); first: \(mixed):\(records + 1):"), m.stderr)
    }

    /// Several MB, compressed three ways, scanned at once on several threads: every line is read. (The
    /// check whether a file could be cut for --jobs opened it, started its decompressing thread and
    /// closed the descriptor under it; the thread then read from the next file given that number, and a
    /// 5 MB gzip log lost three lines in ten without an error.)
    func testLargeCompressedLogsOnSeveralThreadsAreReadWhole() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("big-gz-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fixture = try Data(contentsOf: URL(fileURLWithPath: TestPaths.seed("squid-native.log")))
        var log = Data()
        while log.count < 6_000_000 { log += fixture }
        try log.write(to: URL(fileURLWithPath: dir + "/big.log"))
        let lineCount = log.split(separator: 0x0A).count
        let r = try runProgram("/bin/sh", ["-c", "cd '\(dir)' && gzip -1 -k big.log && zstd -q -k big.log && xz -0 -k -T1 big.log"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let files = ["big.log", "big.log.gz", "big.log.zst", "big.log.xz"].map { dir + "/" + $0 }
        let summary = try runProgram(bin, ["scan", "--geoip", dbip, "--jobs", "3", "--summary", "-"] + files)
        XCTAssertEqual(summary.status, 0, summary.stderr)
        let inputs = (try JSONSerialization.jsonObject(with: Data(summary.stdout.utf8)) as? [String: Any])?["input"] as? [[String: Any]] ?? []
        XCTAssertEqual(inputs.count, 4)
        for input in inputs {
            XCTAssertEqual(input["records"] as? Int, lineCount, "\(input["file"] ?? "?")")
            XCTAssertEqual(input["skipped"] as? Int, 0, "\(input["file"] ?? "?")")
        }
    }

    func testCompressedInputIsReadLikeThePlainFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gz-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let log = TestPaths.fixture("squid-access.log"), pcap = TestPaths.fixture("ai-traffic.pcap")
        _ = try runProgram("/bin/sh", ["-c", "gzip -c '\(log)' > '\(dir)/a.log.gz' && xz -c '\(pcap)' > '\(dir)/b.pcap.xz'"])
        let plain = try runProgram(bin, ["scan", "--geoip", dbip, "--observations", "-", log, pcap])
        let packed = try runProgram(bin, ["scan", "--geoip", dbip, "--observations", "-", dir + "/a.log.gz", dir + "/b.pcap.xz"])
        XCTAssertEqual(packed.status, 0, packed.stderr)
        // Everything but the file name in `source` must be the same.
        func strip(_ s: String) -> [NSDictionary] {
            lines(s).map { o in
                var o = o
                var source = o["source"] as? [String: Any] ?? [:]
                source["file"] = nil
                o["source"] = source
                return o as NSDictionary
            }
        }
        XCTAssertEqual(strip(packed.stdout), strip(plain.stdout))
        XCTAssertEqual(lines(packed.stdout).count, 31)
        let summary = try runProgram(bin, ["scan", "--geoip", dbip, dir + "/a.log.gz", dir + "/b.pcap.xz"])
        let inputs = (try JSONSerialization.jsonObject(with: Data(summary.stdout.utf8)) as? [String: Any])?["input"] as? [[String: Any]]
        XCTAssertEqual(inputs?.map { $0["format"] as? String }, ["squid+gzip", "pcap (EN10MB)+xz"])
    }

    func testTruncatedGzipIsNamedAndExits3() throws {
        let gz = FileManager.default.temporaryDirectory.appendingPathComponent("log-\(UUID()).gz").path
        FileManager.default.createFile(atPath: gz, contents: Data([0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3]))
        defer { try? FileManager.default.removeItem(atPath: gz) }
        let r = try runProgram(bin, ["scan", "--geoip", dbip, gz])
        XCTAssertEqual(r.status, 3)
        XCTAssertTrue(r.stderr.contains("\(gz): gzip: member 1 is truncated"), r.stderr)
    }

    func testCustomSquidLogformat() throws {
        let r = try runProgram(bin, ["scan", "--geoip", dbip, "--observations", "-", "--format", "squid",
                                     "--logformat", TestPaths.seed("squid-custom.logformat"), TestPaths.seed("squid-custom.log")])
        XCTAssertEqual(r.status, 0, r.stderr)
        let obs = lines(r.stdout)
        XCTAssertEqual(obs.count, 14)
        // Line 2 of the seed: the upload that squid's native format cannot show (LOGS-check.txt).
        let second = try XCTUnwrap(obs.dropFirst().first, "no second observation (is ../shared there?)")
        XCTAssertEqual(second["bytes_up"] as? Int, 263_459)
        XCTAssertEqual(second["bytes_down"] as? Int, 2_156)
        let bad = try runProgram(bin, ["scan", "--format", "squid", "--logformat", "%>a %zz", TestPaths.seed("squid-custom.log")])
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stderr.contains("--logformat:"), bad.stderr)
    }

    /// A tab-separated Zscaler NSS feed, read from standard input with its Feed Output Format given as
    /// typed in the portal (`\t` as two characters). The lines follow Zscaler's documented web log fields.
    func testDelimitedZscalerFeedWithItsFieldList() throws {
        let feed = [
            "Mon Oct 16 22:55:48 2023\tjdoe@example.com\t10.0.0.5\tchatgpt.com/backend-api/conversation?x=1\tPOST\t48213\t1532",
            "Mon Oct 16 22:56:01 2023\tjdoe@example.com\t10.0.0.5\twww.example.org/\tGET\t310\t9000",
        ].joined(separator: "\n") + "\n"
        let fields = #"%s{time}\t%s{login}\t%s{cip}\t%s{eurl}\t%s{reqmethod}\t%d{reqsize}\t%d{respsize}"#
        let r = try runProgram(bin, ["scan", "--geoip", dbip, "--observations", "-", "--format", "zscaler-nss",
                                     "--nss-fields", fields, "-"], stdin: Data(feed.utf8))
        XCTAssertEqual(r.status, 0, r.stderr)
        let obs = lines(r.stdout)
        XCTAssertEqual(obs.count, 2)
        XCTAssertEqual(obs[0]["host"] as? String, "chatgpt.com")
        XCTAssertEqual(obs[0]["url_path"] as? String, "/backend-api/conversation")
        XCTAssertEqual(obs[0]["bytes_up"] as? Int, 48_213)
        XCTAssertEqual(obs[0]["method"] as? String, "POST")
        XCTAssertEqual((obs[0]["client"] as? [String: Any])?["user"] as? String, "jdoe@example.com")
        XCTAssertEqual(obs[1]["host"] as? String, "www.example.org")
        let noTime = try runProgram(bin, ["scan", "--format", "zscaler-nss", "--nss-fields", "login,url", "-"], stdin: Data(feed.utf8))
        XCTAssertEqual(noTime.status, 2)
        XCTAssertTrue(noTime.stderr.contains("--nss-fields: the fields name no time"), noTime.stderr)
        let wrongFormat = try runProgram(bin, ["scan", "--format", "squid", "--nss-fields", "time,url", "-"])
        XCTAssertEqual(wrongFormat.status, 2)
        XCTAssertTrue(wrongFormat.stderr.contains("--nss-fields needs --format zscaler-nss"), wrongFormat.stderr)
    }

    func testUsageErrorsExit2AndNameTheFlag() throws {
        let bad = try runProgram(bin, ["scan", "--no-such-flag", "x"])
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stderr.contains("--no-such-flag"), bad.stderr)
        let format = try runProgram(bin, ["scan", "--format", "csv", "x"])
        XCTAssertEqual(format.status, 2)
        XCTAssertTrue(format.stderr.contains("--format: 'csv' is not one of auto, pcap, squid, zeek, zeek-json, suricata-eve, zscaler-nss, umbrella, panos, fortigate, windows-dns, bind-query, dnsmasq, w3c"), format.stderr)
        let geo = try runProgram(bin, ["scan", "--geoip", "/nonexistent.mmdb", TestPaths.fixture("squid-access.log")])
        XCTAssertEqual(geo.status, 2)
        XCTAssertTrue(geo.stderr.contains("/nonexistent.mmdb: cannot open GeoIP database"), geo.stderr)
    }

    func testHelpListsEveryOption() throws {
        let r = try runProgram(bin, ["scan", "--help"])
        XCTAssertEqual(r.status, 0)
        for flag in ["--format", "--observations", "--summary", "--signatures", "--geoip", "<INPUT>"] {
            XCTAssertTrue(r.stdout.contains(flag), flag)
        }
        let root = try runProgram(bin, ["--help"])
        XCTAssertTrue(root.stdout.contains("Exit status: 0 done; 2 usage or configuration error; 3 some input could not be"), root.stdout)
    }

    func testOutputFilesAreReadableByOwnerOnly() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("out-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try runProgram(bin, ["scan", "--geoip", dbip, "--summary", dir + "/s.json", "--observations", dir + "/o.ndjson",
                              TestPaths.fixture("squid-access.log")])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "")
        for f in ["s.json", "o.ndjson"] {
            let attrs = try FileManager.default.attributesOfItem(atPath: dir + "/" + f)
            XCTAssertEqual((attrs[.posixPermissions] as? NSNumber)?.intValue, 0o600, f)
        }
    }

    /// An existing output file is narrowed to 0600 too, but a device is left as it is: run as root,
    /// `--summary /dev/null` used to make /dev/null 0600 for everyone (apt-get update then failed).
    func testExistingFileIsNarrowedButDevNullKeepsItsMode() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("out-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let existing = dir + "/old.json"
        FileManager.default.createFile(atPath: existing, contents: Data("old".utf8), attributes: [.posixPermissions: 0o644])
        let before = try FileManager.default.attributesOfItem(atPath: "/dev/null")[.posixPermissions] as? NSNumber
        defer {  // should the bug come back, leave /dev/null as it was for the rest of the machine
            if let before { try? FileManager.default.setAttributes([.posixPermissions: before], ofItemAtPath: "/dev/null") }
        }
        let r = try runProgram(bin, ["scan", "--geoip", dbip, "--summary", existing, "--observations", "/dev/null",
                              TestPaths.fixture("squid-access.log")])
        XCTAssertEqual(r.status, 0, r.stderr)
        let after = try FileManager.default.attributesOfItem(atPath: "/dev/null")[.posixPermissions] as? NSNumber
        XCTAssertEqual(after, before, "/dev/null's mode must not change")
        XCTAssertEqual((try FileManager.default.attributesOfItem(atPath: existing)[.posixPermissions] as? NSNumber)?.intValue, 0o600)
    }

    func testSignaturesCheckNamesFileAndLineAndExits2() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sig-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "vendor: X\nvendor_id: x\nwebsite: https://x.ai\nservices: []\nextra: 1\n".write(toFile: dir + "/x.yaml", atomically: true, encoding: .utf8)
        let r = try runProgram(bin, ["signatures", "check", dir])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("\(dir)/x.yaml:5: unknown key 'extra'"), r.stderr)
        XCTAssertTrue(r.stderr.contains("\(dir)/x.yaml:4: services must be a non-empty list"), r.stderr)
        let ok = try runProgram(bin, ["signatures", "check", TestPaths.signatures])
        XCTAssertEqual(ok.status, 0, ok.stderr)
    }

    func testSignaturesMatchPrintsOneLinePerHost() throws {
        let r = try runProgram(bin, ["signatures", "match", "--signatures", TestPaths.signatures, "API.OpenAI.com.", "example.org"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let out = lines(r.stdout)
        XCTAssertEqual(out.count, 2)
        XCTAssertEqual(out[0]["host"] as? String, "api.openai.com")
        XCTAssertEqual(out[0]["service_id"] as? String, "openai-api")
        XCTAssertEqual(out[0]["tier"] as? String, "api")
        XCTAssertEqual(out[0]["evidence"] as? String, "strong")
        XCTAssertTrue(out[1]["service_id"] is NSNull)
    }
}

final class TableOutputTests: XCTestCase {
    func testTableShowsUsersServicesUploadsAndWhere() throws {
        let r = try runProgram(TestPaths.binary, ["scan", "--geoip", TestPaths.dbipDatabase, "--table",
                                                  TestPaths.fixture("ai-traffic.pcap"), TestPaths.fixture("squid-access.log")])
        XCTAssertEqual(r.status, 0, r.stderr)
        let rows = r.stdout.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
        XCTAssertEqual(rows.first, "DAY USER SERVICE TIER WHERE CONN BYTES UP BYTES DOWN DNS")
        XCTAssertTrue(rows.contains("2026-11-25 10.20.30.41 OpenAI API api CA (non-EU, geoip) 2 104078 24791 0"), r.stdout)
        XCTAssertTrue(rows.contains("2026-11-25 alice OpenAI API api unknown 3 unknown 25273 0"), r.stdout)
        XCTAssertTrue(rows.contains("GeoIP: IP Geolocation by DB-IP (https://db-ip.com), CC BY 4.0"), r.stdout)
        XCTAssertTrue(rows.contains("* tier not visible in the host name (the same host serves several tiers)"), r.stdout)
    }
}

final class UsersAndPrivacyTests: XCTestCase {
    func temporaryFile(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("f-\(UUID())").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    func testUsersFileNamesPeopleBehindAddresses() throws {
        let users = try temporaryFile("10.20.30.0/24,office\n10.20.30.41,dana\nfd00:20::/64,lab\n")
        let r = try runProgram(TestPaths.binary, ["scan", "--geoip", TestPaths.dbipDatabase, "--users", users, "--table",
                                                  TestPaths.fixture("ai-traffic.pcap")])
        XCTAssertEqual(r.status, 0, r.stderr)
        let rows = r.stdout.split(separator: "\n").map { $0.split(separator: " ").joined(separator: " ") }
        XCTAssertTrue(rows.contains("2026-11-25 dana OpenAI API api CA (non-EU, geoip) 2 104078 24791 0"), r.stdout)
        XCTAssertTrue(rows.contains("2026-11-25 lab DeepSeek API api CN (non-EU, geoip) 2 104090 24791 0"), r.stdout)
    }

    func testBadUsersFileExits2WithLine() throws {
        let users = try temporaryFile("10.0.0.0/8,a\nnot-an-ip,b\n")
        let r = try runProgram(TestPaths.binary, ["scan", "--users", users, TestPaths.fixture("squid-access.log")])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("\(users):2: 'not-an-ip' is not an IPv4/IPv6 address or CIDR range"), r.stderr)
    }

    func testPseudonymizedOutputsNameNobody() throws {
        let key = try temporaryFile("a-key-of-more-than-sixteen-bytes\n")
        let r = try runProgram(TestPaths.binary, ["scan", "--geoip", TestPaths.dbipDatabase, "--pseudonymize", key, "--observations", "-",
                                                  TestPaths.fixture("squid-access.log"), TestPaths.fixture("ai-traffic.pcap")])
        XCTAssertEqual(r.status, 0, r.stderr)
        for secret in ["alice", "bob", "carol", "10.20.30.41", "127.0.0.1", "fd00:20::41"] {
            XCTAssertFalse(r.stdout.contains("\"\(secret)\""), secret)
        }
        XCTAssertFalse(r.stdout.contains("a-key-of-more"))
        let summary = try runProgram(TestPaths.binary, ["scan", "--geoip", TestPaths.dbipDatabase, "--pseudonymize", key,
                                                        TestPaths.fixture("squid-access.log")])
        XCTAssertFalse(summary.stdout.contains("alice"))
        XCTAssertTrue(summary.stdout.contains("\"user\": \"u-"), summary.stdout)
    }
}

final class QuickPathTests: XCTestCase {
    /// Without --observations the log scanner skips lines whose host is outside the catalog early;
    /// the summary must be the same either way.
    func testSummaryIsTheSameWithAndWithoutTheQuickPath() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("quick-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let inputs = [TestPaths.fixture("squid-access.log"), TestPaths.seed("squid-native.log")]
        let quick = try runProgram(TestPaths.binary, ["scan", "--geoip", TestPaths.dbipDatabase, "--summary", dir + "/a.json"] + inputs)
        let full = try runProgram(TestPaths.binary, ["scan", "--geoip", TestPaths.dbipDatabase, "--summary", dir + "/b.json",
                                                     "--observations", dir + "/o.ndjson"] + inputs)
        XCTAssertEqual(quick.status, 0, quick.stderr)
        XCTAssertEqual(full.status, 0, full.stderr)
        XCTAssertEqual(try String(contentsOfFile: dir + "/a.json", encoding: .utf8), try String(contentsOfFile: dir + "/b.json", encoding: .utf8))
    }
}

final class JobsTests: XCTestCase {
    /// Files scanned on several threads give the same summary and the same observations, in input
    /// order, as one at a time. Asked for the summary alone, the inputs' rows are merged as the summary
    /// is written; asked for alerts too, they are merged into one table first: the same summary.
    func testResultDoesNotDependOnJobs() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("jobs-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let inputs = [TestPaths.fixture("ai-traffic.pcap"), TestPaths.fixture("squid-access.log"), TestPaths.fixture("dns-answer.pcap"),
                      TestPaths.seed("quic-chromium.pcap"), TestPaths.seed("squid-native.log"), TestPaths.fixture("ai-traffic-sll.pcapng")]
        for jobs in ["1", "3"] {
            let r = try runProgram(TestPaths.binary, ["scan", "--geoip", TestPaths.dbipDatabase, "--jobs", jobs,
                                                      "--summary", "\(dir)/s\(jobs).json", "--observations", "\(dir)/o\(jobs).ndjson"] + inputs)
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        let o1 = try String(contentsOfFile: dir + "/o1.ndjson", encoding: .utf8)
        XCTAssertEqual(o1.split(separator: "\n").count, 15 + 16 + 5 + 10 + 14 + 4)
        XCTAssertEqual(o1, try String(contentsOfFile: dir + "/o3.ndjson", encoding: .utf8))
        XCTAssertEqual(try String(contentsOfFile: dir + "/s1.json", encoding: .utf8), try String(contentsOfFile: dir + "/s3.json", encoding: .utf8))
        let merged = try runProgram(TestPaths.binary, ["scan", "--geoip", TestPaths.dbipDatabase, "--jobs", "3",
                                                       "--summary", "\(dir)/m.json", "--alerts", "\(dir)/a.ndjson"] + inputs)
        XCTAssertEqual(merged.status, 0, merged.stderr)
        let summary = try String(contentsOfFile: dir + "/s3.json", encoding: .utf8)
        XCTAssertEqual(try String(contentsOfFile: dir + "/m.json", encoding: .utf8), summary)
        XCTAssertGreaterThan(summary.components(separatedBy: "\"service_id\"").count - 1, 20, "rows of several inputs")
    }

    /// One large plain log cut at line boundaries into a part per thread (the hidden --split-bytes makes a
    /// small file large enough): the summary (counts, skipped lines with their numbers, anomalies,
    /// aggregates), the observations in order and the alerts equal the whole-file scan, whatever the cuts.
    func testOneLogCutIntoPartsPerThreadGivesTheWholeFilesResult() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("parts-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var log = Data()
        for i in 0..<7 {
            log += try Data(contentsOf: URL(fileURLWithPath: TestPaths.fixture("squid-access.log")))
            log += Data("a line that is no squid line \(i)\n".utf8)
            log += Data("1795608606.105 30 10.0.0.9 TCP_MISS/200 5 GET http://x\u{0}y.example/ u HIER_DIRECT/1.2.3.4 -\n".utf8)
            log += try Data(contentsOf: URL(fileURLWithPath: TestPaths.seed("squid-native.log")))
        }
        let path = dir + "/big.log"
        try log.write(to: URL(fileURLWithPath: path))
        var outputs: [[String]] = []
        for (jobs, split) in [("1", "1000"), ("2", "1000"), ("3", "4096"), ("2", "100000000")] {
            let r = try runProgram(TestPaths.binary, ["scan", "--geoip", TestPaths.dbipDatabase, "--jobs", jobs, "--split-bytes", split,
                                                      "--summary", "\(dir)/s.json", "--observations", "\(dir)/o.ndjson",
                                                      "--alerts", "\(dir)/a.ndjson", path])
            XCTAssertEqual(r.status, 0, r.stderr)
            outputs.append(try ["s.json", "o.ndjson", "a.ndjson"].map { try String(contentsOfFile: "\(dir)/\($0)", encoding: .utf8) })
        }
        let summary = try JSONSerialization.jsonObject(with: Data(outputs[0][0].utf8)) as? [String: Any]
        let input = (summary?["input"] as? [[String: Any]])?.first ?? [:]
        XCTAssertEqual(input["skipped"] as? Int, 14)
        let lines = log.split(separator: 0x0A).count
        XCTAssertEqual(input["records"] as? Int, lines)
        let firstSkip = (input["skipped_samples"] as? [[String: String]])?.first?["at"]
        XCTAssertEqual(firstSkip, path + ":17")  // the fixture has 16 lines
        for k in 1..<outputs.count {
            XCTAssertEqual(outputs[k][0], outputs[0][0], "summary, run \(k)")
            XCTAssertEqual(outputs[k][1], outputs[0][1], "observations, run \(k)")
            XCTAssertEqual(outputs[k][2], outputs[0][2], "alerts, run \(k)")
        }
        // Without observation lines the parts are not counted first: each is numbered from 1 and its
        // skips, anomalies, evidence and alerts are moved to their lines afterwards. Same summary and alerts.
        for (jobs, split) in [("2", "1000"), ("3", "4096"), ("4", "300")] {
            let r = try runProgram(TestPaths.binary, ["scan", "--geoip", TestPaths.dbipDatabase, "--jobs", jobs, "--split-bytes", split,
                                                      "--summary", "\(dir)/s.json", "--alerts", "\(dir)/a.ndjson", path])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(try String(contentsOfFile: "\(dir)/s.json", encoding: .utf8), outputs[0][0], "summary, --jobs \(jobs) without observations")
            XCTAssertEqual(try String(contentsOfFile: "\(dir)/a.ndjson", encoding: .utf8), outputs[0][2], "alerts, --jobs \(jobs) without observations")
        }
        // Evidence past the first part, so the moved numbers are checked, in reference order.
        let evidence = ((summary?["aggregates"] as? [[String: Any]]) ?? []).flatMap { ($0["evidence"] as? [String]) ?? [] }
        let numbers = evidence.compactMap { Int($0.dropFirst(path.count + 1)) }
        XCTAssertEqual(numbers.count, evidence.count)
        XCTAssertGreaterThan(numbers.max() ?? 0, lines / 2)
        XCTAssertFalse(outputs[0][2].isEmpty, "the fixture raises per-connection alerts")
    }

    /// A log of a few MB read from its file (whole, and cut in a part per thread, read with pread)
    /// and the same bytes read from a pipe: summary, observations and alerts are the same but for
    /// the input's name, lines with a NUL byte, over the cap, CRLF and a last line without a newline
    /// included, across the reader's 1 MB chunks.
    func testALogReadFromItsFileOrInPartsGivesWhatReadingItFromAPipeGives() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("piped-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fixture = try Data(contentsOf: URL(fileURLWithPath: TestPaths.fixture("squid-access.log")))
        let seed = try Data(contentsOf: URL(fileURLWithPath: TestPaths.seed("squid-native.log")))
        var log = Data()
        for i in 0..<800 {
            log += fixture
            if i % 100 == 7 {
                log += Data("1795608606.105 30 10.0.0.9 TCP_MISS/200 5 GET http://x\u{0}y.example/ u HIER_DIRECT/1.2.3.4 -\n".utf8)
                log += Data(repeating: 0x78, count: 70_000) + Data("\n".utf8)
                log += Data("1795608606.105 30 10.0.0.9 TCP_MISS/200 5 GET http://chatgpt.com/ crlf HIER_DIRECT/1.2.3.4 -\r\n".utf8)
            }
            log += seed
        }
        log += Data("1795608607.105 30 10.0.0.9 TCP_MISS/200 5 GET http://claude.ai/ last HIER_DIRECT/1.2.3.4 -".utf8)
        XCTAssertGreaterThan(log.count, 2 << 20, "several of the line reader's chunks in each of two parts")
        let path = dir + "/big.log"
        try log.write(to: URL(fileURLWithPath: path))
        func scan(_ input: String, _ options: [String] = [], stdin: Data? = nil) throws -> [String] {
            let r = try runProgram(TestPaths.binary, ["scan", "--geoip", TestPaths.dbipDatabase, "--summary", "\(dir)/s.json",
                                                      "--observations", "\(dir)/o.ndjson", "--alerts", "\(dir)/a.ndjson"] + options + [input],
                                   stdin: stdin)
            XCTAssertEqual(r.status, 0, r.stderr)
            return try ["s.json", "o.ndjson", "a.ndjson"].map { try String(contentsOfFile: "\(dir)/\($0)", encoding: .utf8) }
        }
        let piped = try scan("-", stdin: log)
        let whole = try scan(path).map { $0.replacingOccurrences(of: path, with: "-") }
        let parts = try scan(path, ["--jobs", "2", "--split-bytes", "1000"]).map { $0.replacingOccurrences(of: path, with: "-") }
        XCTAssertEqual(whole, piped)
        XCTAssertEqual(parts, piped)
        let summary = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(piped[0].utf8)) as? [String: Any])
        let input = try XCTUnwrap((summary["input"] as? [[String: Any]])?.first)
        XCTAssertEqual(input["records"] as? Int, log.split(separator: 0x0A).count)
        XCTAssertEqual(input["skipped"] as? Int, 16, "8 NUL lines, 8 over the cap")
        XCTAssertTrue(piped[1].contains("\"user\":\"last\""), "the last line, without a newline")
    }
}

final class MergeTests: XCTestCase {
    /// merge(scan(A), scan(B)) is byte for byte scan(A, B): the property DESIGN.md builds on.
    func testMergeOfSummariesEqualsSummaryOfTheUnion() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("merge-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let a = [TestPaths.fixture("ai-traffic.pcap"), TestPaths.fixture("squid-access.log")]
        let b = [TestPaths.fixture("dns-answer.pcap"), TestPaths.seed("squid-native.log"), TestPaths.fixture("ai-traffic-sll.pcapng")]
        func scan(_ inputs: [String], to name: String) throws {
            let r = try runProgram(TestPaths.binary, ["scan", "--geoip", TestPaths.dbipDatabase, "--summary", "\(dir)/\(name)"] + inputs)
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        try scan(a, to: "a.json")
        try scan(b, to: "b.json")
        try scan(a + b, to: "ab.json")
        let merged = try runProgram(TestPaths.binary, ["merge", "\(dir)/a.json", "\(dir)/b.json"])
        XCTAssertEqual(merged.status, 0, merged.stderr)
        XCTAssertEqual(merged.stdout, try String(contentsOfFile: "\(dir)/ab.json", encoding: .utf8))
        // Merging is associative: merging the merge with nothing new changes nothing.
        try merged.stdout.write(toFile: "\(dir)/m.json", atomically: true, encoding: .utf8)
        XCTAssertEqual(try runProgram(TestPaths.binary, ["merge", "\(dir)/m.json"]).stdout, merged.stdout)
    }

    /// Property: a real log cut at random line boundaries into parts, each part scanned on its own and
    /// the summaries merged, gives the aggregates (all but the file:line evidence) and hour counts of
    /// scanning the whole log.
    func testMergeOfRandomSplitsOfARealLogEqualsTheWhole() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("merge-split-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Two real squid logs (the fixture's and the seed's) as one.
        var lines: [Substring] = []
        for log in [TestPaths.fixture("squid-access.log"), TestPaths.seed("squid-native.log")] {
            lines += try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        }
        let source = "\(dir)/whole.log"
        try (lines.joined(separator: "\n") + "\n").write(toFile: source, atomically: true, encoding: .utf8)
        func summary(_ inputs: [String], _ name: String) throws -> [String: Any] {
            let r = try runProgram(TestPaths.binary, ["scan", "--geoip", TestPaths.dbipDatabase, "--policy", TestPaths.fixture("policy.yaml"),
                                                      "--format", "squid", "--summary", "\(dir)/\(name)"] + inputs)
            XCTAssertEqual(r.status, 0, r.stderr)
            return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(name)"))) as? [String: Any])
        }
        let whole = try summary([source], "whole.json")
        XCTAssertGreaterThan((whole["aggregates"] as? [Any])?.count ?? 0, 3)
        var rng = SystemRandomNumberGenerator()
        for round in 0..<4 {
            let cuts = (0..<Int.random(in: 1...3, using: &rng)).map { _ in Int.random(in: 0...lines.count, using: &rng) }.sorted()
            let bounds = [0] + cuts + [lines.count]
            var parts: [String] = []
            for (i, (from, to)) in zip(bounds, bounds.dropFirst()).enumerated() where to > from {
                let path = "\(dir)/part-\(round)-\(i).log"
                try (lines[from..<to].joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
                _ = try summary([path], "part-\(round)-\(i).json")
                parts.append("\(dir)/part-\(round)-\(i).json")
            }
            let merged = try runProgram(TestPaths.binary, ["merge"] + parts)
            XCTAssertEqual(merged.status, 0, merged.stderr)
            let m = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(merged.stdout.utf8)) as? [String: Any])
            // Evidence names file:line, which differ between a part and the whole; every figure must not.
            func figures(_ summary: [String: Any]) -> NSArray {
                NSArray(array: (summary["aggregates"] as? [[String: Any]] ?? []).map { row in
                    NSDictionary(dictionary: row.filter { $0.key != "evidence" })
                })
            }
            XCTAssertEqual(figures(m), figures(whole), "cuts at \(cuts)")
            XCTAssertEqual(m["by_hour"] as? NSArray, whole["by_hour"] as? NSArray, "cuts at \(cuts)")
        }
    }

    func testMergeRejectsWhatIsNotASummary() throws {
        let r = try runProgram(TestPaths.binary, ["merge", TestPaths.fixture("squid-access.log")])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("squid-access.log: not a JSON object"), r.stderr)
    }
}

final class AlertsTests: XCTestCase {
    func alerts(_ extra: [String]) throws -> [[String: Any]] {
        let r = try runProgram(TestPaths.binary, ["scan", "--geoip", TestPaths.dbipDatabase, "--policy", TestPaths.fixture("policy.yaml"),
                                                  "--alerts", "-"] + extra + [TestPaths.fixture("ai-traffic.pcap"), TestPaths.fixture("squid-access.log")])
        XCTAssertEqual(r.status, 0, r.stderr)
        return r.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    func testAlertsCarryECSFieldsAndTheSameIdsOnEveryRun() throws {
        let first = try alerts(["--jobs", "1"])
        let again = try alerts(["--jobs", "2"])
        XCTAssertEqual(first.map { $0["event.id"] as? String }, again.map { $0["event.id"] as? String })
        XCTAssertEqual(Set(first.compactMap { $0["event.id"] as? String }).count, first.count, "ids are unique")
        // The 102,400-byte upload to claude.ai (consumer; Anthropic's API tier is approved).
        let upload = try XCTUnwrap(first.first { $0["rule.id"] as? String == "large-upload-connection" && $0["destination.domain"] as? String == "claude.ai" })
        XCTAssertEqual(upload["event.kind"] as? String, "alert")
        XCTAssertEqual(upload["event.severity"] as? Int, 73)
        XCTAssertEqual(upload["source.bytes"] as? Int, 103_345)
        XCTAssertEqual(upload["destination.ip"] as? String, "160.79.104.10")
        XCTAssertEqual(upload["destination.geo.country_iso_code"] as? String, "US")
        XCTAssertEqual(upload["shadowscope.service.tier"] as? String, "consumer")
        XCTAssertEqual(upload["shadowscope.evidence"] as? [String], [TestPaths.fixture("ai-traffic.pcap") + ":540"])
        let rules = Set(first.compactMap { $0["rule.id"] as? String })
        XCTAssertEqual(rules, ["large-upload-connection", "consumer-tier-instead-of-approved", "unapproved-service", "region-not-allowed"])
        // Chinese and Canadian destinations are outside EU and US.
        XCTAssertTrue(first.contains { $0["rule.id"] as? String == "region-not-allowed" && $0["destination.geo.country_iso_code"] as? String == "CN" })
        // Approved: the OpenAI API tier raises no use alert.
        XCTAssertFalse(first.contains { $0["rule.id"] as? String == "unapproved-service" && $0["shadowscope.service.id"] as? String == "openai-api" })
    }

    func testBadPolicyExits2WithLine() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("policy-\(UUID()).yaml").path
        try "approved_tiers: [premium]\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try runProgram(TestPaths.binary, ["scan", "--policy", path, TestPaths.fixture("squid-access.log")])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("\(path):1: tier 'premium' is not one of consumer, business, api"), r.stderr)
    }
}
