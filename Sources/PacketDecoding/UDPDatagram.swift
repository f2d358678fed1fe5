import ShadowScopeCore

/// The UDP header fields flow tracking uses (RFC 768), and the payload.
struct UDPDatagram {
    static let headerLength = 8

    var sourcePort: UInt16
    var destinationPort: UInt16
    /// The header's length field: header plus payload.
    var length: Int
    /// The captured payload, cut to the announced length (Ethernet pads short frames).
    var payload: UnsafeRawBufferPointer
    /// The snap length cut the payload: `payload` holds fewer than `length - 8` bytes.
    var isCaptureTruncated: Bool

    static let truncated = DecodeError.Code("udp.truncated")
    static let badLength = DecodeError.Code("udp.bad-length")

    /// `cursor` is the IP payload (`IPPacket.payload`), `ipPayloadLength` what the IP header announces
    /// for it (`IPPacket.transportLength`).
    static func decode(_ cursor: ByteCursor, ipPayloadLength: Int) throws(DecodeError) -> UDPDatagram {
        var c = cursor
        guard let sp = c.readU16(), let dp = c.readU16(), let length = c.readU16(), c.skip(2) else {
            throw DecodeError(truncated, at: c.position, "UDP header")
        }
        let announced = Int(length)
        guard announced >= headerLength else {
            throw DecodeError(badLength, at: cursor.position + 4, "UDP length \(announced) below the 8-byte header")
        }
        guard announced <= ipPayloadLength else {
            throw DecodeError(badLength, at: cursor.position + 4, "UDP length \(announced) beyond the IP payload of \(ipPayloadLength)")
        }
        let want = announced - headerLength
        let have = c.remaining
        let body = c.readBytes(min(want, have)) ?? c.rest
        return UDPDatagram(sourcePort: sp, destinationPort: dp, length: announced, payload: body, isCaptureTruncated: have < want)
    }
}
