import AlertDelivery
import ArgumentParser
import Foundation
import GeoIP
import LogFormats
import Output
import PacketDecoding
import ShadowScopeCore
import Signatures
import StateStore

struct Scan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Scan captures (pcap, pcapng) and proxy and DNS logs, and write the daily summary.",
        discussion: """
            INPUT is a file, a directory (every file in it, recursively) or - for standard input. \
            The format is told from the content, not the file name; gzip, zstd, bzip2 and xz \
            input is decompressed on the fly. The summary JSON goes to standard output unless \
            another output is - or --summary names a file.
            """
    )

    @Argument(help: ArgumentHelp("Captures, logs, directories, or - for standard input.", valueName: "INPUT"))
    var inputs: [String]

    @Option(help: ArgumentHelp("Input format: auto (from content), pcap, or a log format: squid, zeek, zeek-json, suricata-eve, zscaler-nss, umbrella, panos, fortigate, windows-dns, bind-query, dnsmasq, w3c.", valueName: "NAME"))
    var format: String = "auto"

    @Option(help: ArgumentHelp("With --format squid: the log's squid.conf `logformat` line (or a file holding it), e.g. '%ts.%03tu %6tr %>a %Ss/%03>Hs %<st %>st %rm %ru %un %Sh/%<a %mt'.", valueName: "FILE|STRING"))
    var logformat: String?

    @Option(help: ArgumentHelp("With --format zscaler-nss: the delimited feed's Feed Output Format (or a file holding it), e.g. '%s{time}\\t%s{login}\\t%s{eurl}\\t%d{reqsize}\\t%d{respsize}', or its header line 'time,login,eurl,reqsize,respsize'. Tab or comma separated, as the feed is. Without it, zscaler-nss reads the JSON feed.", valueName: "FILE|STRING"))
    var nssFields: String?

    @Option(help: ArgumentHelp("Write one JSON line per observation (flow, log line) to FILE, or - for stdout.", valueName: "FILE"))
    var observations: String?

    @Option(help: ArgumentHelp("Write the summary JSON to FILE, or - for stdout (the default when no other output is -).", valueName: "FILE"))
    var summary: String?

    @Option(help: ArgumentHelp("Write one JSON line per alert (ECS field names, deterministic event.id) to FILE, or - for stdout.", valueName: "FILE"))
    var alerts: String?

    @Option(help: ArgumentHelp("Policy YAML: approved services and tiers, allowed regions, business hours and time zone, upload thresholds (default: nothing approved).", valueName: "FILE"))
    var policy: String?

    @Option(help: ArgumentHelp("Time zone of log times written without one (BIND, dnsmasq, Windows DNS, PAN-OS, FortiGate without tz=): an IANA name such as Europe/Berlin. Default: such times are taken as UTC. The summary says which.", valueName: "ZONE"))
    var timezone: String?

    @Option(help: ArgumentHelp("Keep history and raised alert ids in DIR/state.sqlite: enables unusual-upload against earlier days and first-seen, and an alert id already raised is not raised again. Created mode 0700.", valueName: "DIR"))
    var state: String?

    @Flag(help: "Print the summary as a text table on standard output instead of JSON (use --summary FILE to keep the JSON too).")
    var table = false

    @Option(help: ArgumentHelp("Write a self-contained HTML report (services, users, hours, regions, alerts, inputs) to FILE.", valueName: "FILE"))
    var report: String?

    @Option(help: ArgumentHelp("Signature catalog directory (default: the bundled signatures/).", valueName: "DIR"))
    var signatures: String?

    @Option(help: ArgumentHelp("GeoIP database in MMDB format, e.g. GeoLite2-City.mmdb (default: the bundled DB-IP City Lite).", valueName: "FILE"))
    var geoip: String?

    @Option(help: ArgumentHelp("Threads (default: all cores): inputs scanned at once, and a large plain log in a format whose lines stand alone (squid, zeek-json, umbrella, panos, fortigate, bind-query, windows-dns) is cut at line boundaries into one part per thread. The result does not depend on it.", valueName: "N"))
    var jobs: Int?

    /// The threads `--jobs` asks for: all cores when it is not given.
    var threads: Int { max(1, jobs ?? ProcessInfo.processInfo.activeProcessorCount) }

    /// Plain logs at least this large are cut into one part per thread (tests make it small).
    @Option(help: .hidden)
    var splitBytes: Int = 64 << 20

    @Flag(inversion: .prefixedNo, help: "Show how much of the inputs is read, the rate and the time left on standard error while scanning (default: when standard error is a terminal and observations do not stream to it).")
    var progress: Bool?

    @Option(help: ArgumentHelp("CSV of address-or-CIDR,user: who is behind a client address when the source does not say (longest prefix wins).", valueName: "FILE"))
    var users: String?

    @Option(help: ArgumentHelp("Replace users and client addresses with a keyed HMAC-SHA256 pseudonym; the key (16 bytes or more) is read from FILE.", valueName: "KEYFILE"))
    var pseudonymize: String?

    @Option(help: ArgumentHelp("Also send each alert to a syslog receiver: tcp://HOST[:PORT] (RFC 5424 messages, RFC 6587 octet counting, default port 514) or tls://HOST[:PORT] (RFC 5425, default port 6514). Needs --syslog-spool.", valueName: "URL"))
    var syslog: String?

    @Option(help: ArgumentHelp("With --syslog (required unless --state DIR is given; then DIR/syslog-spool): directory where alerts wait on disk until the receiver has them; a later run sends what is waiting first. Delivery is at-least-once: a resent alert keeps its event.id.", valueName: "DIR"))
    var syslogSpool: String?

    @Option(help: ArgumentHelp("With tls://: PEM file of the CA certificates that may sign the receiver's certificate (default: the system trust store).", valueName: "FILE"))
    var syslogCa: String?

    @Option(help: ArgumentHelp("With --syslog: how long to try to deliver at the end of the scan (default 10). What is not delivered by then stays in the spool and the exit status is 4.", valueName: "SECONDS"))
    var syslogTimeout: Double = 10

    func validate() throws {
        guard Self.formatNames.contains(format) else {
            throw ValidationError("--format: '\(format)' is not one of \(Self.formatNames.joined(separator: ", "))")
        }
        if logformat != nil && format != "squid" {
            throw ValidationError("--logformat needs --format squid")
        }
        if nssFields != nil && format != "zscaler-nss" {
            throw ValidationError("--nss-fields needs --format zscaler-nss")
        }
        if [observations, summary, alerts, report].filter({ $0 == "-" }).count + (table ? 1 : 0) > 1 {
            throw ValidationError("only one of --observations -, --summary -, --alerts -, --report - and --table can use standard output")
        }
        if inputs.filter({ $0 == "-" }).count > 1 { throw ValidationError("standard input (-) can be read only once") }
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be 1 or more") }
        if let timezone, LocalTimeZone(identifier: timezone) == nil {
            throw ValidationError("--timezone: '\(timezone)' is not a time zone name (IANA, e.g. Europe/Berlin or UTC)")
        }
        if let syslog {
            do { _ = try SyslogURL(parsing: syslog) } catch { throw ValidationError("--syslog: \(error.description)") }
            if syslogSpool == nil && state == nil { throw ValidationError("--syslog needs --syslog-spool DIR (or --state DIR, whose syslog-spool folder is then used), where alerts wait while the receiver is away") }
        } else if syslogSpool != nil || syslogCa != nil {
            throw ValidationError("--syslog-spool and --syslog-ca need --syslog")
        }
        if !(syslogTimeout > 0 && syslogTimeout <= 86_400) { throw ValidationError("--syslog-timeout must be more than 0 and at most 86400 seconds") }
    }

    /// The rules that need the past, then `--state`: each input's contribution replaces its earlier
    /// one, and alerts whose id was already raised are dropped. Without `--state` the past is only
    /// the input's own earlier days and first-seen is not judged. Alerts come out once per id.
    func applyState(_ results: [FileResult], aggregates: Aggregates, alerts: [Alert], rules: Rules) throws(ConfigurationError) -> [Alert] {
        var all = alerts
        var seen = Set<String>()
        guard let state else {
            all += rules.check(aggregates, past: UsageHistory(), firstSeen: false)
            // The id is a hash of idMaterial: equal material, equal alert; no need to hash to tell.
            return all.filter { seen.insert($0.idMaterial).inserted }
        }
        do {
            let db = try StateDatabase(directory: state)
            let keyed = results.filter { $0.report.error == nil }.map { (stateKey(for: $0.report.file, aggregates: $0.aggregates), $0.aggregates) }
            let past = try db.history(excluding: Set(keyed.map(\.0)))
            all += rules.check(aggregates, past: past, firstSeen: true)
            let identified = all.map { (id: alertID($0), alert: $0) }.filter { seen.insert($0.id).inserted }
            // One input's parts (the same file named twice) merge before they replace the old contribution.
            var byKey: [String: Aggregates] = [:]
            for (key, a) in keyed { byKey[key, default: Aggregates()].merge(a) }
            for (key, a) in byKey { try db.record(inputKey: key, aggregates: a) }
            let raised = try db.alreadyRaised(identified.map(\.id))
            let fresh = identified.filter { !raised.contains($0.id) }
            try db.markRaised(fresh, at: Timestamp.now)
            if raised.count > 0 { printError("\(raised.count) alert(s) already raised in an earlier run (\(db.path)): not raised again") }
            return fresh.map(\.alert)
        } catch {
            throw ConfigurationError(description: error.description)
        }
    }

    static let formatNames = ["auto", "pcap"] + allLogFormats.map(\.name)

    /// The format that --logformat (Squid) or --nss-fields (Zscaler) describes: each takes a file
    /// holding the description, or the description itself.
    func customFormat() throws(ConfigurationError) -> (any LogFormat)? {
        func text(_ value: String) -> String {
            guard FileManager.default.fileExists(atPath: value), let data = FileManager.default.contents(atPath: value) else { return value }
            return String(decoding: data, as: UTF8.self)
        }
        if let logformat {
            do { return try SquidCustom(logformat: text(logformat)) } catch {
                throw ConfigurationError(description: "--logformat: \(error.description)")
            }
        }
        if let nssFields {
            do { return try ZscalerNSS(feedOutputFormat: text(nssFields)) } catch {
                throw ConfigurationError(description: "--nss-fields: \(error.description)")
            }
        }
        return nil
    }

    /// Scans the files on `jobs` threads. Results come back in input order; observation lines of each
    /// file go to a temporary file first and are copied to the output in input order, so the output
    /// does not depend on `--jobs`.
    /// A large plain log in a format whose lines stand alone is cut into one part per thread at line
    /// boundaries (`FileParts`); the parts' results merge back into one per file, in order.
    func scanAll(_ files: [String], with scanner: InputScanner, observationsTo out: OutputFile?) -> [FileResult] {
        // Work items: a whole file, or one part of one.
        var plan: [WorkItem] = []
        for (i, path) in files.enumerated() {
            if threads > 1, let format = scanner.splittableFormat(path),
               let parts = FileParts.plan(path, count: threads, minimumBytes: splitBytes, countLines: out != nil) {
                plan += parts.map { WorkItem(file: i, part: $0, format: format) }
            } else {
                plan.append(WorkItem(file: i, part: nil, format: nil))
            }
        }
        let items = plan
        @Sendable func scan(_ item: WorkItem, _ to: OutputFile?) -> FileResult {
            guard let part = item.part, let format = item.format else { return scanner.scan(files[item.file], observationsTo: to) }
            return scanner.scan(files[item.file], part: part, format: format, observationsTo: to)
        }
        let workers = min(threads, items.count)
        if workers == 1 { return items.map { scan($0, out) } }  // one thread: nothing was cut
        let results = ResultSlots(count: items.count)
        let temporary = FileManager.default.temporaryDirectory.appendingPathComponent("shadowscope-\(getpid())-\(UUID().uuidString)").path
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            while let i = results.claimNext() {
                if out == nil {
                    results.set(i, scan(items[i], nil))
                    continue
                }
                do {
                    let part = try OutputFile(path: temporary + "-\(i)")
                    results.set(i, scan(items[i], part))
                    part.close()
                } catch {
                    var report = InputReport(file: files[items[i].file], format: "unknown")
                    report.error = "not scanned: \(error)"
                    results.set(i, FileResult(report: report, aggregates: Aggregates(), alerts: []))
                }
            }
        }
        if let out {
            for i in items.indices {
                let path = temporary + "-\(i)"
                if let data = FileManager.default.contents(atPath: path) { out.write([UInt8](data)) }
                try? FileManager.default.removeItem(atPath: path)
            }
        }
        // Each part's rows handed on, not shared: a table still referenced from here would be copied
        // whole by the first merge into it (a quarter of a second for a 100k-row capture half).
        var all = results.takeAll()
        var byFile = [[FileResult]](repeating: [], count: files.count)
        for (k, item) in items.enumerated() {
            byFile[item.file].append(all[k])
            all[k].aggregates = Aggregates()
        }
        var merged: [FileResult] = []
        for i in byFile.indices {
            let parts = byFile[i]
            byFile[i] = []
            merged.append(FileResult(parts: parts))
        }
        return merged
    }

    /// With `--format` forced, an input of records none of which reads as that format is an input
    /// that could not be read (exit 3), as one whose format is not recognised is: a script forcing
    /// the wrong format must not get an empty summary and success. Nil when something was read.
    func nothingFits(_ report: InputReport) -> String? {
        guard format != "auto", report.error == nil, report.records > 0, report.skipped == report.records else { return nil }
        return "no record reads as \(format): \(report.skipped) skipped; first: \(firstSkipped(report))"
    }

    /// `FILE:LINE: reason` of the first record `report` skipped.
    private func firstSkipped(_ report: InputReport) -> String {
        report.skippedSamples.first.map { "\($0.location): \($0.reason)" } ?? ""
    }

    func run() throws {
        let setup: Setup
        let custom: (any LogFormat)?
        do { custom = try customFormat() } catch {
            printError(error.description)
            throw ExitCode(Exit.usage)
        }
        do {
            setup = try Setup(signatures: signatures, geoip: geoip, users: users, pseudonymize: pseudonymize, policy: policy,
                              threads: threads)
        } catch {
            printError(error.description)
            throw ExitCode(Exit.usage)
        }
        let delivery: SyslogDelivery?
        do { delivery = try openSyslogDelivery() } catch {
            printError(error.description)
            throw ExitCode(Exit.usage)
        }
        let observationOut: OutputFile?
        let summaryOut: OutputFile?
        let alertOut: OutputFile?
        let reportOut: OutputFile?
        do {
            reportOut = try report.map { path throws(ConfigurationError) in try OutputFile(path: path) }
            observationOut = try observations.map { path throws(ConfigurationError) in try OutputFile(path: path) }
            alertOut = try alerts.map { path throws(ConfigurationError) in try OutputFile(path: path) }
            let stdoutTaken = observations == "-" || alerts == "-" || report == "-" || table
            summaryOut = try (summary ?? (stdoutTaken ? nil : "-")).map { path throws(ConfigurationError) in try OutputFile(path: path) }
        } catch {
            printError(error.description)
            throw ExitCode(Exit.usage)
        }

        let files = expandInputs(inputs)
        let scanner = InputScanner(format: format, custom: custom, setup: setup, localZone: timezone.flatMap(LocalTimeZone.init(identifier:)))
        // By default on a terminal, unless observations stream to the same terminal meanwhile.
        let onTerminal = isatty(2) != 0 && !(observations == "-" && isatty(1) != 0)
        let shown = progress ?? onTerminal ? ScanProgress(inputs: files) : nil
        shown?.start()
        var results = scanAll(files, with: scanner, observationsTo: observationOut)
        shown?.stop()
        // Only the summary wanted: it is written from the inputs' tables as they are, merged row by
        // row as it is written (on the threads), not first into one table on this one.
        let summaryOnly = alertOut == nil && reportOut == nil && delivery == nil && state == nil && !table
        var reports: [InputReport] = []
        var aggregates = Aggregates()
        var alerts: [Alert] = []
        for i in results.indices {
            // An input nothing fits has that as its error, which says what the skipped count would.
            let nothing = nothingFits(results[i].report)
            if let nothing { results[i].report.error = nothing }
            let report = results[i].report, partial = results[i].aggregates
            alerts += results[i].alerts
            if let error = report.error { printError("\(report.file): \(error)") }
            if report.skipped > 0 && nothing == nil {
                printError("\(report.file): skipped \(report.skipped) record(s); first: \(firstSkipped(report))")
            }
            reports.append(report)
            if summaryOnly { continue }
            // Without --state nothing reads an input's own rows again. The merged table starts as the
            // first input's: let that go, so it is not shared and not copied by the next merge. The
            // others stay until the process ends (`exitWithoutTeardown`): freed here, one string at a
            // time, they were serial work after the threads had finished.
            if state == nil && i == 0 { results[i].aggregates = Aggregates() }
            aggregates.merge(partial)  // a monoid: the order of merging does not change the result
        }
        let hours = setup.policy.hours
        // The day rules run when something takes their alerts (a file, the report, syslog, or --state,
        // which records what was raised); a run that asks only for the summary skips them.
        if alertOut != nil || reportOut != nil || delivery != nil || state != nil {
            alerts += setup.rules.check(aggregates)
            do { alerts = try applyState(results, aggregates: aggregates, alerts: alerts, rules: setup.rules) } catch {
                printError(error.description)
                throw ExitCode(Exit.usage)
            }
        }
        if let out = alertOut {
            var w = JSONWriter()
            for a in alerts {
                w.reset()
                writeAlert(a, into: &w)
                out.write(w.bytes + [0x0A])
            }
            out.close()
        }
        observationOut?.close()
        var context = SummaryContext(tool: "shadowscope \(ShadowScope.version)", geoip: setup.geoInfo, hours: hours,
                                     policySource: setup.policy.source)
        context.localTimes = timezone.map { "\($0) (--timezone)" } ?? SummaryContext.localTimesAsUTC
        if let summaryOut {
            // Rows formatted on the scan's threads (`--jobs`); the bytes do not depend on how many.
            let tables = summaryOnly ? results.map(\.aggregates) : [aggregates]
            writeSummaryJSON(inputs: reports, tables: tables, context: context, threads: threads) { summaryOut.write($0) }
        }
        summaryOut?.close()
        if table { print(summaryTable(aggregates, geoAttribution: setup.geoInfo?.attribution), terminator: "") }
        // --report: the HTML page for people, from the same figures and alerts.
        reportOut?.write(htmlReport(inputs: reports, aggregates: aggregates, alerts: alerts, context: context))
        reportOut?.close()
        let undelivered = delivery.map { deliverToSyslog(alerts, with: $0) } ?? false
        exitWithoutTeardown(reports.contains(where: { $0.error != nil }) ? Exit.unreadable : undelivered ? Exit.spooled : 0)
    }

    /// --syslog: the spool and the sender, opened before scanning so that a bad URL, CA file or spool
    /// stops the run at once.
    func openSyslogDelivery() throws(DeliveryError) -> SyslogDelivery? {
        guard let syslog, let syslogSpool = syslogSpool ?? state.map({ ($0 as NSString).appendingPathComponent("syslog-spool") }) else { return nil }
        let url: SyslogURL
        do { url = try SyslogURL(parsing: syslog) } catch { throw DeliveryError("--syslog: \(error.description)") }
        if let state, self.syslogSpool == nil {  // the spool lives inside the state directory
            try? FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        let delivery = try SyslogDelivery(url: url, spoolDirectory: syslogSpool, caFile: syslogCa)
        if !delivery.spool.damage.isEmpty { printError("\(syslogSpool): \(delivery.spool.damage)") }
        return delivery
    }

    /// Spools the run's alerts behind any from earlier runs and sends them; true when some are still waiting.
    func deliverToSyslog(_ alerts: [Alert], with delivery: SyslogDelivery) -> Bool {
        let earlier = delivery.waitingFromEarlierRuns
        let report: DeliveryReport
        do { report = try delivery.deliver(alerts, timeout: syslogTimeout) } catch {
            printError(error.description)
            return true
        }
        let dir = syslogSpool ?? state.map { ($0 as NSString).appendingPathComponent("syslog-spool") } ?? ""
        if report.pending > 0 {
            printError("syslog: \(report.pending) alert(s) wait in \(dir) for \(delivery.sender.url) (\(report.lastError ?? "not delivered in time")); the next run sends them first")
        } else if report.delivered > 0 {
            printError("syslog: delivered \(report.delivered) alert(s) to \(delivery.sender.url)\(earlier > 0 ? " (\(earlier) from earlier runs)" : "")")
        }
        return report.pending > 0
    }

}

