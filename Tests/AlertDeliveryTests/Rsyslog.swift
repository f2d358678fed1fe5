import Foundation
import XCTest

/// A real rsyslogd (Debian's `rsyslog`, TLS through `rsyslog-gnutls`) run by a test on loopback with a
/// private configuration: one imtcp input on a free port, MSG of every message written raw to
/// `msg.log`, the header fields to `header.log`. No systemd, no /dev/log, pid file and work directory
/// in the test's own directory. On SIGTERM it writes out what it has read before exiting (the
/// main queue's shutdown timeout is raised from 1.5 s to 10 s): a receiver that has read a message
/// owns it; the sender's job is to get it read.
final class Rsyslog: @unchecked Sendable {  // stop() may be called from another queue in one test
    static let binary = "/usr/sbin/rsyslogd"

    struct NotInstalled: Error, CustomStringConvertible {
        var description: String {
            "\(Rsyslog.binary) is not installed: `make test` installs it (Debian packages rsyslog rsyslog-gnutls openssl)"
        }
    }

    let directory: String
    let port: Int
    let tls: Bool
    private var process: Process?

    var msgLog: String { directory + "/msg.log" }
    var headerLog: String { directory + "/header.log" }
    var certificate: String { directory + "/cert.pem" }

    /// Writes the configuration (and, for TLS, a self-signed certificate for localhost and 127.0.0.1).
    init(directory: String, tls: Bool = false) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else { throw NotInstalled() }
        self.directory = directory
        self.tls = tls
        port = try freeLoopbackPort()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var global = #"global(workDirectory="\#(directory)" maxMessageSize="64k""#
        var module = #"module(load="imtcp")"#
        if tls {
            let r = try runOpenSSL(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                                    "-keyout", directory + "/key.pem", "-out", certificate,
                                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
            guard r.status == 0 else { throw TestError("openssl req failed: \(r.stderr)") }
            global += #" defaultNetstreamDriver="gtls" defaultNetstreamDriverCAFile="\#(certificate)""#
                + #" defaultNetstreamDriverCertFile="\#(certificate)" defaultNetstreamDriverKeyFile="\#(directory)/key.pem""#
            module = #"module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")"#
        }
        let config = """
            \(global))
            main_queue(queue.timeoutShutdown="10000" queue.timeoutActionCompletion="10000")
            \(module)
            input(type="imtcp" port="\(port)" address="127.0.0.1" ruleset="alerts")
            template(name="msg" type="string" string="%msg%\\n")
            template(name="header" type="string" string="%pri%|%protocol-version%|%timereported:::date-rfc3339%|%hostname%|%app-name%|%procid%|%msgid%|%structured-data%\\n")
            ruleset(name="alerts") {
              action(type="omfile" file="\(msgLog)" template="msg")
              action(type="omfile" file="\(headerLog)" template="header")
            }

            """
        try config.write(toFile: directory + "/rsyslog.conf", atomically: true, encoding: .utf8)
    }

    /// Starts rsyslogd in the foreground and waits until it accepts connections.
    func start() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        p.arguments = ["-n", "-f", directory + "/rsyslog.conf", "-i", directory + "/rsyslogd.pid"]
        FileManager.default.createFile(atPath: directory + "/rsyslogd.err", contents: nil)
        p.standardError = FileHandle(forWritingAtPath: directory + "/rsyslogd.err")
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        process = p
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            if canConnect(port: port) { return }
            if !p.isRunning { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        let err = (try? String(contentsOfFile: directory + "/rsyslogd.err", encoding: .utf8)) ?? ""
        throw TestError("rsyslogd did not start listening on port \(port): \(err)")
    }

    /// Stops rsyslogd (SIGTERM) and waits until it has exited and the port is closed.
    func stop() {
        guard let p = process else { return }
        if p.isRunning { p.terminate() }
        p.waitUntilExit()
        process = nil
    }

    deinit { stop() }

    /// Lines of a log once it has at least `count` of them (rsyslog writes after the sender is done).
    func lines(of path: String, atLeast count: Int, timeout: Double = 15) -> [[UInt8]] {
        let deadline = Date().addingTimeInterval(timeout)
        var lines: [[UInt8]] = []
        repeat {
            if let data = FileManager.default.contents(atPath: path) {
                lines = [UInt8](data).split(separator: 0x0A, omittingEmptySubsequences: true).map(Array.init)
                if lines.count >= count { return lines }
            }
            Thread.sleep(forTimeInterval: 0.05)
        } while Date() < deadline
        return lines
    }
}

struct TestError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

func runOpenSSL(_ args: [String]) throws -> (status: Int32, stderr: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
    p.arguments = args
    let err = Pipe()
    p.standardError = err
    p.standardOutput = FileHandle.nullDevice
    try p.run()
    let data = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// A TCP port on 127.0.0.1 nobody listens on right now.
func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestError("socket failed") }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    let bound = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw TestError("bind failed") }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let named = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
    }
    guard named == 0 else { throw TestError("getsockname failed") }
    return Int(UInt16(bigEndian: addr.sin_port))
}

func canConnect(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = UInt16(port).bigEndian
    return withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    } == 0
}
