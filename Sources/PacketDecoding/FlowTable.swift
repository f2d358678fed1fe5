import ShadowScopeCore

/// Tracks TCP connections, learns each one's host name from the client's first bytes, and hands
/// back one Observation per connection when it ends, idles out, is evicted, or the input ends.
public struct FlowTable {
    public struct Limits: Sendable {
        /// Most connections tracked at once; at the cap the least recently active one is evicted.
        public var maxFlows: Int
        /// An open connection with no packet for this long is finished.
        public var tcpIdleTimeout: Int64
        /// A closed connection (both FINs or a RST) lingers this long to absorb its last ACKs.
        public var closedLinger: Int64
        /// A UDP flow (QUIC) with no datagram for this long is finished.
        public var udpIdleTimeout: Int64

        public init(maxFlows: Int = 1_000_000, tcpIdleTimeoutSeconds: Int64 = 300, closedLingerSeconds: Int64 = 5,
                    udpIdleTimeoutSeconds: Int64 = 60) {
            self.maxFlows = maxFlows
            self.tcpIdleTimeout = tcpIdleTimeoutSeconds * 1_000_000
            self.closedLinger = closedLingerSeconds * 1_000_000
            self.udpIdleTimeout = udpIdleTimeoutSeconds * 1_000_000
        }
    }

    public let limits: Limits
    let file: String
    private var flows: [FlowKey: Flow] = [:]
    /// One list per idle timeout, least recently active first: a sweep reads only the flows that
    /// expired and an eviction takes a head, instead of scanning the whole table.
    private var idle = IdleLists()
    private var created = 0
    private var lastSweep: Timestamp? = nil
    private(set) var evicted = 0
    private(set) var helloGivenUp = 0

    public init(file: String, limits: Limits = Limits()) {
        self.file = file
        self.limits = limits
    }

    public var count: Int { flows.count }

    /// A finished flow becomes an observation: every TCP connection, and UDP flows that were QUIC.
    /// Other UDP flows are counted, not reported.
    private func finish(_ f: Flow, report: inout InputReport, _ finished: (Observation) -> Void) {
        if f.transport == .udp && !f.isQUIC {
            report.notAnalyzed["udp-flows-not-quic", default: 0] += 1
            return
        }
        finished(f.observation(file: file))
    }

    /// Takes one TCP segment; `finished` receives observations of connections that ended.
    mutating func add(_ ip: IPPacket, _ tcp: TCPSegment, ts: Timestamp, frame: Int, report: inout InputReport,
                      finished: (Observation) -> Void) {
        let key = FlowKey(ip.source, tcp.sourcePort, ip.destination, tcp.destinationPort)
        var flow = flows[key]
        if let f = flow, f.isClosed, tcp.syn, !tcp.ack {
            // Port reuse: a new connection on a finished 4-tuple.
            idle.remove(f)
            finish(f, report: &report, finished)
            flows[key] = nil
            flow = nil
        }
        if flow == nil {
            if flows.count >= limits.maxFlows { evictOne(report: &report, finished: finished) }
            // The SYN's sender is the client; a SYN+ACK's receiver is. Mid-stream, guess from ports.
            let srcIsClient: Bool
            if tcp.syn { srcIsClient = !tcp.ack } else { srcIsClient = !(tcp.sourcePort < 1024 && tcp.destinationPort >= 1024) }
            created += 1
            let f = srcIsClient
                ? Flow(order: created, client: ip.source, clientPort: tcp.sourcePort, server: ip.destination,
                       serverPort: tcp.destinationPort, ts: ts, frame: frame)
                : Flow(order: created, client: ip.destination, clientPort: tcp.destinationPort, server: ip.source,
                       serverPort: tcp.sourcePort, ts: ts, frame: frame)
            flows[key] = f
            flow = f
        }
        guard let f = flow else { return }
        f.lastSeen = max(f.lastSeen, ts)
        let fromClient = ip.source == f.client && tcp.sourcePort == f.clientPort
        let payloadLength = max(0, ip.transportLength - tcp.headerLength)
        let dataSeq = tcp.syn ? tcp.seq &+ 1 : tcp.seq
        if fromClient {
            f.packetsUp += 1
            if tcp.syn { f.up.syn(tcp.seq) }
            f.up.payload(dataSeq, length: payloadLength)
            if tcp.fin { f.finUp = true }
            if !f.nameSettled && payloadLength > 0 { learnName(f, tcp.payload, seq: dataSeq, frame: frame, report: &report) }
        } else {
            f.packetsDown += 1
            if tcp.syn { f.down.syn(tcp.seq) }
            f.down.payload(dataSeq, length: payloadLength)
            if tcp.fin { f.finDown = true }
        }
        if tcp.rst { f.reset = true }
        idle.touch(f, lane: f.isClosed ? .tcpClosed : .tcpOpen)
        sweepIfDue(now: ts, report: &report, finished: finished)
    }

