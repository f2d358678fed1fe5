// QUIC Initial from the wire: datagrams of one UDP flow through QUICInitialAssembler (long header,
// header protection, AEAD, CRYPTO frames, ClientHello). The input is datagrams, each prefixed by a
// 2-byte length; an input without that shape is one datagram.
import CFuzzerDriver
import Glibc
import PacketDecoding
import ShadowScopeCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    var whole = QUICInitialAssembler()
    _ = whole.add(datagram: input)
    var assembler = QUICInitialAssembler()
    var c = ByteCursor(input)
    while let length = c.readU16() {
        let datagram = c.readBytes(Int(length)) ?? c.rest
        _ = assembler.add(datagram: datagram)
        if datagram.count < Int(length) { break }
    }
    var h = ByteCursor(input)
    while let next = try? QUICHeader.next(&h) { _ = next.bytes.count }
    return 0
}

var fuzzArgc = CommandLine.argc
var fuzzArgv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&fuzzArgc, &fuzzArgv) { data, size in
    guard let data else { return 0 }
    return fuzz(data, size)
})
