import Foundation
import ShadowScopeCore
import TestSupport
import XCTest

@testable import LogFormats

final class ZscalerNSSTests: XCTestCase {
    /// The sample web log of Zscaler's "NSS Feed Output Format: Web Logs"
    /// (https://help.zscaler.com/unified/nss-feed-output-format-web-logs). The page does not give the feed's field
    /// list: the names below are ours, chosen from the page's field table to match the values (the default
    /// Splunk-style order: time, login, proto, eurl, action, appname, appclass, reqsize, respsize, ...).
    static let docSample = #""Mon Jun 20 15:29:11 2022","new-gre","HTTP","ebay.com/","Blocked","Ebay","Consumer Apps","72","14061","0","0","Productivity Loss","Shopping and Auctions","Online Shopping","None","None","0","None","None","new-gre","Default Department","172.17.3.49","66.211.175.229","GET","403","curl/7.68.0","None","FwFilter","Firewall_1","Other","None","NA","NA","N/A""#
    static let docFields = ["%s{time}", "%s{login}", "%s{proto}", "%s{eurl}", "%s{action}", "%s{appname}", "%s{appclass}",
                            "%d{reqsize}", "%d{respsize}", "%d{reqdatasize}", "%d{respdatasize}", "%s{urlsupercat}", "%s{urlcat}",
                            "%s{urlclass}", "%s{malwarecat}", "%s{threatname}", "%d{riskscore}", "%s{dlpeng}", "%s{dlpdict}",
                            "%s{location}", "%s{dept}", "%s{cip}", "%s{sip}", "%s{reqmethod}", "%s{respcode}", "%s{ua}",
                            "%s{ruletype}", "%s{rulelabel}", "%s{fwtype}", "%s{filetype}", "%s{filename}", "f31", "f32", "f33"]

    func testDocSampleWithItsFieldList() throws {
        let f = ZscalerNSS(fields: Self.docFields, separator: 0x2C)
        XCTAssertFalse(Array(Self.docSample.utf8).withUnsafeBytes { f.recognizes($0) }, "delimited feeds are never sniffed")
        let o = try XCTUnwrap(parseLine(f, Self.docSample).observation)
        XCTAssertEqual(o.timestamp.rfc3339, "2022-06-20T15:29:11.000Z")
        XCTAssertEqual(o.user, "new-gre")
        XCTAssertEqual(o.host, "ebay.com")
        XCTAssertEqual(o.hostSource, .proxyURL)
        XCTAssertEqual(o.urlPath, "/")
        XCTAssertEqual(o.bytesUp, 72)
        XCTAssertEqual(o.bytesDown, 14061)
        XCTAssertEqual(o.clientIP, IPAddress("172.17.3.49"))
        XCTAssertEqual(o.serverIP, IPAddress("66.211.175.229"))
        XCTAssertEqual(o.method, "GET")
        XCTAssertEqual(o.status, 403)
    }

