import Foundation
import Output
import PacketDecoding
import ShadowScopeCore
import StateStore

/// What a live capture keeps between packets: the current day's aggregates, the outputs, and the
/// state database that makes them survive a restart. Alerts are written and synced before their id
/// is recorded as raised, so a crash between the two repeats an alert (same id) rather than losing it.
final class CaptureSession {
    let key: String
    let summariesDirectory: String
    let db: StateDatabase
    private(set) var setup: Setup
    private var aggregates = Aggregates()
    /// The day being summarised, in the policy's time zone.
    private var period: String
    private let alertsOut: OutputFile?
    private let observationsOut: OutputFile?
    private var line = JSONWriter()
    private(set) var alertsRaised = 0
    /// `--syslog`: alerts also go to the spool, from which a thread sends them.
    var forwarder: SyslogForwarder?

    init(interface: String, stateDirectory: String, db: StateDatabase, setup: Setup, alertsPath: String?, observationsPath: String?, now: Timestamp) throws(ConfigurationError) {
        key = "capture:\(interface)"
        self.db = db
        self.setup = setup
        summariesDirectory = (stateDirectory as NSString).appendingPathComponent("summaries")
        do {
            try FileManager.default.createDirectory(atPath: summariesDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch { throw ConfigurationError(description: "\(summariesDirectory): cannot create: \(error.localizedDescription)") }
        alertsOut = try alertsPath.map { path throws(ConfigurationError) in try OutputFile(path: path, append: true) }
        observationsOut = try observationsPath.map { path throws(ConfigurationError) in try OutputFile(path: path, append: true) }
        period = ""
        period = localDay(now)
        // Resume the day from the last checkpoint; an earlier day's checkpoint that never got its
        // summary (killed before midnight) gets it now.
        do {
            if let saved = try db.checkpoint(key: key) {
                let reader = try SummaryReader(json: saved.summary, file: db.path + " checkpoint " + key)
                if saved.day == period {
                    aggregates = reader.aggregates
                    printError("resumed \(period) from the checkpoint: \(aggregates.rows.count) aggregate row(s)")
                } else {
                    let path = summaryPath(saved.day)
                    if !FileManager.default.fileExists(atPath: path) { writeFile(path, Array(saved.summary)) }
                }
            }
        } catch {
            printError("\(error): starting the day afresh")
        }
    }

    func localDay(_ t: Timestamp) -> String {
        let hours = setup.policy.hours
        let offset = hours.offsetAt?(t) ?? hours.utcOffsetSeconds
        return Timestamp(microseconds: t.microseconds + offset * 1_000_000).day
    }

    func dayChanged(_ now: Timestamp) -> Bool { localDay(now) != period }

    func summaryPath(_ day: String) -> String { (summariesDirectory as NSString).appendingPathComponent(day + ".json") }

    /// Attributes one finished flow, adds it to the day and raises its per-connection alert.
    func handle(_ observation: Observation) {
        var o = observation
        var a = setup.attributor.attribute(o)
        setup.pseudonymizer?.apply(&o, &a)
        aggregates.add(o, a, policy: setup.policy)
        if let alert = setup.rules.check(o, a) { raise([alert]) }
        if let out = observationsOut {
            line.reset()
            writeObservation(o, into: &line)
            out.write(line.bytes + [0x0A])
        }
    }

    /// Saves the day so far, runs the day rules over it, and at midnight writes the day's summary and starts the next.
    func checkpoint(report: InputReport, now: Timestamp) {
        let summary = summaryJSON(inputs: [report], aggregates: aggregates, context: context)
        let historyKey = key + ":" + period
        do {
            try db.saveCheckpoint(key: key, day: period, summary: summary, at: now)
            try db.record(inputKey: historyKey, aggregates: aggregates)
            let past = try db.history(excluding: [historyKey])
            raise(setup.rules.check(aggregates) + setup.rules.check(aggregates, past: past, firstSeen: true))
        } catch {
            printError("checkpoint failed (will retry): \(error.description)")
        }
        observationsOut?.flush()
        if dayChanged(now) {
            writeFile(summaryPath(period), summary)
            aggregates = Aggregates()
            period = localDay(now)
            do { try db.saveCheckpoint(key: key, day: period, summary: summaryJSON(inputs: [report], aggregates: aggregates, context: context), at: now) } catch {
                printError("checkpoint failed (will retry): \(error.description)")
            }
        }
    }

    /// Shutdown: the open flows were finished into the day; save it and write its summary so far.
    func finish(report: InputReport, now: Timestamp) {
        checkpoint(report: report, now: now)
        writeFile(summaryPath(period), summaryJSON(inputs: [report], aggregates: aggregates, context: context))
        alertsOut?.close()
        observationsOut?.close()
    }

    /// SIGHUP: new signatures, policy and users apply to flows finished from now on.
    func reload(_ new: Setup) {
        setup = new
        printError("reloaded signatures, policy and users")
    }

    private var context: SummaryContext {
        SummaryContext(tool: "shadowscope \(ShadowScope.version) capture", geoip: setup.geoInfo, hours: setup.policy.hours,
                       policySource: setup.policy.source)
    }

    /// Writes alerts not raised before, syncs them to disk, then records their ids.
    private func raise(_ alerts: [Alert]) {
        guard !alerts.isEmpty else { return }
        var seen = Set<String>()
        let unique = alerts.map { (id: alertID($0), alert: $0) }.filter { seen.insert($0.id).inserted }
        do {
            let already = try db.alreadyRaised(unique.map(\.id))
            let fresh = unique.filter { !already.contains($0.id) }
            guard !fresh.isEmpty else { return }
            if let out = alertsOut {
                var w = JSONWriter()
                for (_, a) in fresh {
                    w.reset()
                    writeAlert(a, into: &w)
                    out.write(w.bytes + [0x0A])
                }
                out.sync()
            }
            try forwarder?.enqueue(fresh.map(\.alert))
            try db.markRaised(fresh, at: Timestamp.now)
            alertsRaised += fresh.count
        } catch {
            printError("alerts: \(error)")
        }
    }

    func status(report: InputReport, statistics: PcapReader.LiveStatistics?, liveFlows: Int) -> String {
        var parts = ["\(key): \(report.packets ?? 0) packets"]
        if let s = statistics { parts.append("kernel dropped \(s.dropped), interface dropped \(s.interfaceDropped)") }
        parts.append("\(liveFlows) flows tracked, \(report.capsHit["flow-table-full"] ?? 0) evicted at the cap")
        let givenUp = report.capsHit.filter { $0.key.hasPrefix("client-head") }.values.reduce(0, +)
        parts.append("\(givenUp) name reassemblies given up")
        parts.append("\(alertsRaised) alerts raised, \(aggregates.rows.count) aggregate rows today")
        if let f = forwarder { parts.append("syslog: \(f.delivered) delivered, \(f.pending) waiting") }
        parts.append("RSS \(residentMegabytes()) MB")
        return parts.joined(separator: ", ")
    }

    private func writeFile(_ path: String, _ bytes: [UInt8]) {
        do {
            let out = try OutputFile(path: path + ".tmp")
            out.write(bytes)
            out.sync()
            out.close()
            if rename(path + ".tmp", path) != 0 { printError("\(path): cannot write the summary: \(String(cString: strerror(errno)))") }
        } catch {
            printError(error.description)
        }
    }
}

/// Resident set size from /proc/self/statm, in MiB.
func residentMegabytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
    return (pages * Int(sysconf(Int32(_SC_PAGESIZE)))) >> 20
}
