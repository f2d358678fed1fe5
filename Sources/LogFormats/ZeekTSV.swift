import ShadowScopeCore

/// Zeek's TSV logs (`LogAscii` with headers): `#separator \x09`, `#set_separator`, `#empty_field`,
/// `#unset_field`, `#path`, `#fields`, `#types`, then one record per line. The headers may repeat (a
/// concatenated or rotated file); each `#fields` sets the layout from there on. Zeek's JSON logs are
/// not read here.
///
/// By `#path`:
/// - `conn`: the flow without a name: client/server address and port, `proto`, `duration`,
///   `orig_bytes` → bytes up, `resp_bytes` → bytes down (payload, as Zeek measures it), packets.
/// - `http`: `host` (the Host header, `http-host`), `uri` path without query, `method`,
///   `status_code`, `username`, `request_body_len` → bytes up and `response_body_len` → bytes down
///   (bodies only: headers are not counted).
/// - `ssl`: `server_name` → host (`tls-sni`); Zeek also logs QUIC handshakes here, so the transport
///   is left unknown.
/// - `dns`: `query` → host (`dns-query`), `qtype_name`, `rcode_name`, `answers`, `proto`.
/// Other paths (`files`, `weird`, `x509`, ...) are `.ignored`: they say nothing about a connection to
/// a named service. A value that is not a valid host name leaves `host` null; the record is kept.
public struct ZeekTSV: LogFormat {
    public let name = "zeek"

    static let maxFields = 512

    public init() {}

    enum Kind: Sendable { case conn, http, ssl, dns, other }

    enum Column: Sendable, Equatable {
        case ts, origH, origP, respH, respP, proto, duration, origBytes, respBytes, origPkts, respPkts
        case host, uri, method, statusCode, username, requestBodyLen, responseBodyLen
        case serverName, query, qtypeName, rcodeName, answers, ignored
    }

    struct Header: Sendable {
        var separator: UInt8 = 0x09
        var setSeparator: UInt8 = 0x2C
        var unset: [UInt8] = Array("-".utf8)
        var empty: [UInt8] = Array("(empty)".utf8)
        var kind: Kind = .other
        var columns: [Column] = []
    }

    static func column(_ name: String, _ kind: Kind) -> Column {
        switch name {
        case "ts": return .ts
        case "id.orig_h": return .origH
        case "id.orig_p": return .origP
        case "id.resp_h": return .respH
        case "id.resp_p": return .respP
        case "proto": return .proto
        default: break
        }
        switch (kind, name) {
        case (.conn, "duration"): return .duration
        case (.conn, "orig_bytes"): return .origBytes
        case (.conn, "resp_bytes"): return .respBytes
        case (.conn, "orig_pkts"): return .origPkts
        case (.conn, "resp_pkts"): return .respPkts
        case (.http, "host"): return .host
        case (.http, "uri"): return .uri
        case (.http, "method"): return .method
        case (.http, "status_code"): return .statusCode
        case (.http, "username"): return .username
        case (.http, "request_body_len"): return .requestBodyLen
        case (.http, "response_body_len"): return .responseBodyLen
        case (.ssl, "server_name"): return .serverName
        case (.dns, "query"): return .query
        case (.dns, "qtype_name"): return .qtypeName
        case (.dns, "rcode_name"): return .rcodeName
        case (.dns, "answers"): return .answers
        default: return .ignored
        }
    }

    public func recognizes(_ line: UnsafeRawBufferPointer) -> Bool {
        for h in ["#separator ", "#set_separator", "#empty_field", "#unset_field", "#path", "#open", "#fields", "#types", "#close"]
        where line.starts(with: h.utf8) {
            return true
        }
        return false
    }

    public func makeParser() -> any LineParser { Parser(format: self) }

    /// One input's parser: the header its header lines set applies to the lines after them.
    struct Parser: LineParser {
        let format: ZeekTSV
        var header = Header()
        mutating func parse(_ line: UnsafeRawBufferPointer, source: SourceRef) -> LineResult {
            format.parse(line, source: source, header: &header)
        }
        func finish() -> [Observation] { [] }
    }

    func parse(_ line: UnsafeRawBufferPointer, source: SourceRef, header: inout Header) -> LineResult {
        if line.isEmpty { return .ignored }
        do {
            if line.first == 0x23 { return directive(line, &header) }
            guard !header.columns.isEmpty else { return .skipped("no #fields header before this line") }
            return record(line, header, source)
        }
    }

