import ShadowScopeCore

/// W3C Extended Log File Format (IIS, Blue Coat/Symantec ProxySG ELFF, Cisco WSA W3C logs,
/// Forefront TMG): the `#Fields:` header names the columns of the lines after it; it may repeat
/// mid-file with a new layout. `#Date:` gives the date when lines carry only `time`, and
/// `#GMT-Offset:` (Oracle Web Cache) the offset of local times. Times are UTC, as the W3C draft
/// says; `date-local`/`time-local` columns (IIS Advanced Logging) are the server's local time: when
/// they are the only date and time, observations are marked as local time, which `--timezone` turns
/// into UTC (else they are read as UTC, and the summary says so); beside `date`/`time` they are ignored.
///
/// Values are separated by blanks; a value starting with `"` runs to the closing quote (`""` inside
/// is a quote); `-` is an empty value. A syslog prefix before a directive or a line
/// (`Aug 18 12:30:46 10.8.24.10 #Fields: ...`, `<134>Nov 25 12:00:00 proxysg: 2026-11-25 ...`)
/// is skipped: up to ` #` for directives, and up to the first ` YYYY-MM-DD ` when the layout starts
/// with `date`.
///
/// Columns used: `date`, `time`, `c-ip`, `c-dns`, `c-port`, `cs-username` (or `c-auth-id`),
/// `cs-method` (or TMG's `s-operation`), `cs-uri-scheme`, `cs-host` (or TMG's `r-host`), `cs(Host)`,
/// `cs-uri-stem`/`cs-uri-path` (path), `cs-uri` / `cs-url` (a URL, a `/path`, or a CONNECT
/// `host:port`), `cs-uri-port` (or `r-port`), `s-supplier-ip`/`r-supplier-ip`/`r-ip` and
/// `s-supplier-name` when it is an address (server), `s-ip` and `s-port` (server, only in a web
/// server's log: in a proxy's log they are the proxy itself), `sc-status`, `sc-bytes` (down),
/// `cs-bytes` (up, measured), Cisco WSA's `timestamp`, `x-resultcode-httpstatus` and
/// `x-elapsed-time`, `time-taken` (milliseconds, as IIS, ProxySG and TMG write it; a value
/// with a fraction is seconds, as the W3C draft has it), `TimeTakenMS`. `cs-uri-query` is never kept.
public struct W3CExtended: LogFormat {
    public let name = "w3c"

    /// Directives longer than this are skipped (a `#Fields:` line lists a few dozen names).
    static let maxFields = 256
    /// How far into a line a syslog prefix may reach.
    static let maxPrefixBytes = 256

    public init() {}

    enum Role: Sendable, Equatable {
        case date, time, clientIP, clientName, clientPort, user, method, scheme, host, hostHeader
        case path, uri, uriPort, serverIP, supplierIP, supplierName, serverPort
        case status, bytesDown, bytesUp, timeTaken, timeTakenMs, ignored
        /// Cisco WSA: `timestamp` (Unix seconds with milliseconds), `x-resultcode-httpstatus` (`TCP_MISS/200`).
        case epoch, resultStatus
    }

    struct Layout: Sendable {
        var roles: [Role] = []
        var hasFields = false
        /// Column names that mark a proxy's log, where `s-ip`/`s-port` are the proxy.
        var isProxy = false
        var headerDate: (year: Int64, month: Int, day: Int)? = nil
        var gmtOffset: Int64 = 0
        var hasGMTOffset = false
        /// The only date and time columns are `date-local`/`time-local`.
        var localTimeColumns = false
    }

    static func role(_ name: String) -> Role {
        switch name.lowercased() {
        case "date", "date-local": return .date
        case "time", "time-local": return .time
        case "c-ip": return .clientIP
        case "c-dns": return .clientName
        case "c-port": return .clientPort
        case "cs-username", "c-auth-id", "cs-user": return .user
        case "cs-method", "s-operation": return .method
        case "cs-uri-scheme": return .scheme
        case "cs-host", "r-host", "r-dns": return .host
        case "cs(host)": return .hostHeader
        case "cs-uri-stem", "cs-uri-path": return .path
        case "cs-uri", "cs-url": return .uri
        case "cs-uri-port", "r-port": return .uriPort
        case "s-ip": return .serverIP
        case "s-supplier-ip", "r-supplier-ip", "r-ip": return .supplierIP
        case "s-supplier-name": return .supplierName
        case "s-port": return .serverPort
        case "sc-status": return .status
        case "sc-bytes": return .bytesDown
        case "cs-bytes": return .bytesUp
        case "time-taken": return .timeTaken
        case "timetakenms", "x-elapsed-time": return .timeTakenMs
        case "timestamp": return .epoch
        case "x-resultcode-httpstatus": return .resultStatus
        default: return .ignored
        }
    }

