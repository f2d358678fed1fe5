import ShadowScopeCore

/// Cisco Umbrella's exported logs (S3, `dnslogs/` and `proxylogs/`): quoted CSV, every value in
/// double quotes (`""` inside is a quote), times in UTC (`"2015-01-16 17:48:41"`). Umbrella's
/// "Log Formats and Versioning" page numbers the schemas; a line does not say its version, so the
/// columns are read by position and by the shape of their values:
///
/// - DNS log (`<timestamp><most granular identity><identities><internal ip><external ip><action>
///   <query type><response code><domain><categories>...`): 10 columns in the first schema,
///   13 from the one that added identity types and blocked categories, more in later ones (rule
///   ids, destination countries); columns 0-9 never moved. Recognised by column 6 `N (TYPE)`.
///   Client = internal IP, host = domain (trailing dot dropped, `dns-query`), `dns` {type from
///   column 6, rcode column 7, answers []}. User = the most granular identity when its type
///   (column 10) is a user (`AD User(s)`, `Directory User(s)`, ...), else null.
/// - Proxy (SWG) log (`<timestamp><policy identity label><internal client ip><external client ip>
///   <destination ip><content type><action><url><referer><user agent><status code><request size>
///   <response size><response body size>...`): 14 columns and up; columns 0-13 are the same in every
///   version, the identities (column 21 policy identity type), request method (column 25) and
///   later columns were appended. Recognised by 14+ columns with an absolute URL in column 7.
///   Client = internal IP, server = destination IP, host and path from the URL (`proxy-url`),
///   status, request size → bytes up, response size → bytes down (both measured by the proxy),
///   method when the row has it, user = the identity label when the identity type is a user.
/// Supported: DNS schemas with 10 to 40 columns, proxy schemas with 14 to 80 columns (the versioned
/// sets documented up to the current one); a header row (`"Timestamp",...`, optional in exports)
/// is `.ignored`. The firewall, IP and audit logs are not read.
public struct UmbrellaCSV: StatelessLogFormat {
    public let name = "umbrella"

    static let maxFields = 80

    public init() {}

    enum Kind { case dns, proxy }

    static func kind(_ f: [DelimitedField]) -> Kind? {
        guard f.count >= 10, f.allSatisfy(\.quoted), parseTime(f[0].bytes) != nil else { return nil }
        if f.count <= 40, queryType(f[6].bytes) != nil { return .dns }
        if f.count >= 14, find(f[7].bytes, Array("://".utf8)) != nil { return .proxy }
        return nil
    }

    /// `1 (A)` → `A`; `28 (AAAA)`, `65 (HTTPS)`.
    static func queryType(_ b: UnsafeRawBufferPointer) -> String? {
        guard let open = b.firstIndex(of: 0x28), b.last == 0x29, open >= 2, b[open - 1] == 0x20,
              parseInt(UnsafeRawBufferPointer(rebasing: b[..<(open - 1)])) != nil else { return nil }
        let name = UnsafeRawBufferPointer(rebasing: b[(open + 1)..<(b.count - 1)])
        guard !name.isEmpty, name.allSatisfy({ ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }) else { return nil }
        return text(name)
    }

    static func parseTime(_ b: UnsafeRawBufferPointer) -> Timestamp? {
        guard b.count == 19, b[10] == 0x20 else { return nil }
        return parseISO8601(b)
    }

    static func isUserType(_ s: String) -> Bool {
        s.hasSuffix("User") || s.hasSuffix("Users")
    }

    public func recognizes(_ line: UnsafeRawBufferPointer) -> Bool {
        guard line.first == 0x22, case .success(let f) = splitDelimited(line, separator: 0x2C, maxFields: Self.maxFields) else { return false }
        return Self.kind(f) != nil
    }

    public func parse(_ line: UnsafeRawBufferPointer, source: SourceRef) -> LineResult {
        if line.allSatisfy(isBlank) { return .ignored }
        let f: [DelimitedField]
        switch splitDelimited(line, separator: 0x2C, maxFields: Self.maxFields) {
        case .failure(let r): return .skipped(r.text)
        case .success(let x): f = x
        }
        if f.first?.string == "Timestamp" || f.first?.string == "timestamp" { return .ignored }  // optional header row
        guard f.count >= 10 else { return .skipped("\(f.count) columns: an Umbrella log has 10 or more") }
        guard f.allSatisfy(\.quoted) else { return .skipped("unquoted column: Umbrella quotes every value") }
        guard let ts = Self.parseTime(f[0].bytes) else { return .skipped("timestamp '\(text(clip(f[0].bytes, 0)))' is not YYYY-MM-DD HH:MM:SS") }
        guard let kind = Self.kind(f) else {
            return .skipped("neither a DNS row (column 7 'N (TYPE)') nor a proxy row (14+ columns, URL in column 8)")
        }
        var o = Observation(timestamp: ts, source: source)
        switch kind {
        case .dns:
            guard let ip = IPAddress(f[3].string) else { return .skipped("internal IP '\(text(clip(f[3].bytes, 0)))' is not an address") }
            o.clientIP = ip
            guard let host = normalizeHost(f[8].bytes) else { return .skipped("domain '\(text(clip(f[8].bytes, 0)))' is not a host name") }
            o.host = host
            o.hostSource = .dnsQuery
            let rcode = f[7].string
            o.dns = DNSInfo(type: Self.queryType(f[6].bytes) ?? "unknown", rcode: rcode.isEmpty ? nil : rcode, answers: [])
            if f.count > 10, Self.isUserType(f[10].string), !f[1].isEmpty { o.user = f[1].string }
        case .proxy:
            if !f[2].isEmpty {
                guard let ip = IPAddress(f[2].string) else { return .skipped("internal client IP '\(text(clip(f[2].bytes, 0)))' is not an address") }
                o.clientIP = ip
            }
            if !f[4].isEmpty {
                guard let ip = IPAddress(f[4].string) else { return .skipped("destination IP '\(text(clip(f[4].bytes, 0)))' is not an address") }
                o.serverIP = ip
            }
            guard let parsed = parseURL(f[7].bytes), let host = parsed.host else { return .skipped("URL '\(text(clip(f[7].bytes, 0)))' has no host") }
            o.host = host
            o.hostSource = .proxyURL
            o.serverPort = parsed.port
            o.urlPath = parsed.path
            o.transport = .tcp
            if !f[10].isEmpty {
                guard let s = parseInt(f[10].bytes), s <= 999 else { return .skipped("status code '\(text(clip(f[10].bytes, 0)))' is not an HTTP status") }
                o.status = Int(s)
            }
            for (k, name) in [(11, "request size"), (12, "response size")] where !f[k].isEmpty {
                guard let n = parseInt(f[k].bytes) else { return .skipped("\(name) '\(text(clip(f[k].bytes, 0)))' is not a count") }
                if k == 11 { o.bytesUp = n } else { o.bytesDown = n }
            }
            if f.count > 25, !f[25].isEmpty { o.method = f[25].string }
            if f.count > 21, Self.isUserType(f[21].string), !f[1].isEmpty { o.user = f[1].string }
        }
        return .observation(o)
    }
}
