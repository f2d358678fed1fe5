import Glibc
import ShadowScopeCore

/// dnsmasq's `--log-queries` lines, in its own `--log-facility` file or through syslog:
/// `Nov 25 12:00:00 dnsmasq[123]: query[A] chatgpt.com from 127.0.0.1`, and with
/// `--log-queries=extra` `... dnsmasq[123]: 7 10.0.0.5/41279 query[A] chatgpt.com from 10.0.0.5`.
///
/// One observation per `query[TYPE] NAME from ADDR` line: client address (and port with `extra`),
/// `host` = the name (`dns-query`), `dns` {type, rcode, answers}, transport `udp`. The `reply`,
/// `cached` and `config` lines that follow (`NAME is ADDRESS`, `is NXDOMAIN`, `is NODATA`, and
/// `config error is REFUSED` for a refused query) are joined to the latest query for that name, so a
/// query is held until the input ends or `maxPendingQueries` newer ones wait (then the oldest goes
/// out). A query no reply line followed keeps rcode null. Other dnsmasq lines (start-up,
/// `forwarded`, DHCP) are `.ignored`; lines not from dnsmasq are skipped.
///
/// Syslog timestamps have no year. It is inferred from `reference`, when the log was last written
/// (the file's modification time; now for standard input): a line's year is the reference's, or
/// the year before when that would put the line more than two days after the reference — so a log
/// that runs across New Year gets its December lines right. Times are taken as UTC.
public struct Dnsmasq: LogFormat {
    public let name = "dnsmasq"
    let reference: Timestamp
    /// Queries held for their answers; past this the oldest is written out as it is.
    public static let maxPendingQueries = 4096

    /// `reference`: when the log was last written (default: now).
    public init(reference: Timestamp = Timestamp(seconds: Int64(time(nil)))) {
        self.reference = reference
    }

    /// Every line in `year` (a log known to lie within one year).
    public init(year: Int64) {
        reference = civilTimestamp(year: year, month: 12, day: 31, hour: 23, minute: 59, second: 59) ?? Timestamp(seconds: 0)
    }

    /// The line's time in the reference's year, or the year before when that is far in the future.
    func inferYear(_ c: inout TextCursor) -> Timestamp? {
        let start = c.offset
        let year = reference.civil.year
        if let ts = Self.readSyslogTime(&c, year: year), ts.microseconds <= reference.microseconds + 2 * 86_400_000_000 { return ts }
        c.offset = start
        return Self.readSyslogTime(&c, year: year - 1)
    }

    public func recognizes(_ line: UnsafeRawBufferPointer) -> Bool {
        var c = TextCursor(line)
        guard Self.readSyslogTime(&c, year: 2000) != nil else { return false }
        return messageStart(line, from: c.offset) != nil
    }

    /// Offset of the message after `dnsmasq[PID]: ` (possibly after a syslog host name).
    private func messageStart(_ line: UnsafeRawBufferPointer, from: Int) -> Int? {
        guard let tag = find(line, Array("dnsmasq[".utf8), from: from), tag - from <= 256 else { return nil }
        guard tag == from || isBlank(line[tag - 1]) else { return nil }
        var i = tag + 8
        while i < line.count && line[i] >= 0x30 && line[i] <= 0x39 { i += 1 }
        guard i + 2 < line.count, i > tag + 8, line[i] == 0x5D, line[i + 1] == 0x3A, line[i + 2] == 0x20 else { return nil }
        return i + 3
    }

    public func makeParser() -> any LineParser { Parser(format: self) }

    /// What one line says.
    enum Line {
        case query(Observation)
        /// `reply|cached|config NAME is VALUE`.
        case answer(name: String, value: String)
        case other(LineResult)
    }

    /// One input's parser: holds queries until their answers have been read.
    struct Parser: LineParser {
        let format: Dnsmasq
        private var pending: [Int: Observation] = [:]
        private var latestByName: [String: Int] = [:]
        private var oldest = 0
        private var next = 0

        init(format: Dnsmasq) { self.format = format }

        mutating func parse(_ line: UnsafeRawBufferPointer, source: SourceRef) -> LineResult {
            switch format.read(line, source: source) {
            case .other(let result):
                return result
            case .answer(let name, let value):
                // "config error is REFUSED": dnsmasq names no query; it answers the latest one.
                if let serial = name == "error" ? (next > oldest ? next - 1 : nil) : latestByName[name],
                   var o = pending[serial], var dns = o.dns {
                    switch value {
                    case "NXDOMAIN": dns.rcode = "NXDOMAIN"
                    case "REFUSED": dns.rcode = "REFUSED"
                    case "SERVFAIL": dns.rcode = "SERVFAIL"
                    case "NODATA", "NODATA-IPv4", "NODATA-IPv6", "<CNAME>": dns.rcode = "NOERROR"
                    default:
                        dns.rcode = "NOERROR"
                        if IPAddress(value) != nil { dns.answers.append(value) }
                    }
                    o.dns = dns
                    pending[serial] = o
                }
                return .ignored
            case .query(let o):
                let serial = next
                next += 1
                pending[serial] = o
                if let host = o.host { latestByName[host] = serial }
                guard pending.count > Dnsmasq.maxPendingQueries else { return .held }
                while pending[oldest] == nil { oldest += 1 }
                let out = pending.removeValue(forKey: oldest)
                oldest += 1
                return out.map { .observation($0) } ?? .held
            }
        }