    static let proxyMarkers: Set<String> = ["s-action", "s-hierarchy", "s-supplier-name", "s-supplier-ip",
                                            "cs-host", "cs-uri-scheme", "sc-filter-result", "x-exception-id",
                                            "r-host", "r-ip", "r-supplier-ip", "s-svcname",
                                            "x-resultcode-httpstatus", "x-hierarchy-origin", "x-acltag"]

    static let directives = ["#Fields:", "#Date:", "#Software:", "#Version:", "#Remark:", "#Start-Date:",
                             "#End-Date:", "#GMT-Offset:"]

    // MARK: detection

    public func recognizes(_ line: UnsafeRawBufferPointer) -> Bool {
        if Self.directiveStart(line) != nil { return true }
        // A data line: `YYYY-MM-DD HH:MM:SS` or `HH:MM:SS` (IIS 4), then at least five values in all.
        var c = TextCursor(line)
        if Self.readDate(&c) != nil {
            guard c.byte(0x20) else { return false }
        }
        guard Self.readTime(&c) != nil, let b = c.peek, isBlank(b) else { return false }
        var values = 0
        var inValue = false
        for b in line {
            if isBlank(b) { inValue = false } else if !inValue { inValue = true; values += 1 }
        }
        return values >= 5
    }

    /// Offset of the `#` of a W3C directive, at the start or after a syslog prefix.
    static func directiveStart(_ line: UnsafeRawBufferPointer) -> Int? {
        func isDirective(at i: Int) -> Bool {
            for d in directives where d.utf8.count <= line.count - i {
                if zip(d.utf8, line[i...]).allSatisfy({ $0 == $1 }) { return true }
            }
            return false
        }
        if line.first == 0x23 { return isDirective(at: 0) ? 0 : nil }
        var i = 1
        while i < min(line.count, maxPrefixBytes) {
            if line[i] == 0x23 && isBlank(line[i - 1]) { return isDirective(at: i) ? i : nil }
            i += 1
        }
        return nil
    }

    // MARK: lines

    public func makeParser() -> any LineParser { Parser(format: self) }

    /// One input's parser: the layout its header lines set applies to the lines after them.
    struct Parser: LineParser {
        let format: W3CExtended
        var layout = Layout()
        mutating func parse(_ line: UnsafeRawBufferPointer, source: SourceRef) -> LineResult {
            format.parse(line, source: source, layout: &layout)
        }
        func finish() -> [Observation] { [] }
    }

    func parse(_ line: UnsafeRawBufferPointer, source: SourceRef, layout: inout Layout) -> LineResult {
        if line.allSatisfy(isBlank) { return .ignored }
        do {
            if let d = Self.directiveStart(line) {
                return directive(UnsafeRawBufferPointer(rebasing: line[d...]), &layout)
            }
            if line.first == 0x23 { return .ignored }  // another comment
            return record(line, layout, source)
        }
    }

