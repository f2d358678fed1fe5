import ShadowScopeCore

/// A TCP connection's or UDP flow's key, the same for both directions: the lower endpoint first.
struct FlowKey: Hashable {
    var a: IPAddress
    var b: IPAddress
    var portA: UInt16
    var portB: UInt16
    var proto: UInt8

    init(_ src: IPAddress, _ sport: UInt16, _ dst: IPAddress, _ dport: UInt16, proto: UInt8 = 6) {
        self.proto = proto
        if (src, sport) < (dst, dport) {
            a = src; portA = sport; b = dst; portB = dport
        } else {
            a = dst; portA = dport; b = src; portB = sport
        }
    }
}

/// Flows with the same idle timeout share a list ordered by last activity.
enum IdleLane: Int, CaseIterable {
    case tcpOpen, tcpClosed, udp
}

/// One TCP connection or UDP flow being tracked. A class: the table mutates it in place on every packet.
final class Flow {
    let order: Int
    let transport: Transport
    let client: IPAddress
    let clientPort: UInt16
    let server: IPAddress
    let serverPort: UInt16
    let firstSeen: Timestamp
    let firstFrame: Int
    var lastSeen: Timestamp
    /// TCP: payload bytes from sequence numbers.
    var up = SequenceSpan()
    var down = SequenceSpan()
    /// UDP: payload bytes summed.
    var datagramBytesUp: Int64 = 0
    var datagramBytesDown: Int64 = 0
    /// UDP: the QUIC Initial reassembly while the first flight is still coming (nil once settled).
    var quic: QUICInitialAssembler? = nil
    var isQUIC = false
    var packetsUp: Int64 = 0
    var packetsDown: Int64 = 0
    var finUp = false
    var finDown = false
    var reset = false

    /// The client's first bytes put in order, until a name is found or we give up; nil before the
    /// first SYN or payload and once settled.
    var head: TCPReassembly? = nil
    var nameSettled = false
    /// DNS over TCP (port 53): each direction's stream, framed into messages; nil on other flows.
    var dnsUp: TCPReassembly? = nil
    var dnsDown: TCPReassembly? = nil
    /// DNS messages this TCP connection carried: such a connection is reported by its messages.
    var dnsMessages = 0
    var host: String? = nil
    var hostSource: HostSource? = nil
    var nameFrame: Int? = nil
    var method: String? = nil
    var urlPath: String? = nil

    /// Place in the table's idle list (oldest activity first) for its timeout class.
    unowned(unsafe) var older: Flow? = nil
    var newer: Flow? = nil
    var lane: IdleLane = .tcpOpen
    var linked = false

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
        o.bytesUp = transport == .tcp ? up.bytes : datagramBytesUp
        o.bytesDown = transport == .tcp ? down.bytes : datagramBytesDown
        o.method = method
        o.urlPath = urlPath
        o.packetsUp = packetsUp
        o.packetsDown = packetsDown
        o.durationMs = (lastSeen.microseconds - firstSeen.microseconds) / 1000
        return o
    }
}
