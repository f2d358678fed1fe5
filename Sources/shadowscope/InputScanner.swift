import Foundation
import Glibc
import LogFormats
import Output
import PacketDecoding
import ShadowScopeCore

/// What one input yields.
struct FileResult: Sendable {
    var report: InputReport
    var aggregates: Aggregates
    /// Per-connection alerts, in input order.
    var alerts: [Alert]
    /// A part of a file (`FilePart`): the lines it holds, and whether its references count them from
    /// 1 rather than from the part's place in the file.
    var partLines = 0
    var numberedFromOne = false

    /// The parts of one file, scanned apart, as one result (parts in file order). A part numbered
    /// from 1 has its references moved past the lines of the parts before it.
    init(parts: consuming [FileResult]) {
        var parts = parts
        self = parts[0]
        parts[0].aggregates = Aggregates()  // this result's table is then the only reference to it
        var linesBefore = parts[0].partLines
        for k in parts.indices.dropFirst() {
            if parts[k].numberedFromOne { parts[k].shiftLineNumbers(by: linesBefore) }
            linesBefore += parts[k].partLines
            let p = parts[k]
            parts[k].aggregates = Aggregates()
            report.absorb(p.report)
            aggregates.merge(p.aggregates)
            alerts += p.alerts
        }
        numberedFromOne = false
    }

    init(report: InputReport, aggregates: Aggregates, alerts: [Alert]) {
        self.report = report
        self.aggregates = aggregates
        self.alerts = alerts
    }

    /// Adds `offset` to every line number this result refers to in its file.
    mutating func shiftLineNumbers(by offset: Int) {
        report.shiftLineNumbers(by: offset)
        aggregates.shiftEvidenceNumbers(in: report.file, by: offset)
        for k in alerts.indices {
            alerts[k].evidence = alerts[k].evidence.map { EvidenceList.shifted($0, in: report.file, by: offset) }
        }
    }
}

/// Scans inputs one at a time; `scan` uses one per worker thread, so it holds only shared, read-only
/// setup. Each input yields its report, its aggregates and its observation lines.
struct InputScanner: Sendable {
    var format: String
    /// The format --logformat or --nss-fields describes.
    var custom: (any LogFormat)?
    var setup: Setup
    /// `--timezone`: the zone of log times written without one.
    var localZone: LocalTimeZone? = nil

    /// Scans `path`, writing observation lines to `out` when given. Without an observations output
    /// only catalog hosts matter, so the log scanner may skip the rest early.
    func scan(_ path: String, observationsTo out: OutputFile?) -> FileResult {
        scanAttributing(path, observationsTo: out) { relevant, handle in scanOne(path, relevant: relevant, handle: handle) }
    }