    private func directive(_ line: UnsafeRawBufferPointer, _ layout: inout Layout) -> LineResult {
        guard let colon = line.firstIndex(of: 0x3A) else { return .ignored }
        let name = text(UnsafeRawBufferPointer(rebasing: line[..<colon]))
        let value = UnsafeRawBufferPointer(rebasing: line[(colon + 1)...])
        switch name {
        case "#Fields":
            var names: [String] = []
            var i = 0
            while i < value.count {
                while i < value.count && isBlank(value[i]) { i += 1 }
                let start = i
                while i < value.count && !isBlank(value[i]) { i += 1 }
                if i > start { names.append(text(UnsafeRawBufferPointer(rebasing: value[start..<i]))) }
            }
            guard !names.isEmpty, names.count <= Self.maxFields else {
                layout.hasFields = false
                return .skipped("#Fields lists \(names.count) names (1 to \(Self.maxFields) expected)")
            }
            let lower = names.map { $0.lowercased() }
            let hasUTCColumns = lower.contains("time")
            layout.roles = lower.map { hasUTCColumns && ($0 == "date-local" || $0 == "time-local") ? .ignored : Self.role($0) }
            layout.localTimeColumns = !hasUTCColumns && lower.contains("time-local")
            layout.isProxy = names.contains { Self.proxyMarkers.contains($0.lowercased()) }
            layout.hasFields = true
        case "#Date":
            var c = TextCursor(value)
            while let b = c.peek, isBlank(b) { _ = c.byte(b) }
            layout.headerDate = Self.readDate(&c)
        case "#GMT-Offset":
            var c = TextCursor(value)
            while let b = c.peek, isBlank(b) { _ = c.byte(b) }
            layout.gmtOffset = c.utcOffset() ?? 0
            layout.hasGMTOffset = true
        default:
            break
        }
        return .ignored
    }

