import ShadowScopeCore

/// A Squid access log written with a custom `logformat`, described by the same directive syntax
/// squid.conf uses (`%ts.%03tu %6tr %>a %Ss/%03>Hs %<st %>st %rm %ru %[un %Sh/%<a %mt`).
///
/// The format string becomes a list of tokens (literal text and `%` directives); each line is read
/// by walking those tokens over its bytes. A directive's value runs up to the first byte of the
/// literal that follows it (any blank when that literal starts with a space; a backslash-escaped
/// byte does not end a quoted value), so every directive must be followed by literal text, except
/// `%tl`/`%tg`, whose strftime layout delimits them. A blank in a literal matches one or more blanks,
/// which absorbs the padding of `%6tr`-style widths.
///
/// What the directives give (others are read as one field and dropped):
/// `%ts`+`%tu`, `%tS`, `%tl`, `%tg` time; `%tr` duration; `%>a`, `%>A`, `%>p` client; `%un` (else
/// `%ul`, `%ue`, `%ui`) user; `%>Hs` status; `%<st` bytes down (reply size, headers included);
/// `%>st` bytes up (request size, headers included: measured); `%rm` method; `%ru` URL (a CONNECT
/// `host:port` or an absolute URL: host, port, path without query); `%>rd`, `%>rP`, `%>rp` host, port
/// and path when there is no `%ru`; `%ssl::>sni` host (as `proxy-connect`) when neither gives one;
/// `%<a`, `%<p` server address and port.
public struct SquidCustom: StatelessLogFormat {
    public let name = "squid-custom"
    /// The NAME of a `logformat NAME ...` line, nil for a bare format string.
    public let formatName: String?
    /// The format specification as given (after `logformat NAME`).
    public let specification: String
    let tokens: [Token]

    /// A format string we cannot read lines by; the message names the directive.
    public struct FormatError: Error, Equatable, CustomStringConvertible {
        public var description: String
    }

    /// Squid's built-in formats (`logformat` in squid.conf documentation); usable by name.
    public static let builtIn: [String: String] = [
        "squid": "%ts.%03tu %6tr %>a %Ss/%03>Hs %<st %rm %ru %[un %Sh/%<a %mt",
        "common": "%>a %[ui %[un [%tl] \"%rm %ru HTTP/%rv\" %>Hs %<st %Ss:%Sh",
        "combined": "%>a %[ui %[un [%tl] \"%rm %ru HTTP/%rv\" %>Hs %<st \"%{Referer}>h\" \"%{User-Agent}>h\" %Ss:%Sh",
        "referrer": "%ts.%03tu %>a %{Referer}>h %ru",
        "useragent": "%>a [%tl] \"%{User-Agent}>h\"",
    ]

    /// Longest format string we accept; squid.conf lines are far shorter.
    static let maxSpecificationBytes = 8192

