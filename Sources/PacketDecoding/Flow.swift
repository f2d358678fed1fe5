import ShadowScopeCore

/// A TCP connection's or UDP flow's key, the same for both directions: the lower endpoint first.
/// Addresses are kept as 128 bits (IPv4 mapped into IPv6, RFC 4291 §2.5.5.2), not as `IPAddress`, whose
/// enum tag makes each 17 bytes: 40 bytes a key instead of 48, in a table of up to a million flows.
struct FlowKey: Hashable {
    var aHigh: UInt64
    var aLow: UInt64
    var bHigh: UInt64
    var bLow: UInt64
    var portA: UInt16
    var portB: UInt16
    var proto: UInt8
    /// 4 or 6: an IPv6 packet from a v4-mapped address is still not the IPv4 flow.
    var family: UInt8

    init(_ src: IPAddress, _ sport: UInt16, _ dst: IPAddress, _ dport: UInt16, proto: UInt8 = 6) {
        self.proto = proto
        if case .v4 = src { family = 4 } else { family = 6 }
        let (a, pa, b, pb) = (src, sport) < (dst, dport) ? (src, sport, dst, dport) : (dst, dport, src, sport)
        (aHigh, aLow) = Self.bits(a)
        (bHigh, bLow) = Self.bits(b)
        portA = pa
        portB = pb
    }

    private static func bits(_ address: IPAddress) -> (UInt64, UInt64) {
        switch address {
        case .v4(let v): return (0, 0xFFFF_0000_0000 | UInt64(v))
        case .v6(let high, let low): return (high, low)
        }
    }
}

/// Flows with the same idle timeout share a list ordered by last activity.
enum IdleLane: Int, CaseIterable {
    case tcpOpen, tcpClosed, udp
}

/// One TCP connection or UDP flow being tracked. A class: the table mutates it in place on every packet.
///
/// A gateway holds up to a million of these (issue 4 allows 400 bytes per live flow, table included),
/// so what only some flows need, or only for a while, lives out of line: the reassembly that looks for
/// the name (`FlowScratch`, freed once the name is settled) and an HTTP request's method and path. The
/// stored properties are in this order so that the one-byte ones fill the padding after the addresses
/// and the optional frame number (Swift lays a class out in declaration order): 248 bytes in all.
final class Flow {
    let order: Int
    let firstSeen: Timestamp
    let firstFrame: Int
    var lastSeen: Timestamp
    var packetsUp: Int64 = 0
    var packetsDown: Int64 = 0
    /// TCP: payload bytes from sequence numbers. UDP: datagram payload bytes summed.
    var up = SequenceSpan()
    var down = SequenceSpan()
    var host: String? = nil
    /// The name search in progress or the DNS over TCP streams; `.none` on a settled flow.
    private var scratch = FlowScratch.none
    /// An HTTP request's method and path (nil on every other flow).
    var request: HTTPRequestLine? = nil
    /// Place in the table's idle list (oldest activity first) for its timeout class.
    unowned(unsafe) var older: Flow? = nil
    var newer: Flow? = nil
    let client: IPAddress
    let clientPort: UInt16
    let server: IPAddress
    let serverPort: UInt16
    var nameFrame: Int? = nil
    let transport: Transport
    var isQUIC = false
    var finUp = false
    var finDown = false
    var reset = false
    var nameSettled = false
    /// This TCP connection carried DNS messages: it is reported by them, not as a flow. A flag, not a
    /// count: a resolver's connection kept open for weeks would overflow any small counter.
    var carriedDNS = false
    var hostSource: HostSource? = nil
    var lane: IdleLane = .tcpOpen
    var linked = false