    private func record(_ fullLine: UnsafeRawBufferPointer, _ layout: Layout, _ source: SourceRef) -> LineResult {
        guard layout.hasFields else { return .skipped("no #Fields header before this line") }
        var line = fullLine
        if layout.roles.first == .date, let start = Self.dateStart(line) {
            line = UnsafeRawBufferPointer(rebasing: line[start...])
        }
        // Split into values.
        var values: [UnsafeRawBufferPointer] = []
        values.reserveCapacity(layout.roles.count)
        var i = 0
        let n = line.count
        while i < n {
            while i < n && isBlank(line[i]) { i += 1 }
            guard i < n else { break }
            if values.count == layout.roles.count {
                return .skipped("more values than the \(layout.roles.count) names in #Fields")
            }
            if line[i] == 0x22 {
                let start = i + 1
                i += 1
                var closed = false
                while i < n {
                    if line[i] == 0x22 {
                        if i + 1 < n && line[i + 1] == 0x22 { i += 2; continue }
                        closed = true
                        break
                    }
                    i += 1
                }
                guard closed else { return .skipped("unterminated quoted value at byte \(start)") }
                values.append(UnsafeRawBufferPointer(rebasing: line[start..<i]))
                i += 1
                guard i == n || isBlank(line[i]) else { return .skipped("text after a closing quote at byte \(i + 1)") }
            } else {
                let start = i
                while i < n && !isBlank(line[i]) { i += 1 }
                values.append(UnsafeRawBufferPointer(rebasing: line[start..<i]))
            }
        }
        guard values.count == layout.roles.count else {
            return .skipped("\(values.count) values for the \(layout.roles.count) names in #Fields")
        }

        var o = Observation(timestamp: Timestamp(microseconds: 0), source: source)
        o.transport = .tcp
        var date = layout.headerDate
        var time: (Int, Int, Int, Int64)? = nil
        var host: UnsafeRawBufferPointer? = nil
        var hostHeader: UnsafeRawBufferPointer? = nil
        var uri: UnsafeRawBufferPointer? = nil
        var path: UnsafeRawBufferPointer? = nil
        var scheme: String? = nil
        var uriPort: UInt16? = nil
        var sPort: UInt16? = nil
        var supplier: IPAddress? = nil
        var sIP: IPAddress? = nil
        var epoch: Timestamp? = nil
        for (k, role) in layout.roles.enumerated() {
            let v = values[k]
            if v.isEmpty || (v.count == 1 && v[0] == 0x2D) { continue }  // "-": no value
            switch role {
            case .ignored:
                break
            case .date:
                var c = TextCursor(v)
                guard let d = Self.readDate(&c), c.isAtEnd else { return .skipped("date '\(text(clip(v, 0)))' is not YYYY-MM-DD") }
                date = d
            case .time:
                var c = TextCursor(v)
                guard let t = Self.readTime(&c), c.isAtEnd else { return .skipped("time '\(text(clip(v, 0)))' is not HH:MM:SS") }
                time = t
            case .clientIP:
                if let ip = IPAddress(bytes: v) { o.clientIP = ip } else { o.clientName = text(v) }
            case .clientName:
                if o.clientName == nil { o.clientName = text(v) }
            case .clientPort:
                guard let p = parseInt(v), let port = UInt16(exactly: p) else { return .skipped("c-port '\(text(clip(v, 0)))' is not a port") }
                o.clientPort = port
            case .user:
                o.user = text(v)
            case .method:
                o.method = text(v)
            case .scheme:
                scheme = text(v).lowercased()
            case .host:
                host = v
            case .hostHeader:
                hostHeader = v
            case .path:
                path = v
            case .uri:
                uri = v
            case .uriPort:
                guard let p = parseInt(v), let port = UInt16(exactly: p) else { return .skipped("port '\(text(clip(v, 0)))' is not a port") }
                uriPort = port
            case .serverIP:
                sIP = IPAddress(bytes: v)
            case .supplierIP:
                supplier = supplier ?? IPAddress(bytes: v)
            case .supplierName:
                if supplier == nil { supplier = IPAddress(bytes: v) }
            case .serverPort:
                if let p = parseInt(v) { sPort = UInt16(exactly: p) }
            case .status:
                guard let s = parseInt(v), let status = Int(exactly: s), status <= 999 else {
                    return .skipped("sc-status '\(text(clip(v, 0)))' is not an HTTP status")
                }
                o.status = status
            case .bytesDown:
                guard let b = parseInt(v) else { return .skipped("sc-bytes '\(text(clip(v, 0)))' is not a byte count") }
                o.bytesDown = b
            case .bytesUp:
                guard let b = parseInt(v) else { return .skipped("cs-bytes '\(text(clip(v, 0)))' is not a byte count") }
                o.bytesUp = b
            case .timeTaken:
                guard let ms = Self.milliseconds(v) else { return .skipped("time-taken '\(text(clip(v, 0)))' is not a duration") }
                o.durationMs = ms
            case .timeTakenMs:
                guard let ms = parseInt(v) else { return .skipped("elapsed time '\(text(clip(v, 0)))' is not milliseconds") }
                o.durationMs = ms
            case .epoch:
                guard let ts = parseTimestamp(v) else { return .skipped("timestamp '\(text(clip(v, 0)))' is not Unix seconds") }
                epoch = ts
            case .resultStatus:
                guard let slash = v.lastIndex(of: 0x2F), let s = parseInt(UnsafeRawBufferPointer(rebasing: v[(slash + 1)...])),
                      let status = Int(exactly: s), status <= 999 else {
                    return .skipped("result '\(text(clip(v, 0)))' is not CODE/STATUS")
                }
                o.status = status == 0 ? nil : status
            }
        }

        if let epoch {
            o.timestamp = epoch
        } else {
            guard let t = time else { return .skipped("no time: #Fields has no time column or the value is '-'") }
            guard let d = date else { return .skipped("no date: neither a date column nor a #Date header") }
            guard let ts = civilTimestamp(year: d.year, month: d.month, day: d.day, hour: t.0, minute: t.1, second: t.2,
                                          microseconds: t.3, offsetSeconds: layout.gmtOffset) else {
                return .skipped("date and time are not a valid time")
            }
            o.timestamp = ts
            o.localTime = layout.localTimeColumns && !layout.hasGMTOffset
        }

        let viaProxy = layout.isProxy
        let isConnect = o.method?.uppercased() == "CONNECT"
        if let host {
            guard let (h, port) = splitHostPort(host[...]) else { return .skipped("host '\(text(clip(host, 0)))' is not a host name") }
            o.host = h
            o.serverPort = port
            o.hostSource = isConnect ? .proxyConnect : (viaProxy ? .proxyURL : .httpHost)
        }
        if let uri {
            if isConnect, !uri.contains(0x2F) {
                if o.host == nil, let (h, port) = splitHostPort(uri[...]) {
                    o.host = h
                    o.serverPort = port
                    o.hostSource = .proxyConnect
                }
            } else if let parsed = parseURL(uri) {
                if o.host == nil, let h = parsed.host {
                    o.host = h
                    o.hostSource = viaProxy ? .proxyURL : .httpHost
                }
                if parsed.host == nil || parsed.host == o.host {
                    if o.serverPort == nil { o.serverPort = parsed.port }
                    o.urlPath = parsed.path
                }
            } else if o.host == nil, let slash = uri.firstIndex(of: 0x2F), uri[..<slash].contains(0x2E),
                      let (h, port) = splitHostPort(uri[..<slash]) {
                // `www.example.com/page.php` (Incapsula): a host and a path without a scheme.
                o.host = h
                o.serverPort = port
                o.hostSource = viaProxy ? .proxyURL : .httpHost
                o.urlPath = pathWithoutQuery(uri[slash...])
            }
        }
        if o.host == nil, let hostHeader, let (h, port) = splitHostPort(hostHeader[...]) {
            o.host = h
            o.serverPort = port
            o.hostSource = viaProxy ? .proxyURL : .httpHost
        }
        if let path, path.first == 0x2F, !isConnect { o.urlPath = pathWithoutQuery(path[...]) }
        if isConnect { o.urlPath = nil }
        if let uriPort { o.serverPort = uriPort }
        if o.serverPort == nil && !viaProxy { o.serverPort = sPort }
        if o.serverPort == nil, let scheme {
            o.serverPort = scheme == "https" || scheme == "ssl" ? 443 : (scheme == "http" ? 80 : nil)
        }
        o.serverIP = supplier ?? (viaProxy ? nil : sIP)
        return .observation(o)
    }

