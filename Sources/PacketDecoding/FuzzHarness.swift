import Crypto
import Glibc
import ShadowScopeCore
import _CryptoExtras

/// The fuzz harnesses for packet parsers, one function per libFuzzer target of `Fuzz/` (issue 9).
/// They live here, public, so that the fuzz targets and the regression tests (which replay every
/// saved crash input in the normal build) run the very same code. Each takes arbitrary bytes and
/// must return without trapping, whatever they hold.
public enum PacketFuzzHarness {
    public static let targets: [String: @Sendable (UnsafeRawBufferPointer) -> Void] = [
        "FuzzCapture": capture, "FuzzPacket": packet, "FuzzReassembly": reassembly, "FuzzTLS": tls,
        "FuzzQUIC": quic, "FuzzQUICFrames": quicFrames, "FuzzDNS": dns, "FuzzHTTP": http,
    ]

    /// A whole capture file (pcap or pcapng, any link type) through libpcap (via fmemopen) and the
    /// capture pipeline: link, IP, TCP/UDP, flow table, TLS/HTTP/QUIC/DNS extractors.
    @Sendable public static func capture(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0,
              let stream = fmemopen(UnsafeMutableRawPointer(mutating: base), bytes.count, "rb") else { return }
        guard let reader = try? PcapReader(stream: stream, name: "fuzz") else { return }
        var report = InputReport(file: "fuzz", format: "pcap")
        CaptureScanner().scan(reader, file: "fuzz", report: &report) { o in _ = o.host?.count }
    }

    static let linkTypes: [LinkType] = [.ethernet, .linuxSLL, .linuxSLL2, .raw, .null]

    /// One frame through link, IP, TCP and UDP decoding; the first byte picks the link type.
    @Sendable public static func packet(_ bytes: UnsafeRawBufferPointer) {
        guard let first = bytes.first else { return }
        let frame = UnsafeRawBufferPointer(rebasing: bytes[1...])
        do {
            let ip: IPPacket
            switch try LinkLayer.decode(frame, linkType: linkTypes[Int(first) % linkTypes.count]) {
            case .ipv4(let c): ip = try IPDecoder.decodeV4(c)
            case .ipv6(let c): ip = try IPDecoder.decodeV6(c)
            case .other, .otherPPP: return
            }
            if ip.proto == 6 { _ = try TCPSegment.decode(ip.payload) }
            if ip.proto == 17 { _ = try UDPDatagram.decode(ip.payload, ipPayloadLength: ip.transportLength) }
        } catch {
            _ = error.description
        }
    }

