import Foundation
import TestSupport
import XCTest

@testable import ShadowScopeCore

final class IPAddressTests: XCTestCase {
    func testIPv4RoundTrip() {
        XCTAssertEqual(IPAddress("10.20.30.41"), .v4(0x0A14_1E29))
        XCTAssertEqual(IPAddress("10.20.30.41")?.description, "10.20.30.41")
        XCTAssertEqual(IPAddress("255.255.255.255")?.description, "255.255.255.255")
        XCTAssertEqual(IPAddress("0.0.0.0")?.description, "0.0.0.0")
        // Every octet value at every position, and random addresses, as the dotted-decimal definition writes them.
        var rng = SystemRandomNumberGenerator()
        var samples: [UInt32] = (0..<5_000).map { _ in UInt32.random(in: .min ... .max, using: &rng) }
        for o: UInt32 in 0..<256 {
            samples += [o << 24 | 0x0001_0203, o << 16 | 0x0A00_0009, o << 8 | 0x6400_0001, o | 0x0909_0900]
        }
        for a in samples {
            let octets: [UInt32] = [a >> 24, (a >> 16) & 0xFF, (a >> 8) & 0xFF, a & 0xFF]
            let expected = octets.map { String($0) }.joined(separator: ".")
            XCTAssertEqual(IPAddress.v4(a).description, expected)
            XCTAssertEqual(IPAddress(expected), .v4(a))
        }
    }

    /// The in-place form (DNS names put together on the stack) answers as `normalizeHost` does, on
    /// random names of host bytes, upper case, trailing dots, odd bytes and every length to 260.
    func testNormalizeHostInPlaceAgreesWithNormalizeHost() {
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("abcXYZ09-_.".utf8) + [0x00, 0x20, 0x7F, 0xC3, 0x2F]
        for n in 0...260 {
            for _ in 0..<20 {
                var bytes = (0..<n).map { _ in Int.random(in: 0..<10, using: &rng) == 0 ? alphabet.randomElement(using: &rng)! : Array("abcXYZ09.".utf8).randomElement(using: &rng)! }
                let expected = normalizeHost(bytes)
                let got = bytes.withUnsafeMutableBufferPointer { normalizeHostInPlace($0) }
                XCTAssertEqual(got, expected, "\(bytes)")
            }
        }
        var dotted = Array("Chat.OpenAI.com..".utf8)
        XCTAssertEqual(dotted.withUnsafeMutableBufferPointer { normalizeHostInPlace($0) }, "chat.openai.com")
    }

    func testIPv6IsFormattedAsRFC5952() {
        XCTAssertEqual(IPAddress("2402:4E00:1900:1700:0:0:0:5")?.description, "2402:4e00:1900:1700::5")
        XCTAssertEqual(IPAddress("::1")?.description, "::1")
        XCTAssertEqual(IPAddress("::")?.description, "::")
        XCTAssertEqual(IPAddress("2001:db8:0:1:1:1:1:1")?.description, "2001:db8:0:1:1:1:1:1", "a single zero group is not compressed")
        XCTAssertEqual(IPAddress("2001:0:0:1:0:0:0:1")?.description, "2001:0:0:1::1", "the longest run is compressed")
        XCTAssertEqual(IPAddress("::ffff:1.2.3.4")?.description, "::ffff:102:304")
        XCTAssertEqual(IPAddress("fd00:20::41")?.bytes.count, 16)
    }

    func testInvalidAddressesAreRejected() {
        for bad in ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1..2.3", "a.b.c.d", ":::", "1::2::3",
                    "12345::", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "fe80::1%eth0", "2001:db8::1:", "::1.2.3"] {
            XCTAssertNil(IPAddress(bad), bad)
        }
    }
}

final class TimestampTests: XCTestCase {
    func testRFC3339WithMilliseconds() {
        XCTAssertEqual(Timestamp(seconds: 1_795_608_602, microseconds: 127_140).rfc3339, "2026-11-25T12:10:02.127Z")
        XCTAssertEqual(Timestamp(seconds: 0).rfc3339, "1970-01-01T00:00:00.000Z")
        XCTAssertEqual(Timestamp(seconds: 951_782_400).day, "2000-02-29")
        XCTAssertEqual(Timestamp(microseconds: -1).rfc3339, "1969-12-31T23:59:59.999Z")
    }

