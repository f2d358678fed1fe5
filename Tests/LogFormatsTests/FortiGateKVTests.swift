import Foundation
import ShadowScopeCore
import TestSupport
import XCTest

@testable import LogFormats

final class FortiGateKVTests: XCTestCase {
    let f = FortiGateKV()

    /// Forward-traffic sample from Fortinet's "Sample logs by log type"
    /// (https://docs.fortinet.com/document/fortigate/7.2.13/administration-guide/986892), cut after `countapp=1`.
    static let forward = #"date=2019-05-10 time=11:37:47 logid="0000000013" type="traffic" subtype="forward" level="notice" vd="vdom1" eventtime=1557513467369913239 srcip=10.1.100.11 srcport=58012 srcintf="port12" srcintfrole="undefined" dstip=23.59.154.35 dstport=80 dstintf="port11" dstintfrole="undefined" srcuuid="ae28f494-5735-51e9-f247-d1d2ce663f4b" dstuuid="ae28f494-5735-51e9-f247-d1d2ce663f4b" poluuid="ccb269e0-5735-51e9-a218-a397dd08b7eb" sessionid=105048 proto=6 action="close" policyid=1 policytype="policy" service="HTTP" dstcountry="Canada" srccountry="Reserved" trandisp="snat" transip=172.16.200.2 transport=58012 appid=34050 app="HTTP.BROWSER_Firefox" appcat="Web.Client" apprisk="elevated" applist="g-default" duration=116 sentbyte=1188 rcvdbyte=1224 sentpkt=17 rcvdpkt=16 utmaction="allow" countapp=1"#

    func testForwardTrafficSample() throws {
        let o = try XCTUnwrap(parseLine(f, Self.forward).observation)
        XCTAssertEqual(o.timestamp, Timestamp(microseconds: 1_557_513_467_369_913), "eventtime in ns, not the local date/time")
        XCTAssertEqual(o.clientIP, IPAddress("10.1.100.11"))
        XCTAssertEqual(o.clientPort, 58012)
        XCTAssertEqual(o.serverIP, IPAddress("23.59.154.35"))
        XCTAssertEqual(o.serverPort, 80)
        XCTAssertEqual(o.transport, .tcp)
        XCTAssertEqual(o.bytesUp, 1188)
        XCTAssertEqual(o.bytesDown, 1224)
        XCTAssertEqual(o.packetsUp, 17)
        XCTAssertEqual(o.packetsDown, 16)
        XCTAssertEqual(o.durationMs, 116_000)
        XCTAssertNil(o.user)
        XCTAssertNil(o.host)
        XCTAssertNil(o.method)
    }

