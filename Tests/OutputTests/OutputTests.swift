import ShadowScopeCore
import TestSupport
import XCTest

@testable import Output

final class JSONWriterTests: XCTestCase {
    func testStringsAreEscaped() {
        var w = JSONWriter()
        w.beginObject()
        w.field("k", "a\"b\\c\nd\u{1}é")
        w.field("n", nil as String?)
        w.endObject()
        XCTAssertEqual(String(decoding: w.bytes, as: UTF8.self), #"{"k":"a\"b\\c\nd\u0001é","n":null}"#)
    }

    /// The eight-bytes-at-a-time test for bytes to escape agrees with the byte-by-byte definition on
    /// random strings of every length up to 40, each byte value and position tried.
    func testEscapeCheckAgreesWithByteByByteDefinition() {
        var rng = SystemRandomNumberGenerator()
        let pool: [UInt8] = [0x00, 0x01, 0x1F, 0x20, 0x21, 0x22, 0x23, 0x5B, 0x5C, 0x5D, 0x7F, 0x80, 0xA2, 0xDC, 0xFF] + Array(0x61...0x7A)
        for _ in 0..<20_000 {
            let bytes = (0..<Int.random(in: 0...40, using: &rng)).map { _ in pool.randomElement(using: &rng)! }
            let expected = bytes.contains { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }
            XCTAssertEqual(bytes.withUnsafeBytes { JSONWriter.needsEscape($0) }, expected, "\(bytes)")
        }
    }

    func testIntegersAtTheirLimitsAreWrittenInFull() {
        var w = JSONWriter()
        w.beginArray()
        for v: Int64 in [0, 7, -7, 10, 1_000_000, Int64.max, Int64.min, -1] { w.value(v) }
        w.endArray()
        XCTAssertEqual(String(decoding: w.bytes, as: UTF8.self),
                       "[0,7,-7,10,1000000,9223372036854775807,-9223372036854775808,-1]")
    }

    /// Times written straight into the writer are `rfc3339`'s text, years outside 0...9999 included
    /// (those go through the String).
    func testTimesAreWrittenAsRFC3339() {
        let times = [Timestamp(seconds: 1_795_608_602, microseconds: 127_140), Timestamp(seconds: 0), Timestamp(microseconds: -1),
                     Timestamp(seconds: 253_402_300_800), Timestamp(seconds: -62_167_219_201)]
        var w = JSONWriter()
        w.beginArray()
        let fields = w.fieldOpenings(["t"])
        for t in times {
            w.beginObject()
            w.open(fields, 0)
            w.rawValue(t)
            w.endObject()
        }
        w.endArray()
        XCTAssertEqual(String(decoding: w.bytes, as: UTF8.self),
                       "[" + times.map { "{\"t\":\"\($0.rfc3339)\"}" }.joined(separator: ",") + "]")
        XCTAssertEqual(times[3].rfc3339, "10000-01-01T00:00:00.000Z")
    }

    func testPrettyOutputIsValidJSON() throws {
        var w = JSONWriter(pretty: true)
        w.beginObject()
        w.beginArray("a")
        w.value("x")
        w.endArray()
        w.beginArray("empty")
        w.endArray()
        w.field("n", 3 as Int64?)
        w.endObject()
        XCTAssertEqual(String(decoding: w.bytes, as: UTF8.self), "{\n  \"a\": [\n    \"x\"\n  ],\n  \"empty\": [],\n  \"n\": 3\n}")
    }

    /// Rows written through precomputed field openings are the bytes `field` writes, pretty or compact,
    /// with a list after the fields, for the first row of an array and the ones after it.
    func testFieldOpeningsWriteWhatFieldWrites() {
        for pretty in [true, false] {
            var a = JSONWriter(pretty: pretty), b = JSONWriter(pretty: pretty)
            a.beginObject(); a.beginArray("rows")
            b.beginObject(); b.beginArray("rows")
            let row = b.fieldOpenings(["name", "n", "ok", "none", "say \"hi\""])
            for i in 0..<3 {
                a.beginObject()
                a.field("name", "row \(i)")
                a.field("n", Int64(i) as Int64?)
                a.field("ok", i == 1)
                a.field("none", nil as String?)
                a.field("say \"hi\"", "\u{1}")
                a.beginArray("list"); a.value("e"); a.endArray()
                a.endObject()
                b.beginObject()
                b.open(row, 0); b.rawValue("row \(i)")
                b.open(row, 1); b.rawValue(Int64(i) as Int64?)
                b.open(row, 2); b.rawValue(i == 1)
                b.open(row, 3); b.rawValue(nil as String?)
                b.open(row, 4); b.rawValue("\u{1}")
                b.beginArray("list"); b.value("e"); b.endArray()
                b.endObject()
            }
            a.endArray(); a.endObject()
            b.endArray(); b.endObject()
            XCTAssertEqual(String(decoding: b.bytes, as: UTF8.self), String(decoding: a.bytes, as: UTF8.self), "pretty \(pretty)")
        }
    }
}

final class ObservationJSONTests: XCTestCase {
    func testEveryContractFieldIsPresentAndUnknownIsNull() throws {
        var o = Observation(timestamp: Timestamp(seconds: 1_795_608_606, microseconds: 105_000),
                            source: SourceRef(file: "access.log", position: .line(1)))
        o.transport = .tcp
        o.clientIP = IPAddress("127.0.0.1")
        o.user = "alice"
        o.serverIP = IPAddress("2402:4e00:1900:1700::5")
        o.serverPort = 443
        o.host = "chatgpt.com"
        o.hostSource = .proxyConnect
        o.method = "CONNECT"
        o.status = 200
        o.bytesDown = 22_639
        o.durationMs = 30
        var w = JSONWriter()
        writeObservation(o, into: &w)
        XCTAssertEqual(String(decoding: w.bytes, as: UTF8.self),
            #"{"ts":"2026-11-25T12:10:06.105Z","source":{"file":"access.log","frame":null,"line":1},"transport":"tcp","#
            + #""client":{"ip":"127.0.0.1","port":null,"user":"alice"},"server":{"ip":"2402:4e00:1900:1700::5","port":443},"#
            + #""host":"chatgpt.com","host_source":"proxy-connect","url_path":null,"method":"CONNECT","status":200,"dns":null,"#
            + #""bytes_up":null,"bytes_down":22639,"packets_up":null,"packets_down":null,"duration_ms":30}"#)
    }
}

final class SummaryJSONTests: XCTestCase {
    /// A summary of thousands of rows goes out in pieces (about 1 MiB each); the pieces joined are the
    /// whole document, every row in order, and non-ASCII users sort by their UTF-8 bytes.
    func testLargeSummaryWrittenInPiecesIsTheWholeDocument() throws {
        let match = ServiceMatch(serviceID: "openai-chatgpt", vendor: "OpenAI", service: "ChatGPT", tier: "consumer",
                                 category: "chat", tierInName: false, evidence: .strong)
        var agg = Aggregates()
        let users = (0..<4_000).map { $0 % 3 == 0 ? "usér\($0)" : "user\($0)" }
        for (i, user) in users.enumerated() {
            var o = Observation(timestamp: Timestamp(seconds: 1_795_608_606 + Int64(i)), source: SourceRef(file: "a.log", position: .line(i + 1)))
            o.bytesUp = Int64(i)
            agg.add(o, Attribution(match: match, user: user, region: Region(country: "US", how: .geoip)), hours: BusinessHours(), approved: [])
        }
        let context = SummaryContext(tool: "shadowscope test", geoip: nil, hours: BusinessHours())
        var pieces: [[UInt8]] = []
        writeSummaryJSON(inputs: [InputReport(file: "a.log", format: "squid")], aggregates: agg, context: context) { pieces.append(Array($0)) }
        let whole = summaryJSON(inputs: [InputReport(file: "a.log", format: "squid")], aggregates: agg, context: context)
        XCTAssertGreaterThan(pieces.count, 2)
        XCTAssertEqual(Array(pieces.joined()), whole)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(whole)) as? [String: Any])
        let rows = try XCTUnwrap(json["aggregates"] as? [[String: Any]])
        XCTAssertEqual(rows.compactMap { $0["user"] as? String }, users.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })
        XCTAssertEqual(rows.compactMap { $0["bytes_up"] as? Int }.reduce(0, +), (0..<4_000).reduce(0, +))
    }

    /// Rows formatted on several threads (`scan --jobs`) give the bytes one thread writes: no rows, fewer
    /// rows than threads, and more than one block of rows.
    func testSummaryWrittenOnSeveralThreadsIsTheSameDocument() {
        let match = ServiceMatch(serviceID: "openai-chatgpt", vendor: "OpenAI", service: "ChatGPT", tier: "consumer",
                                 category: "chat", tierInName: false, evidence: .strong)
        let context = SummaryContext(tool: "shadowscope test", geoip: nil, hours: BusinessHours())
        for count in [0, 1, 2, 3, 40_000] {
            var agg = Aggregates()
            for i in 0..<count {
                var o = Observation(timestamp: Timestamp(seconds: 1_795_608_606 + Int64(i)), source: SourceRef(file: "a.log", position: .line(i + 1)))
                o.bytesUp = Int64(i)
                agg.add(o, Attribution(match: match, user: "user\(i)", region: .unknown), hours: BusinessHours(), approved: [])
            }
            func written(_ threads: Int) -> [UInt8] {
                var out: [UInt8] = []
                writeSummaryJSON(inputs: [InputReport(file: "a.log", format: "squid")], aggregates: agg, context: context,
                                 threads: threads) { out += $0 }
                return out
            }
            let one = written(1)
            XCTAssertEqual(written(2), one, "\(count) rows, 2 threads")
            XCTAssertEqual(written(3), one, "\(count) rows, 3 threads")
        }
    }

    /// The summary written from several inputs' tables as they are (`scan` asked only for the summary)
    /// is the summary of the tables merged in input order: rows in one table only, in several (their
    /// counts, times, evidence of several files cut at the limit, region found by host in one and by
    /// GeoIP in another, approval in one), an empty table, several shares a table, several threads,
    /// and more tables than are sorted together (merged first). Checked byte for byte.
    func testSummaryOfSeveralTablesIsTheSummaryOfTheirMerge() {
        let services = (0..<3).map { k in
            ServiceMatch(serviceID: "svc-\(k)", vendor: "V\(k)", service: "S\(k)", tier: "consumer", category: "chat",
                         tierInName: false, evidence: k == 2 ? .weak : .strong)
        }
        let regions = [Region.unknown, Region(country: "DE", how: .geoip), Region(country: "DE", how: .host), Region(country: "US", how: .geoip)]
        let context = SummaryContext(tool: "shadowscope test", geoip: nil, hours: BusinessHours())
        var rng = SystemRandomNumberGenerator()
        // Few users: rows in several tables whose evidence together passes the limit (the list is then
        // cut in file order, which is not the tables' order: the files are named in reverse).
        for (tableCount, users) in [(2, 300), (3, 300), (12, 300), (3, 4), (5, 2)] {
            var tables = [Aggregates](repeating: Aggregates(), count: tableCount)
            for t in tables.indices where t != 1 {  // table 1 stays empty
                for i in 0..<Int.random(in: 1_000...3_000, using: &rng) {
                    var o = Observation(timestamp: Timestamp(seconds: 1_795_608_606 + Int64.random(in: 0...200_000, using: &rng)),
                                        source: SourceRef(file: "input\(tableCount - t).log", position: .line(i + 1)))
                    o.bytesUp = Bool.random(using: &rng) ? Int64.random(in: 0...9_999, using: &rng) : nil
                    o.bytesDown = Int64.random(in: 0...9_999, using: &rng)
                    o.hostSource = Int.random(in: 0..<5, using: &rng) == 0 ? .dnsQuery : .proxyURL
                    let s = Int.random(in: 0..<3, using: &rng)
                    tables[t].add(o, Attribution(match: services[s], user: "user\(Int.random(in: 0..<users, using: &rng))",
                                                 region: regions.randomElement(using: &rng)!),
                                  hours: BusinessHours(), approved: t == 2 && s == 0 ? ["svc-0"] : [])
                }
            }
            var merged = Aggregates()
            for table in tables { merged.merge(table) }
            func written(_ tables: [Aggregates], _ threads: Int) -> [UInt8] {
                var out: [UInt8] = []
                writeSummaryJSON(inputs: [], tables: tables, context: context, threads: threads) { out += $0 }
                return out
            }
            let expected = written([merged], 1)
            for threads in [1, 2, 3] {
                XCTAssertEqual(written(tables, threads), expected, "\(tableCount) tables, \(users) users, \(threads) threads")
            }
            let shares = Aggregates.sorted(tables, threads: 3, rowsPerThread: 100)
            XCTAssertEqual(shares.map(\.key), merged.sorted.map(\.key), "\(tableCount) tables in shares of 100 rows")
            XCTAssertEqual(shares.map(\.value), merged.sorted.map(\.value), "\(tableCount) tables in shares of 100 rows")
        }
    }

    /// A row's service fields are written once per service and copied, evidence runs of one file have
    /// the file escaped once, times are written without a String: every row must still read back as
    /// its own facts, with evidence of two files (names needing escapes), a text reference, and
    /// services alternating from row to row, on one thread and on two.
    func testRowsReadBackWithTheirServiceFactsEvidenceAndTimes() throws {
        let services = (0..<3).map { k in
            ServiceMatch(serviceID: "svc-\(k)", vendor: "Vendor \"\(k)\"", service: "Service\\\(k)", tier: ["consumer", "business", "api"][k],
                         category: "chat", tierInName: k == 1, evidence: .strong)
        }
        let files = ["a \"quoted\".log", "b\\back.log"]
        var halves = [Aggregates(), Aggregates()]
        for i in 0..<600 {
            let o = Observation(timestamp: Timestamp(seconds: 1_795_608_606 + Int64(i), microseconds: Int64(i % 1000) * 1000),
                                source: SourceRef(file: files[i % 2], position: .line(i)))
            halves[i % 2].add(o, Attribution(match: services[(i / 2) % 3], user: "user\((i / 6) % 50)", region: .unknown),
                              hours: BusinessHours(), approved: [])
        }
        var agg = halves[0]
        agg.merge(halves[1])
        var fromFile = AggregateValue(firstSeen: Timestamp(seconds: 0), lastSeen: Timestamp(seconds: 0),
                                      match: ServiceMatchSummary(vendor: "V", service: "S", tier: "api", category: "chat", tierInName: false),
                                      country: nil, how: .unknown, approved: false)
        fromFile.evidence = ["notes \"x\"", "a \"quoted\".log:7"]
        agg.insert(AggregateKey(day: "2026-11-25", user: "user1", serviceID: "svc-0", region: "unknown"), fromFile)
        let context = SummaryContext(tool: "shadowscope test", geoip: nil, hours: BusinessHours())
        for threads in [1, 2] {
            var bytes: [UInt8] = []
            writeSummaryJSON(inputs: [], aggregates: agg, context: context, threads: threads) { bytes += $0 }
            let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
            let rows = try XCTUnwrap(json["aggregates"] as? [[String: Any]])
            XCTAssertEqual(rows.count, agg.rows.count)
            for (row, (key, value)) in zip(rows, agg.sorted) {
                XCTAssertEqual(row["user"] as? String, key.user)
                XCTAssertEqual(row["vendor"] as? String, value.match.vendor)
                XCTAssertEqual(row["service"] as? String, value.match.service)
                XCTAssertEqual(row["tier"] as? String, value.match.tier)
                XCTAssertEqual(row["tier_visible_in_name"] as? Bool, value.match.tierInName)
                XCTAssertEqual(row["first_seen"] as? String, value.firstSeen.rfc3339)
                XCTAssertEqual(row["last_seen"] as? String, value.lastSeen.rfc3339)
                XCTAssertEqual(row["evidence"] as? [String], value.evidence, "\(key)")
            }
            let mixed = try XCTUnwrap(rows.first { ($0["evidence"] as? [String])?.contains("notes \"x\"") == true })
            XCTAssertEqual((mixed["evidence"] as? [String])?.filter { $0.hasPrefix("b\\back.log:") }.isEmpty, false,
                           "a row counted in both files names both")
        }
    }

    func testSummaryRowsCarryContractFieldsAndNullForAllUnknown() throws {
        let match = ServiceMatch(serviceID: "openai-api", vendor: "OpenAI", service: "OpenAI API", tier: "api",
                                 category: "model-api", tierInName: false, evidence: .strong)
        var o = Observation(timestamp: Timestamp(seconds: 1_795_608_606), source: SourceRef(file: "a.log", position: .line(3)))
        o.bytesDown = 5
        var agg = Aggregates()
        agg.add(o, Attribution(match: match, user: "alice", region: Region(country: "US", how: .geoip)),
                hours: BusinessHours(), approved: [])
        var report = InputReport(file: "a.log", format: "squid")
        report.records = 4
        report.skip(at: "a.log:2", reason: "expected 10 fields, found 3")
        let bytes = summaryJSON(inputs: [report], aggregates: agg,
                                context: SummaryContext(tool: "shadowscope test", geoip: nil, hours: BusinessHours()))
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        XCTAssertEqual(json["schema"] as? String, "shadowscope.summary/1")
        let input = try XCTUnwrap((json["input"] as? [[String: Any]])?.first)
        XCTAssertEqual(input["skipped"] as? Int, 1)
        XCTAssertEqual((input["skipped_samples"] as? [[String: String]])?.first, ["at": "a.log:2", "reason": "expected 10 fields, found 3"])
        let row = try XCTUnwrap((json["aggregates"] as? [[String: Any]])?.first)
        XCTAssertEqual(row["day"] as? String, "2026-11-25")
        XCTAssertEqual(row["user"] as? String, "alice")
        XCTAssertEqual(row["service_id"] as? String, "openai-api")
        XCTAssertEqual(row["region"] as? String, "US")
        XCTAssertEqual(row["country"] as? String, "US")
        XCTAssertEqual(row["region_group"] as? String, "non-eu")
        XCTAssertEqual(row["how"] as? String, "geoip")
        XCTAssertEqual(row["connections"] as? Int, 1)
        XCTAssertTrue(row["bytes_up"] is NSNull, "no observation measured the upload: null, not 0")
        XCTAssertEqual(row["bytes_up_unknown"] as? Int, 1)
        XCTAssertEqual(row["bytes_down"] as? Int, 5)
        XCTAssertEqual(row["approved"] as? Bool, false)
        XCTAssertEqual(row["first_seen"] as? String, "2026-11-25T12:10:06.000Z")
    }
}