    /// The flow table driven by an arbitrary sequence of TCP segments of two connections: any order,
    /// overlap, gap, retransmission, flags, timestamps. Each record of the input is
    ///   flags(1) [bit 7: reverse direction, bit 6: second connection, low 6 bits: TCP flags]
    ///   seqDelta(2, signed, added to that direction's running sequence number)
    ///   secondsDelta(1) length(1) payload(length)
    /// and becomes a real IPv4+TCP packet decoded by IPDecoder and TCPSegment, as a capture's would be.
    @Sendable public static func reassembly(_ input: UnsafeRawBufferPointer) {
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
            let s = seq[dir]
            let header: [UInt8] = [0x45, 0, UInt8(total >> 8), UInt8(total & 0xFF), 0, 0, 0x40, 0, 64, 6, 0, 0]
                + src + dst
                + [UInt8(sport >> 8), UInt8(sport & 0xFF), UInt8(dport >> 8), UInt8(dport & 0xFF)]
                + [UInt8(s >> 24), UInt8(s >> 16 & 0xFF), UInt8(s >> 8 & 0xFF), UInt8(s & 0xFF), 0, 0, 0, 0]
                + [0x50, flags & 0x3F, 0xFF, 0xFF, 0, 0, 0, 0]
            packet.replaceSubrange(0..<40, with: header)
            packet.withUnsafeMutableBytes { p in
                if let base = payload.baseAddress, payload.count > 0 {
                    (p.baseAddress! + 40).copyMemory(from: base, byteCount: payload.count)
                }
            }
            packet.withUnsafeBytes { p in
                do {
                    let ip = try IPDecoder.decodeV4(ByteCursor(UnsafeRawBufferPointer(rebasing: p[0..<total])))
                    let tcp = try TCPSegment.decode(ip.payload)
                    table.add(ip, tcp, ts: Timestamp(seconds: seconds), frame: frame, report: &report) { _ in }
                } catch {
                    report.skip(at: "fuzz:\(frame)", reason: "\(error)")
                }
            }
        }
        table.finishAll(report: &report) { o in _ = o.bytesUp }
    }

    /// TLS ClientHello: the record-layer parser and the bare handshake parser (as QUIC uses it).
    @Sendable public static func tls(_ bytes: UnsafeRawBufferPointer) {
        _ = try? TLSClientHello.parse(bytes)
        _ = try? TLSClientHello.parseHandshake(bytes)
    }

    /// QUIC from the wire: datagrams of one UDP flow through QUICInitialAssembler (long header, header
    /// protection, AEAD, CRYPTO frames, ClientHello). The input is datagrams, each prefixed by a 2-byte
    /// length; the whole input is also tried as one datagram, and walked as coalesced packets.
    @Sendable public static func quic(_ input: UnsafeRawBufferPointer) {
        var whole = QUICInitialAssembler()
        _ = whole.add(datagram: input)
        var assembler = QUICInitialAssembler()
        for datagram in lengthPrefixedParts(input, max: Int.max) { _ = assembler.add(datagram: datagram) }
        var h = ByteCursor(input)
        while let next = try? QUICHeader.next(&h) { _ = next.bytes.count }
    }

    /// QUIC after decryption (as nDPI's fuzz_quic_get_crypto_data does): the input is the plaintext of
    /// client Initial packets, parts separated by 2-byte lengths. Each part is parsed as frames and fed to
    /// the CRYPTO reassembly, and also sealed into a real protected v1 Initial that goes through
    /// QUICInitialAssembler, so header protection, AEAD and frame parsing run end to end.
    @Sendable public static func quicFrames(_ input: UnsafeRawBufferPointer) {
        var parts = lengthPrefixedParts(input, max: 8)
        if parts.isEmpty { parts = [input] }
        var stream = QUICCryptoStream()
        var assembler = QUICInitialAssembler()
        for (i, part) in parts.enumerated() {
            if let parsed = try? QUICFrames.parse(part) {
                for frame in parsed.crypto { try? stream.add(offset: frame.offset, data: frame.data) }
                _ = try? TLSClientHello.parseHandshake(Array(stream.contiguousPrefix))
            }
            if let packet = sealInitial(Array(part), packetNumber: UInt32(i)) { _ = assembler.add(datagram: packet) }
        }
    }

    /// DNS: one message (UDP) and a TCP stream of length-prefixed messages.
    @Sendable public static func dns(_ bytes: UnsafeRawBufferPointer) {
        if let m = try? DNSMessage.parse(bytes) {
            _ = m.answerTexts
            _ = m.addressAnswers
            _ = m.info
        }
        _ = DNSMessage.parseTCPStream(bytes)
    }

    /// HTTP/1.x request head: request line, Host, absolute-form and CONNECT targets.
    @Sendable public static func http(_ bytes: UnsafeRawBufferPointer) {
        _ = try? HTTPRequestHead.parse(bytes)
    }

    /// Parts of `input`, each prefixed by a big-endian 2-byte length; a short last part is kept as is.
    static func lengthPrefixedParts(_ input: UnsafeRawBufferPointer, max: Int) -> [UnsafeRawBufferPointer] {
        var parts: [UnsafeRawBufferPointer] = []
        var c = ByteCursor(input)
        while parts.count < max, let length = c.readU16() {
            let part = c.readBytes(Int(length)) ?? c.rest
            parts.append(part)
            if part.count < Int(length) { break }
        }
        return parts
    }

    static let fuzzDCID: [UInt8] = [0x83, 0x94, 0xC8, 0xF0, 0x3E, 0x51, 0x57, 0x08]
    static let fuzzKeys = QUICInitialKeys.client(destinationConnectionID: fuzzDCID, version: .v1)

    /// A protected client Initial (RFC 9001 §5) carrying `payload` with a 4-byte packet number.
    static func sealInitial(_ payload: [UInt8], packetNumber pn: UInt32) -> [UInt8]? {
        func varint(_ v: Int) -> [UInt8] {
            if v < 64 { return [UInt8(v)] }
            if v < 16384 { return [UInt8(0x40 | v >> 8), UInt8(v & 0xFF)] }
            return [UInt8(0x80 | v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)]
        }
        let keys = fuzzKeys
        var plain = payload
        if plain.count < 4 { plain += [UInt8](repeating: 0, count: 4 - plain.count) }  // room for the sample
        var header: [UInt8] = [0xC3, 0, 0, 0, 1, UInt8(fuzzDCID.count)] + fuzzDCID + [0, 0]  // no SCID, no token
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
}
