import Foundation
import ShadowScopeCore
import TestSupport
import XCTest

@testable import GeoIP

/// libmaxminddb through our wrapper, checked against MaxMind's own JSON sources of its test databases
/// (the independent truth: the .mmdb files were generated from them).
final class MaxMindDatabaseTests: XCTestCase {
    func testCountryAndCityTestDatabasesAgreeWithTheirJSONSources() throws {
        for name in ["GeoIP2-Country-Test", "GeoLite2-Country-Test", "GeoIP2-City-Test", "GeoLite2-City-Test"] {
            let db = try MaxMindDatabase(path: TestPaths.corpus("maxmind-db/test-data/\(name).mmdb"))
            let json = try Data(contentsOf: URL(fileURLWithPath: TestPaths.corpus("maxmind-db/source-data/\(name).json")))
            let entries = try XCTUnwrap(JSONSerialization.jsonObject(with: json) as? [[String: [String: Any]]])
            var checked = 0
            for entry in entries {
                for (network, record) in entry {
                    var address = String(network.split(separator: "/")[0])
                    // IPv4 networks written as IPv4-in-IPv6 (::a.b.c.d): look them up as IPv4.
                    if address.hasPrefix("::"), address.contains(".") { address = String(address.dropFirst(2)) }
                    let ip = try XCTUnwrap(IPAddress(address), network)
                    let country = (record["country"] as? [String: Any])?["iso_code"] as? String
                    let registered = (record["registered_country"] as? [String: Any])?["iso_code"] as? String
                    XCTAssertEqual(db.country(of: ip), country ?? registered, "\(name) \(network)")
                    checked += 1
                }
            }
            XCTAssertGreaterThan(checked, 100, name)
        }
    }

    /// A scan's GeoIP cache answers what the database answers: found, not found (nil remembered too),
    /// IPv4 and IPv6, asked again from the cache, and past its bound (emptied, then filled again).
    func testGeoCacheAnswersWhatTheDatabaseAnswers() throws {
        let db = try MaxMindDatabase(path: TestPaths.corpus("maxmind-db/test-data/GeoIP2-City-Test.mmdb"))
        let known = ["81.2.69.160", "2.125.160.216", "1.1.1.1", "2001:218::1", "2001:db8::1", "89.160.20.112"].map { IPAddress($0)! }
        var cache = GeoCache()
        for round in 0..<3 {
            for ip in known { XCTAssertEqual(cache.country(of: ip, in: db), db.country(of: ip), "\(ip) round \(round)") }
        }
        XCTAssertEqual(cache.country(of: IPAddress("81.2.69.160")!, in: db), "GB")
        // More distinct addresses than the cache holds: every answer is still the database's.
        for n in 0..<(GeoCache.limit + 10) {
            let ip = IPAddress.v4(0x5102_0000 | UInt32(n & 0xFFFF) | (n > 0xFFFF ? 0x0100_0000 : 0))
            if n % 4_096 == 0 || n > GeoCache.limit - 5 { XCTAssertEqual(cache.country(of: ip, in: db), db.country(of: ip), "\(ip)") }
            else { _ = cache.country(of: ip, in: db) }
        }
        for ip in known { XCTAssertEqual(cache.country(of: ip, in: db), db.country(of: ip), "\(ip) after the cache was emptied") }
    }

    /// `country` and `registered_country` differ on purpose in the test data: we must read the former.
    func testCountryIsWhereTheAddressIsNotWhereItIsRegistered() throws {
        let db = try MaxMindDatabase(path: TestPaths.corpus("maxmind-db/test-data/GeoIP2-City-Test.mmdb"))
        XCTAssertEqual(db.country(of: IPAddress("81.2.69.160")!), "GB")   // registered_country is US
        XCTAssertEqual(db.country(of: IPAddress("2.125.160.216")!), "GB") // registered_country is FR
        XCTAssertEqual(db.string(at: ["city", "names", "en"], for: IPAddress("81.2.69.160")!), "London")
    }

    func testAddressesNotInTheDatabaseAreUnknown() throws {
        let db = try MaxMindDatabase(path: TestPaths.corpus("maxmind-db/test-data/GeoIP2-Country-Test.mmdb"))
        XCTAssertNil(db.country(of: IPAddress("1.1.1.1")!))
        XCTAssertNil(db.country(of: IPAddress("8.8.8.8")!))
    }

