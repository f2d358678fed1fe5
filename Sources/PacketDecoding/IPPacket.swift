import ShadowScopeCore

/// The part of an IPv4 or IPv6 header a flow needs, and the transport bytes it carries.
struct IPPacket {
    var source: IPAddress
    var destination: IPAddress
    var proto: UInt8
    /// The transport header and payload, cut to the IP length (Ethernet pads short frames).
    var payload: ByteCursor
    /// Transport bytes the IP header announces; more than `payload` holds when the capture's snap
    /// length cut the frame. Byte counts use this, not what was captured.
    var transportLength: Int
}

enum IPDecoder {
    /// Most IPv6 extension headers we walk before giving up on a packet.
    static let maxIPv6ExtensionHeaders = 8

    static let truncated = DecodeError.Code("ip.truncated")
    static let badVersion = DecodeError.Code("ip.bad-version")
    static let badHeaderLength = DecodeError.Code("ip.bad-header-length")
    /// Fragments are counted, not reassembled: a name-carrying first flight rarely fragments.
    static let fragment = DecodeError.Code("ip.fragment")
    static let fragmentV6 = DecodeError.Code("ipv6.fragment")
    static let tooManyExtensions = DecodeError.Code("ip.too-many-extension-headers")

    static func decodeV4(_ cursor: ByteCursor) throws(DecodeError) -> IPPacket {
        var c = cursor
        guard let vihl = c.readU8(), c.skip(1), let totalLength = c.readU16(), c.skip(2),
              let flagsFrag = c.readU16(), c.skip(1), let proto = c.readU8(), c.skip(2),
              let src = c.readU32(), let dst = c.readU32()
        else { throw DecodeError(truncated, at: c.position, "IPv4 header") }
        guard vihl >> 4 == 4 else { throw DecodeError(badVersion, at: cursor.position, "version \(vihl >> 4) in IPv4 header") }
        let headerLength = Int(vihl & 0x0F) * 4
        guard headerLength >= 20, Int(totalLength) >= headerLength else {
            throw DecodeError(badHeaderLength, at: cursor.position, "header \(headerLength), total \(totalLength)")
        }
        // More-fragments set or a non-zero offset: reassembly is out of scope, so count and skip.
        if flagsFrag & 0x3FFF != 0 { throw DecodeError(fragment, at: cursor.position, "IPv4 fragment") }
        guard c.skip(headerLength - 20) else { throw DecodeError(truncated, at: c.position, "IPv4 options") }
        let want = Int(totalLength) - headerLength
        let have = c.remaining
        let body = c.readCursor(min(want, have)) ?? ByteCursor(c.rest, origin: c.position)
        return IPPacket(source: .v4(src), destination: .v4(dst), proto: proto, payload: body, transportLength: want)
    }

    static func decodeV6(_ cursor: ByteCursor) throws(DecodeError) -> IPPacket {
        var c = cursor
        guard let first = c.readU32(), let payloadLength = c.readU16(), var next = c.readU8(), c.skip(1),
              let sh = c.readU64(), let sl = c.readU64(), let dh = c.readU64(), let dl = c.readU64()
        else { throw DecodeError(truncated, at: c.position, "IPv6 header") }
        guard first >> 28 == 6 else { throw DecodeError(badVersion, at: cursor.position, "version \(first >> 28) in IPv6 header") }
        // Payload length 0 means a jumbogram (RFC 2675): take what was captured.
        let want = payloadLength == 0 ? c.remaining : Int(payloadLength)
        let have = c.remaining
        guard var body = c.readCursor(min(want, have)) else { throw DecodeError(truncated, at: c.position) }
        var hops = 0
        while true {
            switch next {
            case 0, 43, 60:  // hop-by-hop, routing, destination options: (len + 1) * 8 bytes
                guard let nh = body.readU8(), let len = body.readU8(), body.skip(Int(len) * 8 + 6) else {
                    throw DecodeError(truncated, at: body.position, "IPv6 extension header")
                }
                next = nh
            case 51:  // authentication header: (len + 2) * 4 bytes
                guard let nh = body.readU8(), let len = body.readU8(), body.skip(Int(len) * 4 + 6) else {
                    throw DecodeError(truncated, at: body.position, "IPv6 AH")
                }
                next = nh
            case 44:  // fragment header, 8 bytes: an atomic fragment (offset 0, no more) is a whole packet
                guard let nh = body.readU8(), body.skip(1), let offsetFlags = body.readU16(), body.skip(4) else {
                    throw DecodeError(truncated, at: body.position, "IPv6 fragment header")
                }
                if offsetFlags & 0xFFF9 != 0 { throw DecodeError(fragmentV6, at: body.position, "IPv6 fragment") }
                next = nh
            default:
                return IPPacket(source: .v6(sh, sl), destination: .v6(dh, dl), proto: next,
                                payload: ByteCursor(body.rest, origin: body.position),
                                transportLength: max(0, want - (body.offset)))
            }
            hops += 1
            if hops > maxIPv6ExtensionHeaders { throw DecodeError(tooManyExtensions, at: body.position) }
        }
    }
}

/// The TCP header fields flow tracking uses.
struct TCPSegment {
    var sourcePort: UInt16
    var destinationPort: UInt16
    var seq: UInt32
    var flags: UInt8
    var headerLength: Int
    /// The captured payload bytes (fewer than the segment carried when the snap length cut it).
    var payload: UnsafeRawBufferPointer

    var syn: Bool { flags & 0x02 != 0 }
    var ack: Bool { flags & 0x10 != 0 }
    var fin: Bool { flags & 0x01 != 0 }
    var rst: Bool { flags & 0x04 != 0 }

    static let truncated = DecodeError.Code("tcp.truncated")
    static let badOffset = DecodeError.Code("tcp.bad-data-offset")

    static func decode(_ cursor: ByteCursor) throws(DecodeError) -> TCPSegment {
        var c = cursor
        guard let sp = c.readU16(), let dp = c.readU16(), let seq = c.readU32(), c.skip(4),
              let offsetByte = c.readU8(), let flags = c.readU8(), c.skip(6)
        else { throw DecodeError(truncated, at: c.position, "TCP header") }
        let headerLength = Int(offsetByte >> 4) * 4
        guard headerLength >= 20 else { throw DecodeError(badOffset, at: cursor.position, "data offset \(headerLength)") }
        guard c.skip(headerLength - 20) else { throw DecodeError(truncated, at: c.position, "TCP options") }
        return TCPSegment(sourcePort: sp, destinationPort: dp, seq: seq, flags: flags, headerLength: headerLength, payload: c.rest)
    }
}
