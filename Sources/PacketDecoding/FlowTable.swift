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
        /// Most bytes all flows together hold for reassembly (client heads, DNS over TCP); a flow whose
        /// segment would go past it gives up its name and frees what it held.
        public var maxReassemblyBytes: Int

        public init(maxFlows: Int = 1_000_000, tcpIdleTimeoutSeconds: Int64 = 300, closedLingerSeconds: Int64 = 5,
                    udpIdleTimeoutSeconds: Int64 = 60, maxReassemblyBytes: Int = 64 << 20) {
            self.maxFlows = maxFlows
            self.maxReassemblyBytes = maxReassemblyBytes
            self.tcpIdleTimeout = tcpIdleTimeoutSeconds * 1_000_000
            self.closedLinger = closedLingerSeconds * 1_000_000
            self.udpIdleTimeout = udpIdleTimeoutSeconds * 1_000_000
        }
    }

    public let limits: Limits
    let file: String
    private var flows = FlowIndex()
    /// One list per idle timeout, least recently active first: a sweep reads only the flows that
    /// expired and an eviction takes a head, instead of scanning the whole table.
    private var idle = IdleLists()
    private var created = 0
    private var lastSweep: Timestamp? = nil
    private(set) var evicted = 0
    /// Bytes all flows hold in reassembly now (bounded by `limits.maxReassemblyBytes`).
    private(set) var reassemblyBytes = 0
    /// Host names of live flows, one copy each (see `interned`).
    private var hostNames = Set<String>()
    static let maxInternedHosts = 65_536
    /// DNS over UDP and TCP: queries paired with responses, and the names answers gave for addresses.
    var dns = DNSTracker()

    /// Most bytes of a client's stream held to find its name (ClientHello or HTTP head).
    static let headWindow = TLSClientHello.maxHelloBytes
    /// Largest DNS message over TCP held whole (with its 2-byte prefix); larger ones are stepped over.
    static let dnsWindow = 16_384 + 2

    public init(file: String, limits: Limits = Limits()) {
        self.file = file
        self.limits = limits
    }

    public var count: Int { flows.count }

    /// A finished flow becomes an observation: every TCP connection, and UDP flows that were QUIC.
    /// Other UDP flows are counted, not reported; a TCP connection that carried DNS is reported by its
    /// messages. A flow with no readable name takes the name a DNS answer gave for its server, if one
    /// came first.
    private mutating func finish(_ f: Flow, report: inout InputReport, _ finished: (Observation) -> Void) {
        reassemblyBytes -= f.heldBytes
        if f.transport == .udp && !f.isQUIC {
            report.notAnalyzed["udp-flows-not-quic", default: 0] += 1
            return
        }
        if f.carriedDNS {
            report.notAnalyzed["tcp-flows-dns", default: 0] += 1
            return
        }
        if let head = f.head, !f.nameSettled, head.heldBytes > 0 {
            // The client's first bytes never made a whole ClientHello or request head (a record length
            // that lies, a capture that stops mid-handshake, a gap that never filled).
            let bytes = head.contiguous
            let name = bytes.first == 0x16 ? "tls.client-hello-incomplete"
                : bytes.isEmpty ? "tcp.client-head-gap" : "tcp.client-head-incomplete"
            report.noteAnomaly(name, at: "\(file):\(f.firstFrame)",
                               detail: "\(bytes.count) contiguous of \(head.heldBytes) held bytes when the flow ended")
        }
        if f.isQUIC, let quic = f.quic, quic.counters.initialPackets > 0 {
            report.noteAnomaly("quic.client-hello-incomplete", at: "\(file):\(f.firstFrame)",
                               detail: "\(quic.counters.initialPackets) Initial packet(s) opened, no whole ClientHello")
        }
        var o = f.observation(file: file)
        if o.host == nil, let ip = o.serverIP, let name = dns.answers.name(for: ip, at: o.timestamp) {
            o.host = name
            o.hostSource = .dnsAnswer
        }
        finished(o)
    }

    /// Takes one TCP segment; `finished` receives observations of connections that ended.
    mutating func add(_ ip: IPPacket, _ tcp: TCPSegment, ts: Timestamp, frame: Int, report: inout InputReport,
                      finished: (Observation) -> Void) {
        let key = FlowKey(ip.source, tcp.sourcePort, ip.destination, tcp.destinationPort)
        let hash = FlowIndex.hash(key)
        var flow = flows.find(key, hash: hash)
        if let f = flow, f.isClosed, tcp.syn, !tcp.ack {
            // Port reuse: a new connection on a finished 4-tuple.
            idle.remove(f)
            finish(f, report: &report, finished)
            flows.remove(f)
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
            flows.insert(f, hash: hash)
            flow = f
        }
        guard let f = flow else { return }
        f.lastSeen = max(f.lastSeen, ts)
        let fromClient = ip.source == f.client && tcp.sourcePort == f.clientPort
        let payloadLength = max(0, ip.transportLength - tcp.headerLength)
        // Data in a SYN (TCP Fast Open, RFC 7413) starts at ISN + 1, like the data after it.
        let dataSeq = tcp.syn ? tcp.seq &+ 1 : tcp.seq
        if fromClient {
            f.packetsUp += 1
            if tcp.syn { f.up.syn(tcp.seq) }
            f.up.payload(dataSeq, length: payloadLength)
            if tcp.fin { f.finUp = true }
        } else {
            f.packetsDown += 1
            if tcp.syn { f.down.syn(tcp.seq) }
            f.down.payload(dataSeq, length: payloadLength)
            if tcp.fin { f.finDown = true }
        }
        if f.serverPort == 53 {
            dnsOverTCP(f, tcp, fromClient: fromClient, seq: dataSeq, ts: ts, frame: frame, report: &report, emit: finished)
        } else if fromClient && !f.nameSettled && !tcp.payload.isEmpty {
            learnName(f, tcp.payload, seq: dataSeq, frame: frame, report: &report)
        }
        if tcp.rst { f.reset = true }
        idle.touch(f, lane: f.isClosed ? .tcpClosed : .tcpOpen)
        sweepIfDue(now: ts, report: &report, finished: finished)
    }

    /// Takes one UDP datagram that is not DNS: QUIC is recognised by its header, on any port.
    mutating func addUDP(_ ip: IPPacket, _ udp: UDPDatagram, ts: Timestamp, frame: Int, report: inout InputReport,
                         finished: (Observation) -> Void) {
        let key = FlowKey(ip.source, udp.sourcePort, ip.destination, udp.destinationPort, proto: 17)
        let hash = FlowIndex.hash(key)
        let f: Flow
        if let existing = flows.find(key, hash: hash) {
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
            flows.insert(f, hash: hash)
        }
        f.lastSeen = max(f.lastSeen, ts)
        let size = Int64(max(0, udp.length - UDPDatagram.headerLength))
        if ip.source == f.client && udp.sourcePort == f.clientPort {
            f.packetsUp += 1
            f.up.addDatagram(size)
        } else {
            f.packetsDown += 1
            f.down.addDatagram(size)
        }
        if let box = f.quicBox {
            // In place in its box: a copy would copy the CRYPTO stream it holds.
            let before = box.value.counters
            let result = box.value.add(datagram: udp.payload)
            noteQUICAnomalies(before, box.value.counters, frame: frame, report: &report)
            switch result {
            case .sni(let hello):
                f.isQUIC = true
                f.quic = nil
                noteInvalidServerName(hello, frame: frame, report: &report)
                if let name = hello.serverName {
                    f.host = interned(name)
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
                if box.value.isFinished { f.quic = nil }
            }
        }
        idle.touch(f, lane: .udp)
        sweepIfDue(now: ts, report: &report, finished: finished)
    }

    /// Puts the client's first bytes in order (holding early segments) and, whenever they grew, tries
    /// the name extractors on them: a TLS ClientHello, else an HTTP request head. A flow seen from
    /// mid-stream (no SYN) starts at its first client payload.
    private mutating func learnName(_ f: Flow, _ payload: UnsafeRawBufferPointer, seq: UInt32, frame: Int, report: inout InputReport) {
        // The stream starts at ISN + 1 when the SYN was seen, so a first data segment that comes late is
        // still first; a flow seen from mid-stream starts at its first client payload.
        let box: Box<TCPReassembly>
        if let b = f.headBox { box = b } else {
            f.head = TCPReassembly(base: f.up.startSequence ?? seq, window: Self.headWindow)
            box = f.headBox!
        }
        guard let result = charge(&box.value, seq: seq, payload, report: &report) else { return settle(f) }
        guard result == .grew else {
            if result == .dropped {
                // A gap at the start that never fills while bytes run past the window: no name to wait for.
                reassemblyBytes -= box.value.heldBytes
                report.hitCap("tcp-reassembly-window")
                return settle(f)
            }
            return
        }
        let contiguous = box.value.contiguous
        do {
            switch try TLSClientHello.parse(contiguous) {
            case .needMoreData:
                return waitOrGiveUp(f, report: &report)
            case .hello(let hello):
                noteInvalidServerName(hello, frame: frame, report: &report)
                if let name = hello.serverName {
                    f.host = interned(name)
                    f.hostSource = .tlsSNI
                    f.nameFrame = frame
                }
                if hello.offersECH { report.hitCap("tls-ech-outer-sni") }
            case .notTLS:
                switch try HTTPRequestHead.parse(contiguous) {
                case .needMoreData:
                    return waitOrGiveUp(f, report: &report)
                case .request(let req):
                    for a in req.anomalies.sorted(by: { $0.rawValue < $1.rawValue }) {
                        report.noteAnomaly(a.rawValue, at: "\(file):\(frame)")
                    }
                    f.host = req.host.map { interned($0) }
                    f.hostSource = req.host == nil ? nil : req.hostSource
                    f.request = HTTPRequestLine(method: req.method, path: req.path)
                    f.nameFrame = frame
                case .notHTTP:
                    break
                }
            }
        } catch {
            report.skip(at: "\(file):\(frame)", reason: error.description)
        }
        reassemblyBytes -= box.value.heldBytes
        settle(f)
    }

    /// The one copy of `name` the table keeps: a million live flows mostly name a few thousand hosts, and
    /// a name over 15 bytes is a heap allocation per flow otherwise (shorter ones are stored inline). The
    /// set is emptied when full, which costs only sharing.
    private mutating func interned(_ name: String) -> String {
        guard name.utf8.count > 15 else { return name }
        if hostNames.count >= Self.maxInternedHosts { hostNames.removeAll(keepingCapacity: true) }
        return hostNames.insert(name).memberAfterInsert
    }

    private func noteInvalidServerName(_ hello: TLSClientHello.Hello, frame: Int, report: inout InputReport) {
        if hello.invalidServerName {
            report.noteAnomaly("tls.invalid-server-name", at: "\(file):\(frame)", detail: "a server_name that is not a host name")
        }
    }

    /// What a datagram added to a QUIC flow's oddities (the assembler keeps counting; the report wants each once).
    private func noteQUICAnomalies(_ before: QUICInitialAssembler.Counters, _ after: QUICInitialAssembler.Counters,
                                   frame: Int, report: inout InputReport) {
        guard before != after else { return }
        let at = "\(file):\(frame)"
        if after.unexpectedFrames > before.unexpectedFrames {
            report.noteAnomaly("quic.unexpected-frame-in-initial", at: at, detail: "a frame type Initial packets may not carry")
        }
        if after.cryptoFramesBeyondLimit > before.cryptoFramesBeyondLimit {
            report.noteAnomaly("quic.crypto-beyond-limit", at: at, detail: "CRYPTO data past \(QUICCryptoStream.maxCryptoBytes) bytes")
        }
        if after.reservedBitsSet > before.reservedBitsSet {
            report.noteAnomaly("quic.reserved-bits-set", at: at)
        }
    }

    /// Adds a segment to `stream` and charges what it now holds to the table's budget. Returns what the
    /// segment did, or nil when the budget is spent (the stream's bytes are released and the caller gives
    /// up on it).
    private mutating func charge(_ stream: inout TCPReassembly, seq: UInt32, _ payload: UnsafeRawBufferPointer,
                                 report: inout InputReport) -> TCPReassembly.AddResult? {
        let before = stream.heldBytes
        let result = stream.add(seq: seq, payload)
        reassemblyBytes += stream.heldBytes - before
        if reassemblyBytes > limits.maxReassemblyBytes {
            reassemblyBytes -= stream.heldBytes
            stream.release()
            report.hitCap("tcp-reassembly-budget")
            return nil
        }
        return result
    }

    private func settle(_ f: Flow) {
        f.nameSettled = true
        f.head = nil
    }

    /// Keeps buffering the client's first bytes up to the window, then gives up on a name.
    private mutating func waitOrGiveUp(_ f: Flow, report: inout InputReport) {
        guard let head = f.head, head.contiguous.count >= Self.headWindow else { return }
        reassemblyBytes -= head.heldBytes
        settle(f)
        report.hitCap("client-head-bytes")
    }

    /// DNS over TCP (RFC 1035 §4.2.2, RFC 7766): each direction is put in order and cut into messages by
    /// their 2-byte length prefix; each message counts as one over UDP would (`size` includes the
    /// prefix). A message larger than the window is stepped over by its length and counted.
    private mutating func dnsOverTCP(_ f: Flow, _ tcp: TCPSegment, fromClient: Bool, seq: UInt32, ts: Timestamp, frame: Int,
                                     report: inout InputReport, emit: (Observation) -> Void) {
        guard !f.nameSettled, tcp.syn || !tcp.payload.isEmpty else { return }  // settled: given up on this stream
        var r = (fromClient ? f.dnsUp : f.dnsDown) ?? TCPReassembly(base: seq, window: Self.dnsWindow)
        if fromClient { f.dnsUp = nil } else { f.dnsDown = nil }
        guard let result = charge(&r, seq: seq, tcp.payload, report: &report) else {
            reassemblyBytes -= f.heldBytes
            f.dnsUp = nil
            f.dnsDown = nil
            return settle(f)
        }
        defer { if fromClient { f.dnsUp = r } else { f.dnsDown = r } }
        if result == .dropped { report.hitCap("tcp-reassembly-window") }
        guard result == .grew else { return }
        let (src, sport, dst, dport) = fromClient ? (f.client, f.clientPort, f.server, f.serverPort)
                                                  : (f.server, f.serverPort, f.client, f.clientPort)
        let before = r.heldBytes
        while true {
            let framed: (length: Int, message: Result<DNSMessage, DecodeError>?)? = r.contiguous.withUnsafeBytes { raw in
                var c = ByteCursor(UnsafeRawBufferPointer(raw))
                guard let length = c.readU16() else { return nil }
                guard let body = c.readBytes(Int(length)) else { return (Int(length), nil) }
                return (Int(length), Result { () throws(DecodeError) in try DNSMessage.parse(body) })
            }
            guard let framed else { break }
            guard let outcome = framed.message else {
                if framed.length + 2 > Self.dnsWindow {
                    r.consume(framed.length + 2)
                    report.hitCap("dns-tcp-message-bytes")
                    continue
                }
                break
            }
            r.consume(framed.length + 2)
            switch outcome {
            case .success(let m):
                f.carriedDNS = true
                dns.add(m, from: src, port: sport, to: dst, port: dport, transport: .tcp, size: Int64(framed.length + 2),
                        ts: ts, source: SourceRef(file: file, position: .frame(frame)), report: &report, emit: emit)
            case .failure(let e):
                report.skip(at: "\(file):\(frame)", reason: "DNS over TCP: \(e)")
            }
        }
        reassemblyBytes += r.heldBytes - before
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
            flows.remove(f)
            finish(f, report: &report, finished)
        }
    }

    private mutating func evictOne(report: inout InputReport, finished: (Observation) -> Void) {
        let heads = IdleLane.allCases.compactMap { idle.oldest($0) }
        guard let f = heads.min(by: { $0.lastSeen < $1.lastSeen }) else { return }
        idle.remove(f)
        flows.remove(f)
        finish(f, report: &report, finished)
        evicted += 1
        report.hitCap("flow-table-full")
    }

    /// The input ended: every tracked connection becomes an observation, oldest first.
    mutating func finishAll(report: inout InputReport, _ finished: (Observation) -> Void) {
        for f in flows.all.sorted(by: { $0.order < $1.order }) { finish(f, report: &report, finished) }
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
