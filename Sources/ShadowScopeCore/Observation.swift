/// How a host name was learned. Raw values are the contract's `host_source` strings.
public enum HostSource: String, Sendable, CaseIterable {
    case tlsSNI = "tls-sni"
    case quicSNI = "quic-sni"
    case httpHost = "http-host"
    case proxyConnect = "proxy-connect"
    case proxyURL = "proxy-url"
    case dnsQuery = "dns-query"
    case dnsAnswer = "dns-answer"
}

public enum Transport: String, Sendable {
    case tcp, udp
}

/// Where a record came from: a file and the 1-based frame or line that carried or completed it.
public struct SourceRef: Hashable, Sendable, CustomStringConvertible {
    public enum Position: Hashable, Sendable {
        case frame(Int)
        case line(Int)
        case none
    }
    public var file: String
    public var position: Position

    public init(file: String, position: Position) {
        self.file = file
        self.position = position
    }

    /// `file:line` or `file:frame`, as used in sampled skips and alert evidence.
    public var description: String {
        switch position {
        case .frame(let n), .line(let n): return "\(file):\(n)"
        case .none: return file
        }
    }
}

/// What a DNS record says: the query type, response code and answers (addresses and names).
public struct DNSInfo: Sendable, Equatable {
    /// Query type by name (`A`, `AAAA`, `HTTPS`, `CNAME`, ...) or `TYPE65534` when unnamed.
    public var type: String
    /// Response code by name (`NOERROR`, `NXDOMAIN`, `REFUSED`, ...); nil for an unanswered query.
    public var rcode: String?
    /// Answer data as text: addresses, or names for CNAME/HTTPS targets, in the order given.
    public var answers: [String]

    public init(type: String, rcode: String?, answers: [String]) {
        self.type = type
        self.rcode = rcode
        self.answers = answers
    }
}

/// The one record every source produces (DESIGN.md "Observation"). Unknown is nil, never 0.
public struct Observation: Sendable {
    public var timestamp: Timestamp
    public var source: SourceRef
    public var transport: Transport?
    public var clientIP: IPAddress?
    /// Client host text when the source gave a name rather than an address (Squid with log_fqdn).
    public var clientName: String?
    public var clientPort: UInt16?
    public var user: String?
    public var serverIP: IPAddress?
    public var serverPort: UInt16?
    public var host: String?
    public var hostSource: HostSource?
    public var urlPath: String?
    public var method: String?
    public var status: Int?
    public var dns: DNSInfo?
    public var bytesUp: Int64?
    public var bytesDown: Int64?
    public var packetsUp: Int64?
    public var packetsDown: Int64?
    public var durationMs: Int64?
    /// The source wrote a wall-clock time without a zone (BIND, dnsmasq, ...): `timestamp` holds it
    /// as if it were UTC until the scanner converts it with `--timezone`.
    public var localTime = false

    public init(timestamp: Timestamp, source: SourceRef) {
        self.timestamp = timestamp
        self.source = source
    }
}

/// Normalises a host name as the contract wants it: lower case, no trailing dot, no port.
/// Returns nil for empty names or names with bytes that cannot be in a DNS name.
@inlinable  // specialised in each decoder's module: it runs once per record
public func normalizeHost(_ raw: some Collection<UInt8>) -> String? {
    let n = raw.count
    guard n <= 1_024 else {
        var out = Array(raw)
        return out.withUnsafeMutableBufferPointer { normalizeHostInPlace($0) }
    }
    // A copy on the stack to lower-case in place: the String is then the only allocation.
    return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: max(n, 1)) { buffer in
        _ = buffer.initialize(from: raw)
        return normalizeHostInPlace(UnsafeMutableBufferPointer(rebasing: buffer[..<n]))
    }
}

/// `normalizeHost` of bytes the caller lets it overwrite (the rules live here): lower-cased where
/// they are, so the String is the only copy made.
public func normalizeHostInPlace(_ bytes: UnsafeMutableBufferPointer<UInt8>) -> String? {
    for i in bytes.indices {
        switch bytes[i] {
        case 0x41...0x5A: bytes[i] += 32
        case 0x61...0x7A, 0x30...0x39, 0x2D, 0x2E, 0x5F: break
        default: return nil
        }
    }
    var n = bytes.count
    while n > 0 && bytes[n - 1] == 0x2E { n -= 1 }
    guard n > 0, n <= 253 else { return nil }
    return String(decoding: UnsafeBufferPointer(rebasing: bytes[..<n]), as: UTF8.self)
}