final class PseudonymizerTests: XCTestCase {
    /// RFC 4231 test case 1 (key 0x0b × 20, data "Hi There"): proves the HMAC is HMAC-SHA256.
    func testHMACIsSHA256PerRFC4231() throws {
        let p = try Pseudonymizer(key: [UInt8](repeating: 0x0B, count: 20))
        XCTAssertEqual(p.fullHMAC(Array("Hi There".utf8)), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        XCTAssertEqual(p.pseudonym("Hi There"), "u-b0344c61d8db3853")
    }

    func testSameUserSamePseudonymOtherKeyOtherPseudonym() throws {
        let a = try Pseudonymizer(key: Array("0123456789abcdef".utf8))
        let b = try Pseudonymizer(key: Array("fedcba9876543210".utf8))
        XCTAssertEqual(a.pseudonym("alice"), a.pseudonym("alice"))
        XCTAssertNotEqual(a.pseudonym("alice"), a.pseudonym("bob"))
        XCTAssertNotEqual(a.pseudonym("alice"), b.pseudonym("alice"))
    }

    func testShortKeysAreRefused() {
        XCTAssertThrowsError(try Pseudonymizer(key: Array("short".utf8))) { error in
            XCTAssertEqual((error as? Pseudonymizer.KeyError)?.description, "the key must hold at least 16 bytes, it holds 5")
        }
    }

    func testApplyReplacesUserAndClientAddress() throws {
        let p = try Pseudonymizer(key: [UInt8](repeating: 7, count: 16))
        var o = Observation(timestamp: Timestamp(seconds: 0), source: SourceRef(file: "f", position: .line(1)))
        o.user = "alice"
        o.clientIP = IPAddress("10.0.0.1")
        var a = Attribution(match: nil, user: "alice", region: .unknown)
        p.apply(&o, &a)
        XCTAssertEqual(o.user, p.pseudonym("alice"))
        XCTAssertEqual(a.user, p.pseudonym("alice"))
        XCTAssertNil(o.clientIP)
        XCTAssertEqual(o.clientName, p.pseudonym("10.0.0.1"))
    }
}
