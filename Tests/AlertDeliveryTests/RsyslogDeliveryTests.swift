import AlertDelivery
import Foundation
import ShadowScopeCore
import TestSupport
import XCTest

/// `shadowscope scan --syslog` against a real rsyslogd on loopback: every `--alerts` line arrives as
/// the MSG of an RFC 5424 message, byte for byte; alerts wait in the spool while the receiver is away
/// and none is lost when it comes back; TLS with a certificate checked against `--syslog-ca`.
final class RsyslogDeliveryTests: XCTestCase {
    let bin = TestPaths.binary
    var work = ""
    let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
    /// Three runs over different inputs raise different alerts.
    let runs = [
        [TestPaths.fixture("ai-traffic.pcap")],
        [TestPaths.fixture("squid-access.log")],
        [TestPaths.fixture("dns-answer.pcap"), TestPaths.fixture("ai-traffic-sll.pcapng")],
    ]

    override func setUpWithError() throws {
        work = FileManager.default.temporaryDirectory.appendingPathComponent("syslog-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: work)
    }

    /// A receiver, or a failed test that says how to get rsyslogd.
    func rsyslog(_ name: String, tls: Bool = false) throws -> Rsyslog {
        do { return try Rsyslog(directory: work + "/" + name, tls: tls) } catch let e as Rsyslog.NotInstalled {
            XCTFail(e.description)
            throw e
        }
    }

    var spool: String { work + "/spool" }

    func scan(_ inputs: [String], to url: String, alerts: String, _ extra: [String] = []) throws -> ProgramResult {
        try runProgram(bin, ["scan", "--policy", TestPaths.fixture("policy.yaml"), "--summary", work + "/summary.json",
                             "--alerts", alerts, "--syslog", url, "--syslog-spool", spool] + extra + inputs)
    }

    func lines(_ path: String) throws -> [[UInt8]] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))).split(separator: 0x0A).map(Array.init)
    }

    func eventID(_ msg: [UInt8]) -> String? {
        let json = msg.starts(with: bom) ? Array(msg.dropFirst(3)) : msg
        return (try? JSONSerialization.jsonObject(with: Data(json)) as? [String: Any])?["event.id"] as? String
    }

    func testEveryAlertArrivesByteForByteAsTheMSGOfAnRFC5424Message() throws {
        let rs = try rsyslog("rsyslog")
        try rs.start()
        let started = Date()
        let r = try scan(runs.flatMap { $0 }, to: "tcp://127.0.0.1:\(rs.port)", alerts: work + "/alerts.ndjson")
        let seconds = Date().timeIntervalSince(started)
        XCTAssertEqual(r.status, 0, r.stderr)
        let alerts = try lines(work + "/alerts.ndjson")
        XCTAssertGreaterThan(alerts.count, 5, "the fixtures raise alerts under fixtures/policy.yaml")
        XCTAssertTrue(r.stderr.contains("syslog: delivered \(alerts.count) alert(s) to tcp://127.0.0.1:\(rs.port)"), r.stderr)
        let received = rs.lines(of: rs.msgLog, atLeast: alerts.count)
        XCTAssertEqual(received, alerts.map { bom + $0 }, "MSG is the UTF-8 BOM and the --alerts line, in order")

        // The header as rsyslog parsed it: PRI from facility 4 and the mapped severity, version 1,
        // APP-NAME, PROCID, MSGID, no structured data.
        let headers = rs.lines(of: rs.headerLog, atLeast: alerts.count).map { String(decoding: $0, as: UTF8.self).split(separator: "|").map(String.init) }
        XCTAssertEqual(headers.count, alerts.count)
        for (h, a) in zip(headers, alerts) {
            let severity = (try JSONSerialization.jsonObject(with: Data(a)) as? [String: Any])?["event.severity"] as? Int ?? -1
            XCTAssertEqual(h.count, 8, "\(h)")
            guard h.count == 8 else { continue }
            XCTAssertEqual(h[0], String(4 * 8 + syslogSeverity(ecs: severity)))
            XCTAssertEqual(h[1], "1")
            XCTAssertEqual(Array(h[4...]), ["shadowscope", h[5], "alert", "-"])
            XCTAssertNotNil(Int(h[5]), "PROCID is the pid")
        }
        print("measured: \(alerts.count) alerts scanned and delivered to rsyslog over TCP in \(String(format: "%.2f", seconds)) s (whole run)")
        XCTAssertEqual(try AlertSpool(directory: spool).pendingCount, 0, "the spool is empty after delivery")
    }

    func testReceiverDownSpoolsWithExit4AndTheNextRunDeliversNoneLost() throws {
        let rs = try rsyslog("rsyslog")
        try rs.start()
        var expected: [[UInt8]] = []
        let r1 = try scan(runs[0], to: "tcp://127.0.0.1:\(rs.port)", alerts: work + "/a1.ndjson")
        XCTAssertEqual(r1.status, 0, r1.stderr)
        expected += try lines(work + "/a1.ndjson")

        rs.stop()
        let r2 = try scan(runs[1], to: "tcp://127.0.0.1:\(rs.port)", alerts: work + "/a2.ndjson", ["--syslog-timeout", "1"])
        let waiting = try lines(work + "/a2.ndjson")
        XCTAssertEqual(r2.status, 4, "exit 4: alerts are spooled, not delivered\n" + r2.stderr)
        XCTAssertTrue(r2.stderr.contains("syslog: \(waiting.count) alert(s) wait in \(spool)"), r2.stderr)
        XCTAssertEqual(try AlertSpool(directory: spool).pendingCount, waiting.count, "they wait on disk")
        expected += waiting

        try rs.start()
        let r3 = try scan(runs[2], to: "tcp://127.0.0.1:\(rs.port)", alerts: work + "/a3.ndjson")
        XCTAssertEqual(r3.status, 0, r3.stderr)
        XCTAssertTrue(r3.stderr.contains("(\(waiting.count) from earlier runs)"), r3.stderr)
        expected += try lines(work + "/a3.ndjson")

        let received = rs.lines(of: rs.msgLog, atLeast: expected.count)
        XCTAssertEqual(Set(received.compactMap(eventID)), Set(expected.compactMap(eventID)), "no alert lost")
        let duplicates = received.count - expected.count
        XCTAssertGreaterThanOrEqual(duplicates, 0)
        print("measured: \(expected.count) alerts over 3 runs, receiver down for the second, \(received.count) received, \(duplicates) duplicate(s)")
        if duplicates == 0 { XCTAssertEqual(received, expected.map { bom + $0 }, "in order: the waiting ones first") }
    }

    func testReceiverComingBackWhileTheScanWaitsGetsEverything() throws {
        let rs = try rsyslog("rsyslog")
        final class Result: @unchecked Sendable { var value: ProgramResult?; var error: Error? }
        let result = Result()
        let done = DispatchSemaphore(value: 0)
        let (bin, url, alerts, spool, work) = (bin, "tcp://127.0.0.1:\(rs.port)", work + "/alerts.ndjson", spool, work)
        let inputs = runs.flatMap { $0 }
        DispatchQueue.global().async {
            do {
                result.value = try runProgram(bin, ["scan", "--policy", TestPaths.fixture("policy.yaml"), "--summary", work + "/s.json",
                                                    "--alerts", alerts, "--syslog", url, "--syslog-spool", spool, "--syslog-timeout", "30"] + inputs)
            } catch { result.error = error }
            done.signal()
        }
        Thread.sleep(forTimeInterval: 2)  // the scan is done by now and retrying the connection with backoff
        let receiverBack = Date()
        try rs.start()
        done.wait()
        let r = try XCTUnwrap(result.value, "\(String(describing: result.error))")
        XCTAssertEqual(r.status, 0, r.stderr)
        let sent = try lines(alerts)
        XCTAssertEqual(rs.lines(of: rs.msgLog, atLeast: sent.count), sent.map { bom + $0 })
        print("measured: delivered \(sent.count) alerts \(String(format: "%.2f", Date().timeIntervalSince(receiverBack))) s after rsyslogd was started")
    }

    /// The library under a receiver that is stopped in the middle of a large delivery and started again:
    /// every record arrives at least once.
    func testReceiverStoppedDuringDeliveryLosesNothing() throws {
        let rs = try rsyslog("rsyslog")
        try rs.start()
        let spoolDir = work + "/spool-lib"
        let format = SyslogMessageFormat(hostname: "test", procID: "1")
        let pad = String(repeating: "p", count: 400)
        let count = 20_000
        let payloads = (0..<count).map { format.message(json: Array("{\"event.id\":\"\($0)\",\"pad\":\"\(pad)\"}".utf8), ecsSeverity: 47, at: .now) }
        let spool = try AlertSpool(directory: spoolDir)
        try spool.append(payloads)
        let sender = try SyslogSender(url: SyslogURL(parsing: "tcp://127.0.0.1:\(rs.port)"))
        let stopper = DispatchQueue(label: "stopper")
        let stopped = DispatchSemaphore(value: 0)
        let msgLog = rs.msgLog
        stopper.async {
            // Stop the receiver as soon as it has written its first messages: mid-delivery.
            let deadline = Date().addingTimeInterval(10)
            while Date() < deadline, ((try? FileManager.default.attributesOfItem(atPath: msgLog)[.size]) as? NSNumber)?.intValue ?? 0 == 0 {
                usleep(500)
            }
            rs.stop()
            stopped.signal()
        }
        let first = sender.drain(spool, timeout: 3)
        stopped.wait()
        let beforeRestart = rs.lines(of: rs.msgLog, atLeast: 0).count
        XCTAssertGreaterThan(beforeRestart, 0, "the receiver had taken some")
        XCTAssertLessThan(beforeRestart, count, "and was stopped before it had all")
        try rs.start()
        let second = sender.drain(spool, timeout: 30)
        XCTAssertEqual(second.pending, 0, second.lastError ?? "")
        // rsyslogd writes its file after it has taken the messages: wait for every record's id (up to
        // the timeout), not for `count` lines, since the first run's lines are among them.
        var received: [[UInt8]] = []
        var ids = Set<String>()
        let deadline = Date().addingTimeInterval(30)
        repeat {
            received = rs.lines(of: rs.msgLog, atLeast: 0)
            ids = Set(received.compactMap(eventID))
            if ids.count == count { break }
            Thread.sleep(forTimeInterval: 0.1)
        } while Date() < deadline
        XCTAssertEqual(ids.count, count, "every record arrived at least once")
        print("measured: \(count) records of ~\(payloads[0].count) bytes; rsyslogd stopped after writing \(beforeRestart); first drain acknowledged \(first.delivered) in \(first.attempts) attempt(s) before the receiver stopped (\(first.lastError ?? "no error")); second drain \(second.delivered) in \(String(format: "%.2f", second.seconds)) s; \(received.count - count) duplicate(s)")
    }

    func testTLSDeliveryChecksTheReceiverCertificate() throws {
        let rs = try rsyslog("rsyslog-tls", tls: true)
        try rs.start()
        let url = "tls://localhost:\(rs.port)"

        // Not signed by anything in the system trust store: refused, and the alerts wait.
        let untrusted = try scan(runs[0], to: url, alerts: work + "/a1.ndjson", ["--syslog-timeout", "1"])
        XCTAssertEqual(untrusted.status, 4, untrusted.stderr)
        XCTAssertTrue(untrusted.stderr.lowercased().contains("certificate"), untrusted.stderr)
        XCTAssertEqual(FileManager.default.contents(atPath: rs.msgLog) ?? Data(), Data(), "nothing went over an unverified connection")

        let started = Date()
        let trusted = try scan(runs[1], to: url, alerts: work + "/a2.ndjson", ["--syslog-ca", rs.certificate])
        let seconds = Date().timeIntervalSince(started)
        XCTAssertEqual(trusted.status, 0, trusted.stderr)
        let expected = try lines(work + "/a1.ndjson") + lines(work + "/a2.ndjson")
        XCTAssertEqual(rs.lines(of: rs.msgLog, atLeast: expected.count), expected.map { bom + $0 })
        print("measured: \(expected.count) alerts delivered over TLS in \(String(format: "%.2f", seconds)) s (whole run)")
    }

    func testSyslogOptionErrorsExit2AndNameTheFlag() throws {
        let input = TestPaths.fixture("squid-access.log")
        let cases: [([String], String)] = [
            (["--syslog", "udp://siem:514", "--syslog-spool", spool], "--syslog: 'udp://siem:514': UDP is not supported"),
            (["--syslog", "tcp://siem:99999", "--syslog-spool", spool], "--syslog: 'tcp://siem:99999': port '99999' is not a number from 1 to 65535"),
            (["--syslog", "tcp://siem:514"], "--syslog needs --syslog-spool DIR"),
            (["--syslog-spool", spool], "--syslog-spool and --syslog-ca need --syslog"),
            (["--syslog", "tcp://siem:514", "--syslog-spool", spool, "--syslog-timeout", "0"], "--syslog-timeout must be more than 0"),
            (["--syslog", "tls://siem", "--syslog-spool", spool, "--syslog-ca", work + "/missing.pem"], "\(work)/missing.pem: cannot read the CA certificate file"),
            (["--syslog", "tcp://siem", "--syslog-spool", spool, "--syslog-ca", work + "/missing.pem"], "a CA file is only used with tls://"),
            (["--syslog", "tcp://siem", "--syslog-spool", "/proc/none/spool"], "--syslog-spool: /proc/none/spool: cannot create the spool directory"),
        ]
        try "not a certificate\n".write(toFile: work + "/bad.pem", atomically: true, encoding: .utf8)
        let badPEM = try runProgram(bin, ["scan", "--syslog", "tls://siem", "--syslog-spool", spool, "--syslog-ca", work + "/bad.pem", input])
        XCTAssertEqual(badPEM.status, 2)
        XCTAssertTrue(badPEM.stderr.contains("\(work)/bad.pem: not a PEM certificate file"), badPEM.stderr)
        for (args, message) in cases {
            let r = try runProgram(bin, ["scan"] + args + [input])
            XCTAssertEqual(r.status, 2, "\(args)")
            XCTAssertTrue(r.stderr.contains(message), "\(args): \(r.stderr)")
        }
    }

    func testHelpDocumentsSyslogOptionsAndExitStatus4() throws {
        let r = try runProgram(bin, ["scan", "--help"])
        for flag in ["--syslog <URL>", "--syslog-spool <DIR>", "--syslog-ca <FILE>", "--syslog-timeout <SECONDS>"] {
            XCTAssertTrue(r.stdout.contains(flag), flag)
        }
        let root = try runProgram(bin, ["--help"])
        XCTAssertTrue(root.stdout.replacingOccurrences(of: "\n", with: " ").contains("; 4 with --syslog, some alerts are waiting in the spool"), root.stdout)
    }
}
