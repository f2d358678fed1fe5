import ShadowScopeCore

/// BIND 9's query log (`querylog yes`, category `queries`):
/// `25-Nov-2026 12:00:00.123 queries: info: client @0x7f... 127.0.0.1#53001 (chatgpt.com): view internal: query: chatgpt.com IN A +E(0)K (127.0.0.1)`.
///
/// The time prefix is `print-time` (`DD-Mon-YYYY HH:MM:SS.mmm`, or `YYYY-MM-DDTHH:MM:SS.mmm[Z|±hh:mm]`
/// with `print-time iso8601`/`iso8601-utc`); `category:` and `severity:` may follow or be absent, and
/// so may `@0x...` (BIND before 9.11), `(name)` and `view NAME:`. named prints local time without an
/// offset: it is taken as UTC for now (a `--timezone` option comes later). A line without a time
/// (`print-time no`) is skipped, as is a line of `named` that says `query:` but does not parse. A
/// syslog prefix up to `named[PID]: ` is skipped when named's own time follows it.
///
/// Lines of other categories (`general:`, `security:`, `lame-servers:` ...) in the same file are not
/// queries and are `.ignored`, not counted: a named.log mixes them freely.
///
/// One observation per query: client address and port, `host` = the query name (`dns-query`),
/// `server` = the address the query came to (the last parenthesis), `dns` {type, rcode null: the
/// query log has no answer, answers []}, transport `tcp` when the flags have `T`, else `udp`.
public struct BindQueryLog: StatelessLogFormat {
    public let name = "bind-query"

    public init() {}

    public func recognizes(_ line: UnsafeRawBufferPointer) -> Bool {
        var c = TextCursor(line)
        guard Self.readTime(&c) != nil else { return false }
        return find(line, Array(" client ".utf8), from: c.offset) != nil && find(line, Array(" query: ".utf8), from: c.offset) != nil
    }

    public func parse(_ line: UnsafeRawBufferPointer, source: SourceRef) -> LineResult {
        if line.allSatisfy(isBlank) { return .ignored }
        var c = TextCursor(line)
        var time = Self.readTime(&c)
        if time == nil, let tag = find(line, Array("named[".utf8)), let end = find(line, Array("]: ".utf8), from: tag) {
            // Through syslog: `<30> 2019-01-07 16:18:01 dev 1.2.3.4 named[15850]: 07-Jan-2019 16:18:01.488 client ...`.
            c.offset = end + 3
            time = Self.readTime(&c)
        }
        let afterTime = c.offset
        guard let query = find(line, Array(" query: ".utf8), from: afterTime) else {
            // Another category of a named log, or not a named log at all.
            return time != nil ? .ignored : .skipped("not a BIND query log line")
        }
        guard let (ts, local) = time else {
            if line.starts(with: "client ".utf8) { return .skipped("no time on the line (named's print-time is off)") }
            return .skipped("time '\(String(decoding: line.prefix(24), as: UTF8.self))' is not DD-Mon-YYYY HH:MM:SS.mmm")
        }
        guard let clientAt = find(line, Array("client ".utf8), from: afterTime), clientAt < query else {
            return .skipped("query line without 'client '")
        }
        var o = Observation(timestamp: ts, source: source)
        o.localTime = local

        // client [@0x...] ADDR#PORT [(name)]: [view NAME: ]query: ...
        var i = clientAt + 7
        func word() -> UnsafeRawBufferPointer {
            let start = i
            while i < line.count && line[i] != 0x20 { i += 1 }
            let w = UnsafeRawBufferPointer(rebasing: line[start..<i])
            while i < line.count && line[i] == 0x20 { i += 1 }
            return w
        }
        var client = word()
        if client.first == 0x40 { client = word() }  // @0x7ff1522fa098: the client object
        if client.last == 0x3A { client = UnsafeRawBufferPointer(rebasing: client.dropLast()) }
        guard let hash = client.lastIndex(of: 0x23),
              let ip = IPAddress(bytes: UnsafeRawBufferPointer(rebasing: client[..<hash])),
              let p = parseInt(UnsafeRawBufferPointer(rebasing: client[(hash + 1)...])), let port = UInt16(exactly: p) else {
            return .skipped("client '\(text(clip(client, 0)))' is not ADDRESS#PORT")
        }
        o.clientIP = ip
        o.clientPort = port

        // query: NAME CLASS TYPE FLAGS (SERVER)
        i = query + 8
        let qname = word()
        let qclass = word()
        let qtype = word()
        let flags = word()
        let server = word()
        guard !qname.isEmpty, !qclass.isEmpty, !qtype.isEmpty else { return .skipped("query is not NAME CLASS TYPE") }
        guard i == line.count else { return .skipped("unexpected text after the query: '\(text(clip(line, i)))'") }
        guard let host = normalizeHost(qname) else { return .skipped("query name '\(text(clip(qname, 0)))' is not a host name") }
        guard qtype.allSatisfy({ ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x30 && $0 <= 0x39) }) else {
            return .skipped("query type '\(text(clip(qtype, 0)))' is not a type name")
        }
        o.host = host
        o.hostSource = .dnsQuery
        o.transport = flags.contains(0x54) ? .tcp : .udp  // T: over TCP
        if server.count > 2, server.first == 0x28, server.last == 0x29 {
            o.serverIP = IPAddress(bytes: UnsafeRawBufferPointer(rebasing: server[1..<(server.count - 1)]))
        }
        o.dns = DNSInfo(type: text(qtype), rcode: nil, answers: [])
        return .observation(o)
    }

    /// `25-Nov-2026 11:31:42.656` or `2026-11-25T11:31:42.656[Z|+01:00]`, then a blank; `local`
    /// when no zone was written (BIND's default: the server's local time).
    static func readTime(_ c: inout TextCursor) -> (ts: Timestamp, local: Bool)? {
        let save = c.offset
        if let d = c.digits(2), c.byte(0x2D), let name = c.letters(max: 3), let m = monthFromAbbreviation(name),
           c.byte(0x2D), let y = c.digits(4), c.byte(0x20),
           let h = c.digits(2), c.byte(0x3A), let mi = c.digits(2), c.byte(0x3A), let s = c.digits(2),
           let micros = c.fraction(), c.byte(0x20),
           let ts = civilTimestamp(year: Int64(y), month: m, day: d, hour: h, minute: mi, second: s, microseconds: micros) {
            return (ts, true)
        }
        c.offset = save
        if let y = c.digits(4), c.byte(0x2D), let m = c.digits(2), c.byte(0x2D), let d = c.digits(2), c.byte(0x54),
           let h = c.digits(2), c.byte(0x3A), let mi = c.digits(2), c.byte(0x3A), let s = c.digits(2),
           let micros = c.fraction() {
            let offset = c.utcOffset()
            if c.byte(0x20), let ts = civilTimestamp(year: Int64(y), month: m, day: d, hour: h, minute: mi, second: s,
                                                       microseconds: micros, offsetSeconds: offset ?? 0) {
                return (ts, offset == nil)
            }
        }
        c.offset = save
        return nil
    }
}
