import AlertDelivery
import XCTest

/// `--syslog` URLs: what is accepted, default ports, and a named error for each way to get it wrong.
final class SyslogURLTests: XCTestCase {
    func testTCPAndTLSWithAndWithoutPorts() throws {
        XCTAssertEqual(try SyslogURL(parsing: "tcp://siem.example.com:1514"), SyslogURL(transport: .tcp, host: "siem.example.com", port: 1514))
        XCTAssertEqual(try SyslogURL(parsing: "tcp://10.0.0.5"), SyslogURL(transport: .tcp, host: "10.0.0.5", port: 514))
        XCTAssertEqual(try SyslogURL(parsing: "tls://siem"), SyslogURL(transport: .tls, host: "siem", port: 6514))
        XCTAssertEqual(try SyslogURL(parsing: "TLS://siem:6514/"), SyslogURL(transport: .tls, host: "siem", port: 6514))
        XCTAssertEqual(try SyslogURL(parsing: "tls://[2001:db8::1]:6514"), SyslogURL(transport: .tls, host: "2001:db8::1", port: 6514))
        XCTAssertEqual(try SyslogURL(parsing: "tcp://[::1]"), SyslogURL(transport: .tcp, host: "::1", port: 514))
        XCTAssertEqual(try SyslogURL(parsing: "tls://[2001:db8::1]:6514").description, "tls://[2001:db8::1]:6514")
        XCTAssertEqual(try SyslogURL(parsing: "tcp://127.0.0.1:65535").port, 65535, "at the limit")
    }

    func testHostIsAddressDecidesWhetherSNIIsSent() throws {
        XCTAssertTrue(try SyslogURL(parsing: "tls://127.0.0.1").hostIsAddress)
        XCTAssertTrue(try SyslogURL(parsing: "tls://[::1]").hostIsAddress)
        XCTAssertFalse(try SyslogURL(parsing: "tls://localhost").hostIsAddress)
    }

    func testEachMistakeHasItsOwnError() {
        let cases: [(String, SyslogURLError.Code)] = [
            ("siem:514", .missingScheme),
            ("", .missingScheme),
            ("udp://siem:514", .unsupportedScheme),
            ("https://siem", .unsupportedScheme),
            ("tcp://siem:514/path", .unexpectedPath),
            ("tcp://siem:514?x=1", .unexpectedPath),
            ("tcp://user:pw@siem:514", .unexpectedUserInfo),
            ("tcp://", .badHost),
            ("tcp://:514", .badHost),
            ("tcp://si em", .badHost),
            ("tcp://sïem", .badHost),
            ("tcp://[::1", .badHost),
            ("tcp://[]:514", .badHost),
            ("tcp://[zz::1]", .badHost),
            ("tcp://[::1]514", .badHost),
            ("tcp://" + String(repeating: "a", count: 254), .badHost),
            ("tcp://siem:", .badPort),
            ("tcp://siem:0", .badPort),
            ("tcp://siem:65536", .badPort),
            ("tcp://siem:-1", .badPort),
            ("tcp://siem:http", .badPort),
            ("tcp://siem:0000514", .badPort),
            ("tcp://2001:db8::1", .badPort),
        ]
        for (text, code) in cases {
            XCTAssertThrowsError(try SyslogURL(parsing: text), text) { error in
                XCTAssertEqual((error as? SyslogURLError)?.code, code, text)
                XCTAssertTrue("\(error)".hasPrefix("'\(text)': "), "\(error)")
            }
        }
    }
}
