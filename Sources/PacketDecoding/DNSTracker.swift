import ShadowScopeCore

/// DNS over UDP and TCP in a capture: pairs each query with its response (one observation per response, or
/// per query left unanswered), and keeps the addresses answers named, so a TLS or QUIC flow with no
/// readable name can be attributed to the name its client looked up (`dns-answer`).
struct DNSTracker {
    /// Queries waiting for a response; past the cap the oldest is written out as unanswered.
    static let maxPendingQueries = 65_536
    /// A query with no response after this long is unanswered.
    static let queryTimeout: Int64 = 30 * 1_000_000

    struct QueryKey: Hashable {
        var client: IPAddress
        var clientPort: UInt16
        var server: IPAddress
        var id: UInt16
    }

    private var pending: [QueryKey: (observation: Observation, order: Int)] = [:]
    private var order = 0
    /// Pending queries oldest first, to evict the oldest at the cap without scanning them all.
    private var arrival = InsertionOrder<QueryKey>()
    var answers = DNSAnswerCache()
    /// Whether observations carry the `dns` details (type, rcode, answers as text). Off when nothing
    /// writes observations, only aggregates of them: turning every answer into text was a tenth of
    /// the DNS work.
    var describesMessages = true

    /// Takes one DNS message seen in a UDP datagram.
    mutating func add(_ m: DNSMessage, ip: IPPacket, udp: UDPDatagram, ts: Timestamp, source: SourceRef,
                      report: inout InputReport, emit: (Observation) -> Void) {
        add(m, from: ip.source, port: udp.sourcePort, to: ip.destination, port: udp.destinationPort, transport: .udp,
            size: Int64(udp.payload.count), ts: ts, source: source, report: &report, emit: emit)
    }

    /// Takes one DNS message sent from `src` to `dst`; `size` is its UDP payload, or over TCP the
    /// message with its 2-byte length prefix (the stream bytes it took).
    mutating func add(_ m: DNSMessage, from src: IPAddress, port sport: UInt16, to dst: IPAddress, port dport: UInt16,
                      transport: Transport, size: Int64, ts: Timestamp, source: SourceRef,
                      report: inout InputReport, emit: (Observation) -> Void) {
        if !m.anomalies.isEmpty {
            for a in m.anomalies.sorted(by: { $0.rawValue < $1.rawValue }) { report.noteAnomaly(a.rawValue, at: source.description) }
        }
        if !m.isResponse {
            let key = QueryKey(client: src, clientPort: sport, server: dst, id: m.id)
            var o = Observation(timestamp: ts, source: source)
            o.transport = transport
            o.clientIP = src
            o.clientPort = sport
            o.serverIP = dst
            o.serverPort = dport
            o.host = m.queryName
            o.hostSource = .dnsQuery
            if describesMessages { o.dns = DNSInfo(type: m.queryTypeName ?? "none", rcode: nil, answers: []) }
            o.bytesUp = size
            o.packetsUp = 1
            if let earlier = pending.removeValue(forKey: key) { emit(earlier.observation) }  // a retransmitted id
            if pending.count >= Self.maxPendingQueries, let oldest = oldestPending(),
               let q = pending.removeValue(forKey: oldest) {
                report.hitCap("dns-pending-queries")
                emit(q.observation)
            }
            order += 1
            pending[key] = (o, order)
            var arrivals = InsertionOrder<QueryKey>()
            swap(&arrivals, &arrival)
            arrivals.append(key, stamp: order, live: pending.count) { k, stamp in pending[k]?.order == stamp }
            swap(&arrivals, &arrival)
            return
        }
        for a in m.addressAnswers where a.answersQuery {
            if let name = m.queryName { answers.insert(a.address, name: name, ttl: a.ttl, at: ts, report: &report) }
        }
        let key = QueryKey(client: dst, clientPort: dport, server: src, id: m.id)
        var o: Observation
        if let q = pending.removeValue(forKey: key) {
            o = q.observation
            o.durationMs = (ts.microseconds - o.timestamp.microseconds) / 1000
        } else {
            // The query was not captured: the response alone is the record.
            o = Observation(timestamp: ts, source: source)
            o.transport = transport
            o.clientIP = dst
            o.clientPort = dport
            o.serverIP = src
            o.serverPort = sport
            o.hostSource = .dnsQuery
        }
        o.source = source
        // A response with no question (an mDNS announcement) is about its first answer's owner, as
        // Zeek's dns.log and tshark's dns.resp.name read it.
        o.host = m.queryName ?? (m.questionCount == 0 ? m.answers.first?.owner : nil)
        o.dns = describesMessages ? m.info : nil
        o.bytesDown = size
        o.packetsDown = 1
        emit(o)
    }