    /// Scans one part of a plain log file in `format`, a format whose lines stand alone (`splittableFormat`).
    func scan(_ path: String, part: FilePart, format: any LogFormat, observationsTo out: OutputFile?) -> FileResult {
        var lines = 0
        var result = scanAttributing(path, observationsTo: out) { relevant, handle in
            var report = InputReport(file: path, format: format.name)
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                report.error = String(cString: strerror(errno))
                return report
            }
            defer { close(fd) }
            var source = FileRangeSource(fd: fd, start: part.start, end: part.end)
            let logScanner = logScanner(format, relevant: relevant)
            var matched = 0
            let read = logScanner.scan(source: &source, file: path, firstLine: part.firstLine ?? 1, report: &report) { o in
                if handle(o) { matched += 1 }
            }
            // Reading stopped early (an I/O error): the part's lines counted apart, for the parts after it.
            lines = read ?? FileParts.newlines(fd, part.start, part.end) ?? 0
            report.matched = matched
            return report
        }
        result.partLines = lines
        result.numberedFromOne = part.firstLine == nil
        return result
    }

    /// A scanner of `format` that keeps only lines `relevant` accepts (when given), asking the catalog's
    /// prefilter first, and reads local times in `--timezone`.
    private func logScanner(_ format: any LogFormat, relevant: ((UnsafeRawBufferPointer) -> Bool)?) -> LogScanner {
        var scanner = LogScanner(format: format, isRelevant: relevant)
        scanner.prefilter = relevant == nil ? nil : setup.attributor.matcher.hostPrefilter
        scanner.localZone = localZone
        return scanner
    }

    /// The format of `path` when it can be scanned in parts on several threads: a regular,
    /// uncompressed log in a format whose lines stand alone. Nil for anything else.
    func splittableFormat(_ path: String) -> (any LogFormat)? {
        guard path != "-" else { return nil }
        // A compressed file is never cut: tell by its first bytes before anything inflates it.
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        var magic = [UInt8](repeating: 0, count: 8)
        let n = magic.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 8, 0) }
        close(fd)
        guard n > 0, Compression(magic: magic.prefix(n)) == nil, case .success(let source) = InputSource.open(path) else { return nil }
        defer { source.close() }
        guard source.compression == nil, format != "pcap", !(format == "auto" && source.isCapture) else { return nil }
        guard let chosen = logFormat(of: source), chosen is any StatelessLogFormat else { return nil }
        return chosen
    }

    /// The log format for `source`: `--format`'s, the one --logformat or --nss-fields describes, or
    /// (auto) the one its first lines show; nil when none fits.
    func logFormat(of source: InputSource) -> (any LogFormat)? {
        if format == "auto" { return source.prefix.withUnsafeBytes { detectLogFormat(sample: $0) } }
        return custom ?? allLogFormats.first { $0.name == format }
    }

    /// Runs `body` (which scans and returns the input's report) with the attribution of every
    /// observation: aggregates, per-connection alerts and observation lines.
    private func scanAttributing(_ path: String, observationsTo out: OutputFile?,
                                 _ body: (((UnsafeRawBufferPointer) -> Bool)?, (Observation) -> Bool) -> InputReport) -> FileResult {
        var aggregates = Aggregates()
        var alerts: [Alert] = []
        var line = JSONWriter()
        let matcher = setup.attributor.matcher
        let memo = out == nil ? RelevanceMemo(matcher) : nil
        let relevant: ((UnsafeRawBufferPointer) -> Bool)? = memo.map { memo in { memo.mayMatch(rawHost: $0) } }
        func record(_ o: Observation, _ a: Attribution) -> Bool {
            aggregates.add(o, a, policy: setup.policy)
            if let alert = setup.rules.check(o, a) { alerts.append(alert) }
            if let out {
                line.reset()
                writeObservation(o, into: &line)
                out.write(line.bytes + [0x0A])
            }
            return a.match != nil
        }
        var geoCache = GeoCache()
        var report = body(relevant) { o in
            var a: Attribution
            if out == nil {
                // Nothing writes the observation: one that matches no service leaves no trace.
                guard let matched = setup.attributor.attributeIfMatched(o, cache: &geoCache, memo: memo) else { return false }
                a = matched
            } else {
                a = setup.attributor.attribute(o, cache: &geoCache)
            }
            // Copied only to be pseudonymised: an observation is a few hundred bytes and a dozen references.
            guard let pseudonymizer = setup.pseudonymizer else { return record(o, a) }
            var changed = o
            pseudonymizer.apply(&changed, &a)
            return record(changed, a)
        }
        report.file = path
        return FileResult(report: report, aggregates: aggregates, alerts: alerts)
    }

    /// Scans one input; `handle` attributes and records an observation and says whether it matched.
    func scanOne(_ path: String, relevant: ((UnsafeRawBufferPointer) -> Bool)?, handle: (Observation) -> Bool) -> InputReport {
        let source: InputSource
        switch InputSource.open(path) {
        case .failure(let e):
            var r = InputReport(file: path, format: "unknown")
            r.error = e.reason
            return r
        case .success(let s): source = s
        }
        defer { source.close() }
        let suffix = source.compression.map { "+" + $0.rawValue } ?? ""
        if format == "pcap" || (format == "auto" && source.isCapture) {
            var report = InputReport(file: path, format: "pcap" + suffix)
            do {
                let reader = try source.pcapReader()
                report.format = "pcap (\(reader.linkTypeName))" + suffix
                var observed = 0, matched = 0
                var scanner = CaptureScanner()
                scanner.describesDNS = relevant == nil  // `relevant` is given when no observation is written
                scanner.scan(reader, file: path, report: &report) { o in
                    observed += 1
                    if handle(o) { matched += 1 }
                }
                report.observations = observed
                report.matched = matched
            } catch {
                report.error = "not a readable capture: \(error.reason)"
            }
            for w in source.content.warnings { report.noteAnomaly(w.name, at: path, detail: w.detail) }
            return report
        }
        var logFormat = self.logFormat(of: source)
        if logFormat is Dnsmasq {  // syslog times have no year: it comes from when the file was written
            var st = stat()
            if path != "-", stat(path, &st) == 0 { logFormat = Dnsmasq(reference: Timestamp(seconds: Int64(st.st_mtim.tv_sec))) }
        }
        guard let logFormat else {
            var r = InputReport(file: path, format: "unknown" + suffix)
            r.error = source.prefix.isEmpty ? "empty input"
                : "format not recognised (supported: pcap, pcapng, \(allLogFormats.map(\.name).joined(separator: ", ")); custom Squid logs need --format squid --logformat, delimited Zscaler feeds --format zscaler-nss --nss-fields); use --format to force one"
            return r
        }
        var report = InputReport(file: path, format: logFormat.name + suffix)
        var matched = 0
        var content = source.content
        let logScanner = logScanner(logFormat, relevant: relevant)
        logScanner.scan(source: &content, file: path, report: &report) { o in
            if handle(o) { matched += 1 }
        }
        for w in content.warnings { report.noteAnomaly(w.name, at: path, detail: w.detail) }
        report.matched = matched
        return report
    }
}
