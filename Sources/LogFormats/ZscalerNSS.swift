import ShadowScopeCore

/// Zscaler Internet Access web logs as an NSS (Nanolog Streaming Service) feed writes them. The
/// feed's "Feed Output Format" is chosen by the administrator from Zscaler's documented web log
/// fields (`%s{login}`, `%d{reqsize}`, ...), so two shapes are read:
///
/// - JSON (`ZscalerNSS()`, detected from content): one object per line with the fields as members,
///   at the top level or inside `"event"` (the layout Zscaler's SIEM guides use:
///   `{"sourcetype":"zscalernss-web","event":{"datetime":"...","login":"...",...}}`).
/// - Delimited (`ZscalerNSS(fields:separator:)`, never detected: the field list must be given):
///   values in the order of the feed's fields, separated by tabs (Zscaler's advice) or commas,
///   optionally quoted.
///
/// Fields used (Zscaler's names): `time` or `datetime` (`Mon Jun 20 15:29:11 2022`, in the feed's
/// time zone, taken as UTC) or `epochtime`; `login` → user; `cip` → client; `sip` → server;
/// `reqmethod`; `respcode` → status; `reqsize` → bytes up and `respsize` → bytes down (whole
/// request and response as the proxy measured them); `host` → host, else the host of `url` or
/// `eurl` (written without scheme, `ebay.com/path`) → `proxy-url`; the path without query. A
/// value of `None`, `NA`, `N/A` or empty is unknown.
public struct ZscalerNSS: LogFormat {
    public let name = "zscaler-nss"

    /// Field names of a delimited feed, in order; nil for JSON.
    public let fields: [String]?
    public let separator: UInt8

    static let maxFields = 256

    /// The JSON feed.
    public init() {
        fields = nil
        separator = 0x09
    }

    /// A delimited feed: `fields` are the feed's field names in order, bare (`login`) or as written in
    /// the Feed Output Format (`%s{login}`, `%d{reqsize}`); `separator` is `\t` or `,` typically.
    public init(fields: [String], separator: UInt8 = 0x09) {
        self.fields = fields.map(Self.bareName)
        self.separator = separator
    }

    /// `%s{login}` / `%02d{hh}` / `"%s{login}"` → `login`.
    static func bareName(_ s: String) -> String {
        guard let open = s.firstIndex(of: "{"), let close = s.lastIndex(of: "}"), open < close else {
            return s.trimmingBlanksAndNewlines
        }
        return String(s[s.index(after: open)..<close])
    }

    enum Field: String, CaseIterable {
        case time, datetime, epochtime, login, cip, sip, reqmethod, respcode, reqsize, respsize, host, url, eurl
    }

    public func recognizes(_ line: UnsafeRawBufferPointer) -> Bool {
        guard fields == nil, line.first == 0x7B else { return false }
        var seen: Set<Field> = []
        guard FlatJSON.scan(line, visit: { path, _ in
            if let f = Self.jsonField(path) { seen.insert(f) }
        }) == nil else { return false }
        return seen.contains(.reqsize) && seen.contains(.respsize) && (seen.contains(.url) || seen.contains(.eurl) || seen.contains(.host))
    }

    static func jsonField(_ path: [UnsafeRawBufferPointer]) -> Field? {
        guard let last = path.last, path.count == 1 || (path.count == 2 && path[0].elementsEqual("event".utf8)) else { return nil }
        return Field(rawValue: text(last))
    }

    public func makeParser() -> any LineParser { Parser(format: self) }

    struct Parser: LineParser {
        let format: ZscalerNSS
        mutating func parse(_ line: UnsafeRawBufferPointer, source: SourceRef) -> LineResult {
            format.parse(line, source: source)
        }
        func finish() -> [Observation] { [] }
    }

    func parse(_ line: UnsafeRawBufferPointer, source: SourceRef) -> LineResult {
        if line.allSatisfy(isBlank) { return .ignored }
        var values: [Field: String] = [:]
        if let names = fields {
            let f: [DelimitedField]
            switch splitDelimited(line, separator: separator, maxFields: Self.maxFields) {
            case .failure(let r): return .skipped(r.text)
            case .success(let x): f = x
            }
            guard f.count == names.count else { return .skipped("\(f.count) values for the \(names.count) feed fields") }
            for (name, v) in zip(names, f) {
                if let field = Field(rawValue: name) { values[field] = v.string }
            }
        } else {
            var error: FlatJSONError?
            error = FlatJSON.scan(line) { path, v in
                guard let field = Self.jsonField(path) else { return }
                switch v {
                case .string: values[field] = jsonText(v)
                case .number(let b): values[field] = text(b)
                default: break
                }
            }
            if let error { return .skipped("not JSON: \(error)") }
        }
        for (k, v) in values where v.isEmpty || v == "None" || v == "NA" || v == "N/A" { values[k] = nil }

        let ts: Timestamp
        if let t = values[.time] ?? values[.datetime] {
            guard let x = Array(t.utf8).withUnsafeBytes({ parseAsctime($0) }) else { return .skipped("time '\(t)' is not 'Mon Jun 20 15:29:11 2022'") }
            ts = x
        } else if let e = values[.epochtime] {
            guard let secs = Array(e.utf8).withUnsafeBytes({ parseInt($0) }) else { return .skipped("epochtime '\(e)' is not seconds") }
            ts = Timestamp(seconds: secs)
        } else {
            return .skipped("no time, datetime or epochtime field")
        }
        var o = Observation(timestamp: ts, source: source)
        o.transport = .tcp
        o.user = values[.login]
        for (k, isClient) in [(Field.cip, true), (Field.sip, false)] {
            guard let s = values[k] else { continue }
            guard let ip = IPAddress(s) else { return .skipped("\(k.rawValue) '\(s)' is not an address") }
            if isClient { o.clientIP = ip } else { o.serverIP = ip }
        }
        o.method = values[.reqmethod]
        if let s = values[.respcode] {
            guard let n = Int(s), n >= 0, n <= 999 else { return .skipped("respcode '\(s)' is not an HTTP status") }
            o.status = n
        }
        for k in [Field.reqsize, Field.respsize] {
            guard let s = values[k] else { continue }
            guard let n = Array(s.utf8).withUnsafeBytes({ parseInt($0) }) else { return .skipped("\(k.rawValue) '\(s)' is not a count") }
            if k == .reqsize { o.bytesUp = n } else { o.bytesDown = n }
        }
        if let url = values[.url] ?? values[.eurl], let parsed = Array(url.utf8).withUnsafeBytes({ parseLoggedURL($0) }) {
            o.urlPath = parsed.path
            if let h = parsed.host { o.host = h; o.hostSource = .proxyURL; o.serverPort = parsed.port }
        }
        if let h = values[.host], let host = Array(h.utf8).withUnsafeBytes({ b in splitHostPort(b[...]) }) {
            o.host = host.0
            o.hostSource = .proxyURL
        }
        return .observation(o)
    }
}