    /// `rfc3339` and `day` write their digits by hand; Foundation's ISO 8601 formatter is the oracle,
    /// over random instants from 1583 (Foundation's calendar is Julian before the 1582 reform, ours
    /// proleptic Gregorian as RFC 3339 says) to 9999 and the edges of that range.
    func testRFC3339AgreesWithFoundationFrom1583To9999() {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        f.timeZone = TimeZone(identifier: "UTC")
        let first: Int64 = -12_212_553_600  // 1583-01-01T00:00:00Z
        let last: Int64 = 253_402_300_799   // 9999-12-31T23:59:59Z
        var rng = SystemRandomNumberGenerator()
        var seconds: [Int64] = [first, last, 0, -1, 951_782_399, 951_782_400, 4_107_542_399]
        for _ in 0..<2_000 { seconds.append(Int64.random(in: first...last, using: &rng)) }
        for s in seconds {
            let ms = Int64.random(in: 0..<1000, using: &rng)
            let t = Timestamp(seconds: s, microseconds: ms * 1000 + 999)
            let expected = f.string(from: Date(timeIntervalSince1970: Double(s) + Double(ms) / 1000 + 0.0001))
            XCTAssertEqual(t.rfc3339, expected, "\(s)")
            XCTAssertEqual(t.day, String(expected.prefix(10)), "\(s)")
        }
    }

    func testWeekday() {
        XCTAssertEqual(Timestamp(seconds: 0).weekday, 3, "1970-01-01 was a Thursday")
        XCTAssertEqual(Timestamp(seconds: 1_795_608_602).weekday, 2, "2026-11-25 is a Wednesday")
    }

    func testOffHours() {
        let hours = BusinessHours()
        XCTAssertFalse(hours.isOffHours(Timestamp(seconds: 1_795_608_602)), "Wednesday 12:10 UTC")
        XCTAssertTrue(hours.isOffHours(Timestamp(seconds: 1_795_608_602 - 13 * 3600)), "Tuesday 23:10 UTC")
        XCTAssertTrue(hours.isOffHours(Timestamp(seconds: 1_795_608_602 + 3 * 86_400)), "Saturday")
        let halfPastSeven = Timestamp(seconds: 1_795_608_602 - 4 * 3600 - 40 * 60)
        XCTAssertTrue(hours.isOffHours(halfPastSeven), "07:30 UTC")
        XCTAssertFalse(BusinessHours(utcOffsetSeconds: 3600).isOffHours(halfPastSeven), "07:30 UTC is 08:30 in UTC+1")
    }
}

final class ByteCursorTests: XCTestCase {
    func testShortReadsReturnNilAndDoNotMove() {
        [UInt8]([1, 2, 3]).withUnsafeBytes { raw in
            var c = ByteCursor(raw)
            XCTAssertNil(c.readU32())
            XCTAssertEqual(c.offset, 0)
            XCTAssertNil(c.readU64())
            XCTAssertEqual(c.offset, 0)
            XCTAssertEqual(c.readU16(), 0x0102)
            XCTAssertNil(c.readU16())
            XCTAssertEqual(c.readU8(), 3)
            XCTAssertNil(c.readU8())
            XCTAssertNil(c.readBytes(-1))
            XCTAssertFalse(c.skip(1))
            XCTAssertTrue(c.isAtEnd)
        }
    }

    func testSubCursorReportsAbsolutePosition() {
        [UInt8]([0, 0, 9, 8, 7]).withUnsafeBytes { raw in
            var c = ByteCursor(raw)
            _ = c.skip(2)
            var sub = c.readCursor(3)!
            XCTAssertEqual(sub.position, 2)
            XCTAssertEqual(sub.readU8(), 9)
            XCTAssertEqual(sub.position, 3)
        }
    }
}

