import ShadowScopeCore

/// Zeek's JSON logs (`LogAscii::use_json = T`, or `policy/tuning/json-logs`): one object per line,
/// with the same field names as the TSV logs (`id.orig_h` as one dotted name; a nested
/// `"id":{"orig_h":...}` is read too). Unset fields are left out of the object, so absent means
/// unknown. `ts` is epoch seconds (a number) or, with `JSON::TS_ISO8601`, an ISO 8601 string.
///
/// The log a line belongs to is its `_path` when present (`json-logs` adds it), else told from its
/// fields: `fuid` → files (ignored); `query` → dns; `server_name` with `client_initial_dcid` → quic;
/// `server_name`, `cipher` or `established` → ssl; `method` or `uri`, or `host` with `trans_depth`
/// → http; `conn_state` or `orig_bytes` → conn. Anything else (`x509`, `weird`, `smtp`, `software`,
/// `known_hosts`, ...) is `.ignored`: their `host`, `trans_depth` or `duration` fields alone do not
/// make them http or conn records.
///
/// - `conn`: addresses, ports, `proto`, `duration`, `orig_bytes` → bytes up, `resp_bytes` → bytes
///   down (payload, as Zeek measures it), `orig_pkts`/`resp_pkts`.
/// - `http`: `host` (`http-host`), `uri` path without query, `method`, `status_code`,
///   `username`, `request_body_len` → up, `response_body_len` → down (bodies only).
/// - `ssl`: `server_name` → `tls-sni` (transport left unknown: Zeek logs QUIC handshakes here too).
/// - `quic`: `server_name` → `quic-sni`, transport `udp`.
/// - `dns`: `query` (`dns-query`), `qtype_name`, `rcode_name`, `answers`, `proto`.
/// A value that is not a valid host name leaves `host` null; the record is kept.
public struct ZeekJSON: StatelessLogFormat {
    public let name = "zeek-json"

    public init() {}

    enum Kind: Sendable { case conn, http, ssl, quic, dns, other }

    struct Fields {
        var path, ts, origH, origP, respH, respP, proto, duration: JSONScalar?
        var origBytes, respBytes, origPkts, respPkts: JSONScalar?
        var host, uri, method, statusCode, username, requestBodyLen, responseBodyLen: JSONScalar?
        var serverName, query, qtypeName, rcodeName: JSONScalar?
        var answers: [String] = []
        var quicMarker = false, sslMarker = false, httpMarker = false, connMarker = false
        var hasHost = false, hasTransDepth = false, isFiles = false
        var zeekMarker = false
    }

    static func collect(_ line: UnsafeRawBufferPointer) -> (Fields, FlatJSONError?) {
        var f = Fields()
        let error = FlatJSON.scan(line) { path, v in
            if path.count == 2, path[0].elementsEqual("id".utf8) {
                // `"id":{"orig_h":...}`: the nested form of the conn id.
                if pathIs(path, "id", "orig_h") { f.origH = v } else if pathIs(path, "id", "orig_p") { f.origP = v }
                else if pathIs(path, "id", "resp_h") { f.respH = v } else if pathIs(path, "id", "resp_p") { f.respP = v }
                f.zeekMarker = true
                return
            }
            guard path.count == 1, let key = path.first else { return }
            switch text(key) {
            case "_path": f.path = v; f.zeekMarker = true
            case "ts": f.ts = v
            case "uid": f.zeekMarker = true
            case "fuid": f.zeekMarker = true; f.isFiles = true
            case "id.orig_h": f.origH = v; f.zeekMarker = true
            case "id.orig_p": f.origP = v
            case "id.resp_h": f.respH = v
            case "id.resp_p": f.respP = v
            case "proto": f.proto = v
            case "duration": f.duration = v
            case "orig_bytes": f.origBytes = v; f.connMarker = true
            case "resp_bytes": f.respBytes = v
            case "orig_pkts": f.origPkts = v
            case "resp_pkts": f.respPkts = v
            case "conn_state": f.connMarker = true
            case "host": f.host = v; f.hasHost = true
            case "uri": f.uri = v; f.httpMarker = true
            case "method": f.method = v; f.httpMarker = true
            case "trans_depth": f.hasTransDepth = true
            case "status_code": f.statusCode = v
            case "username": f.username = v
            case "request_body_len": f.requestBodyLen = v
            case "response_body_len": f.responseBodyLen = v
            case "server_name": f.serverName = v
            case "cipher", "established": f.sslMarker = true
            case "client_initial_dcid": f.quicMarker = true
            case "query": f.query = v
            case "qtype_name": f.qtypeName = v
            case "rcode_name": f.rcodeName = v
            case "answers": if let a = jsonText(v) { f.answers.append(a) }
            default: break
            }
        }
        return (f, error)
    }

