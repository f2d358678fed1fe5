// A whole capture file (pcap or pcapng, any link type) through libpcap and the capture pipeline:
// link, IP, TCP/UDP, flow table, TLS/HTTP/QUIC/DNS extractors. The bytes reach libpcap through fmemopen.
import CFuzzerDriver
import Glibc
import PacketDecoding
import ShadowScopeCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0, let stream = fmemopen(UnsafeMutableRawPointer(mutating: data), size, "rb") else { return 0 }
    guard let reader = try? PcapReader(stream: stream, name: "fuzz") else { return 0 }
    var report = InputReport(file: "fuzz", format: "pcap")
    var count = 0
    CaptureScanner().scan(reader, file: "fuzz", report: &report) { o in
        count += 1
        _ = o.host?.count
    }
    return 0
}

var fuzzArgc = CommandLine.argc
var fuzzArgv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&fuzzArgc, &fuzzArgv) { data, size in
    guard let data else { return 0 }
    return fuzz(data, size)
})