    /// `logformat` may be: the text of a squid.conf file (or one line of it) holding exactly one
    /// `logformat NAME SPEC` line; a bare SPEC; or the name of a built-in format (`squid`, `common`,
    /// `combined`, `referrer`, `useragent`).
    public init(logformat: String) throws(FormatError) {
        var definitions: [(String, String)] = []
        for rawLine in logformat.split(whereSeparator: { $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) {
            let line = rawLine.drop { $0 == " " || $0 == "\t" }
            guard line.hasPrefix("logformat"), line.dropFirst(9).first == " " || line.dropFirst(9).first == "\t" else { continue }
            let rest = line.dropFirst(9).drop { $0 == " " || $0 == "\t" }
            let name = rest.prefix { $0 != " " && $0 != "\t" }
            let spec = rest.dropFirst(name.count).drop { $0 == " " || $0 == "\t" }
            guard !name.isEmpty, !spec.isEmpty else {
                throw FormatError(description: "logformat line '\(line)' has no NAME and format")
            }
            definitions.append((String(name), String(spec).trimmingTrailingBlanks))
        }
        if definitions.count > 1 {
            throw FormatError(description: "\(definitions.count) logformat lines (\(definitions.map(\.0).joined(separator: ", "))): give the one access_log uses")
        }
        if let (name, spec) = definitions.first {
            try self.init(name: name, specification: spec)
        } else {
            let spec = logformat.trimmingBlanksAndNewlines
            guard !spec.isEmpty else { throw FormatError(description: "empty logformat") }
            if let builtIn = Self.builtIn[spec] {
                try self.init(name: spec, specification: builtIn)
            } else {
                try self.init(name: nil, specification: spec)
            }
        }
    }

    init(name: String?, specification: String) throws(FormatError) {
        guard specification.utf8.count <= Self.maxSpecificationBytes else {
            throw FormatError(description: "logformat is over \(Self.maxSpecificationBytes) bytes")
        }
        formatName = name
        self.specification = specification
        tokens = try Self.tokenize(Array(specification.utf8))
        guard tokens.contains(where: { if case .directive(let d) = $0 { return d.field.isTime } else { return false } }) else {
            throw FormatError(description: "logformat '\(specification)' has no time directive (%ts, %tS, %tl or %tg): lines would have no time")
        }
    }

    /// Custom formats are never sniffed: they are read only when `--logformat` gives the format.
    public func recognizes(_ line: UnsafeRawBufferPointer) -> Bool { false }

    // MARK: tokens

    enum Quoting: Sendable, Equatable {
        case none, quotes, mimeBlob, url, shell, raw
    }

    enum Field: Sendable, Equatable {
        case seconds, subsecond, startTime, time(TimeLayout)
        case duration
        case clientIP, clientName, clientPort
        /// Lower rank wins: %un 0, %ul 1, %ue 2, %ui 3.
        case user(rank: Int)
        case status, replyBytes, requestBytes
        case method, url, domain, urlPort, urlPath, sni
        case serverIP, serverPort
        case other

        var isTime: Bool {
            switch self {
            case .seconds, .startTime, .time: return true
            default: return false
            }
        }
    }

    struct Directive: Sendable, Equatable {
        /// As written in the format, for messages (`%03>Hs`).
        var text: String
        var field: Field
        var quoting: Quoting
    }

    enum Token: Sendable, Equatable {
        case literal([UInt8])
        case directive(Directive)
    }

    /// Codes by namespace, from squid's `src/format/Token.cc` tables (squid 4 to 7).
    static let plainCodes: [String: Field] = {
        var t: [String: Field] = [:]
        for c in [">la", "la", ">lp", "lp", "<la", "oa", "<lp", "<pt", "<tt", "dt", ">ha", "Ss", "Sh", "mt",
                  ">rs", "rv", ">rv", "rG", "<rm", "<ru", "<rs", "<rd", "<rP", "<rp", "<rv", ">sh", "<sH",
                  "<sS", "<sh", "st", "et", "ea", "sn", "<bs", "<Hs", ">eui", ">qos", "<qos", ">nfmark",
                  "<nfmark", ">handshake", "err_code", "err_detail", "note", "credentials",
                  "request_attempts", "master_xaction", "busy_time", "ACL", "DATA", "EXT_LOG", "EXT_TAG",
                  "MYADDR", "MYPORT", "PROTO", "SRCEUI48", "SRCEUI64", "TAG", "USER_CERT",
                  "USER_CERTCHAIN", ">h", "<h", ">v", "<A"] {
            t[c] = .other
        }
        t["ts"] = .seconds
        t["tu"] = .subsecond
        t["tS"] = .startTime
        t["tl"] = .other  // replaced by .time(layout) when tokenized
        t["tg"] = .other
        t["tr"] = .duration
        t[">a"] = .clientIP
        t["SRC"] = .clientIP
        t[">A"] = .clientName
        t[">p"] = .clientPort
        t["SRCPORT"] = .clientPort
        t["un"] = .user(rank: 0)
        t["ul"] = .user(rank: 1)
        t["LOGIN"] = .user(rank: 1)
        t["ue"] = .user(rank: 2)
        t["EXT_USER"] = .user(rank: 2)
        t["ui"] = .user(rank: 3)
        t["IDENT"] = .user(rank: 3)
        t[">Hs"] = .status
        t["Hs"] = .status
        t["<st"] = .replyBytes
        t[">st"] = .requestBytes
        t["rm"] = .method
        t[">rm"] = .method
        t["METHOD"] = .method
        t["ru"] = .url
        t[">ru"] = .url
        t["URI"] = .url
        t[">rd"] = .domain
        t["DST"] = .domain
        t[">rP"] = .urlPort
        t["PORT"] = .urlPort
        t[">rp"] = .urlPath
        t["rp"] = .urlPath
        t["PATH"] = .urlPath
        t["<a"] = .serverIP
        t["<p"] = .serverPort
        return t
    }()

    static let tlsCodes: [String: Field] = {
        var t: [String: Field] = [:]
        for c in ["bump_mode", ">cert_subject", ">cert_issuer", "<cert_subject", "<cert_issuer", "<cert_errors",
                  "<cert", ">negotiated_version", "<negotiated_version", ">negotiated_cipher",
                  "<negotiated_cipher", ">received_hello_version", "<received_hello_version",
                  ">received_supported_version", "<received_supported_version"] {
            t[c] = .other
        }
        t[">sni"] = .sni
        return t
    }()

    /// Namespaced codes whose values we never use (ICAP, adaptation, PROXY protocol, transport).
    static let otherNamespaces: [String: [String]] = [
        "icap": ["tt", "<last_h", "<A", "<service_name", "ru", "rm", ">st", "<st", "<bs", ">h", "<h", "tr",
                 "tio", "to", "Hs", "request_attempts"],
        "adapt": ["all_trs", "sum_trs", "<last_h"],
        "proxy_protocol": [">h"],
        "transport": [">connection_id"],
    ]

    static func tokenize(_ spec: [UInt8]) throws(FormatError) -> [Token] {
        var tokens: [Token] = []
        var literal: [UInt8] = []
        var contextQuoting = Quoting.none  // set by literal `"` and `[`...`]`, as squid does
        var i = 0
        func directiveText(_ from: Int, _ to: Int) -> String { String(decoding: spec[from..<min(to, spec.count)], as: UTF8.self) }
        while i < spec.count {
            let c = spec[i]
            if c != 0x25 {  // literal text
                switch c {
                case 0x22: contextQuoting = contextQuoting == .none ? .quotes : (contextQuoting == .quotes ? .none : contextQuoting)
                case 0x5B: if contextQuoting == .none { contextQuoting = .mimeBlob }
                case 0x5D: if contextQuoting == .mimeBlob { contextQuoting = .none }
                default: break
                }
                literal.append(c)
                i += 1
                continue
            }
            let start = i
            i += 1
            guard i < spec.count else { throw FormatError(description: "logformat ends with a lone '%'") }
            if spec[i] == 0x25 {  // %% is a literal percent sign
                literal.append(0x25)
                i += 1
                continue
            }
            var quoting = contextQuoting
            switch spec[i] {
            case 0x22: quoting = .quotes; i += 1
            case 0x27: quoting = .raw; i += 1
            case 0x5B: quoting = .mimeBlob; i += 1
            case 0x23: quoting = .url; i += 1
            case 0x2F: quoting = .shell; i += 1
            default: break
            }
            if i < spec.count && spec[i] == 0x2D { i += 1 }  // left-aligned
            while i < spec.count && spec[i] >= 0x30 && spec[i] <= 0x39 { i += 1 }  // [0]width
            if i < spec.count && spec[i] == 0x2E {  // .precision
                i += 1
                guard i < spec.count, spec[i] >= 0x30 && spec[i] <= 0x39 else {
                    throw FormatError(description: "directive '\(directiveText(start, i + 1))' has a '.' without a precision")
                }
                while i < spec.count && spec[i] >= 0x30 && spec[i] <= 0x39 { i += 1 }
            }
            var argument: [UInt8]? = nil
            if i < spec.count && spec[i] == 0x7B {
                guard let close = spec[i...].firstIndex(of: 0x7D) else {
                    throw FormatError(description: "directive '\(directiveText(start, spec.count))' has an unclosed '{'")
                }
                argument = Array(spec[(i + 1)..<close])
                i = close + 1
            }
            // Namespace (`ssl::`, `tls::`, `icap::`, ...), then the longest known code.
            var table = plainCodes
            var namespaceOther: Set<String>? = nil
            if let sep = firstDoubleColon(spec, from: i) {
                let ns = String(decoding: spec[i..<sep], as: UTF8.self)
                if ns == "ssl" || ns == "tls" {
                    table = tlsCodes
                    i = sep + 2
                } else if let codes = otherNamespaces[ns] {
                    namespaceOther = Set(codes)
                    i = sep + 2
                } else if ns == "http" {
                    i = sep + 2
                }
            }
            var best: (length: Int, field: Field)? = nil
            let candidates: [String: Field] = namespaceOther.map { Dictionary(uniqueKeysWithValues: $0.map { ($0, Field.other) }) } ?? table
            for (code, field) in candidates {
                let u = Array(code.utf8)
                if u.count <= spec.count - i, Array(spec[i..<(i + u.count)]) == u, u.count > (best?.length ?? 0) {
                    best = (u.count, field)
                }
            }
            guard let (length, found) = best else {
                throw FormatError(description: "unknown logformat directive at '\(directiveText(start, start + 24))'")
            }
            i += length
            if argument == nil && i < spec.count && spec[i] == 0x7B {  // {arg} after the code (old syntax)
                guard let close = spec[i...].firstIndex(of: 0x7D) else {
                    throw FormatError(description: "directive '\(directiveText(start, spec.count))' has an unclosed '{'")
                }
                argument = Array(spec[(i + 1)..<close])
                i = close + 1
            }
            var field = found
            let text = directiveText(start, i)
            if length == 2, spec[i - 2] == 0x74, spec[i - 1] == 0x6C || spec[i - 1] == 0x67 {  // tl, tg
                let utc = spec[i - 1] == 0x67
                var layoutText = argument ?? Array("%d/%b/%Y:%H:%M:%S %z".utf8)
                // Squid's `{NOW::...}`-style arguments are not strftime: refuse them clearly.
                if layoutText.isEmpty { layoutText = Array("%d/%b/%Y:%H:%M:%S %z".utf8) }
                field = .time(try TimeLayout(layoutText, utc: utc, directive: text))
            }
            if !literal.isEmpty {
                tokens.append(.literal(literal))
                literal = []
            }
            if case .directive(let previous) = tokens.last {
                if case .time = previous.field {} else {
                    throw FormatError(description: "directives '\(previous.text)' and '\(text)' have no text between them: their values cannot be told apart")
                }
            }
            tokens.append(.directive(Directive(text: text, field: field, quoting: quoting)))
        }
        if !literal.isEmpty { tokens.append(.literal(literal)) }
        return tokens
    }

    private static func firstDoubleColon(_ spec: [UInt8], from: Int) -> Int? {
        var j = from
        while j + 1 < spec.count {
            let c = spec[j]
            if c == 0x3A { return spec[j + 1] == 0x3A ? j : nil }
            guard (c >= 0x61 && c <= 0x7A) || c == 0x5F else { return nil }
            j += 1
        }
        return nil
    }

    // MARK: lines

    public func parse(_ line: UnsafeRawBufferPointer, source: SourceRef) -> LineResult {
        let n = line.count
        var p = 0
        while p < n && isBlank(line[p]) { p += 1 }
        if p == n { return .ignored }

        var seconds: Int64? = nil
        var subsecondMs: Int64 = 0
        var time: Timestamp? = nil
        var o = Observation(timestamp: Timestamp(microseconds: 0), source: source)
        o.transport = .tcp
        var userRank = Int.max
        var url: UnsafeRawBufferPointer? = nil
        var domain: UnsafeRawBufferPointer? = nil
        var sni: UnsafeRawBufferPointer? = nil
        var urlPort: UInt16? = nil
        var urlPath: String? = nil
        var peerPort: UInt16? = nil

        for (index, token) in tokens.enumerated() {
            switch token {
            case .literal(let bytes):
                for b in bytes {
                    if isBlank(b) {
                        guard p < n && isBlank(line[p]) else {
                            return .skipped(p < n ? "expected a blank at byte \(p + 1), found '\(text(clip(line, p)))'" : "line ends at byte \(n), before \(nextDirectiveName(after: index))")
                        }
                        while p < n && isBlank(line[p]) { p += 1 }
                    } else {
                        guard p < n else { return .skipped("line ends at byte \(n), before \(nextDirectiveName(after: index))") }
                        guard line[p] == b else {
                            return .skipped("expected '\(Character(Unicode.Scalar(b)))' at byte \(p + 1), found '\(text(clip(line, p)))'")
                        }
                        p += 1
                    }
                }
            case .directive(let d):
                if case .time(let layout) = d.field {
                    var cursor = TextCursor(line, offset: p)
                    guard let ts = layout.parse(&cursor) else {
                        return .skipped("\(d.text) '\(text(clip(line, p)))' does not match '\(layout.text)'")
                    }
                    time = ts
                    p = cursor.offset
                    continue
                }
                guard p < n else { return .skipped("line ends at byte \(n), before \(d.text)") }
                var terminator: UInt8? = nil
                if index + 1 < tokens.count, case .literal(let next) = tokens[index + 1] { terminator = next.first }
                let start = p
                let escapes = d.quoting == .quotes || d.quoting == .shell
                while p < n {
                    let c = line[p]
                    if escapes && c == 0x5C && p + 1 < n { p += 2; continue }
                    if let t = terminator, !isBlank(t) {
                        // Only a value inside quotes may hold blanks (squid escapes its quotes).
                        if c == t || (isBlank(c) && !escapes) { break }
                    } else if isBlank(c) {
                        break
                    }
                    p += 1
                }
                var value = UnsafeRawBufferPointer(rebasing: line[start..<p])
                while let f = value.first, isBlank(f) { value = UnsafeRawBufferPointer(rebasing: value.dropFirst()) }
                let dash = value.count == 1 && value[0] == 0x2D
                let absent = value.isEmpty || dash
                switch d.field {
                case .time, .other:
                    break
                case .seconds:
                    guard let v = parseInt(value) else { return .skipped("\(d.text) '\(text(value))' is not seconds") }
                    seconds = v
                case .subsecond:
                    guard let v = parseInt(value), v < 1000 else { return .skipped("\(d.text) '\(text(value))' is not milliseconds") }
                    subsecondMs = v
                case .startTime:
                    guard let ts = parseTimestamp(value) else { return .skipped("\(d.text) '\(text(value))' is not seconds.fraction") }
                    if time == nil { time = ts }
                case .duration:
                    if !dash {
                        guard let v = parseInt(value) else { return .skipped("\(d.text) '\(text(value))' is not a number") }
                        o.durationMs = v
                    }
                case .clientIP:
                    if !absent {
                        if let ip = IPAddress(bytes: value) { o.clientIP = ip } else { o.clientName = text(value) }
                    }
                case .clientName:
                    if !absent && o.clientName == nil { o.clientName = text(value) }
                case .clientPort:
                    if !absent {
                        guard let v = parseInt(value), let port = UInt16(exactly: v) else { return .skipped("\(d.text) '\(text(value))' is not a port") }
                        o.clientPort = port
                    }
                case .user(let rank):
                    if !absent && rank < userRank {
                        o.user = decoded(value, d.quoting)
                        userRank = rank
                    }
                case .status:
                    guard let v = parseInt(value), let status = Int(exactly: v), status <= 999 else {
                        return .skipped("\(d.text) '\(text(value))' is not an HTTP status")
                    }
                    o.status = status == 0 ? nil : status  // 000: no reply was sent
                case .replyBytes:
                    if !dash {
                        guard let v = parseInt(value) else { return .skipped("\(d.text) '\(text(value))' is not a byte count") }
                        o.bytesDown = v
                    }
                case .requestBytes:
                    if !dash {
                        guard let v = parseInt(value) else { return .skipped("\(d.text) '\(text(value))' is not a byte count") }
                        o.bytesUp = v
                    }
                case .method:
                    if !absent { o.method = text(value) }
                case .url:
                    if !absent { url = value }
                case .domain:
                    if !absent { domain = value }
                case .sni:
                    if !absent { sni = value }
                case .urlPort:
                    if !absent {
                        guard let v = parseInt(value), let port = UInt16(exactly: v) else { return .skipped("\(d.text) '\(text(value))' is not a port") }
                        urlPort = port
                    }
                case .urlPath:
                    if !absent { urlPath = pathWithoutQuery(value[...]) }
                case .serverIP:
                    if !absent { o.serverIP = IPAddress(bytes: value) }
                case .serverPort:
                    if !absent, let v = parseInt(value) { peerPort = UInt16(exactly: v) }
                }
            }
        }
        while p < n && isBlank(line[p]) { p += 1 }
        guard p == n else { return .skipped("unexpected text after the last field: '\(text(clip(line, p)))'") }

        if let s = seconds {
            o.timestamp = Timestamp(seconds: s, microseconds: subsecondMs * 1000)
        } else if let t = time {
            o.timestamp = t
        } else {
            return .skipped("no time in line")
        }

        if let url, let problem = applyProxyTarget(url, to: &o) { return .skipped(problem) }
        if o.host == nil, let domain {
            guard let host = normalizeHost(domain) else { return .skipped("request domain '\(text(domain))' is not a host name") }
            o.host = host
            o.hostSource = o.method == "CONNECT" ? .proxyConnect : .proxyURL
        }
        if o.host == nil, let sni {
            guard let host = normalizeHost(sni) else { return .skipped("TLS SNI '\(text(sni))' is not a host name") }
            o.host = host
            o.hostSource = .proxyConnect
        }
        if o.urlPath == nil && o.method != "CONNECT" { o.urlPath = urlPath }
        if o.serverPort == nil { o.serverPort = urlPort ?? peerPort }
        return .observation(o)
    }

    private func nextDirectiveName(after index: Int) -> String {
        for token in tokens[(index + 1)...] {
            if case .directive(let d) = token { return d.text }
        }
        return "the end of the format"
    }
}

// MARK: strftime layouts of %tl / %tg

/// The subset of strftime that `%{...}tl` / `%{...}tg` layouts use: `%d %e %m %b %h %Y %y %H %M %S
/// %z %T %F %D %a %A %Z %%` and literal text. `%tl` without `%z` is local time of the proxy,
/// unknown here: it is taken as UTC until a `--timezone` option exists.
struct TimeLayout: Sendable, Equatable {
    enum Part: Sendable, Equatable {
        case literal(UInt8)
        case conversion(UInt8)
    }
    let parts: [Part]
    let text: String
    let utc: Bool