    /// Web filter samples from Fortinet's "Webfilter log support for CEF" pages: FortiOS 7.0.6
    /// (https://docs.fortinet.com/document/fortigate/7.0.6/fortios-log-message-reference/400992) and 6.0.3
    /// (https://docs.fortinet.com/document/fortigate/6.0.3/fortios-log-message-reference/400992, unquoted values, no eventtime).
    func testWebFilterSamples() throws {
        let a = try XCTUnwrap(parseLine(f, #"date=2018-12-27 time=11:23:50 logid="0316013056" type="utm" subtype="webfilter" eventtype="ftgd_blk" level="warning" vd="vdom1" eventtime=1545938629 policyid=1 sessionid=764 user="bob" srcip=10.1.100.11 srcport=59194 srcintf="port12" srcintfrole="undefined" dstip=185.230.61.185 dstport=80 dstintf="port11" dstintfrole="undefined" proto=6 service="HTTP" hostname="ambrishsriv.wixsite.com" profile="g-default" action="blocked" reqtype="direct" url="/bizsquads" sentbyte=96 rcvdbyte=0 direction="outgoing" msg="URL belongs to a denied category in policy" method="domain" cat=26 catdesc="Malicious Websites" crscore=60 crlevel="high""#).observation)
        XCTAssertEqual(a.timestamp, Timestamp(seconds: 1_545_938_629))
        XCTAssertEqual(a.user, "bob")
        XCTAssertEqual(a.host, "ambrishsriv.wixsite.com")
        XCTAssertEqual(a.hostSource, .proxyURL)
        XCTAssertEqual(a.urlPath, "/bizsquads")
        XCTAssertEqual(a.bytesUp, 96)
        XCTAssertEqual(a.bytesDown, 0, "measured 0, not unknown")
        XCTAssertNil(a.method, "method=domain is the rating method, not HTTP's")
        let b = try XCTUnwrap(parseLine(f, #"date=2016-02-12 time=11:40:47 logid=0316013056 type=utm subtype=webfilter eventtype=ftgd_blk level=warning vd="vdom1" sessionid=58014 user="" srcip=192.168.1.183 srcport=48676 srcintf="port15" dstip=202.46.41.172 dstport=80 dstintf="port19" proto=6 service=HTTP hostname="www.youku.com" profile="default" action=blocked reqtype=direct url="/" sentbyte=120 rcvdbyte=948 direction=outgoing msg="URL belongs to a denied category in policy" method=domain cat=25 catdesc="Streaming Media and Download" crscore=30 crlevel=high"#).observation)
        XCTAssertEqual(b.timestamp.rfc3339, "2016-02-12T11:40:47.000Z", "local time without tz: taken as UTC")
        XCTAssertNil(b.user, "user=\"\" is no user")
        XCTAssertEqual(b.host, "www.youku.com")
        XCTAssertEqual(b.urlPath, "/")
        XCTAssertEqual(b.bytesUp, 120)
        XCTAssertEqual(b.bytesDown, 948)
    }

    /// Constructed to the FortiOS 7 field list: syslog prefix, tz, quoted values with blanks and `\"`, httpmethod,
    /// an absolute URL with a query, unauthuser.
    func testSyslogPrefixTimeZoneQuotesAndAbsoluteURL() throws {
        let o = try XCTUnwrap(parseLine(f, #"<189>date=2026-11-25 time=04:00:00 devname="FGT 60F" logid="0317013312" type="utm" subtype="webfilter" eventtype="ftgd_allow" tz="-0800" srcip=10.0.0.5 dstip=104.18.32.47 dstport=443 proto=6 unauthuser="Jane \"JD\" Doe" hostname="ChatGPT.com" url="https://chatgpt.com/backend-api/files?upload=1" httpmethod="POST" sentbyte=48213 rcvdbyte=1532 msg="URL belongs to an allowed category in policy""#).observation)
        XCTAssertEqual(o.timestamp.rfc3339, "2026-11-25T12:00:00.000Z")
        XCTAssertEqual(o.user, #"Jane "JD" Doe"#)
        XCTAssertEqual(o.host, "chatgpt.com")
        XCTAssertEqual(o.urlPath, "/backend-api/files")
        XCTAssertEqual(o.method, "POST")
        XCTAssertEqual(o.bytesUp, 48213)
        XCTAssertNil(o.clientPort)
        XCTAssertTrue(parseLine(f, #"date=2026-11-25 time=04:00:00 logid="0100032001" type="event" subtype="system" msg="Administrator admin logged in""#).isIgnored)
        XCTAssertTrue(parseLine(f, #"date=2026-11-25 time=04:00:00 logid="0211008192" type="utm" subtype="virus" srcip=10.0.0.5"#).isIgnored)
    }

    func testHostileLinesHaveExactReasons() {
        let cases: [(String, String)] = [
            (#"date=2026-11-25 time=04:00:00 type="traffic" user="open"#, "value of user has no closing quote"),
            (#"date=2026-11-25 time=04:00:00 type=traffic srcip=10.0.0.999"#, "srcip '10.0.0.999' is not an address"),
            (#"date=2026-11-25 time=04:00:00 type=traffic srcip=10.0.0.1 dstport=65536"#, "dstport '65536' is not a port"),
            (#"date=2026-11-25 time=04:00:00 type=traffic srcip=10.0.0.1 sentbyte=-5"#, "sentbyte '-5' is not a count"),
            (#"date=2026-11-25 time=04:00:00 type=traffic srcip=10.0.0.1 proto=tcp"#, "proto 'tcp' is not a protocol number"),
            (#"date=2026-13-25 time=04:00:00 type=traffic"#, "no usable time: eventtime '', date '2026-13-25', time '04:00:00'"),
            (#"date=2026-11-25 time=04:00:00 tz="+25:00" type=traffic"#, "no usable time: eventtime '', date '2026-11-25', time '04:00:00'"),
            (#"date=2026-11-25 time=04:00:00 srcip=10.0.0.1"#, "no type= field"),
            (#"date=2026-11-25 time=04:00:00 type=traffic junk"#, "'junk' is not key=value"),
            (#"date=2026-11-25 time=04:00:00 type=traffic =x"#, "'=x' is not key=value"),
            ("hello world", "no date= field: not a FortiGate log line"),
            ("mydate=2026-11-25 time=04:00:00 type=traffic", "no date= field: not a FortiGate log line"),
        ]
        for (line, reason) in cases {
            XCTAssertEqual(parseLine(f, line).skipReason, reason, line)
        }
    }

    /// No prefix traps. A key=value line cut between pairs reads as a shorter line, and one cut inside a
    /// bare value (`srcip=10.1.100.1`) cannot be told from a whole one: only the `srcip` requirement holds.
    func testPairLimit() {
        let head = "date=2026-11-25 time=04:00:00 type=traffic srcip=10.0.0.1"  // 4 pairs
        let at = head + String(repeating: " k=v", count: FortiGateKV.maxPairs - 4)
        XCTAssertNotNil(parseLine(f, at).observation, "512 pairs")
        XCTAssertEqual(parseLine(f, at + " k=v").skipReason, "more than 512 key=value pairs")
    }

    func testEveryPrefixOfAGoodLineIsSafe() {
        let bytes = Array(Self.forward.utf8)
        var observations = 0
        for cut in 0..<bytes.count {
            if let o = parseLine(f, String(decoding: bytes[..<cut], as: UTF8.self)).observation {
                XCTAssertNotNil(o.clientIP, "prefix \(cut)")
                observations += 1
            }
        }
        XCTAssertEqual(parseLine(f, "date=2019-05-10 time=11:37:47 logid=\"0000000013\" type=\"traffic\"").skipReason, "no srcip")
        XCTAssertLessThan(observations, bytes.count)
    }

    func testDetection() {
        let text = FortiGateKVTests.forward + "\n" + FortiGateKVTests.forward + "\n"
        XCTAssertEqual(Data(text.utf8).withUnsafeBytes { detectLogFormat(sample: $0)?.name }, "fortigate")
    }
}