    private func directive(_ line: UnsafeRawBufferPointer, _ h: inout Header) -> LineResult {
        if line.starts(with: "#separator ".utf8) {
            let v = UnsafeRawBufferPointer(rebasing: line[11...])
            if v.count == 4, v[0] == 0x5C, v[1] == 0x78, let b = hexByte(v[2], v[3]) { h.separator = b } else if v.count == 1 { h.separator = v[0] }
            return .ignored
        }
        // The other directives are NAME, separator, values.
        var parts: [UnsafeRawBufferPointer] = []
        var start = 0
        for i in 0...line.count where i == line.count || line[i] == h.separator {
            parts.append(UnsafeRawBufferPointer(rebasing: line[start..<i]))
            start = i + 1
            if parts.count > Self.maxFields + 1 { return .skipped("#fields lists over \(Self.maxFields) names") }
        }
        guard let name = parts.first, parts.count >= 2 else { return .ignored }
        switch text(name) {
        case "#set_separator": if parts[1].count == 1 { h.setSeparator = parts[1][0] }
        case "#empty_field": h.empty = Array(parts[1])
        case "#unset_field": h.unset = Array(parts[1])
        case "#path":
            switch text(parts[1]) {
            case "conn": h.kind = .conn
            case "http": h.kind = .http
            case "ssl": h.kind = .ssl
            case "dns": h.kind = .dns
            default: h.kind = .other
            }
            h.columns = []
        case "#fields":
            h.columns = parts.dropFirst().map { Self.column(text($0), h.kind) }
        default: break
        }
        return .ignored
    }

    private func record(_ line: UnsafeRawBufferPointer, _ h: Header, _ source: SourceRef) -> LineResult {
        if h.kind == .other { return .ignored }
        var o = Observation(timestamp: Timestamp(microseconds: 0), source: source)
        var seenTS = false
        var dnsType: String? = nil
        var rcode: String? = nil
        var answers: [String] = []
        var k = 0
        var start = 0
        var i = 0
        while i <= line.count {
            guard i == line.count || line[i] == h.separator else { i += 1; continue }
            guard k < h.columns.count else { return .skipped("more values than the \(h.columns.count) #fields names") }
            let v = UnsafeRawBufferPointer(rebasing: line[start..<i])
            let column = h.columns[k]
            k += 1
            start = i + 1
            i += 1
            if column == .ignored || v.elementsEqual(h.unset) { continue }
            let isEmpty = v.elementsEqual(h.empty)
            switch column {
            case .ignored: break
            case .ts:
                guard let ts = parseTimestamp(v) else { return .skipped("ts '\(text(clip(v, 0)))' is not a time") }
                o.timestamp = ts
                seenTS = true
            case .origH:
                guard let ip = IPAddress(bytes: v) else { return .skipped("id.orig_h '\(text(clip(v, 0)))' is not an address") }
                o.clientIP = ip
            case .respH:
                guard let ip = IPAddress(bytes: v) else { return .skipped("id.resp_h '\(text(clip(v, 0)))' is not an address") }
                o.serverIP = ip
            case .origP, .respP:
                guard let n = parseInt(v), let port = UInt16(exactly: n) else { return .skipped("port '\(text(clip(v, 0)))' is not a port") }
                if column == .origP { o.clientPort = port } else { o.serverPort = port }
            case .proto:
                o.transport = Transport(rawValue: text(v))
            case .duration:
                guard let d = parseTimestamp(v) else { return .skipped("duration '\(text(clip(v, 0)))' is not seconds") }
                o.durationMs = d.microseconds / 1000
            case .origBytes, .respBytes, .origPkts, .respPkts, .requestBodyLen, .responseBodyLen:
                guard let n = parseInt(v) else { return .skipped("count '\(text(clip(v, 0)))' is not a number") }
                switch column {
                case .origBytes, .requestBodyLen: o.bytesUp = n
                case .respBytes, .responseBodyLen: o.bytesDown = n
                case .origPkts: o.packetsUp = n
                default: o.packetsDown = n
                }
            case .statusCode:
                guard let n = parseInt(v), let s = Int(exactly: n), s <= 999 else { return .skipped("status_code '\(text(clip(v, 0)))' is not an HTTP status") }
                o.status = s
            case .method:
                o.method = text(v)
            case .username:
                if !isEmpty { o.user = text(v) }
            case .host:
                if let (host, _) = splitHostPort(v[...]) { o.host = host; o.hostSource = .httpHost }
            case .uri:
                if let parsed = parseURL(v) {
                    o.urlPath = parsed.path
                    if o.host == nil, let host = parsed.host { o.host = host; o.hostSource = .httpHost }
                }
            case .serverName:
                if let host = normalizeHost(v) { o.host = host; o.hostSource = .tlsSNI }
            case .query:
                if let host = normalizeHost(v) { o.host = host; o.hostSource = .dnsQuery }
            case .qtypeName:
                dnsType = text(v)
            case .rcodeName:
                rcode = text(v)
            case .answers:
                if !isEmpty { answers = v.split(separator: h.setSeparator, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) } }
            }
        }
        guard k == h.columns.count else { return .skipped("\(k) values for the \(h.columns.count) #fields names") }
        guard seenTS else { return .skipped("no ts") }
        if h.kind == .dns { o.dns = DNSInfo(type: dnsType ?? "unknown", rcode: rcode, answers: answers) }
        if h.kind == .http && o.transport == nil { o.transport = .tcp }
        return .observation(o)
    }
}

private func hexByte(_ a: UInt8, _ b: UInt8) -> UInt8? {
    func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x61...0x66: return c - 0x61 + 10
        case 0x41...0x46: return c - 0x41 + 10
        default: return nil
        }
    }
    guard let h = nibble(a), let l = nibble(b) else { return nil }
    return h << 4 | l
}
