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

        public init(maxFlows: Int = 1_000_000, tcpIdleTimeoutSeconds: Int64 = 300, closedLingerSeconds: Int64 = 5) {
            self.maxFlows = maxFlows
            self.tcpIdleTimeout = tcpIdleTimeoutSeconds * 1_000_000
            self.closedLinger = closedLingerSeconds * 1_000_000
        }
    }

    public let limits: Limits
    let file: String
    private var flows: [FlowKey: Flow] = [:]
    private var created = 0
    private var lastSweep: Timestamp? = nil
    private(set) var evicted = 0
    private(set) var helloGivenUp = 0

    public init(file: String, limits: Limits = Limits()) {
        self.file = file
        self.limits = limits
    }

    public var count: Int { flows.count }

    /// Takes one TCP segment; `finished` receives observations of connections that ended.
    mutating func add(_ ip: IPPacket, _ tcp: TCPSegment, ts: Timestamp, frame: Int, report: inout InputReport,
                      finished: (Observation) -> Void) {
        let key = FlowKey(ip.source, tcp.sourcePort, ip.destination, tcp.destinationPort)
        var flow = flows[key]
        if let f = flow, f.isClosed, tcp.syn, !tcp.ack {
            // Port reuse: a new connection on a finished 4-tuple.
            finished(f.observation(file: file))
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
        sweepIfDue(now: ts, finished: finished)
    }

    /// Appends in-order client bytes and tries the name extractors. Out-of-order first segments are
    /// not reassembled yet (issue 4): the flow keeps its bytes but no name.
    private mutating func learnName(_ f: Flow, _ payload: UnsafeRawBufferPointer, seq: UInt32, frame: Int, report: inout InputReport) {
        if let expected = f.helloNextSeq, expected != seq {
            f.nameSettled = true
            report.hitCap("tls-hello-out-of-order")
            return
        }
        f.helloBuffer.append(contentsOf: payload)
        f.helloNextSeq = seq &+ UInt32(truncatingIfNeeded: payload.count)
        let result: TLSClientHello.Result
        do {
            result = try TLSClientHello.parse(f.helloBuffer)
        } catch {
            f.nameSettled = true
            report.skip(at: "\(file):\(frame)", reason: "TLS ClientHello: \(error)")
            f.helloBuffer = []
            return
        }
        switch result {
        case .needMoreData:
            if f.helloBuffer.count >= TLSClientHello.maxHelloBytes {
                f.nameSettled = true
                f.helloBuffer = []
                report.hitCap("tls-hello-bytes")
            }
            return
        case .notTLS:
            break
        case .hello(let hello):
            if let name = hello.serverName {
                f.host = name
                f.hostSource = .tlsSNI
                f.nameFrame = frame
            }
            if hello.offersECH { report.hitCap("tls-ech-outer-sni") }
        }
        f.nameSettled = true
        f.helloBuffer = []
    }

    private mutating func sweepIfDue(now: Timestamp, finished: (Observation) -> Void) {
        guard let last = lastSweep else { lastSweep = now; return }
        guard now.microseconds - last.microseconds >= 1_000_000 else { return }
        lastSweep = now
        let expired = flows.filter { _, f in
            let idle = now.microseconds - f.lastSeen.microseconds
            return f.isClosed ? idle >= limits.closedLinger : idle >= limits.tcpIdleTimeout
        }
        for (key, f) in expired.sorted(by: { $0.value.order < $1.value.order }) {
            finished(f.observation(file: file))
            flows[key] = nil
        }
    }

    private mutating func evictOne(report: inout InputReport, finished: (Observation) -> Void) {
        guard let (key, f) = flows.min(by: { $0.value.lastSeen < $1.value.lastSeen }) else { return }
        finished(f.observation(file: file))
        flows[key] = nil
        evicted += 1
        report.hitCap("flow-table-full")
    }

    /// The input ended: every tracked connection becomes an observation, oldest first.
    public mutating func finishAll(_ finished: (Observation) -> Void) {
        for f in flows.values.sorted(by: { $0.order < $1.order }) { finished(f.observation(file: file)) }
        flows.removeAll()
    }
}
