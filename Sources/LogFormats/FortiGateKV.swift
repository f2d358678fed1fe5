import ShadowScopeCore

/// FortiGate (FortiOS) logs in their native `key=value` form, on disk or through syslog
/// (`<189>date=2019-05-10 time=11:37:47 logid="0000000013" type="traffic" ...`). Values are bare or
/// in double quotes (which may hold blanks; `\"` inside is a quote). Field names are those of the
/// FortiOS Log Message Reference.
///
/// - `type=traffic` (any subtype: forward, local, ...): `srcip` (required)/`srcport` client, `dstip`/`dstport`
///   server, `proto` (6 tcp, 17 udp), `user` (else `unauthuser`), `sentbyte` → bytes up,
///   `rcvdbyte` → bytes down, `sentpkt`/`rcvdpkt`, `duration` (seconds), `hostname` when the
///   FortiGate learned one.
/// - `type=utm subtype=webfilter`: the same addresses, user and byte counts, `hostname` and `url`
///   (a path, or an absolute URL in recent versions) → host and path without query, `httpmethod`
///   (FortiOS 7; `method` there is the rating method, not HTTP's).
/// `hostname` is what the FortiGate read from the Host header or the SNI without saying which, so
/// the host's source is `proxy-url`. Other types and subtypes (event, virus, ips, dns, ...) are
/// `.ignored`.
///
/// Time: `eventtime` (epoch, in s, ms, µs or ns by its length) when present; else `date` and `time`,
/// which are the FortiGate's local time, shifted by `tz` (`"-0800"`) when present, else taken as UTC.
public struct FortiGateKV: StatelessLogFormat {
    public let name = "fortigate"

    /// Pairs read from one line at most (a FortiOS log has about 60).
    static let maxPairs = 512
    /// How far into a line a syslog prefix before `date=` may reach.
    static let maxPrefixBytes = 256

    public init() {}

    /// Offset of `date=` at the start, or after a blank or `>` (a syslog prefix), within the first bytes.
    static func start(_ line: UnsafeRawBufferPointer) -> Int? {
        let key = Array("date=".utf8)
        var from = 0
        while let at = find(line, key, from: from), at <= maxPrefixBytes {
            if at == 0 || isBlank(line[at - 1]) || line[at - 1] == 0x3E { return at }
            from = at + 1
        }
        return nil
    }

    /// The `key=value` pairs from `start`; nil with the reason when a pair is malformed.
    static func pairs(_ line: UnsafeRawBufferPointer, from start: Int) -> Result<[(UnsafeRawBufferPointer, UnsafeRawBufferPointer, Bool)], SkipReason> {
        var out: [(UnsafeRawBufferPointer, UnsafeRawBufferPointer, Bool)] = []
        var i = start
        let n = line.count
        while true {
            while i < n, isBlank(line[i]) { i += 1 }
            if i == n { return .success(out) }
            guard out.count < maxPairs else { return .failure(SkipReason("more than \(maxPairs) key=value pairs")) }
            let keyStart = i
            while i < n, line[i] != 0x3D, !isBlank(line[i]) { i += 1 }
            guard i < n, line[i] == 0x3D, i > keyStart else {
                return .failure(SkipReason("'\(text(clip(line, keyStart)))' is not key=value"))
            }
            let key = UnsafeRawBufferPointer(rebasing: line[keyStart..<i])
            i += 1
            if i < n, line[i] == 0x22 {
                let vStart = i + 1
                var k = vStart
                var escaped = false
                while k < n, line[k] != 0x22 {
                    if line[k] == 0x5C, k + 1 < n { escaped = true; k += 2 } else { k += 1 }
                }
                guard k < n else { return .failure(SkipReason("value of \(text(clip(key, 0))) has no closing quote")) }
                out.append((key, UnsafeRawBufferPointer(rebasing: line[vStart..<k]), escaped))
                i = k + 1
            } else {
                let vStart = i
                while i < n, !isBlank(line[i]) { i += 1 }
                out.append((key, UnsafeRawBufferPointer(rebasing: line[vStart..<i]), false))
            }
        }
    }

    public func recognizes(_ line: UnsafeRawBufferPointer) -> Bool {
        guard let s = Self.start(line), case .success(let p) = Self.pairs(line, from: s) else { return false }
        let keys = Set(p.map { text($0.0) })
        return keys.isSuperset(of: ["date", "time", "logid", "type"])
    }