final class AggregatesTests: XCTestCase {
    struct FixedMatcher: ServiceMatcher {
        func match(host: String) -> ServiceMatch? {
            host.hasSuffix("openai.com")
                ? ServiceMatch(serviceID: "openai-api", vendor: "OpenAI", service: "OpenAI API", tier: "api",
                               category: "model-api", tierInName: false, evidence: .strong)
                : nil
        }
    }

    func observation(_ i: Int, up: Int64?) -> Observation {
        var o = Observation(timestamp: Timestamp(seconds: 1_795_608_602 + Int64(i) * 3600), source: SourceRef(file: "f", position: .line(i)))
        o.host = i % 3 == 0 ? "www.example.org" : "api.openai.com"
        o.user = i % 2 == 0 ? "alice" : "bob"
        o.bytesUp = up
        o.bytesDown = 100
        return o
    }

    func testUnknownUploadIsCountedNotAddedAsZero() {
        let attributor = Attributor(matcher: FixedMatcher(), geo: nil)
        var a = Aggregates()
        for (i, up) in [(1, Int64(10)), (5, nil)] {
            let o = observation(i, up: up)
            a.add(o, attributor.attribute(o), hours: BusinessHours(), approved: [])
        }
        let row = a.rows[AggregateKey(day: "2026-11-25", user: "bob", serviceID: "openai-api", region: "unknown")]
        XCTAssertEqual(row?.connections, 2)
        XCTAssertEqual(row?.bytesUp, 10)
        XCTAssertEqual(row?.bytesUpUnknown, 1)
        XCTAssertEqual(row?.bytesDown, 200)
    }

    /// A scan that writes no observations attributes only matches: `attributeIfMatched` is nil for
    /// the rest and, for a match, exactly what `attribute` gives.
    func testAttributeIfMatchedIsAttributeForMatchesAndNilOtherwise() {
        let attributor = Attributor(matcher: FixedMatcher(), geo: nil)
        var cache = GeoCache()
        for i in 0..<12 {
            var o = observation(i, up: 5)
            if i % 4 == 1 { o.user = nil; o.clientIP = IPAddress("10.0.0.\(i)") }
            let full = attributor.attribute(o)
            let matched = attributor.attributeIfMatched(o, cache: &cache)
            XCTAssertEqual(matched == nil, full.match == nil)
            if let matched {
                XCTAssertEqual(matched.user, full.user)
                XCTAssertEqual(matched.region, full.region)
                XCTAssertEqual(matched.match?.serviceID, full.match?.serviceID)
            }
        }
    }

    /// Aggregates of disjoint parts merge into the aggregate of the whole, however the input is cut.
    func testMergeOfRandomSplitsEqualsWhole() {
        let attributor = Attributor(matcher: FixedMatcher(), geo: nil)
        let observations = (0..<200).map { observation($0, up: $0 % 7 == 0 ? nil : Int64($0 * 13)) }
        var whole = Aggregates()
        for o in observations { whole.add(o, attributor.attribute(o), hours: BusinessHours(), approved: []) }
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20 {
            var parts = [Aggregates](repeating: Aggregates(), count: 4)
            for o in observations {
                parts[Int(rng.next() % 4)].add(o, attributor.attribute(o), hours: BusinessHours(), approved: [])
            }
            var merged = Aggregates()
            for p in parts.shuffled() { merged.merge(p) }
            XCTAssertEqual(merged.rows, whole.rows)
            XCTAssertEqual(merged.hours, whole.hours)
        }
        XCTAssertEqual(whole.rows.count, Set(observations.filter { $0.host != "www.example.org" }.map { "\($0.timestamp.day)|\($0.user!)" }).count)
    }