    private mutating func oldestPending() -> QueryKey? {
        var order = InsertionOrder<QueryKey>()
        swap(&order, &arrival)  // taken out while the closure reads `pending`; the buffer stays unique
        defer { swap(&order, &arrival) }
        return order.popOldest { key, stamp in pending[key]?.order == stamp }
    }

    /// Queries older than the timeout, and at the end of input all of them, are written as unanswered.
    mutating func expire(now: Timestamp?, emit: (Observation) -> Void) {
        let cutoff = now.map { $0.microseconds - Self.queryTimeout } ?? Int64.max
        let due = pending.filter { $0.value.observation.timestamp.microseconds <= cutoff }
        for (key, q) in due.sorted(by: { $0.value.order < $1.value.order }) {
            pending[key] = nil
            emit(q.observation)
        }
    }
}

/// Addresses that DNS answers named, with their TTL: "which name did this client look up to reach
/// that address". Bounded; the oldest entries go first when full.
struct DNSAnswerCache {
    static let maxEntries = 262_144
    /// Answers are trusted a little past their TTL: clients reuse connections and cached answers.
    static let graceSeconds: Int64 = 300

    private var names: [IPAddress: (name: String, seen: Int64, expires: Int64, stamp: Int)] = [:]
    private var arrival = InsertionOrder<IPAddress>()
    private var stamp = 0

    mutating func insert(_ address: IPAddress, name: String, ttl: UInt32, at ts: Timestamp, report: inout InputReport) {
        if names.count >= Self.maxEntries && names[address] == nil {
            // Drop the answer that arrived longest ago. (Scanning for the one that expires first cost a
            // pass over 262,144 entries per new address once full: a flood of answers went quadratic.)
            var order = InsertionOrder<IPAddress>()
            swap(&order, &arrival)  // taken out while the closure reads `names`; both buffers stay unique
            if let victim = order.popOldest(where: { key, stamp in names[key]?.stamp == stamp }) { names[victim] = nil }
            swap(&order, &arrival)
            report.hitCap("dns-answer-cache")
        }
        stamp += 1
        names[address] = (name, ts.microseconds, ts.seconds + Int64(ttl) + Self.graceSeconds, stamp)
        var order = InsertionOrder<IPAddress>()
        swap(&order, &arrival)
        order.append(address, stamp: stamp, live: names.count) { key, stamp in names[key]?.stamp == stamp }
        swap(&order, &arrival)
    }

    /// The name an answer seen before `ts` gave for `address`, if that answer was still valid at `ts`.
    func name(for address: IPAddress, at ts: Timestamp) -> String? {
        guard let entry = names[address], entry.seen <= ts.microseconds, entry.expires >= ts.seconds else { return nil }
        return entry.name
    }
}

/// Keys in the order they were (re)inserted, each with the stamp it got then: the oldest live key is
/// found in amortised O(1) by skipping entries whose key was removed or inserted again since.
struct InsertionOrder<Key: Hashable> {
    private var entries: [(key: Key, stamp: Int)] = []
    private var head = 0

    /// Appends `key`; when stale entries outnumber the `live` ones by far, they are dropped (amortised
    /// O(1), and the order never grows past a few times what it tracks).
    mutating func append(_ key: Key, stamp: Int, live: Int, isCurrent: (Key, Int) -> Bool) {
        entries.append((key, stamp))
        if entries.count - head > 2 * live + 4096 {
            entries = entries[head...].filter { isCurrent($0.key, $0.stamp) }
            head = 0
        }
    }

    var count: Int { entries.count - head }

    /// Removes and returns the oldest key for which `isCurrent(key, stamp)` holds; stale entries go too.
    mutating func popOldest(where isCurrent: (Key, Int) -> Bool) -> Key? {
        defer {
            if head > 4096 && head * 2 > entries.count {  // drop the consumed front now and then
                entries.removeFirst(head)
                head = 0
            }
        }
        while head < entries.count {
            let e = entries[head]
            head += 1
            if isCurrent(e.key, e.stamp) { return e.key }
        }
        return nil
    }
}
