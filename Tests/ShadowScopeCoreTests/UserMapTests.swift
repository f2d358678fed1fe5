import XCTest

@testable import ShadowScopeCore

final class UserMapTests: XCTestCase {
    let csv = """
        network,user
        # office ranges
        10.20.0.0/16, staff
        10.20.30.0/24,finance
        10.20.30.41,dana
        0.0.0.0/0,anyone-v4
        2001:db8::/32,lab
        2001:db8:0:1::/64,lab-bench
        2001:db8:0:1::7/128,erin

        """

    func testLongestPrefixWinsForIPv4() throws {
        let map = try UserMap(csv: csv, file: "users.csv")
        XCTAssertEqual(map.count, 7)
        XCTAssertEqual(map.user(for: IPAddress("10.20.30.41")!), "dana")
        XCTAssertEqual(map.user(for: IPAddress("10.20.30.42")!), "finance")
        XCTAssertEqual(map.user(for: IPAddress("10.20.31.1")!), "staff")
        XCTAssertEqual(map.user(for: IPAddress("192.0.2.1")!), "anyone-v4")
    }

    func testLongestPrefixWinsForIPv6AndFamiliesDoNotMix() throws {
        let map = try UserMap(csv: csv, file: "users.csv")
        XCTAssertEqual(map.user(for: IPAddress("2001:db8:0:1::7")!), "erin")
        XCTAssertEqual(map.user(for: IPAddress("2001:db8:0:1::8")!), "lab-bench")
        XCTAssertEqual(map.user(for: IPAddress("2001:db8:ffff::1")!), "lab")
        XCTAssertNil(map.user(for: IPAddress("2001:db9::1")!), "0.0.0.0/0 covers IPv4 only")
    }

    func testErrorsNameFileAndLine() {
        XCTAssertThrowsError(try UserMap(csv: "10.0.0.0/8,a\n10.0.0.0/33,b\n", file: "u.csv")) { error in
            XCTAssertEqual((error as? UserMap.ParseError)?.description, "u.csv:2: '10.0.0.0/33' is not an IPv4/IPv6 address or CIDR range")
        }
        XCTAssertThrowsError(try UserMap(csv: "10.0.0.1\n", file: "u.csv")) { error in
            XCTAssertEqual((error as? UserMap.ParseError)?.description, "u.csv:1: expected 'address-or-CIDR,user'")
        }
    }

    func testSourceUserOutranksMapWhichOutranksAddress() throws {
        struct NoMatch: ServiceMatcher { func match(host: String) -> ServiceMatch? { nil } }
        let attributor = Attributor(matcher: NoMatch(), geo: nil, users: try UserMap(csv: csv, file: "users.csv"))
        var o = Observation(timestamp: Timestamp(seconds: 0), source: SourceRef(file: "f", position: .none))
        o.clientIP = IPAddress("10.20.30.41")
        XCTAssertEqual(attributor.attribute(o).user, "dana")
        o.user = "alice"
        XCTAssertEqual(attributor.attribute(o).user, "alice")
        o.user = nil
        o.clientIP = IPAddress("198.51.100.1")
        XCTAssertEqual(Attributor(matcher: NoMatch(), geo: nil).attribute(o).user, "198.51.100.1")
    }
}