    /// `add` counts an observation into an existing row in place; that must be what merging the
    /// observation's own one-row aggregate gives: DNS look-ups, unknown sizes, weak matches, off hours.
    func testCountingIntoARowEqualsMergingTheObservationsOwnRow() {
        let weak = ServiceMatch(serviceID: "openai-api", vendor: "OpenAI", service: "OpenAI API", tier: "api",
                                category: "model-api", tierInName: false, evidence: .weak)
        let attributor = Attributor(matcher: FixedMatcher(), geo: nil)
        var hours = BusinessHours()
        hours.weekdays = [1, 2, 3, 4, 5]
        var whole = Aggregates(), singles = Aggregates()
        for i in 0..<300 {
            var o = observation(i % 50, up: i % 7 == 0 ? nil : Int64(i * 13))
            if i % 5 == 0 { o.hostSource = .dnsQuery }
            if i % 11 == 0 { o.bytesDown = nil }
            o.source = SourceRef(file: "f", position: .line(1000 - i))
            var a = attributor.attribute(o)
            if i % 9 == 0, a.match != nil { a.match = weak }
            whole.add(o, a, hours: hours, approved: i % 13 == 0 ? ["openai-api"] : [])
            var one = Aggregates()
            one.add(o, a, hours: hours, approved: i % 13 == 0 ? ["openai-api"] : [])
            singles.merge(one)
        }
        XCTAssertEqual(whole.rows, singles.rows)
        XCTAssertEqual(whole.hours, singles.hours)
        XCTAssertTrue(whole.rows.values.contains { $0.lookups > 0 && $0.connections > 0 && $0.evidence.count == AggregateValue.maxEvidence })
    }

    /// Observations an hour apart from 2026-11-25T12:10:02Z: every UTC hour gets its share.
    func testHourHistogramCountsConnectionsPerUTCHourForTheReport() {
        let attributor = Attributor(matcher: FixedMatcher(), geo: nil)
        var a = Aggregates()
        for i in 0..<48 {
            let o = observation(i, up: 1)
            a.add(o, attributor.attribute(o), hours: BusinessHours(), approved: [])
        }
        // Hosts of i % 3 == 0 are not in the catalog; hour (12 + i) % 24.
        var expected = [Int64](repeating: 0, count: 24)
        for i in 0..<48 where i % 3 != 0 { expected[(12 + i) % 24] += 1 }
        XCTAssertEqual(a.hours, expected)
        XCTAssertEqual(a.hours.reduce(0, +), a.rows.values.reduce(0) { $0 + $1.connections })
    }

    /// The row table grows from 16 slots to tens of thousands and merges tables of two files: every
    /// row is found by its key, holds exactly what was counted into it, and `sorted` visits each row
    /// once in key order. Checked against a Dictionary of the same counts.
    func testRowTableFindsEveryRowAfterGrowingAndMerging() {
        let match = ServiceMatch(serviceID: "openai-api", vendor: "OpenAI", service: "OpenAI API", tier: "api",
                                 category: "model-api", tierInName: false, evidence: .strong)
        var rng = SystemRandomNumberGenerator()
        var halves = [Aggregates(), Aggregates()]
        var expected: [String: (connections: Int64, up: Int64, lines: [String])] = [:]
        for i in 0..<60_000 {
            let half = i % 2
            let user = "user\(Int.random(in: 0..<20_000, using: &rng))"
            var o = Observation(timestamp: Timestamp(seconds: 1_795_608_602), source: SourceRef(file: "half\(half).log", position: .line(i)))
            o.bytesUp = Int64(i)
            halves[half].add(o, Attribution(match: match, user: user, region: .unknown), hours: BusinessHours(), approved: [])
            expected[user, default: (0, 0, [])].connections += 1
            expected[user]!.up += Int64(i)
            expected[user]!.lines.append(o.source.description)
        }
        var merged = halves[0]
        merged.merge(halves[1])
        XCTAssertEqual(merged.rows.count, expected.count)
        for (user, e) in expected {
            let row = merged.rows[AggregateKey(day: "2026-11-25", user: user, serviceID: "openai-api", region: "unknown")]
            XCTAssertEqual(row?.connections, e.connections, user)
            XCTAssertEqual(row?.bytesUp, e.up, user)
            // The evidence of a row counted in two files: its first ten references, half0.log's before half1.log's.
            XCTAssertEqual(row?.evidence, Array(e.lines.sorted(by: EvidenceList.referenceLess).prefix(EvidenceList.limit)), user)
        }
        XCTAssertNil(merged.rows[AggregateKey(day: "2026-11-25", user: "nobody", serviceID: "openai-api", region: "unknown")])
        let sortedKeys = expected.keys.map { AggregateKey(day: "2026-11-25", user: $0, serviceID: "openai-api", region: "unknown") }.sorted()
        XCTAssertEqual(merged.sorted.map(\.key), sortedKeys)
        var twoThreads = Aggregates()
        twoThreads.merge(merged)
        twoThreads.sortRows(threads: 2)
        XCTAssertEqual(twoThreads.sorted.map(\.key), sortedKeys)
        // Merged the other way round: the same rows.
        var other = halves[1]
        other.merge(halves[0])
        XCTAssertEqual(other.rows, merged.rows)
    }
}

