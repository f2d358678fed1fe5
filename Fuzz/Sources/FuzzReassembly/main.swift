// The flow table driven by an arbitrary sequence of TCP segments of a few connections: any order,
// overlap, gap, retransmission, flags, timestamps. Each record of the input is
//   flags(1) [bit 7: reverse direction, bit 6: second connection, low 6 bits: TCP flags]
//   seqDelta(2, signed, added to that direction's running sequence number)
//   secondsDelta(1) length(1) payload(length)
// and becomes a real IPv4+TCP packet decoded by IPDecoder and TCPSegment, as a capture would be.
import CFuzzerDriver
import Glibc
@testable import PacketDecoding
import ShadowScopeCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    var c = ByteCursor(input)
    var table = FlowTable(file: "fuzz", limits: FlowTable.Limits(maxFlows: 2, tcpIdleTimeoutSeconds: 60,
                                                                 closedLingerSeconds: 2, udpIdleTimeoutSeconds: 30))
    var report = InputReport(file: "fuzz", format: "pcap")
    var seq: [UInt32] = [1000, 5000, 90000, 70000]
    var seconds: Int64 = 1_700_000_000
    var frame = 0
    var packet = [UInt8](repeating: 0, count: 40 + 255)
    while let flags = c.readU8(), let delta = c.readU16(), let dt = c.readU8(), let length = c.readU8() {
        let payload = c.readBytes(Int(length)) ?? c.rest
        let reverse = flags & 0x80 != 0
        let conn = Int(flags >> 6 & 1)
        let dir = conn * 2 + (reverse ? 1 : 0)
        seq[dir] = seq[dir] &+ UInt32(bitPattern: Int32(Int16(bitPattern: delta)))
        seconds += Int64(dt)
        frame += 1
        let client: [UInt8] = [10, 0, 0, UInt8(1 + conn)], server: [UInt8] = [192, 0, 2, 7]
        let (src, dst) = reverse ? (server, client) : (client, server)
        let (sport, dport): (UInt16, UInt16) = reverse ? (443, UInt16(40000 + conn)) : (UInt16(40000 + conn), 443)
        let total = 40 + payload.count
        packet.withUnsafeMutableBytes { p in
            p[0] = 0x45; p[1] = 0
            p[2] = UInt8(total >> 8); p[3] = UInt8(total & 0xFF)
            p[4] = 0; p[5] = 0; p[6] = 0x40; p[7] = 0; p[8] = 64; p[9] = 6; p[10] = 0; p[11] = 0
            for i in 0..<4 { p[12 + i] = src[i]; p[16 + i] = dst[i] }
            p[20] = UInt8(sport >> 8); p[21] = UInt8(sport & 0xFF); p[22] = UInt8(dport >> 8); p[23] = UInt8(dport & 0xFF)
            let s = seq[dir]
            p[24] = UInt8(s >> 24); p[25] = UInt8(s >> 16 & 0xFF); p[26] = UInt8(s >> 8 & 0xFF); p[27] = UInt8(s & 0xFF)
            for i in 28..<32 { p[i] = 0 }
            p[32] = 0x50; p[33] = flags & 0x3F; p[34] = 0xFF; p[35] = 0xFF
            for i in 36..<40 { p[i] = 0 }
            if let base = payload.baseAddress, payload.count > 0 { (p.baseAddress! + 40).copyMemory(from: base, byteCount: payload.count) }
        }
        packet.withUnsafeBytes { p in
            let bytes = UnsafeRawBufferPointer(rebasing: p[0..<total])
            do {
                let ip = try IPDecoder.decodeV4(ByteCursor(bytes))
                let tcp = try TCPSegment.decode(ip.payload)
                table.add(ip, tcp, ts: Timestamp(seconds: seconds), frame: frame, report: &report) { _ in }
            } catch {
                report.skip(at: "fuzz:\(frame)", reason: "\(error)")
            }
        }
    }
    table.finishAll(report: &report) { o in _ = o.bytesUp }
    return 0
}

var fuzzArgc = CommandLine.argc
var fuzzArgv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&fuzzArgc, &fuzzArgv) { data, size in
    guard let data else { return 0 }
    return fuzz(data, size)
})
