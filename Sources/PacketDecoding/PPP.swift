import ShadowScopeCore

/// PPP framing (RFC 1661 §2, RFC 1662 §3 HDLC-like framing) and PPPoE sessions (RFC 2516 §4), down to
/// the network-layer packet: IPv4 and IPv6 go on, other PPP protocols (LCP, IPCP, CCP) are counted.
enum PPP {
    static let truncated = DecodeError.Code("ppp.truncated")
    static let badPPPoE = DecodeError.Code("pppoe.bad-header")

    /// PPP protocol numbers we decode.
    static let ipv4: UInt16 = 0x0021
    static let ipv6: UInt16 = 0x0057

    /// A PPP frame from its first byte: optional address/control `FF 03`, then the protocol field, one
    /// byte when compressed (an odd first byte, RFC 1661 §6.5) else two.
    static func decode(_ cursor: ByteCursor) throws(DecodeError) -> NetworkPayload {
        var c = cursor
        if c.peekU8() == 0xFF && c.peekU8(ahead: 1) == 0x03 { _ = c.skip(2) }
        guard let first = c.readU8() else { throw DecodeError(truncated, at: c.position, "PPP protocol field") }
        let proto: UInt16
        if first & 1 == 1 {
            proto = UInt16(first)
        } else {
            guard let second = c.readU8() else { throw DecodeError(truncated, at: c.position, "PPP protocol field") }
            proto = UInt16(first) << 8 | UInt16(second)
        }
        let rest = ByteCursor(c.rest, origin: c.position)
        switch proto {
        case ipv4: return .ipv4(rest)
        case ipv6: return .ipv6(rest)
        default: return .otherPPP(proto)
        }
    }

    /// A PPPoE session packet (EtherType 0x8864) after the Ethernet header: version and type 1, code 0,
    /// session id, length, then PPP without address/control. The length bounds the PPP frame.
    static func decodePPPoESession(_ cursor: ByteCursor) throws(DecodeError) -> NetworkPayload {
        var c = cursor
        guard let verType = c.readU8(), let code = c.readU8(), c.skip(2), let length = c.readU16() else {
            throw DecodeError(truncated, at: c.position, "PPPoE header")
        }
        guard verType == 0x11, code == 0 else {
            throw DecodeError(badPPPoE, at: cursor.position, "version/type 0x\(String(verType, radix: 16)), code \(code)")
        }
        // Ethernet pads short frames: keep only the announced length (what was captured if less).
        let body = c.readCursor(min(Int(length), c.remaining)) ?? ByteCursor(c.rest, origin: c.position)
        return try decode(body)
    }
}