final class RowChunksTests: XCTestCase {
    /// Elements appended across chunk boundaries (the first chunk growing as an array does, the next
    /// made whole) read back in order, and a change through the subscript lands on that element only;
    /// a copy taken before the change keeps the old value.
    func testElementsAcrossChunksReadBackAndChangeInPlace() {
        let n = 3 * RowChunks<Int>.chunkSize + 5
        var chunks = RowChunks<Int>()
        for i in 0..<n { chunks.append(i * 3) }
        XCTAssertEqual(chunks.count, n)
        XCTAssertEqual(Array(chunks), (0..<n).map { $0 * 3 })
        let before = chunks
        for i in [0, RowChunks<Int>.chunkSize - 1, RowChunks<Int>.chunkSize, 2 * RowChunks<Int>.chunkSize + 1, n - 1] {
            chunks[i] += 1
        }
        XCTAssertEqual(chunks[RowChunks<Int>.chunkSize - 1], (RowChunks<Int>.chunkSize - 1) * 3 + 1)
        XCTAssertEqual(chunks[RowChunks<Int>.chunkSize], RowChunks<Int>.chunkSize * 3 + 1)
        XCTAssertEqual(chunks[RowChunks<Int>.chunkSize + 1], (RowChunks<Int>.chunkSize + 1) * 3)
        XCTAssertEqual(chunks.reduce(0, +), (0..<n).reduce(0) { $0 + $1 * 3 } + 5)
        XCTAssertEqual(Array(before), (0..<n).map { $0 * 3 })
    }

    /// Copies share chunks until one changes: appending to a copy (into a chunk both hold, full or
    /// not) or changing an element in it leaves the other as it was. Every element made is destroyed
    /// once, when the last value holding its chunk goes.
    func testCopiesChangeApartAndEveryElementIsDestroyedOnce() {
        let counter = DeinitCounter()
        do {
            var a = RowChunks<Tracked>()
            for i in 0..<20 { a.append(Tracked(i, counter)) }  // the first chunk grown 16 -> 32
            var b = a
            b.append(Tracked(100, counter))
            a.append(Tracked(200, counter))
            b[3] = Tracked(300, counter)
            XCTAssertEqual(a.map(\.value), Array(0..<20) + [200])
            XCTAssertEqual(b.map(\.value), Array(0..<3) + [300] + Array(4..<20) + [100])
            var c = a
            for i in 0..<RowChunks<Tracked>.chunkSize { c.append(Tracked(1_000 + i, counter)) }  // full, then a new chunk
            XCTAssertEqual(c.count, 21 + RowChunks<Tracked>.chunkSize)
            XCTAssertEqual(a.count, 21)
            XCTAssertEqual(c[20].value, 200)
            XCTAssertEqual(c[21].value, 1_000)
            XCTAssertEqual(c.address(21).pointee.value, 1_000)
            XCTAssertEqual(a.address(20).pointee.value, 200)
        }
        XCTAssertEqual(counter.made, 23 + RowChunks<Tracked>.chunkSize)
        XCTAssertEqual(counter.destroyed, counter.made)
    }
}

private final class DeinitCounter {
    var made = 0
    var destroyed = 0
}

private final class Tracked {
    let value: Int
    let counter: DeinitCounter
    init(_ value: Int, _ counter: DeinitCounter) {
        self.value = value
        self.counter = counter
        counter.made += 1
    }
    deinit { counter.destroyed += 1 }
}