    public func parse(_ line: UnsafeRawBufferPointer, source: SourceRef) -> LineResult {
        if line.allSatisfy(isBlank) { return .ignored }
        guard let s = Self.start(line) else { return .skipped("no date= field: not a FortiGate log line") }
        let pairs: [(UnsafeRawBufferPointer, UnsafeRawBufferPointer, Bool)]
        switch Self.pairs(line, from: s) {
        case .failure(let r): return .skipped(r.text)
        case .success(let p): pairs = p
        }
        var v: [String: (UnsafeRawBufferPointer, Bool)] = [:]
        for (k, value, escaped) in pairs {
            switch text(k) {
            case let key where Self.used.contains(key): v[key] = (value, escaped)
            default: break
            }
        }
        func str(_ k: String) -> String? {
            guard let (b, escaped) = v[k], !b.isEmpty else { return nil }
            guard escaped else { return text(b) }
            var out = [UInt8]()
            var i = 0
            while i < b.count {
                if b[i] == 0x5C, i + 1 < b.count { out.append(b[i + 1]); i += 2 } else { out.append(b[i]); i += 1 }
            }
            return String(decoding: out, as: UTF8.self)
        }
        let type = str("type")
        let subtype = str("subtype")
        let isWeb = type == "utm" && subtype == "webfilter"
        guard type == "traffic" || isWeb else {
            return type == nil ? .skipped("no type= field") : .ignored
        }
        guard let ts = timestamp(v) else {
            return .skipped("no usable time: eventtime '\(str("eventtime") ?? "")', date '\(str("date") ?? "")', time '\(str("time") ?? "")'")
        }
        var o = Observation(timestamp: ts, source: source)
        // date= time= without tz= are the device's local time; eventtime is epoch-based.
        o.localTime = v["eventtime"].flatMap { parseInt($0.0) } == nil && v["tz"] == nil
        for (k, isClient) in [("srcip", true), ("dstip", false)] {
            guard let t = str(k) else { continue }
            guard let ip = IPAddress(t) else { return .skipped("\(k) '\(t)' is not an address") }
            if isClient { o.clientIP = ip } else { o.serverIP = ip }
        }
        guard o.clientIP != nil else { return .skipped("no srcip") }
        for (k, isClient) in [("srcport", true), ("dstport", false)] {
            guard let (b, _) = v[k] else { continue }
            guard let n = parseInt(b), let port = UInt16(exactly: n) else { return .skipped("\(k) '\(text(clip(b, 0)))' is not a port") }
            if isClient { o.clientPort = port } else { o.serverPort = port }
        }
        if let (b, _) = v["proto"] {
            switch parseInt(b) {
            case 6: o.transport = .tcp
            case 17: o.transport = .udp
            case .some: break
            case nil: return .skipped("proto '\(text(clip(b, 0)))' is not a protocol number")
            }
        }
        var counts: [Int64?] = []
        for k in ["sentbyte", "rcvdbyte", "sentpkt", "rcvdpkt", "duration"] {
            guard let (b, _) = v[k] else { counts.append(nil); continue }
            guard let n = parseInt(b) else { return .skipped("\(k) '\(text(clip(b, 0)))' is not a count") }
            counts.append(n)
        }
        o.bytesUp = counts[0]
        o.bytesDown = counts[1]
        o.packetsUp = counts[2]
        o.packetsDown = counts[3]
        o.durationMs = counts[4].map { $0 &* 1000 }
        o.user = str("user") ?? str("unauthuser")
        if let h = v["hostname"].flatMap({ normalizeHost($0.0) }) {
            o.host = h
            o.hostSource = .proxyURL
        }
        if let (u, _) = v["url"], let parsed = parseLoggedURL(u) {
            o.urlPath = parsed.path
            if o.host == nil, let h = parsed.host { o.host = h; o.hostSource = .proxyURL }
        }
        if isWeb { o.method = str("httpmethod") }
        return .observation(o)
    }

    static let used: Set<String> = ["date", "time", "tz", "eventtime", "type", "subtype", "srcip", "srcport", "dstip",
                                    "dstport", "proto", "user", "unauthuser", "sentbyte", "rcvdbyte", "sentpkt",
                                    "rcvdpkt", "duration", "hostname", "url", "httpmethod"]

    private func timestamp(_ v: [String: (UnsafeRawBufferPointer, Bool)]) -> Timestamp? {
        if let (b, _) = v["eventtime"], (19...21).contains(b.count), b.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
           let micros = parseInt(UnsafeRawBufferPointer(rebasing: b[..<(b.count - 3)])) {
            return Timestamp(microseconds: micros)  // nanoseconds: more digits than parseInt takes
        }
        if let (b, _) = v["eventtime"], let n = parseInt(b) {
            switch b.count {
            case 16...18: return Timestamp(microseconds: n)
            case 13...15: return Timestamp(microseconds: n &* 1000)
            default: return Timestamp(seconds: n)
            }
        }
        guard let (d, _) = v["date"], let (t, _) = v["time"] else { return nil }
        var dc = TextCursor(d)
        var tc = TextCursor(t)
        guard let y = dc.digits(4), dc.byte(0x2D), let m = dc.digits(2), dc.byte(0x2D), let day = dc.digits(2), dc.isAtEnd,
              let h = tc.digits(2), tc.byte(0x3A), let mi = tc.digits(2), tc.byte(0x3A), let s = tc.digits(2), tc.isAtEnd else { return nil }
        var offset: Int64 = 0
        if let (z, _) = v["tz"] {
            var zc = TextCursor(z)
            guard let o = zc.utcOffset(), zc.isAtEnd else { return nil }
            offset = o
        }
        return civilTimestamp(year: Int64(y), month: m, day: day, hour: h, minute: mi, second: s, offsetSeconds: offset)
    }
}
