import ShadowScopeCore

/// The Windows DNS Server debug log (`dns.log`, "Log packets for debugging"):
/// `6/5/2013 10:00:32 AM 0E70 PACKET  00000000033397A0 UDP Rcv 10.161.60.71    5b47   Q [0001   D   NOERROR] A      (12)somecomputer(6)domain(3)com(0)`.
///
/// Fields (the log's own "Message logging key"): date, time, thread id, context, packet id,
/// UDP/TCP, Snd/Rcv, remote IP, xid (hex), `R` for a response (blank for a query), opcode (`Q`
/// standard query, `N` notify, `U` update, `?`), `[` flags (hex), flag letters, rcode `]`,
/// question type, question name in wire form (`(7)chatgpt(3)com(0)`).
///
/// One observation per query received from a client (`Rcv`, no `R`, opcode `Q`): client = remote
/// IP, `host` = the question name (`dns-query`), `dns` {type, rcode null, answers []}, transport from
/// UDP/TCP; as with BIND's query log, the answer is not joined (rcode null means "not read").
/// Responses the server sends (`Snd ... R`), its own queries to forwarders and their answers
/// (`Snd` without `R`, `Rcv ... R`), notify and update packets are `.ignored`, and so are the header
/// block at the top of the file and non-packet lines (`EVENT`, `Note:`, the detail lines of "Details"
/// logging). The date is the server's locale: `M/D/YYYY h:mm:ss AM|PM` (en-US), `YYYY/MM/DD`,
/// `YYYY-MM-DD` or `D.M.YYYY` with a 24-hour time; times are the server's local time, taken as UTC.
public struct WindowsDNSDebug: StatelessLogFormat {
    public let name = "windows-dns"

    /// DNS limits: a label is at most 63 bytes, a name at most 255 in wire form.
    static let maxLabel = 63
    static let maxName = 255

    public init() {}

    public func recognizes(_ line: UnsafeRawBufferPointer) -> Bool {
        // The header block fills the first lines of every file: its lines count for detection.
        for h in ["DNS Server log file creation at ", "Log file wrap at ", "Message logging key (for packets"] where line.starts(with: h.utf8) {
            return true
        }
        if let first = line.first, isBlank(first) {
            var i = 0
            while i < line.count, isBlank(line[i]) { i += 1 }
            let rest = UnsafeRawBufferPointer(rebasing: line[i...])
            if rest.starts(with: "Field #".utf8) || rest.starts(with: "-------".utf8) { return true }
            var d = 0
            while d < rest.count, rest[d] >= 0x30, rest[d] <= 0x39 { d += 1 }  // `   1     Date`
            return d > 0 && d <= 2 && d < rest.count && isBlank(rest[d])
        }
        var c = TextCursor(line)
        guard Self.readTime(&c) != nil else { return false }
        return find(line, Array(" PACKET ".utf8), from: c.offset) != nil
    }

    /// Lines of the header block and other non-record text.
    static let headerStarts = ["DNS Server log file creation at", "Log file wrap at", "Message logging key", "Field #",
                               "-------", "Note:", "Details:"]

