import ShadowScopeCore

/// GRE (RFC 2784 with the key and sequence fields of RFC 2890; version 1, PPTP's enhanced GRE, RFC
/// 2637 §4.1) down to what it carries: IPv4, IPv6, an Ethernet frame (transparent bridging 0x6558),
/// PPP (PPTP), or a mirrored frame in ERSPAN type I, II or III.
enum GRE {
    static let truncated = DecodeError.Code("gre.truncated")
    static let unsupported = DecodeError.Code("gre.unsupported")

    /// `cursor` is the IP payload (protocol 47).
    static func decode(_ cursor: ByteCursor) throws(DecodeError) -> NetworkPayload {
        var c = cursor
        guard let flags = c.readU16(), let proto = c.readU16() else { throw DecodeError(truncated, at: c.position, "GRE header") }
        let version = flags & 0x7
        let checksum = flags & 0x8000 != 0, routing = flags & 0x4000 != 0
        let key = flags & 0x2000 != 0, sequence = flags & 0x1000 != 0, ack = flags & 0x0080 != 0
        // Source routing (RFC 1701) is deprecated and variable-length: not worth walking.
        guard !routing else { throw DecodeError(unsupported, at: cursor.position, "GRE with source routing") }
        switch version {
        case 0:
            let optional = (checksum ? 4 : 0) + (key ? 4 : 0) + (sequence ? 4 : 0)
            guard c.skip(optional) else { throw DecodeError(truncated, at: c.position, "GRE optional fields") }
        case 1:
            // Enhanced GRE: the key (payload length and call id) is always there; ack optional.
            guard proto == 0x880B, key else { throw DecodeError(unsupported, at: cursor.position, "GRE version 1 protocol 0x\(String(proto, radix: 16))") }
            guard c.skip(4 + (sequence ? 4 : 0) + (ack ? 4 : 0)) else { throw DecodeError(truncated, at: c.position, "GRE optional fields") }
        default:
            throw DecodeError(unsupported, at: cursor.position, "GRE version \(version)")
        }
        let rest = ByteCursor(c.rest, origin: c.position)
        switch proto {
        case 0x0800: return .ipv4(rest)
        case 0x86DD: return .ipv6(rest)
        case 0x6558: return try LinkLayer.decode(rest.rest, linkType: .ethernet, origin: rest.position)
        case 0x880B: return rest.isAtEnd ? .otherPPP(0) : try PPP.decode(rest)  // PPTP: an ack alone has no payload
        case 0x88BE:
            // ERSPAN type II has an 8-byte header and sets the sequence bit; type I has neither.
            var e = rest
            if sequence {
                guard e.skip(8) else { throw DecodeError(truncated, at: e.position, "ERSPAN II header") }
            }
            return try LinkLayer.decode(e.rest, linkType: .ethernet, origin: e.position)
        case 0x22EB:
            // ERSPAN type III: a 12-byte header, and an 8-byte platform subheader when its O bit is set.
            var e = rest
            guard e.skip(11), let last = e.readU8() else { throw DecodeError(truncated, at: e.position, "ERSPAN III header") }
            if last & 1 == 1 {
                guard e.skip(8) else { throw DecodeError(truncated, at: e.position, "ERSPAN III subheader") }
            }
            return try LinkLayer.decode(e.rest, linkType: .ethernet, origin: e.position)
        default:
            return .other(proto)
        }
    }
}
