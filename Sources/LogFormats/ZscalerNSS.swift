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

    public struct FieldListError: Error, CustomStringConvertible {
        public var description: String
    }

    /// A delimited feed described the way its administrator has it at hand:
    /// - the feed's Feed Output Format as Zscaler shows it, e.g. `%s{time}\t%s{login}\t%d{reqsize}` or
    ///   `"%s{time}","%s{login}","%d{reqsize}"`: the separator is the tab (a tab, or `\t` as written in
    ///   the form) or the comma, whichever stands between fields more often; each column is the field
    ///   named in it (a column of literal text or of several fields, like `%s{mon} %02d{dd}`, is kept
    ///   as a column that is not read);
    /// - or a header line of names, `time,login,reqsize` or tab-separated: its separator is the feed's.
    /// The list must name a time (`time`, `datetime` or `epochtime`) and a field to attribute by
    /// (`url`, `eurl` or `host`).
    public init(feedOutputFormat text: String) throws(FieldListError) {
        // `\t` typed as two characters is a tab.
        var format = ""
        var pendingBackslash = false
        for c in text {
            if pendingBackslash {
                format.append(c == "t" ? "\t" : "\\")
                if c != "t" { format.append(c) }
                pendingBackslash = false
            } else if c == "\\" {
                pendingBackslash = true
            } else {
                format.append(c)
            }
        }
        if pendingBackslash { format.append("\\") }
        format = format.trimming(" \r\n")
        let tabs = format.filter { $0 == "\t" }.count, commas = format.filter { $0 == "," }.count
        let separator: Character = tabs >= commas ? "\t" : ","
        let columns = format.split(separator: separator, omittingEmptySubsequences: false)
        var names: [String] = []
        for (i, column) in columns.enumerated() {
            let fields = column.split(separator: "{").dropFirst().compactMap { part in part.firstIndex(of: "}").map { part[..<$0] } }
            if column.contains("%") || column.contains("{") {
                names.append(fields.count == 1 ? String(fields[0]).lowercased() : "column-\(i + 1)")
            } else {
                names.append(column.trimming(" \"").lowercased())  // a header line's name
            }
        }
        guard names.count <= Self.maxFields else {
            throw FieldListError(description: "\(names.count) fields, more than the \(Self.maxFields) a feed line may have")
        }
        guard names.contains(where: { ["time", "datetime", "epochtime"].contains($0) }) else {
            throw FieldListError(description: "the fields name no time (time, datetime or epochtime) in '\(text.prefix(80))'")
        }
        guard names.contains(where: { ["url", "eurl", "host"].contains($0) }) else {
            throw FieldListError(description: "the fields name none of url, eurl or host, so no line could be attributed")
        }
        self.init(fields: names, separator: separator == "," ? 0x2C : 0x09)
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

extension StringProtocol {
    /// Without the leading and trailing characters in `set` (a small, Foundation-free trim).
    func trimming(_ set: String) -> String {
        guard let first = firstIndex(where: { !set.contains($0) }), let last = lastIndex(where: { !set.contains($0) }) else { return "" }
        return String(self[first...last])
    }
}
