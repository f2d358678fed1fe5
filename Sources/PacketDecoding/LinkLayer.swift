import ShadowScopeCore

/// The link types we decode, by libpcap DLT value (what `pcap_datalink` returns).
public enum LinkType: Sendable, Equatable {
    case ethernet          // DLT_EN10MB 1
    case linuxSLL          // DLT_LINUX_SLL 113 (Linux "cooked" v1)
    case linuxSLL2         // DLT_LINUX_SLL2 276
    case raw               // DLT_RAW 12/14, LINKTYPE_RAW 101, DLT_IPV4 228, DLT_IPV6 229
    case null              // DLT_NULL 0: BSD loopback, 4-byte address family in host byte order
    case ppp               // DLT_PPP 9, DLT_PPP_SERIAL 50 (HDLC-like framing)
    case pppoe             // DLT_PPP_ETHER 51: a PPPoE session header, then PPP

    public init?(dlt: Int32) {
        switch dlt {
        case 1: self = .ethernet
        case 113: self = .linuxSLL
        case 276: self = .linuxSLL2
        case 12, 14, 101, 228, 229: self = .raw
        case 0: self = .null
        case 9, 50: self = .ppp
        case 51: self = .pppoe
        default: return nil
        }
    }
}

/// What a frame carries once the link header is removed.
enum NetworkPayload {
    case ipv4(ByteCursor)
    case ipv6(ByteCursor)
    case other(UInt16)  // an EtherType we do not decode (ARP, LLDP, ...)
    case otherPPP(UInt16)  // a PPP protocol that is not IP (LCP, IPCP, ...)
}

enum LinkLayer {
    /// Most VLAN tags we step over (802.1Q inside 802.1ad QinQ, and one more).
    static let maxVLANTags = 3

    static let truncated = DecodeError.Code("link.truncated")
    static let tooManyTags = DecodeError.Code("link.too-many-vlan-tags")

    /// `origin` is where `frame` starts in the captured frame (non-zero for a frame inside a tunnel).
    static func decode(_ frame: UnsafeRawBufferPointer, linkType: LinkType, origin: Int = 0) throws(DecodeError) -> NetworkPayload {
        var c = ByteCursor(frame, origin: origin)
        let etherType: UInt16
        switch linkType {
        case .ethernet:
            guard c.skip(12), var type = c.readU16() else { throw DecodeError(truncated, at: c.position, "Ethernet header") }
            var tags = 0
            while type == 0x8100 || type == 0x88A8 || type == 0x9100 {
                tags += 1
                guard tags <= maxVLANTags else { throw DecodeError(tooManyTags, at: c.position) }
                guard c.skip(2), let inner = c.readU16() else { throw DecodeError(truncated, at: c.position, "VLAN tag") }
                type = inner
            }
            etherType = type
        case .linuxSLL:
            guard c.skip(14), let type = c.readU16() else { throw DecodeError(truncated, at: c.position, "SLL header") }
            etherType = type
        case .linuxSLL2:
            guard let type = c.readU16(), c.skip(18) else { throw DecodeError(truncated, at: c.position, "SLL2 header") }
            etherType = type
        case .raw:
            guard let first = c.peekU8() else { throw DecodeError(truncated, at: c.position, "empty packet") }
            etherType = first >> 4 == 6 ? 0x86DD : 0x0800
        case .null:
            guard let b0 = c.readU8(), let b1 = c.readU8(), let b2 = c.readU8(), let b3 = c.readU8() else {
                throw DecodeError(truncated, at: c.position, "loopback header")
            }
            // Host byte order of the capturing machine: read both ways. AF_INET is 2 everywhere; AF_INET6
            // is 24, 28 or 30 depending on the BSD.
            let le = UInt32(b0) | UInt32(b1) << 8 | UInt32(b2) << 16 | UInt32(b3) << 24
            let be = UInt32(b3) | UInt32(b2) << 8 | UInt32(b1) << 16 | UInt32(b0) << 24
            let family = min(le, be)
            etherType = family == 2 ? 0x0800 : (family == 24 || family == 28 || family == 30) ? 0x86DD : 0
        case .ppp:
            return try PPP.decode(c)
        case .pppoe:
            return try PPP.decodePPPoESession(c)
        }
        switch etherType {
        case 0x0800: return .ipv4(ByteCursor(c.rest, origin: c.position))
        case 0x86DD: return .ipv6(ByteCursor(c.rest, origin: c.position))
        case 0x8864: return try PPP.decodePPPoESession(ByteCursor(c.rest, origin: c.position))
        default: return .other(etherType)
        }
    }
}