    // MARK: fields

    /// `YYYY-MM-DD` (or `DD/Mon/YYYY`, as Incapsula's `#Date` has it).
    static func readDate(_ c: inout TextCursor) -> (year: Int64, month: Int, day: Int)? {
        let save = c.offset
        if let y = c.digits(4), c.byte(0x2D), let m = c.digits(2), c.byte(0x2D), let d = c.digits(2),
           isValidDate(year: Int64(y), month: m, day: d) {
            return (Int64(y), m, d)
        }
        c.offset = save
        if let d = c.digits(2), c.byte(0x2F), let name = c.letters(max: 3), let m = monthFromAbbreviation(name),
           c.byte(0x2F), let y = c.digits(4), isValidDate(year: Int64(y), month: m, day: d) {
            return (Int64(y), m, d)
        }
        c.offset = save
        return nil
    }

    /// `HH:MM:SS` with an optional fraction.
    static func readTime(_ c: inout TextCursor) -> (Int, Int, Int, Int64)? {
        let save = c.offset
        guard let h = c.digits(2), c.byte(0x3A), let m = c.digits(2), c.byte(0x3A), let s = c.digits(2),
              let micros = c.fraction(), h <= 23, m <= 59, s <= 60 else {
            c.offset = save
            return nil
        }
        return (h, m, s, micros)
    }

    /// Where the date of a data line starts: 0, or after a syslog prefix (` YYYY-MM-DD `).
    static func dateStart(_ line: UnsafeRawBufferPointer) -> Int? {
        func isDate(at i: Int) -> Bool {
            var c = TextCursor(line, offset: i)
            return readDate(&c) != nil && (c.isAtEnd || (c.peek.map(isBlank) ?? false))
        }
        if isDate(at: 0) { return nil }
        var i = 1
        while i + 10 <= min(line.count, maxPrefixBytes) {
            if isBlank(line[i - 1]) && line[i] >= 0x30 && line[i] <= 0x39 && isDate(at: i) { return i }
            i += 1
        }
        return nil
    }

    /// `283` (milliseconds) or `0.283` (seconds, W3C draft) → milliseconds.
    static func milliseconds(_ v: UnsafeRawBufferPointer) -> Int64? {
        guard let dot = v.firstIndex(of: 0x2E) else { return parseInt(v) }
        guard let secs = parseInt(UnsafeRawBufferPointer(rebasing: v[..<dot])), secs < 1_000_000_000 else { return nil }
        let frac = UnsafeRawBufferPointer(rebasing: v[(dot + 1)...])
        guard !frac.isEmpty, parseInt(frac) != nil else { return nil }
        var ms: Int64 = 0
        for k in 0..<3 { ms = ms * 10 + (k < frac.count ? Int64(frac[k] - 0x30) : 0) }
        return secs * 1000 + ms
    }
}
