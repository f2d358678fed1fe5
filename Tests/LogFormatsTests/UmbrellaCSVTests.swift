import Foundation
import ShadowScopeCore
import TestSupport
import XCTest

@testable import LogFormats

final class UmbrellaCSVTests: XCTestCase {
    let f = UmbrellaCSV()

    /// Both examples of Umbrella's "DNS Log Formats" page (https://docs.umbrella.com/umbrella-user-guide/docs/dns-log-formats),
    /// blanks after some commas included, as published.
    static let dnsAllowed = #""2015-01-16 17:48:41","ActiveDirectoryUserName", "ActiveDirectoryUserName,ADSite,Network", "10.10.1.100","24.123.132.133","Allowed","1 (A)", "NOERROR","domain-visited.com.", "Photo Sharing","AD User","AD User,Site,Network","""#
    static let dnsBlocked = #""2015-01-16 17:48:41","ActiveDirectoryUserName", "ActiveDirectoryUserName,ADSite,Network", "10.10.1.100","24.123.132.133","Blocked","1 (A)", "NOERROR","domain-visited.com.", "Chat,Photo Sharing,Social Networking","AD User","AD User,Site,Network","Chat,Social Networking""#
    /// The example of Umbrella's "Web Log Formats" page (https://docs.umbrella.com/umbrella-user-guide/docs/web-log-formats),
    /// with the page's Markdown autolink brackets (`<http://...`, `Mozilla/5.0>`) removed from the URL and user agent.
    static let proxy = #""2017-10-02 23:52:53","TheComputerName","192.192.192.135","1.1.1.91", "3.4.5.6","","ALLOWED","http://google.com/the.js","www.google.com","Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_6) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/61.0.3163.100 Safari/537.36","200","562","1489","","","Search Engines","","","","","","Roaming Computer","","TheComputerName, ADSite,Network","Roaming Computer, Site, Network","GET","","","the.js","","","","isolated","downloaded_original_file","warn-session","","""#

