// DNS: one message (UDP) and a TCP stream of length-prefixed messages.
import CFuzzerDriver
import Glibc
import PacketDecoding

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    if let m = try? DNSMessage.parse(bytes) {
        _ = m.answerTexts
        _ = m.addressAnswers
        _ = m.info
    }
    _ = DNSMessage.parseTCPStream(bytes)
    return 0
}

var fuzzArgc = CommandLine.argc
var fuzzArgv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&fuzzArgc, &fuzzArgv) { data, size in
    guard let data else { return 0 }
    return fuzz(data, size)
})
