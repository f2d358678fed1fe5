import ShadowScopeCore

// Google QUIC (gQUIC), the versions Chromium sent before IETF QUIC (as Wireshark and nDPI read them):
// - Q046: an IETF-style long header whose connection-ID lengths are two nibbles, then the packet number,
//   a 12-byte message hash and cleartext gQUIC frames; the handshake is a CHLO message on stream 1.
// - Q050, T050, T051: IETF long headers and Initial protection as in QUIC drafts with their own salts
//   (QUICVersion), but gQUIC frames inside: CRYPTO is type 0x08. Q050's handshake is a CHLO, T05x's a
//   TLS ClientHello.
// Only what yields the client's server name is read: the first flight's handshake bytes.

public enum GoogleQUIC {
    public static let q046: UInt32 = 0x5130_3436  // "Q046"

    public static let badPacket = DecodeError.Code("gquic.bad-packet")
    public static let badMessage = DecodeError.Code("gquic.bad-chlo")

    /// Handshake data of one stream frame (stream 1, the crypto stream) at its offset.
    public typealias StreamData = (offset: UInt64, data: [UInt8])

    /// The crypto-stream data of a Q046 client packet (`packet` starts at the long header's first
    /// byte and runs to the datagram's end). Frames other than STREAM, PADDING and PING end the walk:
    /// what came before is kept.
    public static func q046CryptoData(_ packet: UnsafeRawBufferPointer) throws(DecodeError) -> [StreamData] {
        var c = ByteCursor(packet)
        guard let first = c.readU8(), c.readU32() == q046, let lengths = c.readU8() else {
            throw DecodeError(badPacket, at: 0, "Q046 header")
        }
        // Connection-ID lengths as nibbles: 0 means none, n means n + 3 bytes (draft-ietf-quic-invariants-02).
        let dcil = lengths >> 4 == 0 ? 0 : Int(lengths >> 4) + 3
        let scil = lengths & 0x0F == 0 ? 0 : Int(lengths & 0x0F) + 3
        let packetNumberLength = Int(first & 0x03) + 1
        guard c.skip(dcil + scil + packetNumberLength + 12) else {  // IDs, packet number, message hash
            throw DecodeError(badPacket, at: c.position, "Q046 header of \(packet.count) bytes")
        }
        var out: [StreamData] = []
        while let type = c.readU8() {
            switch type {
            case 0x00:
                return out  // PADDING runs to the end of the packet
            case 0x07:
                continue    // PING
            case 0x80...0xFF:
                // STREAM: 1 F D OOO SS — fin, data length present, offset length, stream ID length.
                let idLength = Int(type & 0x03) + 1
                let offsetCode = Int(type >> 2 & 0x07)
                let offsetLength = offsetCode == 0 ? 0 : offsetCode + 1
                guard let id = c.readBigEndian(idLength), let offset = c.readBigEndian(offsetLength) else {
                    throw DecodeError(badPacket, at: c.position, "STREAM frame header")
                }
                let length: Int
                if type & 0x20 != 0 {
                    guard let l = c.readU16() else { throw DecodeError(badPacket, at: c.position, "STREAM frame length") }
                    length = Int(l)
                } else {
                    length = c.remaining
                }
                guard let data = c.readBytes(length) else {
                    throw DecodeError(badPacket, at: c.position, "STREAM frame of \(length) bytes runs past the packet")
                }
                if id == 1 { out.append((offset, Array(data))) }
            default:
                return out
            }
        }
        return out
    }

    /// The CRYPTO frames of a decrypted Q050/T05x Initial, in gQUIC framing: PADDING (to the end),
    /// PING (0x07) and CRYPTO (0x08: offset and length as QUIC varints). Another frame type ends the walk
    /// with `anomaly` set, as `QUICFrames.parse` does for IETF frames.
    public static func frames(_ payload: UnsafeRawBufferPointer) throws(DecodeError) -> QUICFrames.Parsed {
        var c = ByteCursor(payload)
        var out = QUICFrames.Parsed()
        while let type = c.readU8() {
            switch type {
            case 0x00:
                out.paddingBytes += 1 + c.remaining
                return out
            case 0x07:
                out.pings += 1
            case 0x08:
                guard let offset = c.readQUICVarint(), let rawLength = c.readQUICVarint(),
                      let length = Int(exactly: rawLength), let data = c.readBytes(length)
                else { throw DecodeError(QUICFrames.badFrame, at: c.position, "gQUIC CRYPTO frame runs past the packet") }
                out.crypto.append(QUICFrames.CryptoFrame(offset: offset, data: Array(data)))
            default:
                out.anomaly = QUICFrames.unexpectedFrame
                out.unexpectedFrameType = UInt64(type)
                return out
            }
        }
        return out
    }

    /// Most tags a CHLO may list: Chromium sends about 30.
    public static let maxTags = 128

    /// The server name of a CHLO handshake message: "CHLO", a little-endian tag count, two bytes of
    /// padding, (tag, end offset) pairs with offsets little-endian and non-decreasing, then the values.
    /// `.needMoreData` while `bytes` is a prefix of one; `.notTLS` when it is not a CHLO at all.
    public static func parseCHLO(_ bytes: UnsafeRawBufferPointer) throws(DecodeError) -> TLSClientHello.Result {
        var c = ByteCursor(bytes)
        guard let tag = c.readBytes(4) else { return .needMoreData }
        guard tag.elementsEqual("CHLO".utf8) else { return .notTLS }
        guard let countLE = c.readU16(), c.skip(2) else { return .needMoreData }
        let count = Int(countLE.byteSwapped)
        guard count <= maxTags else { throw DecodeError(badMessage, at: 4, "CHLO lists \(count) tags") }
        var entries: [(tag: UInt32, end: Int)] = []
        var previous = 0
        for _ in 0..<count {
            guard let t = c.readU32(), let endLE = c.readU32() else { return .needMoreData }
            let end = Int(endLE.byteSwapped)
            guard end >= previous, end <= TLSClientHello.maxHelloBytes else {
                throw DecodeError(badMessage, at: c.position - 4, "CHLO value offset \(end) after \(previous)")
            }
            entries.append((t, end))
            previous = end
        }
        guard c.remaining >= previous else { return .needMoreData }
        var hello = TLSClientHello.Hello(serverName: nil, offersECH: false, invalidServerName: false)
        var start = 0
        for entry in entries {
            if entry.tag == 0x534E_4900, let value = c.peekBytes(from: start, count: entry.end - start) {  // "SNI\0"
                if let host = normalizeHost(TLSClientHello.withoutPort(value)) { hello.serverName = host } else { hello.invalidServerName = true }
                break
            }
            start = entry.end
        }
        return .hello(hello)
    }
}

extension ByteCursor {
    /// An unsigned big-endian integer of `length` bytes (0...8; 0 reads 0).
    mutating func readBigEndian(_ length: Int) -> UInt64? {
        guard length <= 8, let bytes = readBytes(length) else { return nil }
        return bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// `count` bytes starting `offset` bytes past the cursor, without moving it.
    func peekBytes(from offset: Int, count: Int) -> UnsafeRawBufferPointer? {
        var copy = self
        guard offset >= 0, count >= 0, copy.skip(offset) else { return nil }
        return copy.readBytes(count)
    }
}
