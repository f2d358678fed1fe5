// QUIC after decryption (as nDPI's fuzz_quic_get_crypto_data does): the input is the plaintext
// payload of client Initial packets. Each part (separated by a 2-byte length) is parsed as frames,
// fed to the CRYPTO reassembly, and also sealed into a real, protected v1 Initial packet that goes
// through QUICInitialAssembler, so header protection, AEAD and frame parsing run end to end.
import CFuzzerDriver
import Glibc
import Crypto
import _CryptoExtras
import Foundation
import PacketDecoding
import ShadowScopeCore

let dcid: [UInt8] = [0x83, 0x94, 0xC8, 0xF0, 0x3E, 0x51, 0x57, 0x08]
let keys = QUICInitialKeys.client(destinationConnectionID: dcid, version: .v1)

func varint(_ v: Int) -> [UInt8] {
    if v < 64 { return [UInt8(v)] }
    if v < 16384 { return [UInt8(0x40 | v >> 8), UInt8(v & 0xFF)] }
    return [UInt8(0x80 | v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)]
}

/// A protected client Initial (RFC 9001 §5) carrying `payload` with packet number `pn` (4 bytes).
func seal(_ payload: [UInt8], pn: UInt32) -> [UInt8]? {
    var plain = payload
    if plain.count < 4 { plain += [UInt8](repeating: 0, count: 4 - plain.count) }  // room for the sample
    var header: [UInt8] = [0xC3, 0, 0, 0, 1, UInt8(dcid.count)] + dcid + [0, 0]  // no SCID, no token
    header += varint(4 + plain.count + 16)
    let pnOffset = header.count
    header += [UInt8(pn >> 24), UInt8(pn >> 16 & 0xFF), UInt8(pn >> 8 & 0xFF), UInt8(pn & 0xFF)]
    var nonce = keys.iv
    for i in 0..<4 { nonce[nonce.count - 1 - i] ^= UInt8(pn >> (8 * UInt32(i)) & 0xFF) }
    guard let n = try? AES.GCM.Nonce(data: nonce),
          let box = try? AES.GCM.seal(plain, using: SymmetricKey(data: keys.key), nonce: n, authenticating: header)
    else { return nil }
    var packet = header + Array(box.ciphertext) + Array(box.tag)
    var mask = Array(packet[(pnOffset + 4)..<(pnOffset + 20)])
    guard (try? AES.permute(&mask, key: SymmetricKey(data: keys.hp))) != nil else { return nil }
    packet[0] ^= mask[0] & 0x0F
    for i in 0..<4 { packet[pnOffset + i] ^= mask[1 + i] }
    return packet
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    var parts: [UnsafeRawBufferPointer] = []
    var c = ByteCursor(input)
    while let length = c.readU16(), parts.count < 8 {
        let part = c.readBytes(Int(length)) ?? c.rest
        parts.append(part)
        if part.count < Int(length) { break }
    }
    if parts.isEmpty { parts = [input] }
    var stream = QUICCryptoStream()
    var assembler = QUICInitialAssembler()
    for (i, part) in parts.enumerated() {
        if let parsed = try? QUICFrames.parse(part) {
            for frame in parsed.crypto { try? stream.add(offset: frame.offset, data: frame.data) }
            _ = try? TLSClientHello.parseHandshake(Array(stream.contiguousPrefix))
        }
        if let packet = seal(Array(part), pn: UInt32(i)) { _ = assembler.add(datagram: packet) }
    }
    return 0
}

var fuzzArgc = CommandLine.argc
var fuzzArgv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&fuzzArgc, &fuzzArgv) { data, size in
    guard let data else { return 0 }
    return fuzz(data, size)
})