    public func recognizes(_ line: UnsafeRawBufferPointer) -> Bool {
        guard line.first == 0x7B else { return false }
        let (f, error) = Self.collect(line)
        return error == nil && f.ts != nil && f.zeekMarker
    }

    static func kind(_ f: Fields) -> Kind {
        if let p = jsonText(f.path) {
            switch p {
            case "conn": return .conn
            case "http": return .http
            case "ssl": return .ssl
            case "quic": return .quic
            case "dns": return .dns
            default: return .other
            }
        }
        if f.isFiles { return .other }
        if f.query != nil { return .dns }
        if f.quicMarker { return .quic }
        if f.serverName != nil || f.sslMarker { return .ssl }
        if f.httpMarker || (f.hasHost && f.hasTransDepth) { return .http }
        if f.connMarker { return .conn }
        return .other
    }

    public func parse(_ line: UnsafeRawBufferPointer, source: SourceRef) -> LineResult {
        if line.allSatisfy({ isBlank($0) }) { return .ignored }
        let (f, error) = Self.collect(line)
        if let error { return .skipped("not JSON: \(error)") }
        let kind = Self.kind(f)
        if kind == .other { return .ignored }
        guard let tsValue = f.ts else { return .skipped("no ts") }
        let ts: Timestamp?
        switch tsValue {
        case .number(let b): ts = parseTimestamp(b)
        case .string(let b, false): ts = parseISO8601(b)
        default: ts = nil
        }
        guard let ts else { return .skipped("ts \(jsonShown(tsValue)) is not a time") }
        var o = Observation(timestamp: ts, source: source)

        for (value, name, isClient) in [(f.origH, "id.orig_h", true), (f.respH, "id.resp_h", false)] {
            guard let value else { continue }
            guard let s = jsonText(value), let ip = IPAddress(s) else { return .skipped("\(name) \(jsonShown(value)) is not an address") }
            if isClient { o.clientIP = ip } else { o.serverIP = ip }
        }
        for (value, name, isClient) in [(f.origP, "id.orig_p", true), (f.respP, "id.resp_p", false)] {
            guard let value else { continue }
            guard case .number(let b) = value, let n = parseInt(b), let port = UInt16(exactly: n) else {
                return .skipped("\(name) \(jsonShown(value)) is not a port")
            }
            if isClient { o.clientPort = port } else { o.serverPort = port }
        }
        if let p = jsonText(f.proto) { o.transport = Transport(rawValue: p) }


        switch kind {
        case .conn:
            if let d = f.duration {
                guard case .number(let b) = d, let secs = parseTimestamp(b) else { return .skipped("duration \(jsonShown(d)) is not seconds") }
                o.durationMs = secs.microseconds / 1000
            }
            for (v, name, set) in [(f.origBytes, "orig_bytes", 0), (f.respBytes, "resp_bytes", 1), (f.origPkts, "orig_pkts", 2), (f.respPkts, "resp_pkts", 3)] {
                switch jsonCount(v, name) {
                case .failure(let reason): return .skipped(reason.text)
                case .success(let n):
                    switch set {
                    case 0: o.bytesUp = n
                    case 1: o.bytesDown = n
                    case 2: o.packetsUp = n
                    default: o.packetsDown = n
                    }
                }
            }
        case .http:
            applyHTTPHostAndURL(host: f.host, url: f.uri, to: &o)
            o.method = jsonText(f.method)
            if let s = f.statusCode {
                guard case .number(let b) = s, let n = parseInt(b), n <= 999 else { return .skipped("status_code \(jsonShown(s)) is not an HTTP status") }
                o.status = Int(n)
            }
            if let u = jsonText(f.username), !u.isEmpty { o.user = u }
            switch jsonCount(f.requestBodyLen, "request_body_len") {
            case .failure(let reason): return .skipped(reason.text)
            case .success(let n): o.bytesUp = n
            }
            switch jsonCount(f.responseBodyLen, "response_body_len") {
            case .failure(let reason): return .skipped(reason.text)
            case .success(let n): o.bytesDown = n
            }
            if o.transport == nil { o.transport = .tcp }
        case .ssl:
            if let host = jsonHost(f.serverName) { o.host = host; o.hostSource = .tlsSNI }
        case .quic:
            if let host = jsonHost(f.serverName) { o.host = host; o.hostSource = .quicSNI }
            o.transport = .udp
        case .dns:
            if let host = jsonHost(f.query) { o.host = host; o.hostSource = .dnsQuery }
            o.dns = DNSInfo(type: jsonText(f.qtypeName) ?? "unknown", rcode: jsonText(f.rcodeName), answers: f.answers)
        case .other:
            return .ignored
        }
        return .observation(o)
    }
}