    /// Takes one UDP datagram that is not DNS: QUIC is recognised by its header, on any port.
    mutating func addUDP(_ ip: IPPacket, _ udp: UDPDatagram, ts: Timestamp, frame: Int, report: inout InputReport,
                         finished: (Observation) -> Void) {
        let key = FlowKey(ip.source, udp.sourcePort, ip.destination, udp.destinationPort, proto: 17)
        let f: Flow
        if let existing = flows[key] {
            f = existing
        } else {
            if flows.count >= limits.maxFlows { evictOne(report: &report, finished: finished) }
            let srcIsClient = !(udp.sourcePort < 1024 && udp.destinationPort >= 1024)
            created += 1
            f = srcIsClient
                ? Flow(order: created, transport: .udp, client: ip.source, clientPort: udp.sourcePort, server: ip.destination,
                       serverPort: udp.destinationPort, ts: ts, frame: frame)
                : Flow(order: created, transport: .udp, client: ip.destination, clientPort: udp.destinationPort, server: ip.source,
                       serverPort: udp.sourcePort, ts: ts, frame: frame)
            f.quic = QUICInitialAssembler()
            flows[key] = f
        }
        f.lastSeen = max(f.lastSeen, ts)
        let size = Int64(max(0, udp.length - UDPDatagram.headerLength))
        if ip.source == f.client && udp.sourcePort == f.clientPort {
            f.packetsUp += 1
            f.datagramBytesUp += size
        } else {
            f.packetsDown += 1
            f.datagramBytesDown += size
        }
        if var quic = f.quic {
            let result = quic.add(datagram: udp.payload)
            f.quic = quic
            switch result {
            case .sni(let hello):
                f.isQUIC = true
                f.quic = nil
                if let name = hello.serverName {
                    f.host = name
                    f.hostSource = .quicSNI
                    f.nameFrame = frame
                }
                if hello.offersECH { report.hitCap("tls-ech-outer-sni") }
            case .needMoreData, .retry, .versionNegotiation:
                f.isQUIC = true
            case .unsupportedVersion:
                f.isQUIC = true  // a QUIC header with a version we cannot decrypt: a flow without a name
                f.quic = nil
            case .notQUIC:
                f.quic = nil
            case .error(let e):
                report.skip(at: "\(file):\(frame)", reason: "QUIC Initial: \(e)")
                if quic.isFinished { f.quic = nil }
            }
        }
        idle.touch(f, lane: .udp)
        sweepIfDue(now: ts, report: &report, finished: finished)
    }

    /// Appends in-order client bytes and tries the name extractors: a TLS ClientHello, else an HTTP
    /// request head. Out-of-order first segments are not reassembled yet: the flow keeps its bytes but
    /// no name.
    private mutating func learnName(_ f: Flow, _ payload: UnsafeRawBufferPointer, seq: UInt32, frame: Int, report: inout InputReport) {
        if let expected = f.helloNextSeq, expected != seq {
            f.nameSettled = true
            f.helloBuffer = []
            report.hitCap("client-head-out-of-order")
            return
        }
        f.helloBuffer.append(contentsOf: payload)
        f.helloNextSeq = seq &+ UInt32(truncatingIfNeeded: payload.count)
        do {
            switch try TLSClientHello.parse(f.helloBuffer) {
            case .needMoreData:
                return waitOrGiveUp(f, report: &report)
            case .hello(let hello):
                if let name = hello.serverName {
                    f.host = name
                    f.hostSource = .tlsSNI
                    f.nameFrame = frame
                }
                if hello.offersECH { report.hitCap("tls-ech-outer-sni") }
            case .notTLS:
                switch try HTTPRequestHead.parse(f.helloBuffer) {
                case .needMoreData:
                    return waitOrGiveUp(f, report: &report)
                case .request(let r):
                    f.host = r.host
                    f.hostSource = r.host == nil ? nil : r.hostSource
                    f.method = r.method
                    f.urlPath = r.path
                    f.nameFrame = frame
                case .notHTTP:
                    break
                }
            }
        } catch {
            report.skip(at: "\(file):\(frame)", reason: error.description)
        }
        f.nameSettled = true
        f.helloBuffer = []
    }

