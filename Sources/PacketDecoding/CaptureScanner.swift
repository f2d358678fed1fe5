import ShadowScopeCore

/// Reads every packet of a capture, decodes link, IP and TCP headers, and feeds the flow table.
/// Packets we cannot use are counted in the report with a sampled reason, never dropped silently.
public struct CaptureScanner {
    public var limits: FlowTable.Limits

    public init(limits: FlowTable.Limits = FlowTable.Limits()) { self.limits = limits }

    /// Scans `reader` to its end; `emit` receives one observation per TCP connection.
    public func scan(_ reader: PcapReader, file: String, report: inout InputReport, emit: (Observation) -> Void) {
        report.packets = 0
        guard let linkType = LinkType(dlt: reader.dlt) else {
            report.error = "link type \(reader.linkTypeName) (\(reader.dlt)) is not supported"
            return
        }
        var table = FlowTable(file: file, limits: limits)
        var frame = 0
        loop: while true {
            switch reader.next() {
            case .end:
                break loop
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
                    guard ip.proto == 6 else {
                        // UDP (DNS, QUIC) and the rest come with later decoders.
                        report.notAnalyzed[ip.proto == 17 ? "udp" : "ip-proto-\(ip.proto)", default: 0] += 1
                        continue loop
                    }
                    let tcp = try TCPSegment.decode(ip.payload)
                    table.add(ip, tcp, ts: ts, frame: frame, report: &report) { emit($0) }
                } catch {
                    report.skip(at: "\(file):\(frame)", reason: error.description)
                }
            }
        }
        table.finishAll { emit($0) }
    }
}