    public func parse(_ line: UnsafeRawBufferPointer, source: SourceRef) -> LineResult {
        if line.allSatisfy(isBlank) { return .ignored }
        if let first = line.first, isBlank(first) { return .ignored }  // the key's indented rows, packet details
        for h in Self.headerStarts where line.starts(with: h.utf8) { return .ignored }
        var c = TextCursor(line)
        guard let ts = Self.readTime(&c) else {
            return .skipped("'\(text(clip(line, 0)))' does not start with a date and time")
        }
        var i = c.offset
        func word() -> UnsafeRawBufferPointer {
            while i < line.count, isBlank(line[i]) { i += 1 }
            let s = i
            while i < line.count, !isBlank(line[i]) { i += 1 }
            return UnsafeRawBufferPointer(rebasing: line[s..<i])
        }
        _ = word()  // thread id
        let context = word()
        guard context.elementsEqual("PACKET".utf8) else { return .ignored }  // EVENT, ... lines
        _ = word()  // internal packet id
        let proto = word()
        let direction = word()
        let remote = word()
        let xid = word()
        guard proto.elementsEqual("UDP".utf8) || proto.elementsEqual("TCP".utf8) else {
            return .skipped("protocol '\(text(clip(proto, 0)))' is not UDP or TCP")
        }
        guard direction.elementsEqual("Rcv".utf8) || direction.elementsEqual("Snd".utf8) else {
            return .skipped("direction '\(text(clip(direction, 0)))' is not Snd or Rcv")
        }
        guard let ip = IPAddress(bytes: remote) else { return .skipped("remote '\(text(clip(remote, 0)))' is not an address") }
        guard !xid.isEmpty, xid.count <= 4, xid.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || (($0 | 0x20) >= 0x61 && ($0 | 0x20) <= 0x66) }) else {
            return .skipped("xid '\(text(clip(xid, 0)))' is not hexadecimal")
        }
        var opcode = word()
        let isResponse = opcode.elementsEqual("R".utf8)
        if isResponse { opcode = word() }
        guard opcode.count == 1 else { return .skipped("opcode '\(text(clip(opcode, 0)))' is not one letter") }
        // [flags-hex flag-letters rcode]
        let flags = word()
        guard flags.first == 0x5B else { return .skipped("no '[flags' after the opcode") }
        var rcode = UnsafeRawBufferPointer(start: nil, count: 0)
        var closed = false
        for _ in 0..<4 {
            let w = word()
            if w.last == 0x5D { rcode = UnsafeRawBufferPointer(rebasing: w.dropLast()); closed = true; break }
        }
        guard closed, !rcode.isEmpty else { return .skipped("flags are not '[hex letters RCODE]'") }
        let qtype = word()
        let qname = word()
        guard !qtype.isEmpty, !qname.isEmpty else { return .skipped("no question type and name after the flags") }
        while i < line.count, isBlank(line[i]) { i += 1 }
        guard i == line.count else { return .skipped("unexpected text after the question name: '\(text(clip(line, i)))'") }
        guard direction.elementsEqual("Rcv".utf8), !isResponse, opcode[0] == 0x51 else { return .ignored }
        guard let host = Self.decodeName(qname) else {
            return .skipped("question name '\(text(clip(qname, 0)))' is not (n)label...(0)")
        }
        var o = Observation(timestamp: ts, source: source)
        o.localTime = true  // the DNS server's local time, no zone
        o.clientIP = ip
        o.transport = proto.elementsEqual("TCP".utf8) ? .tcp : .udp
        o.host = host
        o.hostSource = .dnsQuery
        o.dns = DNSInfo(type: text(qtype), rcode: nil, answers: [])
        return .observation(o)
    }

    /// `(7)chatgpt(3)com(0)` → `chatgpt.com`; nil when a length does not match its label, a label is
    /// over 63 bytes, the name over 255, or the final `(0)` is missing. The root alone, `(0)`, is nil.
    static func decodeName(_ b: UnsafeRawBufferPointer) -> String? {
        var out = [UInt8]()
        var i = 0
        var wire = 0
        while i < b.count {
            guard b[i] == 0x28 else { return nil }
            i += 1
            var len = 0
            var digits = 0
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39, digits < 3 { len = len * 10 + Int(b[i] - 0x30); i += 1; digits += 1 }
            guard digits > 0, i < b.count, b[i] == 0x29, len <= maxLabel else { return nil }
            i += 1
            wire += len + 1
            guard wire <= maxName else { return nil }
            if len == 0 {
                guard i == b.count, !out.isEmpty else { return nil }
                return normalizeHost(out)
            }
            guard i + len <= b.count else { return nil }
            if !out.isEmpty { out.append(0x2E) }
            out.append(contentsOf: b[i..<(i + len)])
            i += len
        }
        return nil
    }

    /// The date and time at the start of a line, then a blank.
    static func readTime(_ c: inout TextCursor) -> Timestamp? {
        let save = c.offset
        var year = 0, month = 0, day = 0
        if let (a, na) = c.digits(upTo: 4) {
            if na == 4, c.byte(0x2F) || c.byte(0x2D), let (m, _) = c.digits(upTo: 2), c.byte(0x2F) || c.byte(0x2D), let (d, _) = c.digits(upTo: 2) {
                (year, month, day) = (a, m, d)  // 2019/08/20, 2019-08-20
            } else if na <= 2, c.byte(0x2F), let (d, _) = c.digits(upTo: 2), c.byte(0x2F), let y = c.digits(4) {
                (year, month, day) = (y, a, d)  // 6/5/2013 (en-US: month first)
            } else if na <= 2, c.byte(0x2E), let (m, _) = c.digits(upTo: 2), c.byte(0x2E), let y = c.digits(4) {
                (year, month, day) = (y, m, a)  // 05.06.2013
            }
        }
        guard year > 0, c.byte(0x20), let (h12, _) = c.digits(upTo: 2), c.byte(0x3A), let mi = c.digits(2), c.byte(0x3A),
              let s = c.digits(2), c.byte(0x20) else { c.offset = save; return nil }
        var hour = h12
        let afterTime = c.offset
        if let ampm = c.letters(max: 2), ampm.count == 2, (ampm[1] | 0x20) == 0x6D, c.byte(0x20) {
            let pm = (ampm[0] | 0x20) == 0x70
            guard (ampm[0] | 0x20) == 0x61 || pm, hour >= 1, hour <= 12 else { c.offset = save; return nil }
            hour = hour % 12 + (pm ? 12 : 0)
        } else {
            c.offset = afterTime
        }
        guard let ts = civilTimestamp(year: Int64(year), month: month, day: day, hour: hour, minute: mi, second: s) else {
            c.offset = save
            return nil
        }
        return ts
    }
}