    init(_ layout: [UInt8], utc: Bool, directive: String) throws(SquidCustom.FormatError) {
        var parts: [Part] = []
        var i = 0
        while i < layout.count {
            if layout[i] == 0x25 {
                guard i + 1 < layout.count else {
                    throw SquidCustom.FormatError(description: "time layout of '\(directive)' ends with a lone '%'")
                }
                let c = layout[i + 1]
                switch c {
                case UInt8(ascii: "T"):
                    parts += [.conversion(UInt8(ascii: "H")), .literal(0x3A), .conversion(UInt8(ascii: "M")), .literal(0x3A), .conversion(UInt8(ascii: "S"))]
                case UInt8(ascii: "F"):
                    parts += [.conversion(UInt8(ascii: "Y")), .literal(0x2D), .conversion(UInt8(ascii: "m")), .literal(0x2D), .conversion(UInt8(ascii: "d"))]
                case UInt8(ascii: "D"):
                    parts += [.conversion(UInt8(ascii: "m")), .literal(0x2F), .conversion(UInt8(ascii: "d")), .literal(0x2F), .conversion(UInt8(ascii: "y"))]
                case UInt8(ascii: "%"):
                    parts.append(.literal(0x25))
                case UInt8(ascii: "d"), UInt8(ascii: "e"), UInt8(ascii: "m"), UInt8(ascii: "b"), UInt8(ascii: "h"),
                     UInt8(ascii: "Y"), UInt8(ascii: "y"), UInt8(ascii: "H"), UInt8(ascii: "M"), UInt8(ascii: "S"),
                     UInt8(ascii: "z"), UInt8(ascii: "a"), UInt8(ascii: "A"), UInt8(ascii: "Z"):
                    parts.append(.conversion(c))
                default:
                    throw SquidCustom.FormatError(description: "time layout '%\(Character(Unicode.Scalar(c)))' of '\(directive)' is not supported")
                }
                i += 2
            } else {
                parts.append(.literal(layout[i]))
                i += 1
            }
        }
        self.parts = parts
        self.text = String(decoding: layout, as: UTF8.self)
        self.utc = utc
    }

