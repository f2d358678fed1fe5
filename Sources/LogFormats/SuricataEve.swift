import ShadowScopeCore

/// Suricata's EVE JSON log (`eve.json`): one object per line with `timestamp` (ISO 8601 with an
/// offset, `2017-04-07T22:24:37.251547+0100`), `event_type`, `src_ip`, `src_port`, `dest_ip`,
/// `dest_port`, `proto`, and an object named after the event type.
///
/// - `tls`: `tls.sni` → host (`tls-sni`), transport `tcp`.
/// - `quic`: `quic.sni` → host (`quic-sni`), transport `udp`.
/// - `http`: `http.hostname` (`http-host`), `http.url` path without query (an absolute URL's host
///   is used when `hostname` is absent), `http.http_method`, `http.status`, `http.length` → bytes
///   down (the response body as Suricata saw it; the request size is not logged: bytes up null).
/// - `dns`: the answer (`type` `answer`, or `response` in EVE DNS version 3) is the observation:
///   `rrname` (or `queries[0].rrname` in version 3) → host (`dns-query`), `rrtype`, `rcode`, and
///   the answers (`answers[].rdata`, `grouped.*`, or a version 1 record's `rdata`). The answer
///   travels server → client, so its `dest_ip` is the client. Query records (`query`/`request`)
///   are `.ignored`: Suricata logs the answer of the same lookup as well (both are on by default),
///   and counting both would count each lookup twice.
/// - `flow`: addresses and ports, `flow.bytes_toserver` → bytes up, `flow.bytes_toclient` →
///   bytes down, `flow.pkts_toserver`/`pkts_toclient`, `flow.age` (seconds) → duration; no host.
/// Other event types (`alert`, `fileinfo`, `stats`, `anomaly`, ...) are `.ignored`.
///
/// A TLS or QUIC handshake and its flow are joined by `flow_id`: the `tls`/`quic` record is held
/// (the line is not counted as a record) until the `flow` record of the same flow, which Suricata
/// writes when the flow ends, and comes out as one observation with the name, the handshake's time
/// and line, and the flow's byte and packet counts. A handshake whose flow never comes (flow logging
/// off, input cut) comes out at the end of the input with unknown sizes. At most `maxPending`
/// handshakes wait at once; beyond that a handshake comes out at once, unjoined.
public struct SuricataEve: LogFormat {
    public let name = "suricata-eve"

    /// Handshakes waiting for their flow record, per input.
    static let maxPending = 65_536

    public init() {}

    struct Fields {
        var timestamp, eventType, srcIP, srcPort, destIP, destPort, proto, flowID: JSONScalar?
        var sni, hostname, url, method, status, length: JSONScalar?
        var rrname, rrtype, rcode, dnsType: JSONScalar?
        var queryName, queryType: JSONScalar?
        var answers: [String] = []
        var grouped: [String] = []
        var bytesToServer, bytesToClient, pktsToServer, pktsToClient, age: JSONScalar?
    }