final class LookupsTests: XCTestCase {
    func testDNSQueriesCountAsLookupsNotConnectionsOrBytes() {
        let match = ServiceMatch(serviceID: "anthropic-claude", vendor: "Anthropic", service: "Claude", tier: "consumer",
                                 category: "chat-assistant", tierInName: false, evidence: .strong)
        var dns = Observation(timestamp: Timestamp(seconds: 0), source: SourceRef(file: "f", position: .frame(2)))
        dns.hostSource = .dnsQuery
        dns.bytesUp = 52
        dns.bytesDown = 84
        var tls = dns
        tls.hostSource = .tlsSNI
        tls.bytesUp = 700
        tls.bytesDown = 5_000
        var a = Aggregates()
        for o in [dns, tls] {
            a.add(o, Attribution(match: match, user: "u", region: .unknown), hours: BusinessHours(), approved: [])
        }
        let row = a.rows.values.first
        XCTAssertEqual(row?.connections, 1)
        XCTAssertEqual(row?.lookups, 1)
        XCTAssertEqual(row?.bytesUp, 700)
        XCTAssertEqual(row?.bytesDown, 5_000, "the DNS response's 84 bytes are not the service's")
        XCTAssertEqual(a.hours, [1] + [Int64](repeating: 0, count: 23), "the hour chart counts the connection, not the look-up")
    }
}

final class TimestampParsingTests: XCTestCase {
    func testRFC3339RoundTrips() {
        for t in [Timestamp(seconds: 1_795_608_602, microseconds: 127_000), Timestamp(seconds: 0), Timestamp(seconds: 951_782_400)] {
            XCTAssertEqual(Timestamp(rfc3339: t.rfc3339), t)
        }
        XCTAssertEqual(Timestamp(rfc3339: "2026-11-25T12:10:02Z"), Timestamp(seconds: 1_795_608_602))
        for bad in ["", "2026-13-25T12:10:02Z", "2026-11-25 12:10:02Z", "2026-11-25T12:10:02+01:00", "2026-11-25T12:10:02.Z"] {
            XCTAssertNil(Timestamp(rfc3339: bad), bad)
        }
    }
}

final class AggregateOrderTests: XCTestCase {
    /// `sorted` orders rows by memcmp of an encoding of the key; it must give exactly the order of
    /// `AggregateKey.<` (day, service, user, region by UTF-8 bytes), including fields that are
    /// prefixes of one another, empty fields, NULs and non-ASCII.
    func testSortedRowsFollowKeyOrderForAwkwardStrings() {
        let parts = ["", "a", "ab", "a\u{0}", "a\u{0}b", "b", "é", "e\u{301}", "Z", "user10", "user9", "\u{0}"]
        let match = ServiceMatch(serviceID: "x", vendor: "V", service: "S", tier: "consumer", category: "chat",
                                 tierInName: false, evidence: .strong)
        var agg = Aggregates()
        var rng = SystemRandomNumberGenerator()
        var keys: [AggregateKey] = []
        for _ in 0..<600 {
            let k = AggregateKey(day: parts.randomElement(using: &rng)!, user: parts.randomElement(using: &rng)!,
                                 serviceID: parts.randomElement(using: &rng)!, region: parts.randomElement(using: &rng)!)
            keys.append(k)
            let v = AggregateValue(firstSeen: Timestamp(seconds: 0), lastSeen: Timestamp(seconds: 0),
                                   match: ServiceMatchSummary(vendor: match.vendor, service: match.service, tier: match.tier,
                                                              category: match.category, tierInName: false),
                                   country: nil, how: .unknown, approved: false)
            agg.insert(k, v)
        }
        let expected = Array(Set(keys)).sorted(by: <)
        XCTAssertEqual(agg.sorted.map(\.key), expected)
        for (a, b) in zip(expected, expected.dropFirst()) { XCTAssertTrue(a < b && !(b < a)) }
        // Sorted in shares on several threads and merged: the same order.
        for threads in [2, 3, 7] {
            var copy = Aggregates()
            copy.merge(agg)  // the same rows, nothing sorted yet
            copy.sortRows(threads: threads, rowsPerThread: 1)
            XCTAssertEqual(copy.sorted.map(\.key), expected, "\(threads) threads")
        }
    }
}