    /// Keeps buffering the client's first bytes up to the limit, then gives up on a name.
    private func waitOrGiveUp(_ f: Flow, report: inout InputReport) {
        if f.helloBuffer.count >= TLSClientHello.maxHelloBytes {
            f.nameSettled = true
            f.helloBuffer = []
            report.hitCap("client-head-bytes")
        }
    }

    /// Finishes the flows idle past their timeout at `now`; at most once a second.
    mutating func sweepIfDue(now: Timestamp, report: inout InputReport, finished: (Observation) -> Void) {
        guard let last = lastSweep else { lastSweep = now; return }
        guard now.microseconds - last.microseconds >= 1_000_000 else { return }
        lastSweep = now
        var expired: [Flow] = []
        for lane in IdleLane.allCases {
            let timeout: Int64
            switch lane {
            case .tcpOpen: timeout = limits.tcpIdleTimeout
            case .tcpClosed: timeout = limits.closedLinger
            case .udp: timeout = limits.udpIdleTimeout
            }
            while let f = idle.oldest(lane), now.microseconds - f.lastSeen.microseconds >= timeout {
                idle.remove(f)
                expired.append(f)
            }
        }
        for f in expired.sorted(by: { $0.order < $1.order }) {
            flows[f.key] = nil
            finish(f, report: &report, finished)
        }
    }

    private mutating func evictOne(report: inout InputReport, finished: (Observation) -> Void) {
        let heads = IdleLane.allCases.compactMap { idle.oldest($0) }
        guard let f = heads.min(by: { $0.lastSeen < $1.lastSeen }) else { return }
        idle.remove(f)
        flows[f.key] = nil
        finish(f, report: &report, finished)
        evicted += 1
        report.hitCap("flow-table-full")
    }

    /// The input ended: every tracked connection becomes an observation, oldest first.
    mutating func finishAll(report: inout InputReport, _ finished: (Observation) -> Void) {
        for f in flows.values.sorted(by: { $0.order < $1.order }) { finish(f, report: &report, finished) }
        flows.removeAll()
        idle = IdleLists()
    }
}

/// Doubly linked lists of flows, one per idle lane, oldest activity at the head. Touching a flow
/// moves it to its lane's tail, so each list stays ordered by last activity (packet times rarely
/// go backwards; when they do, that flow expires a little later, never early).
struct IdleLists {
    private var heads: [Flow?] = Array(repeating: nil, count: IdleLane.allCases.count)
    private var tails: [Flow?] = Array(repeating: nil, count: IdleLane.allCases.count)

    func oldest(_ lane: IdleLane) -> Flow? { heads[lane.rawValue] }

    mutating func touch(_ f: Flow, lane: IdleLane) {
        if f.linked && f.lane == lane && tails[lane.rawValue] === f { return }  // already the newest of its lane
        remove(f)
        f.lane = lane
        f.older = tails[lane.rawValue]
        f.newer = nil
        if let t = tails[lane.rawValue] { t.newer = f } else { heads[lane.rawValue] = f }
        tails[lane.rawValue] = f
        f.linked = true
    }

    mutating func remove(_ f: Flow) {
        guard f.linked else { return }
        let l = f.lane.rawValue
        if let o = f.older { o.newer = f.newer } else { heads[l] = f.newer }
        if let n = f.newer { n.older = f.older } else { tails[l] = f.older }
        f.older = nil
        f.newer = nil
        f.linked = false
    }
}