    static func collect(_ line: UnsafeRawBufferPointer) -> (Fields, FlatJSONError?) {
        var f = Fields()
        let error = FlatJSON.scan(line) { path, v in
            guard let first = path.first else { return }
            switch path.count {
            case 1:
                switch text(first) {
                case "timestamp": f.timestamp = v
                case "event_type": f.eventType = v
                case "src_ip": f.srcIP = v
                case "src_port": f.srcPort = v
                case "dest_ip": f.destIP = v
                case "dest_port": f.destPort = v
                case "proto": f.proto = v
                case "flow_id": f.flowID = v
                default: break
                }
            case 2:
                let key = text(path[1])
                switch text(first) {
                case "tls", "quic": if key == "sni" { f.sni = v }
                case "http":
                    switch key {
                    case "hostname": f.hostname = v
                    case "url": f.url = v
                    case "http_method": f.method = v
                    case "status": f.status = v
                    case "length": f.length = v
                    default: break
                    }
                case "dns":
                    switch key {
                    case "rrname": f.rrname = v
                    case "rrtype": f.rrtype = v
                    case "rcode": f.rcode = v
                    case "type": f.dnsType = v
                    case "rdata": if let a = jsonText(v) { f.answers.append(a) }
                    default: break
                    }
                case "flow":
                    switch key {
                    case "bytes_toserver": f.bytesToServer = v
                    case "bytes_toclient": f.bytesToClient = v
                    case "pkts_toserver": f.pktsToServer = v
                    case "pkts_toclient": f.pktsToClient = v
                    case "age": f.age = v
                    default: break
                    }
                default: break
                }
            case 3 where first.elementsEqual("dns".utf8):
                if pathIs(path, "dns", "answers", "rdata") {
                    if let a = jsonText(v) { f.answers.append(a) }
                } else if path[1].elementsEqual("grouped".utf8) {
                    // `"grouped":{"A":["1.2.3.4"],"CNAME":["x."]}`: used when there are no detailed answers.
                    if let a = jsonText(v) { f.grouped.append(a) }
                } else if pathIs(path, "dns", "queries", "rrname") {
                    if f.queryName == nil { f.queryName = v }
                } else if pathIs(path, "dns", "queries", "rrtype") {
                    if f.queryType == nil { f.queryType = v }
                }
            default:
                break
            }
        }
        return (f, error)
    }

    public func recognizes(_ line: UnsafeRawBufferPointer) -> Bool {
        guard line.first == 0x7B else { return false }
        let (f, error) = Self.collect(line)
        return error == nil && f.timestamp != nil && f.eventType != nil
    }

    public func makeParser() -> any LineParser { Parser(format: self) }

    /// One input's parser: holds TLS/QUIC observations until their flow record.
    struct Parser: LineParser {
        let format: SuricataEve
        var pending: [UInt64: (seq: Int, observation: Observation)] = [:]
        var seq = 0

        mutating func parse(_ line: UnsafeRawBufferPointer, source: SourceRef) -> LineResult {
            let (result, eventType, flowID) = format.parse(line, source: source)
            guard case .observation(let o) = result, let flowID else { return result }
            switch eventType {
            case "tls", "quic":
                guard pending[flowID] == nil, pending.count < SuricataEve.maxPending else { return result }
                seq += 1
                pending[flowID] = (seq, o)
                return .ignored
            case "flow":
                guard let held = pending.removeValue(forKey: flowID)?.observation else { return result }
                var joined = held
                joined.bytesUp = o.bytesUp
                joined.bytesDown = o.bytesDown
                joined.packetsUp = o.packetsUp
                joined.packetsDown = o.packetsDown
                joined.durationMs = o.durationMs
                joined.transport = joined.transport ?? o.transport
                return .observation(joined)
            default:
                return result
            }
        }

        mutating func finish() -> [Observation] {
            let left = pending.values.sorted { $0.seq < $1.seq }.map(\.observation)
            pending = [:]
            return left
        }
    }

    /// One line on its own, with its event type and flow id for the join.
    func parse(_ line: UnsafeRawBufferPointer, source: SourceRef) -> (LineResult, String?, UInt64?) {
        if line.allSatisfy({ isBlank($0) }) { return (.ignored, nil, nil) }
        let (f, error) = Self.collect(line)
        if let error { return (.skipped("not JSON: \(error)"), nil, nil) }
        let flowID = jsonNumberBytes(f.flowID).flatMap { parseInt($0) }.flatMap { UInt64(exactly: $0) }
        let eventType = jsonText(f.eventType)
        return (parseFields(f, eventType: eventType, source: source), eventType, flowID)
    }

