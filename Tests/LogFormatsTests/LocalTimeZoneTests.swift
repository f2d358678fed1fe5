import Foundation
import LogFormats
import ShadowScopeCore
import TestSupport
import XCTest

/// `--timezone`: wall-clock times written without a zone become the instants they name.
final class LocalTimeZoneTests: XCTestCase {
    func utc(_ local: String, _ zone: String) -> String? {
        guard var z = LocalTimeZone(identifier: zone), let t = Timestamp(rfc3339: local) else { return nil }
        return z.utc(fromLocal: t).rfc3339
    }

    func testDaylightSavingIsFollowed() {
        XCTAssertEqual(utc("2026-11-25T11:31:42Z", "Europe/Berlin"), "2026-11-25T10:31:42.000Z", "CET, UTC+1")
        XCTAssertEqual(utc("2026-07-01T08:30:00Z", "Europe/Berlin"), "2026-07-01T06:30:00.000Z", "CEST, UTC+2")
        XCTAssertEqual(utc("2026-11-25T06:00:00Z", "America/New_York"), "2026-11-25T11:00:00.000Z", "EST, UTC-5")
        XCTAssertEqual(utc("2026-11-25T11:31:42Z", "Asia/Kolkata"), "2026-11-25T06:01:42.000Z", "UTC+5:30")
        XCTAssertEqual(utc("2026-11-25T11:31:42Z", "UTC"), "2026-11-25T11:31:42.000Z")
        // 2026-03-29 02:30 does not exist in Berlin (clocks go 02:00 → 03:00): read with the offset
        // before the change (CET), i.e. as 03:30 CEST.
        XCTAssertEqual(utc("2026-03-29T02:30:00Z", "Europe/Berlin"), "2026-03-29T01:30:00.000Z")
        // 2026-10-25 02:30 happens twice in Berlin: the second one (CET, after the change) is taken.
        XCTAssertEqual(utc("2026-10-25T02:30:00Z", "Europe/Berlin"), "2026-10-25T01:30:00.000Z")
        XCTAssertNil(LocalTimeZone(identifier: "Mars/Olympus_Mons"))
    }

    /// The real BIND log (times in the server's local time, no zone) read with and without a zone;
    /// a zone-less format line only: Squid's epoch times are never moved.
    func testOnlyTimesWithoutAZoneMove() throws {
        func times(_ path: String, _ format: any LogFormat, zone: String?) throws -> [String] {
            var scanner = LogScanner(format: format)
            scanner.localZone = zone.flatMap(LocalTimeZone.init(identifier:))
            var report = InputReport(file: path, format: format.name)
            let fd = open(path, O_RDONLY)
            XCTAssertGreaterThanOrEqual(fd, 0, path)
            defer { close(fd) }
            var out: [String] = []
            scanner.scan(fd: fd, prefix: [], file: path, report: &report) { out.append($0.timestamp.rfc3339) }
            return out
        }
        let bind = TestPaths.seed("bind-query.log")
        let asUTC = try times(bind, BindQueryLog(), zone: nil)
        let berlin = try times(bind, BindQueryLog(), zone: "Europe/Berlin")
        XCTAssertEqual(asUTC.first, "2026-11-25T11:31:42.656Z")
        XCTAssertEqual(berlin.first, "2026-11-25T10:31:42.656Z")
        XCTAssertEqual(berlin.count, asUTC.count)
        let squid = TestPaths.seed("squid-native.log")
        XCTAssertEqual(try times(squid, SquidNative(), zone: "Europe/Berlin"), try times(squid, SquidNative(), zone: nil))
    }
}
