import ShadowScopeCore

/// Reads every packet of a capture, decodes link, IP and TCP headers, and feeds the flow table.
/// Packets we cannot use are counted in the report with a sampled reason, never dropped silently.
public struct CaptureScanner {
    public var limits: FlowTable.Limits

    public init(limits: FlowTable.Limits = FlowTable.Limits()) { self.limits = limits }

    /// Scans `reader` to its end; `emit` receives one observation per TCP connection.
    public func scan(_ reader: PcapReader, file: String, report: inout InputReport, emit: (Observation) -> Void) {
        scan(reader, file: file, report: &report, control: nil, emit: emit)
    }

    /// As above; `control`, for live capture, is called on every read timeout and every 1,024
    /// packets with the report and the number of flows being tracked. It returns false to stop: the
    /// flows still open are then finished and emitted, as at the end of a file.
    public func scan(_ reader: PcapReader, file: String, report: inout InputReport,
                     control: ((inout InputReport, _ liveFlows: Int) -> Bool)?, emit: (Observation) -> Void) {
        report.packets = 0
        guard let linkType = LinkType(dlt: reader.dlt) else {
            report.error = "link type \(reader.linkTypeName) (\(reader.dlt)) is not supported"
            return
        }
        var table = FlowTable(file: file, limits: limits)
        var dns = DNSTracker()
        var lastExpiry: Timestamp? = nil
        // A flow with no readable name takes the name a DNS answer gave for its server, if one came first.
        func finished(_ observation: Observation) {
            var o = observation
            if o.host == nil, let ip = o.serverIP, let name = dns.answers.name(for: ip, at: o.timestamp) {
                o.host = name
                o.hostSource = .dnsAnswer
            }
            emit(o)
        }
        var frame = 0
        var controlledAt = 0
        loop: while true {
            if let control, frame & 1023 == 0, frame != controlledAt {
                controlledAt = frame
                if !control(&report, table.count) { break loop }
            }
            switch reader.next() {
            case .end:
                break loop
            case .timeout:
                // Live and quiet: time still passes, so flows idle out by the wall clock (the
                // clock packets are stamped with) rather than waiting for the next packet.
                let now = Timestamp.now
                table.sweepIfDue(now: now, report: &report, finished: finished)
                dns.expire(now: now, emit: emit)
                if let control, !control(&report, table.count) { break loop }
                continue loop
            case .error(let message):
                report.skip(at: "\(file):\(frame + 1)", reason: "capture unreadable from here on: \(message)")
                break loop
            case .packet(let ts, let bytes, _):
                frame += 1
                report.records += 1
                report.packets = frame
                do {
                    let ip: IPPacket
                    switch try LinkLayer.decode(bytes, linkType: linkType) {
                    case .ipv4(let c): ip = try IPDecoder.decodeV4(c)
                    case .ipv6(let c): ip = try IPDecoder.decodeV6(c)
                    case .other(let etherType):
                        report.notAnalyzed["ethertype-0x" + String(etherType, radix: 16), default: 0] += 1
                        continue loop
                    }
                    switch ip.proto {
                    case 6:
                        let tcp = try TCPSegment.decode(ip.payload)
                        table.add(ip, tcp, ts: ts, frame: frame, report: &report, finished: finished)
                    case 17:
                        let udp = try UDPDatagram.decode(ip.payload, ipPayloadLength: ip.transportLength)
                        let dnsPort = udp.sourcePort == 53 || udp.destinationPort == 53
                        let mdnsPort = udp.sourcePort == 5353 || udp.destinationPort == 5353
                        if dnsPort || mdnsPort {
                            do {
                                let m = try DNSMessage.parse(udp.payload)
                                dns.add(m, ip: ip, udp: udp, ts: ts, source: SourceRef(file: file, position: .frame(frame)), report: &report, emit: emit)
                            } catch where !dnsPort {
                                // 5353 is also an ephemeral port: what is not mDNS may be QUIC.
                                table.addUDP(ip, udp, ts: ts, frame: frame, report: &report, finished: finished)
                            }
                        } else {
                            table.addUDP(ip, udp, ts: ts, frame: frame, report: &report, finished: finished)
                        }
                    default:
                        report.notAnalyzed["ip-proto-\(ip.proto)", default: 0] += 1
                    }
                    if let last = lastExpiry, ts.microseconds - last.microseconds < 1_000_000 { continue loop }
                    lastExpiry = ts
                    dns.expire(now: ts, emit: emit)  // DNS records have their name: no dns-answer lookup
                } catch {
                    report.skip(at: "\(file):\(frame)", reason: error.description)
                }
            }
        }
        dns.expire(now: nil, emit: emit)
        table.finishAll(report: &report, finished)
    }
}