    /// TCP: the client's first bytes put in order while the name is read, in its box (changed in place:
    /// a copy would copy its bytes); nil before the first client payload and once settled.
    var headBox: Box<TCPReassembly>? {
        if case .head(let box) = scratch { return box }
        return nil
    }
    var head: TCPReassembly? {
        get { headBox?.value }
        set {
            if let newValue { if let box = headBox { box.value = newValue } else { scratch = .head(Box(newValue)) } }
            else if headBox != nil { scratch = .none }
        }
    }
    /// UDP: the QUIC Initial reassembly while the first flight is still coming (nil once settled).
    var quicBox: Box<QUICInitialAssembler>? {
        if case .quic(let box) = scratch { return box }
        return nil
    }
    var quic: QUICInitialAssembler? {
        get { quicBox?.value }
        set {
            if let newValue { if let box = quicBox { box.value = newValue } else { scratch = .quic(Box(newValue)) } }
            else if quicBox != nil { scratch = .none }
        }
    }
    /// DNS over TCP (port 53): each direction's stream, framed into messages; nil on other flows.
    var dnsUp: TCPReassembly? {
        get { if case .dns(let box) = scratch { return box.value.up }; return nil }
        set { setDNS(up: newValue, down: dnsDown) }
    }
    var dnsDown: TCPReassembly? {
        get { if case .dns(let box) = scratch { return box.value.down }; return nil }
        set { setDNS(up: dnsUp, down: newValue) }
    }
    private func setDNS(up: TCPReassembly?, down: TCPReassembly?) {
        if up == nil && down == nil {
            if case .dns = scratch { scratch = .none }
        } else if case .dns(let box) = scratch {
            box.value = (up, down)
        } else {
            scratch = .dns(Box((up, down)))
        }
    }

    init(order: Int, transport: Transport = .tcp, client: IPAddress, clientPort: UInt16, server: IPAddress, serverPort: UInt16, ts: Timestamp, frame: Int) {
        self.order = order
        self.transport = transport
        self.client = client
        self.clientPort = clientPort
        self.server = server
        self.serverPort = serverPort
        self.firstSeen = ts
        self.lastSeen = ts
        self.firstFrame = frame
    }

    var isClosed: Bool { reset || (finUp && finDown) }

    /// The table's key for this flow (symmetric, so the endpoints' order does not matter).
    var key: FlowKey { FlowKey(client, clientPort, server, serverPort, proto: transport == .udp ? 17 : 6) }

    /// Reassembly bytes this flow holds, charged against the table's budget.
    var heldBytes: Int { (head?.heldBytes ?? 0) + (dnsUp?.heldBytes ?? 0) + (dnsDown?.heldBytes ?? 0) }

    func observation(file: String) -> Observation {
        var o = Observation(timestamp: firstSeen, source: SourceRef(file: file, position: .frame(nameFrame ?? firstFrame)))
        o.transport = transport
        o.clientIP = client
        o.clientPort = clientPort
        o.serverIP = server
        o.serverPort = serverPort
        o.host = host
        o.hostSource = hostSource
        o.bytesUp = up.bytes
        o.bytesDown = down.bytes
        o.method = request?.method
        o.urlPath = request?.path
        o.packetsUp = packetsUp
        o.packetsDown = packetsDown
        o.durationMs = (lastSeen.microseconds - firstSeen.microseconds) / 1000
        return o
    }
}

/// What a flow needs only while its name is being read (the client's first bytes in order, a QUIC
/// Initial reassembly) or only when it carries DNS over TCP: out of line, one pointer in the flow, and
/// the box only as large as its case (a QUIC assembler is ten times a TCP reassembly).
enum FlowScratch {
    case none
    case head(Box<TCPReassembly>)
    case quic(Box<QUICInitialAssembler>)
    case dns(Box<(up: TCPReassembly?, down: TCPReassembly?)>)
}

/// A value on the heap, changed in place through the reference.
final class Box<Value> {
    var value: Value
    init(_ value: Value) { self.value = value }
}

/// An HTTP request's method and path (query dropped), kept for the flow's observation.
final class HTTPRequestLine {
    let method: String?
    let path: String?

    init(method: String?, path: String?) {
        self.method = method
        self.path = path
    }
}
