import ShadowScopeCore

/// Reads every packet of a capture, decodes link, IP and TCP headers, and feeds the flow table.
/// Packets we cannot use are counted in the report with a sampled reason, never dropped silently.
public struct CaptureScanner {
    public var limits: FlowTable.Limits
    /// False when only aggregates of the observations are kept (no observations output): DNS
    /// observations then go without their `dns` details.
    public var describesDNS = true

    /// Most tunnel layers (GRE, VXLAN, IP in IP) peeled off one packet; deeper ones are counted.
    static let maxTunnels = 4

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
        table.dns.describesMessages = describesDNS
        var lastExpiry: Timestamp? = nil
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
                table.sweepIfDue(now: now, report: &report, finished: emit)
                table.dns.expire(now: now, emit: emit)
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
                    var network = try LinkLayer.decode(bytes, linkType: linkType)
                    var tunnels = 0
                    // Each pass peels one layer: a tunnel's inner packet goes round again.
                    decap: while true {
                        let ip: IPPacket
                        switch network {
                        case .ipv4(let c): ip = try IPDecoder.decodeV4(c)
                        case .ipv6(let c): ip = try IPDecoder.decodeV6(c)
                        case .other(let etherType):
                            report.notAnalyzed["ethertype-0x" + String(etherType, radix: 16), default: 0] += 1
                            continue loop
                        case .otherPPP(let proto):
                            report.notAnalyzed["ppp-protocol-0x" + String(proto, radix: 16), default: 0] += 1
                            continue loop
                        }
                        let inTunnelLimit = tunnels < Self.maxTunnels
                        switch ip.proto {
                        case 6:
                            let tcp = try TCPSegment.decode(ip.payload)
                            table.add(ip, tcp, ts: ts, frame: frame, report: &report, finished: emit)
                        case 17:
                            let udp = try UDPDatagram.decode(ip.payload, ipPayloadLength: ip.transportLength)
                            if udp.destinationPort == VXLAN.port && inTunnelLimit {
                                network = try VXLAN.decode(udp.payload, origin: ip.payload.position + UDPDatagram.headerLength)
                                tunnels += 1
                                continue decap
                            }
                            let dnsPort = udp.sourcePort == 53 || udp.destinationPort == 53
                            let mdnsPort = udp.sourcePort == 5353 || udp.destinationPort == 5353
                            if dnsPort || mdnsPort {
                                do {
                                    let m = try DNSMessage.parse(udp.payload)
                                    table.dns.add(m, ip: ip, udp: udp, ts: ts, source: SourceRef(file: file, position: .frame(frame)),
                                                  report: &report, emit: emit)
                                } catch where !dnsPort {
                                    // 5353 is also an ephemeral port: what is not mDNS may be QUIC.
                                    table.addUDP(ip, udp, ts: ts, frame: frame, report: &report, finished: emit)
                                }
                            } else {
                                table.addUDP(ip, udp, ts: ts, frame: frame, report: &report, finished: emit)
                            }
                        case 47 where inTunnelLimit:
                            network = try GRE.decode(ip.payload)
                            tunnels += 1
                            continue decap
                        case 4 where inTunnelLimit:  // IPv4 in IP (RFC 2003)
                            network = .ipv4(ip.payload)
                            tunnels += 1
                            continue decap
                        case 41 where inTunnelLimit:  // IPv6 in IP (RFC 4213)
                            network = .ipv6(ip.payload)
                            tunnels += 1
                            continue decap
                        default:
                            report.notAnalyzed["ip-proto-\(ip.proto)", default: 0] += 1
                        }
                        break decap
                    }
                    if let last = lastExpiry, ts.microseconds - last.microseconds < 1_000_000 { continue loop }
                    lastExpiry = ts
                    table.dns.expire(now: ts, emit: emit)  // DNS records have their name: no dns-answer lookup
                } catch where error.code == IPDecoder.fragment {
                    report.notAnalyzed["ipv4-fragments", default: 0] += 1
                } catch where error.code == IPDecoder.fragmentV6 {
                    report.notAnalyzed["ipv6-fragments", default: 0] += 1
                } catch {
                    report.skip(at: "\(file):\(frame)", reason: error.description)
                }
            }
        }
        table.dns.expire(now: nil, emit: emit)
        table.finishAll(report: &report, emit)
    }
}