        mutating func finish() -> [Observation] {
            let rest = pending.sorted { $0.key < $1.key }.map(\.value)
            pending.removeAll()
            latestByName.removeAll()
            return rest
        }
    }

    func read(_ line: UnsafeRawBufferPointer, source: SourceRef) -> Line {
        if line.allSatisfy(isBlank) { return .other(.ignored) }
        var c = TextCursor(line)
        guard let ts = inferYear(&c) else {
            return .other(.skipped("no syslog time (MMM DD HH:MM:SS) at the start"))
        }
        guard let start = messageStart(line, from: c.offset) else {
            // dnsmasq-dhcp[...] and other programs' lines in a shared syslog file.
            return .other(find(line, Array("dnsmasq".utf8), from: c.offset) != nil ? .ignored : .skipped("not a dnsmasq line"))
        }
        var i = start
        func word() -> UnsafeRawBufferPointer {
            let s = i
            while i < line.count && line[i] != 0x20 { i += 1 }
            let w = UnsafeRawBufferPointer(rebasing: line[s..<i])
            while i < line.count && line[i] == 0x20 { i += 1 }
            return w
        }
        var first = word()
        var clientPort: UInt16? = nil
        var clientFromExtra: IPAddress? = nil
        if let n = parseInt(first), n >= 0 {  // log-queries=extra: serial, then ADDR/PORT
            let addr = word()
            if let slash = addr.lastIndex(of: 0x2F) {
                clientFromExtra = IPAddress(bytes: UnsafeRawBufferPointer(rebasing: addr[..<slash]))
                if let p = parseInt(UnsafeRawBufferPointer(rebasing: addr[(slash + 1)...])) { clientPort = UInt16(exactly: p) }
            }
            first = word()
        }
        guard first.starts(with: "query[".utf8) else {
            // reply / cached / config NAME is VALUE; forwarded and the rest are not records.
            guard first.elementsEqual("reply".utf8) || first.elementsEqual("cached".utf8) || first.elementsEqual("config".utf8) else {
                return .other(.ignored)
            }
            let name = word()
            guard word().elementsEqual("is".utf8), let host = name.isEmpty ? nil : (normalizeHost(name) ?? text(name)) else { return .other(.ignored) }
            return .answer(name: host, value: text(word()))
        }
        guard first.count > 7, first.last == 0x5D else { return .other(.skipped("'\(text(clip(first, 0)))' is not query[TYPE]")) }
        let qtype = UnsafeRawBufferPointer(rebasing: first[6..<(first.count - 1)])
        guard qtype.allSatisfy({ ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x30 && $0 <= 0x39) }) else {
            return .other(.skipped("query type '\(text(clip(qtype, 0)))' is not a type name"))
        }
        let qname = word()
        let from = word()
        let client = word()
        guard !qname.isEmpty, from.elementsEqual("from".utf8), !client.isEmpty else {
            return .other(.skipped("query line is not 'query[TYPE] NAME from ADDRESS'"))
        }
        guard i == line.count else { return .other(.skipped("unexpected text after the client: '\(text(clip(line, i)))'")) }
        guard let host = normalizeHost(qname) else { return .other(.skipped("query name '\(text(clip(qname, 0)))' is not a host name")) }
        guard let ip = IPAddress(bytes: client) ?? clientFromExtra else {
            return .other(.skipped("client '\(text(clip(client, 0)))' is not an address"))
        }
        var o = Observation(timestamp: ts, source: source)
        o.localTime = true  // syslog time: the host's local time, no zone
        o.transport = .udp
        o.clientIP = ip
        o.clientPort = clientPort
        o.host = host
        o.hostSource = .dnsQuery
        o.dns = DNSInfo(type: text(qtype), rcode: nil, answers: [])
        return .query(o)
    }

    /// `Nov 25 11:31:39` / `Nov  5 11:31:39`, then a blank; the year is assumed.
    static func readSyslogTime(_ c: inout TextCursor, year: Int64) -> Timestamp? {
        let save = c.offset
        guard let name = c.letters(max: 3), let month = monthFromAbbreviation(name), c.byte(0x20) else { c.offset = save; return nil }
        _ = c.byte(0x20)
        guard let (day, _) = c.digits(upTo: 2), c.byte(0x20),
              let h = c.digits(2), c.byte(0x3A), let m = c.digits(2), c.byte(0x3A), let s = c.digits(2), c.byte(0x20),
              let ts = civilTimestamp(year: year, month: month, day: day, hour: h, minute: m, second: s) else {
            c.offset = save
            return nil
        }
        return ts
    }
}
