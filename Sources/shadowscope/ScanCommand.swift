import ArgumentParser
import Foundation
import GeoIP
import LogFormats
import Output
import PacketDecoding
import ShadowScopeCore
import Signatures

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

    @Option(help: ArgumentHelp("Write one JSON line per observation (flow, log line) to FILE, or - for stdout.", valueName: "FILE"))
    var observations: String?

    @Option(help: ArgumentHelp("Write the summary JSON to FILE, or - for stdout (the default when no other output is -).", valueName: "FILE"))
    var summary: String?

    @Flag(help: "Print the summary as a text table on standard output instead of JSON (use --summary FILE to keep the JSON too).")
    var table = false

    @Option(help: ArgumentHelp("Signature catalog directory (default: the bundled signatures/).", valueName: "DIR"))
    var signatures: String?

    @Option(help: ArgumentHelp("GeoIP database in MMDB format, e.g. GeoLite2-City.mmdb (default: the bundled DB-IP City Lite).", valueName: "FILE"))
    var geoip: String?

    @Option(help: ArgumentHelp("CSV of address-or-CIDR,user: who is behind a client address when the source does not say (longest prefix wins).", valueName: "FILE"))
    var users: String?

    @Option(help: ArgumentHelp("Replace users and client addresses with a keyed HMAC-SHA256 pseudonym; the key (16 bytes or more) is read from FILE.", valueName: "KEYFILE"))
    var pseudonymize: String?

    func validate() throws {
        guard Self.formatNames.contains(format) else {
            throw ValidationError("--format: '\(format)' is not one of \(Self.formatNames.joined(separator: ", "))")
        }
        if logformat != nil && format != "squid" {
            throw ValidationError("--logformat needs --format squid")
        }
        if observations == "-" && summary == "-" {
            throw ValidationError("--observations and --summary cannot both be standard output")
        }
        if table && (observations == "-" || summary == "-") {
            throw ValidationError("--table prints to standard output: write --observations and --summary to files")
        }
        if inputs.filter({ $0 == "-" }).count > 1 { throw ValidationError("standard input (-) can be read only once") }
    }

    static let formatNames = ["auto", "pcap"] + allLogFormats.map(\.name)

    /// The Squid custom format from --logformat: a file holding a `logformat` line, or the line itself.
    func customSquidFormat() throws(ConfigurationError) -> SquidCustom? {
        guard let logformat else { return nil }
        var text = logformat
        if FileManager.default.fileExists(atPath: logformat), let data = FileManager.default.contents(atPath: logformat) {
            text = String(decoding: data, as: UTF8.self)
        }
        do { return try SquidCustom(logformat: text) } catch {
            throw ConfigurationError(description: "--logformat: \(error.description)")
        }
    }

    func run() throws {
        let setup: Setup
        let custom: SquidCustom?
        do { custom = try customSquidFormat() } catch {
            printError(error.description)
            throw ExitCode(Exit.usage)
        }
        do { setup = try Setup(signatures: signatures, geoip: geoip, users: users, pseudonymize: pseudonymize) } catch {
            printError(error.description)
            throw ExitCode(Exit.usage)
        }
        let observationOut: OutputFile?
        let summaryOut: OutputFile?
        do {
            observationOut = try observations.map { path throws(ConfigurationError) in try OutputFile(path: path) }
            let stdoutTaken = observations == "-" || table
            summaryOut = try (summary ?? (stdoutTaken ? nil : "-")).map { path throws(ConfigurationError) in try OutputFile(path: path) }
        } catch {
            printError(error.description)
            throw ExitCode(Exit.usage)
        }

        var reports: [InputReport] = []
        var aggregates = Aggregates()
        var line = JSONWriter()
        let hours = BusinessHours()
        for path in expandInputs(inputs) {
            // Without an observations output only catalog hosts matter: let the log scanner skip the rest early.
            let matcher = setup.attributor.matcher
            let relevant: ((UnsafeRawBufferPointer) -> Bool)? = observationOut == nil ? { matcher.mayMatch(rawHost: $0) } : nil
            var report = scanOne(path, custom: custom, relevant: relevant) { observation in
                var o = observation
                var a = setup.attributor.attribute(o)
                setup.pseudonymizer?.apply(&o, &a)
                aggregates.add(o, a, hours: hours, approved: [])
                if let out = observationOut {
                    line.reset()
                    writeObservation(o, into: &line)
                    out.write(line.bytes + [0x0A])
                }
                return a.match != nil
            }
            if let error = report.error { printError("\(path): \(error)") }
            if report.skipped > 0 { printError("\(path): skipped \(report.skipped) record(s); first: \(report.skippedSamples.first.map { "\($0.location): \($0.reason)" } ?? "")") }
            report.file = path
            reports.append(report)
        }
        observationOut?.close()
        let context = SummaryContext(tool: "shadowscope \(ShadowScope.version)", geoip: setup.geoInfo, hours: hours)
        summaryOut?.write(summaryJSON(inputs: reports, aggregates: aggregates, context: context))
        summaryOut?.close()
        if table { print(summaryTable(aggregates, geoAttribution: setup.geoInfo?.attribution), terminator: "") }
        if reports.contains(where: { $0.error != nil }) { throw ExitCode(Exit.unreadable) }
    }

    /// Scans one input; `handle` attributes and records an observation and says whether it matched.
    private func scanOne(_ path: String, custom: SquidCustom?, relevant: ((UnsafeRawBufferPointer) -> Bool)?,
                         handle: (Observation) -> Bool) -> InputReport {
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
                CaptureScanner().scan(reader, file: path, report: &report) { o in
                    observed += 1
                    if handle(o) { matched += 1 }
                }
                report.observations = observed
                report.matched = matched
            } catch {
                report.error = "not a readable capture: \(error.reason)"
            }
            return report
        }
        let logFormat: (any LogFormat)?
        if format == "auto" {
            logFormat = source.prefix.withUnsafeBytes { detectLogFormat(sample: $0) }
        } else if let custom {
            logFormat = custom
        } else {
            logFormat = allLogFormats.first { $0.name == format }
        }
        guard let logFormat else {
            var r = InputReport(file: path, format: "unknown" + suffix)
            r.error = source.prefix.isEmpty ? "empty input"
                : "format not recognised (supported: pcap, pcapng, \(allLogFormats.map(\.name).joined(separator: ", ")); custom squid logs need --format squid --logformat); use --format to force one"
            return r
        }
        var report = InputReport(file: path, format: logFormat.name + suffix)
        var matched = 0
        var content = source.content
        LogScanner(format: logFormat, isRelevant: relevant).scan(source: &content, file: path, report: &report) { o in
            if handle(o) { matched += 1 }
        }
        report.matched = matched
        return report
    }
}

/// The catalog and GeoIP database a scan attributes with.
struct Setup {
    var attributor: Attributor
    var geoInfo: GeoIPInfo?
    var pseudonymizer: Pseudonymizer?

    init(signatures: String?, geoip: String?, users: String?, pseudonymize: String?) throws(ConfigurationError) {
        guard let dir = signatures ?? Defaults.signaturesDirectory() else {
            throw ConfigurationError(description: "no signature catalog found; pass --signatures DIR")
        }
        let catalog: Catalog
        do { catalog = try CatalogLoader.load(directory: dir) } catch {
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
        geoInfo = geo.map {
            GeoIPInfo(path: $0.path, databaseType: $0.databaseType, buildEpoch: $0.buildEpoch,
                      attribution: $0.isDBIP ? "IP Geolocation by DB-IP (https://db-ip.com), CC BY 4.0" : nil)
        }
    }
}