    func testDNSExamples() throws {
        for line in [Self.dnsAllowed, Self.dnsBlocked] {
            let o = try XCTUnwrap(parseLine(f, line).observation)
            XCTAssertEqual(o.timestamp.rfc3339, "2015-01-16T17:48:41.000Z")
            XCTAssertEqual(o.user, "ActiveDirectoryUserName", "most granular identity of type AD User")
            XCTAssertEqual(o.clientIP, IPAddress("10.10.1.100"))
            XCTAssertEqual(o.host, "domain-visited.com", "trailing dot dropped")
            XCTAssertEqual(o.hostSource, .dnsQuery)
            XCTAssertEqual(o.dns, DNSInfo(type: "A", rcode: "NOERROR", answers: []))
            XCTAssertNil(o.serverIP)
            XCTAssertNil(o.bytesUp)
            XCTAssertNil(o.bytesDown)
        }
        // The first schema's 10 columns (constructed): no identity type, so no user; a network identity is not a user either.
        let v1 = try XCTUnwrap(parseLine(f, #""2026-11-25 12:00:00","Office","Office","10.0.0.5","198.51.100.7","Allowed","65 (HTTPS)","NXDOMAIN","claude.ai.","Generative AI""#).observation)
        XCTAssertNil(v1.user)
        XCTAssertEqual(v1.dns, DNSInfo(type: "HTTPS", rcode: "NXDOMAIN", answers: []))
        let network = try XCTUnwrap(parseLine(f, #""2026-11-25 12:00:00","Office","Office","10.0.0.5","198.51.100.7","Allowed","1 (A)","NOERROR","claude.ai.","Generative AI","Networks","Networks","""#).observation)
        XCTAssertNil(network.user)
    }

    func testProxyExample() throws {
        let o = try XCTUnwrap(parseLine(f, Self.proxy).observation)
        XCTAssertEqual(o.timestamp.rfc3339, "2017-10-02T23:52:53.000Z")
        XCTAssertEqual(o.clientIP, IPAddress("192.192.192.135"))
        XCTAssertEqual(o.serverIP, IPAddress("3.4.5.6"))
        XCTAssertEqual(o.host, "google.com")
        XCTAssertEqual(o.hostSource, .proxyURL)
        XCTAssertEqual(o.urlPath, "/the.js")
        XCTAssertEqual(o.serverPort, 80)
        XCTAssertEqual(o.status, 200)
        XCTAssertEqual(o.bytesUp, 562)
        XCTAssertEqual(o.bytesDown, 1489)
        XCTAssertEqual(o.method, "GET")
        XCTAssertNil(o.user, "a roaming computer is not a user")
        // 14 columns (constructed, the oldest proxy layout): no method, an AD user identity not known either.
        let short = try XCTUnwrap(parseLine(f, #""2026-11-25 12:00:00","jdoe@example.com","10.0.0.5","198.51.100.7","104.18.32.47","application/json","ALLOWED","https://chatgpt.com/backend-api/conversation?x=1","","curl/8","200","48213","1532","1400""#).observation)
        XCTAssertNil(short.method)
        XCTAssertNil(short.user)
        XCTAssertEqual(short.urlPath, "/backend-api/conversation")
        XCTAssertEqual(short.serverPort, 443)
    }

    /// Shapes seen in exported logs (constructed, values ours): an empty internal IP and request size are unknown,
    /// not 0; an `AD Users` identity type names a user; an IPv6 client.
    func testEmptyColumnsAreUnknown() throws {
        let proxy = try XCTUnwrap(parseLine(f, #""2026-11-25 12:00:00","Office Network","","198.51.100.7","104.18.32.47","text/plain","ALLOWED","https://chatgpt.com/",""," ","200","","797","466","","Generative AI","","","","","0","Networks","","Office Network","Networks","GET","","","","1234567","","""#).observation)
        XCTAssertNil(proxy.clientIP)
        XCTAssertNil(proxy.bytesUp, "empty request size: unknown")
        XCTAssertEqual(proxy.bytesDown, 797)
        XCTAssertNil(proxy.user, "a network is not a user")
        let dns = try XCTUnwrap(parseLine(f, #""2026-11-25 12:00:00","Doe, Jane (jane.doe@example.com)","Doe, Jane (jane.doe@example.com),LAPTOP-1","2001:db8::5","2001:db8:ffff::1","Allowed","28 (AAAA)","NOERROR","api.anthropic.com.","Generative AI,Application","AD Users","AD Users,Anyconnect Roaming Client","""#).observation)
        XCTAssertEqual(dns.user, "Doe, Jane (jane.doe@example.com)")
        XCTAssertEqual(dns.clientIP, IPAddress("2001:db8::5"))
        XCTAssertEqual(dns.dns?.type, "AAAA")
    }

    func testHeaderRowIsIgnoredAndHostileLinesSkipped() {
        XCTAssertTrue(parseLine(f, #""Timestamp","Most Granular Identity","Identities","InternalIp","ExternalIp","Action","QueryType","ResponseCode","Domain","Categories""#).isIgnored)
        let cases: [(String, String)] = [
            (#""2026-11-25 12:00:00","a","b""#, "3 columns: an Umbrella log has 10 or more"),
            (#""2026-11-25 12:00:00",a,"b","10.0.0.5","1.2.3.4","Allowed","1 (A)","NOERROR","x.com.","c""#, "unquoted column: Umbrella quotes every value"),
            (#""2026-11-25T12:00:00","a","b","10.0.0.5","1.2.3.4","Allowed","1 (A)","NOERROR","x.com.","c""#, "timestamp '2026-11-25T12:00:00' is not YYYY-MM-DD HH:MM:SS"),
            (#""2026-11-25 12:00:00","a","b","10.0.0.500","1.2.3.4","Allowed","1 (A)","NOERROR","x.com.","c""#, "internal IP '10.0.0.500' is not an address"),
            (#""2026-11-25 12:00:00","a","b","10.0.0.5","1.2.3.4","Allowed","1 (A)","NOERROR","x y.com.","c""#, "domain 'x y.com.' is not a host name"),
            (#""2026-11-25 12:00:00","a","b","10.0.0.5","1.2.3.4","Allowed","A","NOERROR","x.com.","c""#, "neither a DNS row (column 7 'N (TYPE)') nor a proxy row (14+ columns, URL in column 8)"),
            (#""2026-11-25 12:00:00","a","b","10.0.0.5","1.2.3.4","Allowed","1 (A)","NOERROR","x.com.","c"#, "field 10 has no closing quote"),
            (#""2026-11-25 12:00:00","a","10.0.0.5","","","","ALLOWED","https://x.com/","","","OK","1","2","3""#, "status code 'OK' is not an HTTP status"),
            (#""2026-11-25 12:00:00","a","10.0.0.5","","","","ALLOWED","https://x.com/","","","200","-1","2","3""#, "request size '-1' is not a count"),
            (#""2026-11-25 12:00:00","a","10.0.0.5","","","","ALLOWED","https:///nohost","","","200","1","2","3""#, "URL 'https:///nohost' has no host"),
        ]
        for (line, reason) in cases {
            XCTAssertEqual(parseLine(f, line).skipReason, reason, line)
        }
    }

    func testColumnLimits() {
        let columns = Array(Self.proxy.utf8).withUnsafeBytes { b -> Int in
            guard case .success(let fields) = splitDelimited(b, separator: 0x2C, maxFields: 100) else { return 0 }
            return fields.count
        }
        XCTAssertEqual(columns, 37)
        let at = Self.proxy + String(repeating: ",\"\"", count: UmbrellaCSV.maxFields - columns)
        XCTAssertNotNil(parseLine(f, at).observation, "80 columns")
        XCTAssertEqual(parseLine(f, at + ",\"\"").skipReason, "more than 80 fields")
        // A DNS row has at most 40 columns; with more, column 7 alone does not make it a DNS row.
        let dns40 = Self.dnsAllowed + String(repeating: ",\"\"", count: 40 - 13)
        XCTAssertNotNil(parseLine(f, dns40).observation)
        XCTAssertEqual(parseLine(f, dns40 + ",\"\"").skipReason,
                       "neither a DNS row (column 7 'N (TYPE)') nor a proxy row (14+ columns, URL in column 8)")
    }

    func testEveryPrefixOfAGoodLineIsSafe() {
        for line in [Self.dnsAllowed, Self.proxy] {
            let bytes = Array(line.utf8)
            for cut in 0..<bytes.count {
                if let o = parseLine(f, String(decoding: bytes[..<cut], as: UTF8.self)).observation {
                    XCTAssertNotNil(o.host, "prefix \(cut)")
                }
            }
        }
    }

    func testDetection() {
        for text in [Self.dnsAllowed + "\n" + Self.dnsBlocked + "\n", Self.proxy + "\n"] {
            XCTAssertEqual(Data(text.utf8).withUnsafeBytes { detectLogFormat(sample: $0)?.name }, "umbrella")
        }
    }
}
