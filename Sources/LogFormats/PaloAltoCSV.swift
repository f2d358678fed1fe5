import ShadowScopeCore

/// PAN-OS firewall logs in their syslog CSV form (default "BSD" or IETF syslog header, then the
/// CSV): `Oct 13 20:39:44 fw1 1,2017/07/13 20:39:44,0009C101317,TRAFFIC,end,1,2017/07/13 20:39:44,10.183.12.108,...`.
/// Positions are those of PAN-OS's "Syslog Field Descriptions" (the same from 8.1 to 11.x; later
/// versions only append fields): 1 receive time, 3 type, 4 subtype, 6 generated time, 7 source
/// address, 8 destination address, 12 source user, 14 application, 24 source port, 25 destination
/// port, 29 protocol; in TRAFFIC logs 32 bytes sent, 33 bytes received, 36 elapsed time (s),
/// 44/45 packets sent/received; in THREAT logs 31 URL/filename and 63 HTTP method.
///
/// - `TRAFFIC` (any subtype: start, end, drop, deny): client = source, server = destination,
///   user = source user, bytes sent → up, bytes received → down (both measured by the firewall).
///   No host: the application name (`ssl`, `openai-chatgpt`) is not a host name.
/// - `THREAT` with subtype `url` (the URL filtering log): the URL (without scheme, as PAN-OS writes
///   it) → host (`proxy-url`) and path without query, method when logged; no byte counts.
/// Other types (SYSTEM, CONFIG, ...) and THREAT subtypes (virus, spyware, ...) are `.ignored`.
/// The generated time is the firewall's local time, without offset: taken as UTC.
public struct PaloAltoCSV: StatelessLogFormat {
    public let name = "panos"

    static let maxFields = 256
    /// How far into a line the syslog header may reach.
    static let maxPrefixBytes = 256

    public init() {}

    /// Offset where the CSV starts: the field before the first `,YYYY/MM/DD HH:MM:SS,` (receive time).
    static func csvStart(_ line: UnsafeRawBufferPointer) -> Int? {
        var i = 0
        while i < min(line.count, maxPrefixBytes) {
            if line[i] == 0x2C, isPANTime(line, at: i + 1), i + 20 < line.count, line[i + 20] == 0x2C {
                var s = i
                while s > 0, !isBlank(line[s - 1]), line[s - 1] != 0x3E { s -= 1 }
                return s
            }
            i += 1
        }
        return nil
    }

    /// `YYYY/MM/DD HH:MM:SS` at `at`.
    static func isPANTime(_ b: UnsafeRawBufferPointer, at: Int) -> Bool {
        guard at + 19 <= b.count else { return false }
        for (k, c) in Array("0000/00/00 00:00:00".utf8).enumerated() {
            let x = b[at + k]
            if c == 0x30 { guard x >= 0x30 && x <= 0x39 else { return false } } else { guard x == c else { return false } }
        }
        return true
    }

    static func readTime(_ b: UnsafeRawBufferPointer) -> Timestamp? {
        var c = TextCursor(b)
        guard let y = c.digits(4), c.byte(0x2F), let m = c.digits(2), c.byte(0x2F), let d = c.digits(2), c.byte(0x20),
              let h = c.digits(2), c.byte(0x3A), let mi = c.digits(2), c.byte(0x3A), let s = c.digits(2), c.isAtEnd else { return nil }
        return civilTimestamp(year: Int64(y), month: m, day: d, hour: h, minute: mi, second: s)
    }

    public func recognizes(_ line: UnsafeRawBufferPointer) -> Bool {
        guard let s = Self.csvStart(line),
              case .success(let f) = splitDelimited(UnsafeRawBufferPointer(rebasing: line[s...]), separator: 0x2C, maxFields: Self.maxFields),
              f.count > 7 else { return false }
        let t = f[3].string
        return ["TRAFFIC", "THREAT", "SYSTEM", "CONFIG", "HIPMATCH", "USERID", "GLOBALPROTECT", "DECRYPTION", "AUTH"].contains(t)
    }

    public func parse(_ line: UnsafeRawBufferPointer, source: SourceRef) -> LineResult {
        if line.allSatisfy(isBlank) { return .ignored }
        guard let s = Self.csvStart(line) else { return .skipped("no ',YYYY/MM/DD HH:MM:SS,' receive time: not a PAN-OS CSV log") }
        let f: [DelimitedField]
        switch splitDelimited(UnsafeRawBufferPointer(rebasing: line[s...]), separator: 0x2C, maxFields: Self.maxFields) {
        case .failure(let r): return .skipped(r.text)
        case .success(let x): f = x
        }
        guard f.count > 4 else { return .skipped("\(f.count) fields: no type and subtype") }
        let type = f[3].string
        let subtype = f[4].string
        let isURL = type == "THREAT" && subtype == "url"
        guard type == "TRAFFIC" || isURL else { return .ignored }
        let needed = type == "TRAFFIC" ? 34 : 32
        guard f.count >= needed else { return .skipped("\(type) log with \(f.count) fields, \(needed) at least expected") }
        guard let ts = Self.readTime(f[6].bytes) else { return .skipped("generated time '\(text(clip(f[6].bytes, 0)))' is not YYYY/MM/DD HH:MM:SS") }
        var o = Observation(timestamp: ts, source: source)
        o.localTime = true  // the firewall's local time, no zone
        guard let src = IPAddress(f[7].string) else { return .skipped("source address '\(text(clip(f[7].bytes, 0)))' is not an address") }
        guard let dst = IPAddress(f[8].string) else { return .skipped("destination address '\(text(clip(f[8].bytes, 0)))' is not an address") }
        o.clientIP = src
        o.serverIP = dst
        if !f[12].isEmpty { o.user = f[12].string }
        for (k, isClient) in [(24, true), (25, false)] {
            guard let n = parseInt(f[k].bytes), let port = UInt16(exactly: n) else {
                return .skipped("\(isClient ? "source" : "destination") port '\(text(clip(f[k].bytes, 0)))' is not a port")
            }
            if isClient { o.clientPort = port } else { o.serverPort = port }
        }
        switch f[29].string {
        case "tcp": o.transport = .tcp
        case "udp": o.transport = .udp
        default: break
        }
        if type == "TRAFFIC" {
            guard let up = parseInt(f[32].bytes) else { return .skipped("bytes sent '\(text(clip(f[32].bytes, 0)))' is not a count") }
            guard let down = parseInt(f[33].bytes) else { return .skipped("bytes received '\(text(clip(f[33].bytes, 0)))' is not a count") }
            o.bytesUp = up
            o.bytesDown = down
            if f.count > 36, let e = parseInt(f[36].bytes) { o.durationMs = e &* 1000 }
            if f.count > 45, let ps = parseInt(f[44].bytes), let pr = parseInt(f[45].bytes) { o.packetsUp = ps; o.packetsDown = pr }
        } else {
            let url = f[31]
            guard let parsed = parseLoggedURL(url.bytes), let host = parsed.host else { return .skipped("URL '\(text(clip(url.bytes, 0)))' has no host") }
            o.host = host
            o.hostSource = .proxyURL
            o.urlPath = parsed.path
            if f.count > 63, !f[63].isEmpty { o.method = f[63].string.uppercased() }
        }
        return .observation(o)
    }
}
