// One frame through link, IP, TCP and UDP decoding. The first byte picks the link type.
import CFuzzerDriver
import Glibc
@testable import PacketDecoding
import ShadowScopeCore

let linkTypes: [LinkType] = [.ethernet, .linuxSLL, .linuxSLL2, .raw, .null]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let linkType = linkTypes[Int(data[0]) % linkTypes.count]
    let frame = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    do {
        let ip: IPPacket
        switch try LinkLayer.decode(frame, linkType: linkType) {
        case .ipv4(let c): ip = try IPDecoder.decodeV4(c)
        case .ipv6(let c): ip = try IPDecoder.decodeV6(c)
        case .other, .otherPPP: return 0
        }
        switch ip.proto {
        case 6:
            let tcp = try TCPSegment.decode(ip.payload)
            _ = max(0, ip.transportLength - tcp.headerLength)
        case 17:
            let udp = try UDPDatagram.decode(ip.payload, ipPayloadLength: ip.transportLength)
            _ = udp.payload.count
        default:
            break
        }
    } catch {
        _ = error.description
    }
    return 0
}

var fuzzArgc = CommandLine.argc
var fuzzArgv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&fuzzArgc, &fuzzArgv) { data, size in
    guard let data else { return 0 }
    return fuzz(data, size)
})