final class EvidenceMergeTests: XCTestCase {
    /// Evidence keeps the ten smallest distinct references, whatever the order of merges; checked
    /// against the definition (all references, deduplicated, sorted, first ten) on random merges.
    func testEvidenceIsTheTenSmallestDistinctReferencesOfAllMerged() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            let lists: [[String]] = (0..<Int.random(in: 1...30, using: &rng)).map { _ in
                (0..<Int.random(in: 0...4, using: &rng)).map { _ in "f\(Int.random(in: 0...2, using: &rng)).log:\(Int.random(in: 1...40, using: &rng))" }
            }
            var v = AggregateValue(firstSeen: Timestamp(seconds: 0), lastSeen: Timestamp(seconds: 0),
                                   match: ServiceMatchSummary(vendor: "V", service: "S", tier: "consumer", category: "chat", tierInName: false),
                                   country: nil, how: .unknown, approved: false)
            v.evidence = lists[0]  // as a summary file may give it: unsorted, repeated
            for l in lists.dropFirst() + [[]] {
                var o = v
                o.evidence = l
                v.merge(o)
                XCTAssertEqual(v.evidence, inReferenceOrder(v.evidence), "sorted and distinct after each merge")
            }
            XCTAssertEqual(v.evidence, Array(inReferenceOrder(lists.joined()).prefix(AggregateValue.maxEvidence)))
        }
    }

    /// References to one file are kept as numbers; the list must still be the ten first distinct
    /// `file:n` references by file, then number ("f:999" before "f:1000"), through inserts and merges,
    /// and when a second file or a text list joins it. Checked against the definition on random lists.
    func testNumberedReferencesKeepTheReferenceOrder() {
        var rng = SystemRandomNumberGenerator()
        let magnitudes = [9, 99, 1_000, 123_456, 99_999_999, Int.max]
        for round in 0..<400 {
            func ref() -> SourceRef {
                let n = Int.random(in: 0...magnitudes[Int.random(in: 0..<magnitudes.count, using: &rng)], using: &rng)
                let file = round % 4 == 0 && Int.random(in: 0..<20, using: &rng) == 0 ? "other.log" : "a.log"
                return SourceRef(file: file, position: Bool.random(using: &rng) ? .line(n) : .frame(n))
            }
            var lists: [(EvidenceList, [String])] = []
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let first = ref()
                var list = EvidenceList(first)
                var all = [first.description]
                for _ in 0..<Int.random(in: 0...40, using: &rng) {
                    let r = ref()
                    list.insert(r)
                    all.append(r.description)
                    XCTAssertEqual(list.strings, Array(inReferenceOrder(all).prefix(EvidenceList.limit)))
                }
                lists.append((list, all))
            }
            var merged = lists[0].0
            var all = lists[0].1
            for (l, texts) in lists.dropFirst() {
                merged.merge(l)
                all += texts
                XCTAssertEqual(merged.strings, Array(inReferenceOrder(all).prefix(EvidenceList.limit)))
            }
            if round % 10 == 0 {
                merged.merge(EvidenceList(normalizing: ["a.log:5", "b.log:1"]))
                all += ["a.log:5", "b.log:1"]
                XCTAssertEqual(merged.strings, Array(inReferenceOrder(all).prefix(EvidenceList.limit)))
            }
        }
    }

    /// Texts that are not `file:number` still have a place: after the numbered references of a file of
    /// the same name, by their whole text; equal numbers written differently are told apart.
    func testReferenceOrderOfUnusualTexts() {
        let texts = ["b.log", "a.log:10", "a.log:9", "a.log", "a.log:x", "c:d.log:2", "c:d.log:10", "a.log:09", "a.log:-1", ""]
        let sorted = texts.sorted(by: EvidenceList.referenceLess)
        XCTAssertEqual(sorted, ["", "a.log:09", "a.log:9", "a.log:10", "a.log", "a.log:-1", "a.log:x", "b.log", "c:d.log:2", "c:d.log:10"])
        for a in texts {
            XCTAssertFalse(EvidenceList.referenceLess(a, a))
            for b in texts where a != b { XCTAssertNotEqual(EvidenceList.referenceLess(a, b), EvidenceList.referenceLess(b, a), "\(a) vs \(b)") }
        }
    }

    /// References into several files and texts of other forms (a summary file's) kept together: the
    /// first ten by `referenceLess`, through inserts and merges in any order, and the summary's texts.
    func testReferencesOfSeveralFilesAndOddTextsKeepTheOrder() {
        var rng = SystemRandomNumberGenerator()
        let odd = ["a.log:07", "a.log", "b.log:x", "a.log:-3", "c:d.log:4"]
        for _ in 0..<300 {
            var lists: [EvidenceList] = []
            var all: [String] = []
            for _ in 0..<Int.random(in: 1...5, using: &rng) {
                var list = EvidenceList()
                if Bool.random(using: &rng) {
                    let texts = (0..<Int.random(in: 0...3, using: &rng)).map { _ in odd.randomElement(using: &rng)! }
                    list = EvidenceList(normalizing: texts)
                    all += texts
                }
                for _ in 0..<Int.random(in: 0...15, using: &rng) {
                    let file = ["a.log", "b.log", "c:d.log"].randomElement(using: &rng)!
                    let ref = SourceRef(file: file, position: .line(Int.random(in: 0...120, using: &rng)))
                    list.insert(ref)
                    all.append(ref.description)
                }
                lists.append(list)
            }
            var merged = lists[0]
            for l in lists.dropFirst() { merged.merge(l) }
            XCTAssertEqual(merged.strings, Array(Set(all).sorted(by: EvidenceList.referenceLess).prefix(EvidenceList.limit)))
        }
    }

    /// A part of a file numbered from 1, moved past the lines before it, equals the same references
    /// numbered in the file from the start: in order, in both forms the list takes, other files untouched.
    func testShiftedPartEvidenceEqualsTheWholeFilesEvidence() {
        var rng = SystemRandomNumberGenerator()
        for round in 0..<200 {
            let offset = [0, 7, 95, 999_990, Int.random(in: 0...5_000_000, using: &rng)][round % 5]
            let numbers = (0..<Int.random(in: 1...30, using: &rng)).map { _ in Int.random(in: 1...[9, 120, 100_000][round % 3], using: &rng) }
            var part = EvidenceList(SourceRef(file: "p.log", position: .line(numbers[0])))
            var whole = EvidenceList(SourceRef(file: "p.log", position: .line(numbers[0] + offset)))
            for n in numbers.dropFirst() {
                part.insert(SourceRef(file: "p.log", position: .line(n)))
                whole.insert(SourceRef(file: "p.log", position: .line(n + offset)))
            }
            if round % 4 == 0 {  // texts: another file's reference joined the list
                part.insert(SourceRef(file: "o.log", position: .line(3)))
                whole.insert(SourceRef(file: "o.log", position: .line(3)))
            }
            part.shiftNumbers(in: "p.log", by: offset)
            XCTAssertEqual(part.strings, whole.strings, "offset \(offset)")
        }
        XCTAssertEqual(EvidenceList.shifted("p.log:12", in: "p.log", by: 30), "p.log:42")
        XCTAssertEqual(EvidenceList.shifted("q.log:12", in: "p.log", by: 30), "q.log:12")
        XCTAssertEqual(EvidenceList.shifted("p.log", in: "p.log", by: 30), "p.log")
    }

    /// Equal lists compare equal whichever form holds them.
    func testEvidenceListsCompareByTheirText() {
        let numbers = EvidenceList(SourceRef(file: "a.log", position: .line(7)))
        XCTAssertEqual(numbers, EvidenceList(normalizing: ["a.log:7"]))
        XCTAssertNotEqual(numbers, EvidenceList(normalizing: ["a.log:8"]))
        XCTAssertEqual(EvidenceList(SourceRef(file: "a.log", position: .none)).strings, ["a.log"])
    }
}

/// The reference order as users read it, by the definition: distinct, by file, then by the number
/// after the last colon ("f:9" before "f:10").
private func inReferenceOrder(_ references: some Sequence<String>) -> [String] {
    func key(_ r: String) -> (Substring, Int) {
        let colon = r.lastIndex(of: ":")!
        return (r[..<colon], Int(r[r.index(after: colon)...])!)
    }
    return Set(references).sorted { key($0) < key($1) }
}