    /// JSON feed lines constructed to Zscaler's field names, nested in `event` (Zscaler's SIEM-guide layout) and flat.
    func testJSONFeed() throws {
        let f = ZscalerNSS()
        let nested = #"{"sourcetype":"zscalernss-web","event":{"datetime":"Mon Oct 16 22:55:48 2023","login":"jdoe@safemarch.com","cip":"10.0.0.5","sip":"104.18.32.47","reqmethod":"POST","respcode":"200","reqsize":"48213","respsize":"1532","eurl":"chatgpt.com/backend-api/conversation?model=x","host":"chatgpt.com","ua":"Mozilla/5.0 \"quoted\""}}"#
        XCTAssertTrue(Array(nested.utf8).withUnsafeBytes { f.recognizes($0) })
        let o = try XCTUnwrap(parseLine(f, nested).observation)
        XCTAssertEqual(o.timestamp.rfc3339, "2023-10-16T22:55:48.000Z")
        XCTAssertEqual(o.user, "jdoe@safemarch.com")
        XCTAssertEqual(o.host, "chatgpt.com")
        XCTAssertEqual(o.urlPath, "/backend-api/conversation")
        XCTAssertEqual(o.bytesUp, 48213)
        XCTAssertEqual(o.bytesDown, 1532)
        XCTAssertEqual(o.status, 200)
        XCTAssertEqual(o.method, "POST")
        let flat = try XCTUnwrap(parseLine(f, #"{"epochtime":1578128400,"login":"None","url":"https://claude.ai:443/api/upload","reqsize":10,"respsize":20}"#).observation)
        XCTAssertEqual(flat.timestamp, Timestamp(seconds: 1_578_128_400))
        XCTAssertNil(flat.user, "None is unknown")
        XCTAssertEqual(flat.host, "claude.ai")
        XCTAssertEqual(flat.serverPort, 443)
        XCTAssertEqual(flat.urlPath, "/api/upload")
        XCTAssertNil(flat.clientIP)
    }

    func testTabSeparatedFeed() throws {
        let f = ZscalerNSS(fields: ["time", "login", "url", "reqsize", "respsize"])
        let o = try XCTUnwrap(parseLine(f, "Thu Sep  6 22:55:48 2012\tjdoe@safemarch.com\tgemini.google.com/app\t100\t200").observation)
        XCTAssertEqual(o.timestamp.rfc3339, "2012-09-06T22:55:48.000Z")
        XCTAssertEqual(o.host, "gemini.google.com")
        XCTAssertEqual(o.urlPath, "/app")
    }

    /// --nss-fields: the Feed Output Format as the admin portal shows it, or a header line, gives the
    /// columns and the separator.
    func testFeedOutputFormatGivesTheColumnsAndTheSeparator() throws {
        let cases: [(String, [String], UInt8)] = [
            ("%s{time}\\t%s{login}\\t%s{eurl}\\t%d{reqsize}\\t%d{respsize}", ["time", "login", "eurl", "reqsize", "respsize"], 0x09),
            ("%s{time}\t%s{login}\t%s{url}\n", ["time", "login", "url"], 0x09),
            (#""%s{datetime}","%s{login}","%s{host}","%d{reqsize}""#, ["datetime", "login", "host", "reqsize"], 0x2C),
            ("%s{mon} %02d{dd} %02d{hh}:%02d{mm}:%02d{ss}\\tzscaler-nss\\t%s{time}\\t%s{url}", ["column-1", "zscaler-nss", "time", "url"], 0x09),
            ("time,login,url,reqsize,respsize", ["time", "login", "url", "reqsize", "respsize"], 0x2C),
            ("epochtime\tLOGIN\teurl", ["epochtime", "login", "eurl"], 0x09),
        ]
        for (text, names, separator) in cases {
            let f = try ZscalerNSS(feedOutputFormat: text)
            XCTAssertEqual(f.fields, names, text)
            XCTAssertEqual(f.separator, separator, text)
        }
        let comma = try ZscalerNSS(feedOutputFormat: Self.docFields.joined(separator: ","))
        XCTAssertEqual(try XCTUnwrap(parseLine(comma, Self.docSample).observation).host, "ebay.com")
        let errors: [(String, String)] = [
            ("%s{login}\\t%s{url}", "the fields name no time (time, datetime or epochtime) in '%s{login}\\t%s{url}'"),
            ("time,login,reqsize", "the fields name none of url, eurl or host, so no line could be attributed"),
            ("", "the fields name no time (time, datetime or epochtime) in ''"),
            (Array(repeating: "time", count: 300).joined(separator: ","), "300 fields, more than the 256 a feed line may have"),
        ]
        for (text, message) in errors {
            XCTAssertThrowsError(try ZscalerNSS(feedOutputFormat: text), text) { XCTAssertEqual("\($0)", message) }
        }
    }

    func testHostileLinesHaveExactReasons() {
        let tsv = ZscalerNSS(fields: ["time", "login", "cip", "url", "reqsize", "respsize", "respcode"])
        let json = ZscalerNSS()
        let cases: [(ZscalerNSS, String, String)] = [
            (tsv, "Mon Jun 20 15:29:11 2022\tu\t10.0.0.1\tx.com/\t1\t2", "6 values for the 7 feed fields"),
            (tsv, "Mon Jun 20 15:29:11 2022\tu\t10.0.0.1\tx.com/\t1\t2\t200\textra", "8 values for the 7 feed fields"),
            (tsv, "Mon Jun 32 15:29:11 2022\tu\t10.0.0.1\tx.com/\t1\t2\t200", "time 'Mon Jun 32 15:29:11 2022' is not 'Mon Jun 20 15:29:11 2022'"),
            (tsv, "Mon Jun 20 15:29:11 2022\tu\t10.0.0.256\tx.com/\t1\t2\t200", "cip '10.0.0.256' is not an address"),
            (tsv, "Mon Jun 20 15:29:11 2022\tu\t10.0.0.1\tx.com/\t1k\t2\t200", "reqsize '1k' is not a count"),
            (tsv, "Mon Jun 20 15:29:11 2022\tu\t10.0.0.1\tx.com/\t1\t2\tOK", "respcode 'OK' is not an HTTP status"),
            (tsv, "None\tu\t10.0.0.1\tx.com/\t1\t2\t200", "no time, datetime or epochtime field"),
            (tsv, "\"Mon Jun 20 15:29:11 2022\tu", "field 1 has no closing quote"),
            (json, #"{"epochtime":"soon","reqsize":"1","respsize":"2","url":"x.com/"}"#, "epochtime 'soon' is not seconds"),
            (json, #"{"epochtime":1,"reqsize":"1","respsize":"2","url":"x.com/""#, "not JSON: JSON ends early at byte 58"),
        ]
        for (f, line, reason) in cases {
            XCTAssertEqual(parseLine(f, line).skipReason, reason, line)
        }
    }

    func testEveryPrefixOfAGoodLineIsSafe() {
        // A delimited line cut right after its last separator still has every field (the last one empty, here
        // in place of "N/A"): it reads as the whole line would. No other prefix makes an observation.
        let f = ZscalerNSS(fields: Self.docFields, separator: 0x2C)
        let bytes = Array(Self.docSample.utf8)
        for cut in 0..<bytes.count {
            let prefix = String(decoding: bytes[..<cut], as: UTF8.self)
            if let o = parseLine(f, prefix).observation {
                XCTAssertTrue(prefix.hasSuffix(","), "prefix \(cut)")
                XCTAssertEqual(o.bytesDown, 14061)
            }
        }
        let json = #"{"sourcetype":"zscalernss-web","event":{"datetime":"Mon Oct 16 22:55:48 2023","login":"a@b.c","reqsize":"1","respsize":"2","eurl":"chatgpt.com/"}}"#
        let jb = Array(json.utf8)
        for cut in 0..<jb.count {
            XCTAssertNil(parseLine(ZscalerNSS(), String(decoding: jb[..<cut], as: UTF8.self)).observation, "prefix \(cut)")
        }
    }

    func testDetectionOfTheJSONFeed() {
        let line = #"{"sourcetype":"zscalernss-web","event":{"datetime":"Mon Oct 16 22:55:48 2023","login":"a@b.c","reqsize":"1","respsize":"2","eurl":"chatgpt.com/"}}"#
        XCTAssertEqual(Data((line + "\n" + line + "\n").utf8).withUnsafeBytes { detectLogFormat(sample: $0)?.name }, "zscaler-nss")
    }
}