    func parse(_ c: inout TextCursor) -> Timestamp? {
        var year: Int64 = 1970, month = 1, day = 1, hour = 0, minute = 0, second = 0
        var offset: Int64 = 0
        for part in parts {
            switch part {
            case .literal(let b):
                if isBlank(b) {
                    guard c.byte(b) else { return nil }
                    while let p = c.peek, isBlank(p) { _ = c.byte(p) }
                } else {
                    guard c.byte(b) else { return nil }
                }
            case .conversion(let k):
                switch k {
                case UInt8(ascii: "d"): guard let v = c.digits(2) else { return nil }; day = v
                case UInt8(ascii: "e"):
                    if c.peek == 0x20 { _ = c.byte(0x20) }
                    guard let (v, _) = c.digits(upTo: 2) else { return nil }; day = v
                case UInt8(ascii: "m"): guard let v = c.digits(2) else { return nil }; month = v
                case UInt8(ascii: "b"), UInt8(ascii: "h"):
                    guard let name = c.letters(max: 3), let m = monthFromAbbreviation(name) else { return nil }; month = m
                case UInt8(ascii: "Y"): guard let v = c.digits(4) else { return nil }; year = Int64(v)
                case UInt8(ascii: "y"): guard let v = c.digits(2) else { return nil }; year = Int64(v < 69 ? 2000 + v : 1900 + v)
                case UInt8(ascii: "H"): guard let v = c.digits(2) else { return nil }; hour = v
                case UInt8(ascii: "M"): guard let v = c.digits(2) else { return nil }; minute = v
                case UInt8(ascii: "S"): guard let v = c.digits(2) else { return nil }; second = v
                case UInt8(ascii: "z"): guard let v = c.utcOffset() else { return nil }; offset = v
                case UInt8(ascii: "a"), UInt8(ascii: "A"), UInt8(ascii: "Z"): guard c.letters() != nil else { return nil }
                default: return nil
                }
            }
        }
        return civilTimestamp(year: year, month: month, day: day, hour: hour, minute: minute, second: second, offsetSeconds: offset)
    }
}

// MARK: helpers

@inline(__always) func isBlank(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 }

/// Up to 40 bytes from `from`, for skip messages.
func clip(_ line: UnsafeRawBufferPointer, _ from: Int) -> UnsafeRawBufferPointer {
    let start = min(max(from, 0), line.count)
    return UnsafeRawBufferPointer(rebasing: line[start..<min(line.count, start + 40)])
}

/// A user name as the directive's encoding wrote it: `%`-escapes for `[` and `#`, backslash escapes
/// for `"` and `/`, raw otherwise.
private func decoded(_ value: UnsafeRawBufferPointer, _ quoting: SquidCustom.Quoting) -> String {
    switch quoting {
    case .mimeBlob, .url:
        return percentDecoded(value)
    case .quotes, .shell:
        guard value.contains(0x5C) else { return text(value) }
        var out = [UInt8]()
        out.reserveCapacity(value.count)
        var i = 0
        while i < value.count {
            if value[i] == 0x5C, i + 1 < value.count {
                switch value[i + 1] {
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                default: out.append(value[i + 1])
                }
                i += 2
            } else {
                out.append(value[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    case .none, .raw:
        return text(value)
    }
}

extension String {
    var trimmingTrailingBlanks: String {
        var s = Substring(self)
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }

    var trimmingBlanksAndNewlines: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\n" || f == "\r" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\n" || l == "\r" { s = s.dropLast() }
        return String(s)
    }
}