    func testIPv6LookupInIPv4OnlyDatabaseIsUnknownNotACrash() throws {
        let db = try MaxMindDatabase(path: TestPaths.corpus("maxmind-db/test-data/MaxMind-DB-test-ipv4-24.mmdb"))
        XCTAssertNil(db.country(of: IPAddress("2001:db8::1")!))
    }

    func testCorruptDatabasesFailToOpenOrLookUpWithoutCrashing() throws {
        let dirs = ["maxmind-db/bad-data/libmaxminddb", "maxmind-db/bad-data/maxminddb-golang"]
        var files = dirs.flatMap { dir in
            ((try? FileManager.default.contentsOfDirectory(atPath: TestPaths.corpus(dir))) ?? []).map { TestPaths.corpus(dir + "/" + $0) }
        }
        files += ["GeoIP2-City-Test-Broken-Double-Format", "GeoIP2-City-Test-Invalid-Node-Count",
                  "MaxMind-DB-test-broken-pointers-24", "MaxMind-DB-test-broken-search-tree-24"]
            .map { TestPaths.corpus("maxmind-db/test-data/\($0).mmdb") }
        XCTAssertGreaterThanOrEqual(files.count, 20)
        var opened = 0, refused = 0
        for file in files where file.hasSuffix(".mmdb") {
            do {
                let db = try MaxMindDatabase(path: file)
                opened += 1
                for probe in ["1.1.1.1", "81.2.69.160", "::1", "2001:218::", "255.255.255.255"] {
                    _ = db.country(of: IPAddress(probe)!)
                }
            } catch {
                refused += 1
                XCTAssertTrue(error.description.hasPrefix(file + ": cannot open GeoIP database"), error.description)
            }
        }
        XCTAssertGreaterThan(refused, 0)
    }

    func testMissingFileNamesThePath() {
        XCTAssertThrowsError(try MaxMindDatabase(path: "/nonexistent/x.mmdb")) { error in
            XCTAssertEqual((error as? MaxMindDatabase.OpenError)?.description,
                           "/nonexistent/x.mmdb: cannot open GeoIP database: Error opening the specified MaxMind DB file (No such file or directory)")
        }
    }

    /// The default database `make setup` fetches (DB-IP City Lite), against mmdblookup's answers
    /// (PLATFORM.md: 160.79.104.10 -> US, 20.190.159.2 -> IE; the fixtures' other servers checked the same way).
    func testBundledDBIPDatabaseAgreesWithMmdblookup() throws {
        let path = TestPaths.dbipDatabase
        guard FileManager.default.fileExists(atPath: path) else {
            return XCTFail("\(path) is missing: run `make setup` (make test does it)")
        }
        let db = try MaxMindDatabase(path: path)
        XCTAssertTrue(db.isDBIP)
        XCTAssertEqual(db.databaseType, "DBIP-City-Lite")
        let expected = ["160.79.104.10": "US", "20.190.159.2": "IE", "104.18.32.47": "CA", "116.205.40.120": "CN",
                        "2402:4e00:1900:1700::5": "CN"]
        for (ip, country) in expected { XCTAssertEqual(db.country(of: IPAddress(ip)!), country, ip) }
    }
}

final class RegionGroupTests: XCTestCase {
    func testEUAndEEACountriesAreOneGroup() {
        XCTAssertEqual(Region(country: "IE", how: .geoip).group, .euEEA)
        XCTAssertEqual(Region(country: "NO", how: .geoip).group, .euEEA, "Norway is EEA")
        XCTAssertEqual(Region(country: "EU", how: .host).group, .euEEA)
        XCTAssertEqual(Region(country: "GB", how: .geoip).group, .nonEU, "the UK left the EU")
        XCTAssertEqual(Region(country: "CH", how: .geoip).group, .nonEU)
        XCTAssertEqual(Region(country: "US", how: .geoip).group, .nonEU)
        XCTAssertEqual(Region.unknown.group, .unknown)
        XCTAssertEqual(Region.euEEA.count, 30)
    }
}