    private func parseFields(_ fields: Fields, eventType: String?, source: SourceRef) -> LineResult {
        var f = fields
        guard let eventType else { return .skipped("no event_type") }
        guard ["tls", "quic", "http", "dns", "flow"].contains(eventType) else { return .ignored }
        var isAnswer = false
        if eventType == "dns" {
            let t = jsonText(f.dnsType)
            if t == "query" || t == "request" { return .ignored }
            isAnswer = t == "answer" || t == "response"
            guard isAnswer else { return .skipped("dns.type \(jsonShown(f.dnsType)) is not query or answer") }
        }
        guard case .string(let tsBytes, false)? = f.timestamp, let ts = parseISO8601(tsBytes) else {
            return .skipped("timestamp \(jsonShown(f.timestamp)) is not an ISO 8601 time")
        }
        var o = Observation(timestamp: ts, source: source)
        var src: (IPAddress?, UInt16?) = (nil, nil)
        var dst: (IPAddress?, UInt16?) = (nil, nil)
        for (value, name) in [(f.srcIP, "src_ip"), (f.destIP, "dest_ip")] {
            guard let value else { continue }
            guard let s = jsonText(value), let ip = IPAddress(s) else { return .skipped("\(name) \(jsonShown(value)) is not an address") }
            if name == "src_ip" { src.0 = ip } else { dst.0 = ip }
        }
        for (value, name) in [(f.srcPort, "src_port"), (f.destPort, "dest_port")] {
            guard let value else { continue }
            guard case .number(let b) = value, let n = parseInt(b), let port = UInt16(exactly: n) else {
                return .skipped("\(name) \(jsonShown(value)) is not a port")
            }
            if name == "src_port" { src.1 = port } else { dst.1 = port }
        }
        if isAnswer { swap(&src, &dst) }  // the answer goes from the server to the client
        (o.clientIP, o.clientPort) = src
        (o.serverIP, o.serverPort) = dst
        if let p = jsonText(f.proto)?.lowercased() { o.transport = Transport(rawValue: p) }


        switch eventType {
        case "tls", "quic":
            if let host = jsonHost(f.sni) { o.host = host; o.hostSource = eventType == "tls" ? .tlsSNI : .quicSNI }
            if o.transport == nil { o.transport = eventType == "tls" ? .tcp : .udp }
        case "http":
            applyHTTPHostAndURL(host: f.hostname, url: f.url, to: &o)
            o.method = jsonText(f.method)
            if let s = f.status {
                guard let b = jsonNumberBytes(s), let n = parseInt(b), n <= 999 else { return .skipped("http.status \(jsonShown(s)) is not an HTTP status") }
                o.status = Int(n)
            }
            switch jsonCount(f.length, "http.length") {
            case .failure(let reason): return .skipped(reason.text)
            case .success(let n): o.bytesDown = n
            }
            if o.transport == nil { o.transport = .tcp }
        case "dns":
            let name = f.rrname ?? f.queryName
            guard name != nil else { return .skipped("dns answer without rrname") }
            if let host = jsonHost(name) { o.host = host; o.hostSource = .dnsQuery }
            if f.rrname == nil && f.queryName != nil { f.rrtype = f.queryType }
            o.dns = DNSInfo(type: jsonText(f.rrtype) ?? "unknown", rcode: jsonText(f.rcode), answers: f.answers.isEmpty ? f.grouped : f.answers)
        default:  // flow
            for (v, name, slot) in [(f.bytesToServer, "flow.bytes_toserver", 0), (f.bytesToClient, "flow.bytes_toclient", 1),
                                    (f.pktsToServer, "flow.pkts_toserver", 2), (f.pktsToClient, "flow.pkts_toclient", 3),
                                    (f.age, "flow.age", 4)] {
                switch jsonCount(v, name) {
                case .failure(let reason): return .skipped(reason.text)
                case .success(let n):
                    switch slot {
                    case 0: o.bytesUp = n
                    case 1: o.bytesDown = n
                    case 2: o.packetsUp = n
                    case 3: o.packetsDown = n
                    default: o.durationMs = n.map { $0 &* 1000 }
                    }
                }
            }
        }
        return .observation(o)
    }
}