/// Per-input results filled in by worker threads.
/// A whole input, or one part of a plain log cut for several threads.
struct WorkItem: Sendable {
    var file: Int
    var part: FilePart?
    var format: (any LogFormat)?
}

final class ResultSlots: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [FileResult?]
    private var next = 0

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    func claimNext() -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard next < slots.count else { return nil }
        next += 1
        return next - 1
    }

    func set(_ i: Int, _ value: FileResult) {
        lock.lock()
        slots[i] = value
        lock.unlock()
    }

    /// The results, which the slots then let go of.
    func takeAll() -> [FileResult] {
        lock.lock()
        defer { lock.unlock() }
        let all = slots.map { $0 ?? FileResult(report: InputReport(file: "?", format: "?"), aggregates: Aggregates(), alerts: []) }
        slots = []
        return all
    }
}

/// The catalog and GeoIP database a scan attributes with.
struct Setup: Sendable {
    var attributor: Attributor
    var geoInfo: GeoIPInfo?
    var pseudonymizer: Pseudonymizer?
    var policy: Policy
    var rules: Rules

    /// `threads`: how many the catalog's files may be parsed on (`--jobs`).
    init(signatures: String?, geoip: String?, users: String?, pseudonymize: String?, policy policyFile: String?,
         threads: Int = 1) throws(ConfigurationError) {
        guard let dir = signatures ?? Defaults.signaturesDirectory() else {
            throw ConfigurationError(description: "no signature catalog found; pass --signatures DIR")
        }
        let catalog: Catalog
        do { catalog = try CatalogLoader.load(directory: dir, threads: threads) } catch {
            throw ConfigurationError(description: "signature catalog has errors:\n" + error.description)
        }
        var geo: MaxMindDatabase? = nil
        if let path = geoip ?? Defaults.geoipDatabase() {
            do { geo = try MaxMindDatabase(path: path) } catch {
                throw ConfigurationError(description: error.description)
            }
        } else {
            printError("warning: no GeoIP database (run `make setup` or pass --geoip FILE); destination regions will be unknown")
        }
        var userMap = UserMap()
        if let users {
            guard let data = FileManager.default.contents(atPath: users) else {
                throw ConfigurationError(description: "\(users): cannot read the users file")
            }
            do { userMap = try UserMap(csv: String(decoding: data, as: UTF8.self), file: users) } catch {
                throw ConfigurationError(description: error.description)
            }
        }
        if let pseudonymize {
            do { pseudonymizer = try Pseudonymizer(keyFile: pseudonymize) } catch {
                throw ConfigurationError(description: error.description)
            }
        }
        attributor = Attributor(matcher: HostMatcher(catalog: catalog), geo: geo, users: userMap)
        var loaded = Policy()
        if let policyFile {
            do { loaded = try PolicyLoader.load(path: policyFile, catalog: catalog) } catch {
                throw ConfigurationError(description: "policy has errors:\n" + error.description)
            }
        }
        policy = loaded
        var tiers: [String: [(id: String, tier: String)]] = [:]
        for s in catalog.services { tiers[s.vendor, default: []].append((s.id, s.tier.rawValue)) }
        rules = Rules(policy: loaded, tiersByVendor: tiers)
        geoInfo = geo.map {
            GeoIPInfo(path: $0.path, databaseType: $0.databaseType, buildEpoch: $0.buildEpoch,
                      attribution: $0.isDBIP ? "IP Geolocation by DB-IP (https://db-ip.com), CC BY 4.0" : nil)
        }
    }
}
