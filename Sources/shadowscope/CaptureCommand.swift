import ArgumentParser
import Foundation
import Glibc
import AlertDelivery
import Output
import PacketDecoding
import ShadowScopeCore
import StateStore

/// Set by signal handlers, read by the capture loop (at most 250 ms later).
nonisolated(unsafe) private var stopRequested: sig_atomic_t = 0
nonisolated(unsafe) private var reloadRequested: sig_atomic_t = 0

struct Capture: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Watch a network interface live: the same decoders and rules as scan, alerts as they happen.",
        discussion: """
            Needs CAP_NET_RAW and CAP_NET_ADMIN (or root). The day's aggregates are checkpointed to \
            DIR/state.sqlite every --checkpoint-interval seconds and resume from there after a crash \
            or restart; each day's summary is written to DIR/summaries/DAY.json at midnight in the \
            policy's time zone and on shutdown. An alert id is raised once, ever (kept in the state). \
            Signals: SIGHUP reloads signatures, policy and users without losing flows; SIGTERM or \
            SIGINT finishes open flows, writes the summary and exits 0. A status line goes to \
            stderr every --status-interval seconds.
            """
    )

    @Option(name: [.customShort("i"), .customLong("interface")], help: ArgumentHelp("Network interface to capture on (e.g. eth1, a mirror port).", valueName: "IFACE"))
    var interface: String

    @Option(help: ArgumentHelp("BPF capture filter, tcpdump syntax (e.g. 'tcp port 443 or udp port 443 or port 53').", valueName: "BPF"))
    var filter: String?

    @Option(help: ArgumentHelp("State directory: checkpoints, history, raised alert ids, daily summaries (created mode 0700).", valueName: "DIR"))
    var state: String

    @Option(help: ArgumentHelp("Append one JSON line per alert (ECS field names) to FILE, or - for stdout.", valueName: "FILE"))
    var alerts: String?

    @Option(help: ArgumentHelp("Append one JSON line per observation to FILE, or - for stdout.", valueName: "FILE"))
    var observations: String?

    @Option(help: ArgumentHelp("Also send each alert to a syslog receiver, tcp://HOST[:PORT] or tls://HOST[:PORT] (see scan --help); alerts wait in DIR/syslog-spool while it is away.", valueName: "URL"))
    var syslog: String?

    @Option(help: ArgumentHelp("With --syslog tls://: CA certificate(s) (PEM) to check the receiver against instead of the system store.", valueName: "FILE"))
    var syslogCa: String?

    @Option(help: ArgumentHelp("Policy YAML (see scan --help).", valueName: "FILE"))
    var policy: String?

    @Option(help: ArgumentHelp("Signature catalog directory (default: the bundled signatures/).", valueName: "DIR"))
    var signatures: String?

    @Option(help: ArgumentHelp("GeoIP database in MMDB format (default: the bundled DB-IP City Lite).", valueName: "FILE"))
    var geoip: String?

    @Option(help: ArgumentHelp("CSV of address-or-CIDR,user (see scan --help).", valueName: "FILE"))
    var users: String?

    @Option(help: ArgumentHelp("Pseudonymise users with a keyed HMAC-SHA256; the key is read from FILE.", valueName: "KEYFILE"))
    var pseudonymize: String?

    @Option(help: ArgumentHelp("Most flows tracked at once; past it the least recently active is finished early and counted.", valueName: "N"))
    var maxFlows: Int = 1_000_000

    @Option(help: ArgumentHelp("Kernel capture buffer in MiB.", valueName: "MIB"))
    var bufferSize: Int = 64

    @Option(help: ArgumentHelp("Bytes kept per packet (names are in the first segments; sizes come from headers).", valueName: "BYTES"))
    var snaplen: Int = 65_535

    @Option(help: ArgumentHelp("Seconds between status lines on stderr (0: none).", valueName: "SECONDS"))
    var statusInterval: Int = 60

    @Option(help: ArgumentHelp("Seconds between checkpoints of the day's aggregates and runs of the day rules.", valueName: "SECONDS"))
    var checkpointInterval: Int = 60

    /// Moves the clock that decides days and checkpoints (never packet times): lets a test cross
    /// midnight in seconds.
    @Option(help: .hidden)
    var clockOffsetSeconds: Int64 = 0

    func wallClock() -> Timestamp { Timestamp(microseconds: Timestamp.now.microseconds + clockOffsetSeconds * 1_000_000) }

    func validate() throws {
        if maxFlows < 1 { throw ValidationError("--max-flows must be 1 or more") }
        if !(1...4096).contains(bufferSize) { throw ValidationError("--buffer-size must be 1...4096 MiB") }
        if !(64...262_144).contains(snaplen) { throw ValidationError("--snaplen must be 64...262144") }
        if statusInterval < 0 { throw ValidationError("--status-interval must be 0 or more") }
        if checkpointInterval < 1 { throw ValidationError("--checkpoint-interval must be 1 or more") }
        if syslogCa != nil && syslog == nil { throw ValidationError("--syslog-ca needs --syslog") }
        if alerts == "-" && observations == "-" { throw ValidationError("only one of --alerts - and --observations - can use standard output") }
    }

    func loadSetup() throws(ConfigurationError) -> Setup {
        try Setup(signatures: signatures, geoip: geoip, users: users, pseudonymize: pseudonymize, policy: policy)
    }

    func run() throws {
        let session: CaptureSession
        let reader: PcapReader
        do {
            let setup = try loadSetup()
            let db: StateDatabase
            do { db = try StateDatabase(directory: state) } catch { throw ConfigurationError(description: error.description) }
            session = try CaptureSession(interface: interface, stateDirectory: state, db: db, setup: setup,
                                         alertsPath: alerts, observationsPath: observations, now: wallClock())
            if let syslog {
                let url: SyslogURL
                do { url = try SyslogURL(parsing: syslog) } catch { throw ConfigurationError(description: "--syslog: \(error.description)") }
                let spool = (state as NSString).appendingPathComponent("syslog-spool")
                do {
                    let delivery = try SyslogDelivery(url: url, spoolDirectory: spool, caFile: syslogCa)
                    if delivery.spool.pendingCount > 0 { printError("syslog: \(delivery.spool.pendingCount) alert(s) from before wait in \(spool)") }
                    session.forwarder = SyslogForwarder(delivery: delivery)
                } catch { throw ConfigurationError(description: error.description) }
            }
        } catch {
            printError("\(error)")
            throw ExitCode(Exit.usage)
        }
        var options = PcapReader.LiveOptions(interface: interface, filter: filter)
        options.snapLength = Int32(snaplen)
        options.bufferBytes = Int32(bufferSize << 20)
        do { reader = try PcapReader(live: options) } catch {
            printError(error.description)
            throw ExitCode(Exit.unreadable)
        }
        signal(SIGTERM) { _ in stopRequested = 1 }
        signal(SIGINT) { _ in stopRequested = 1 }
        signal(SIGHUP) { _ in reloadRequested = 1 }
        signal(SIGPIPE, SIG_IGN)
        printError("capturing on \(interface)\(filter.map { " (filter: \($0))" } ?? ""); state in \(state)")

        var report = InputReport(file: "live:\(interface)", format: "pcap (\(reader.linkTypeName), live)")
        var lastStatus = wallClock(), lastCheckpoint = wallClock()
        let scanner = CaptureScanner(limits: FlowTable.Limits(maxFlows: maxFlows))
        scanner.scan(reader, file: report.file, report: &report, control: { report, liveFlows in
            let now = wallClock()
            if let s = reader.statistics() { report.drops = Int(s.dropped + s.interfaceDropped) }
            if reloadRequested != 0 {
                reloadRequested = 0
                do { session.reload(try loadSetup()) } catch { printError("SIGHUP: reload failed, keeping the previous setup: \(error)") }
            }
            if now.microseconds - lastCheckpoint.microseconds >= Int64(checkpointInterval) * 1_000_000 || session.dayChanged(now) {
                lastCheckpoint = now
                session.checkpoint(report: report, now: now)
            }
            if statusInterval > 0, now.microseconds - lastStatus.microseconds >= Int64(statusInterval) * 1_000_000 {
                lastStatus = now
                printError(session.status(report: report, statistics: reader.statistics(), liveFlows: liveFlows))
            }
            return stopRequested == 0
        }, emit: session.handle)
        if let s = reader.statistics() { report.drops = Int(s.dropped + s.interfaceDropped) }
        session.finish(report: report, now: wallClock())
        if let f = session.forwarder {
            let waiting = f.finish(timeout: 5)
            if waiting > 0 { printError("syslog: \(waiting) alert(s) wait in the spool; the next start sends them first") }
        }
        printError(session.status(report: report, statistics: reader.statistics(), liveFlows: 0) + "; stopped")
    }
}
