import ShadowScopeCore

// QUIC packet headers (RFC 8999 invariants, RFC 9000 §17, RFC 9369 §3): step one of three. This file only
// splits a UDP datagram into packets and reads their cleartext header fields; removing protection is
// QUICInitialDecryption.swift, frames and CRYPTO reassembly are QUICCryptoFrames.swift.

/// The QUIC versions whose Initial packets we can decrypt.
public enum QUICVersion: UInt32, Sendable, CaseIterable {
    case v1 = 0x0000_0001       // RFC 9000 / RFC 9001
    case v2 = 0x6B33_43CF       // RFC 9369
    case draft29 = 0xFF00_001D  // draft-ietf-quic-transport-29, still sent by older stacks
    // Google QUIC with IETF long headers and draft-style Initial protection, their own salts (Chromium's
    // quic_versions.cc; the same in Wireshark and nDPI) and gQUIC frames inside (GoogleQUIC.swift).
    case q050 = 0x5130_3530     // "Q050": the handshake is a CHLO message
    case t050 = 0x5430_3530     // "T050": a TLS ClientHello
    case t051 = 0x5430_3531     // "T051": a TLS ClientHello

    /// The salt for HKDF-Extract of the Initial secret (RFC 9001 §5.2, RFC 9369 §3.3.1, draft-29 §5.2).
    public var initialSalt: [UInt8] {
        switch self {
        case .v1: [0x38, 0x76, 0x2C, 0xF7, 0xF5, 0x59, 0x34, 0xB3, 0x4D, 0x17,
                   0x9A, 0xE6, 0xA4, 0xC8, 0x0C, 0xAD, 0xCC, 0xBB, 0x7F, 0x0A]
        case .v2: [0x0D, 0xED, 0xE3, 0xDE, 0xF7, 0x00, 0xA6, 0xDB, 0x81, 0x93,
                   0x81, 0xBE, 0x6E, 0x26, 0x9D, 0xCB, 0xF9, 0xBD, 0x2E, 0xD9]
        case .draft29: [0xAF, 0xBF, 0xEC, 0x28, 0x99, 0x93, 0xD2, 0x4C, 0x9E, 0x97,
                        0x86, 0xF1, 0x9C, 0x61, 0x11, 0xE0, 0x43, 0x90, 0xA8, 0x99]
        case .q050: [0x50, 0x45, 0x74, 0xEF, 0xD0, 0x66, 0xFE, 0x2F, 0x9D, 0x94,
                     0x5C, 0xFC, 0xDB, 0xD3, 0xA7, 0xF0, 0xD3, 0xB5, 0x6B, 0x45]
        case .t050: [0x7F, 0xF5, 0x79, 0xE5, 0xAC, 0xD0, 0x72, 0x91, 0x55, 0x80,
                     0x30, 0x4C, 0x43, 0xA2, 0x36, 0x7C, 0x60, 0x48, 0x83, 0x10]
        case .t051: [0x7A, 0x4E, 0xDE, 0xF4, 0xE7, 0xCC, 0xEE, 0x5F, 0xA4, 0x50,
                     0x6C, 0x19, 0x12, 0x4F, 0xC8, 0xCC, 0xDA, 0x6E, 0x03, 0x3D]
        }
    }

    /// Google QUIC: the decrypted payload holds gQUIC frames (CRYPTO is type 0x08), not IETF ones.
    public var usesGoogleFrames: Bool { self == .q050 || self == .t050 || self == .t051 }

    /// Prefix of the packet-protection labels: "quic key" / "quicv2 key" (RFC 9369 §3.3.2).
    public var labelPrefix: String { self == .v2 ? "quicv2 " : "quic " }

    /// The long packet type from the two type bits of the first byte; v2 permutes them (RFC 9369 §3.2).
    public func packetType(bits: UInt8) -> QUICLongPacketType {
        switch (self, bits & 0x03) {
        case (.v2, 0): .retry
        case (.v2, 1): .initial
        case (.v2, 2): .zeroRTT
        case (.v2, _): .handshake
        case (_, 0): .initial
        case (_, 1): .zeroRTT
        case (_, 2): .handshake
        default: .retry
        }
    }

    /// The two type bits that encode `type` in this version (for building test packets).
    public func typeBits(_ type: QUICLongPacketType) -> UInt8 {
        switch (self, type) {
        case (.v2, .retry): 0
        case (.v2, .initial): 1
        case (.v2, .zeroRTT): 2
        case (.v2, .handshake): 3
        case (_, .initial): 0
        case (_, .zeroRTT): 1
        case (_, .handshake): 2
        case (_, .retry): 3
        }
    }
}

public enum QUICLongPacketType: Sendable, Equatable {
    case initial, zeroRTT, handshake, retry
}

/// The cleartext part of an Initial, 0-RTT or Handshake packet.
public struct QUICLongHeader: Sendable, Equatable {
    public var version: QUICVersion
    public var type: QUICLongPacketType
    public var destinationConnectionID: [UInt8]
    public var sourceConnectionID: [UInt8]
    /// Length of the Initial's token (0 for other types); the token itself is not kept.
    public var tokenLength: Int
    /// Where the (protected) packet number starts, counted from the packet's first byte.
    public var packetNumberOffset: Int
    /// Bytes of the whole packet: header, packet number and protected payload (what Length covers).
    public var packetLength: Int
}

/// One packet of a datagram, as far as its header tells.
public enum QUICPacket: Sendable, Equatable {
    /// Initial, 0-RTT or Handshake packet of a version we decode.
    case long(QUICLongHeader)
    /// A Retry (RFC 9000 §17.2.5): sent by the server, never decrypted. Runs to the datagram's end.
    case retry(version: QUICVersion, destinationConnectionID: [UInt8], sourceConnectionID: [UInt8])
    /// Version Negotiation (version 0, RFC 9000 §17.2.1): the versions the server offers.
    case versionNegotiation(destinationConnectionID: [UInt8], sourceConnectionID: [UInt8], versions: [UInt32])
    /// A long header of a QUIC version we recognise but do not decrypt (Google QUIC Q046, whose packets
    /// are cleartext and read by `GoogleQUIC`, and other Q0xx/T0xx, other IETF drafts, greased versions).
    /// Runs to the datagram's end.
    case unsupportedVersion(UInt32)
    /// A short (1-RTT) header: its length is not on the wire, so it runs to the datagram's end.
    case short
}

public enum QUICHeader {
    /// Longest connection ID in versions 1, 2 and draft-29 (RFC 9000 §17.2).
    public static let maxConnectionIDLength = 20
    /// Length of the Retry Integrity Tag that ends a Retry packet (RFC 9001 §5.8).
    public static let retryTagLength = 16

    public static let truncated = DecodeError.Code("quic.truncated")
    public static let badHeader = DecodeError.Code("quic.bad-header")

    /// Reads the packet at the cursor and moves the cursor past it (to the next coalesced packet, or
    /// the end). Returns nil, without moving, when the bytes do not start a QUIC packet we recognise:
    /// neither a long header with the fixed bit and a known version, nor a Version Negotiation, nor a
    /// short header (`.short` is only a guess; the caller decides what it believes).
    /// Throws `truncated` when the packet runs past the datagram, `badHeader` on impossible fields.
    public static func parse(_ c: inout ByteCursor) throws(DecodeError) -> QUICPacket? {
        let start = c
        guard let first = c.peekU8() else { return nil }
        if first & 0x80 == 0 {
            guard first & 0x40 != 0 else { return nil }
            _ = c.skip(c.remaining)
            return .short
        }
        guard c.skip(1), let wireVersion = c.readU32() else {
            throw DecodeError(truncated, at: c.position, "long header version")
        }
        if wireVersion == 0 {
            let (dcid, scid) = try connectionIDs(&c, limit: 255)
            guard c.remaining > 0, c.remaining % 4 == 0 else {
                throw DecodeError(badHeader, at: c.position, "Version Negotiation list of \(c.remaining) bytes")
            }
            var versions: [UInt32] = []
            while let v = c.readU32() { versions.append(v) }  // bounded by the datagram
            return .versionNegotiation(destinationConnectionID: dcid, sourceConnectionID: scid, versions: versions)
        }
        guard let version = QUICVersion(rawValue: wireVersion) else {
            guard isRecognisedOtherVersion(wireVersion) else {
                c = start
                return nil
            }
            _ = c.skip(c.remaining)
            return .unsupportedVersion(wireVersion)
        }
        guard first & 0x40 != 0 else {
            c = start
            return nil
        }
        let (dcid, scid) = try connectionIDs(&c, limit: maxConnectionIDLength)
        let type = version.packetType(bits: first >> 4)
        if type == .retry {
            guard c.remaining >= retryTagLength else { throw DecodeError(truncated, at: c.position, "Retry integrity tag") }
            _ = c.skip(c.remaining)
            return .retry(version: version, destinationConnectionID: dcid, sourceConnectionID: scid)
        }
        var tokenLength = 0
        if type == .initial {
            guard let rawToken = c.readQUICVarint() else { throw DecodeError(truncated, at: c.position, "token length") }
            guard let n = Int(exactly: rawToken), c.skip(n) else {
                throw DecodeError(truncated, at: c.position, "token of \(rawToken) bytes")
            }
            tokenLength = n
        }
        guard let rawLength = c.readQUICVarint() else { throw DecodeError(truncated, at: c.position, "packet length") }
        let pnOffset = c.offset - start.offset
        guard let length = Int(exactly: rawLength), c.skip(length) else {
            throw DecodeError(truncated, at: c.position, "packet of \(rawLength) bytes, \(c.remaining) here")
        }
        let header = QUICLongHeader(version: version, type: type, destinationConnectionID: dcid, sourceConnectionID: scid,
                                    tokenLength: tokenLength, packetNumberOffset: pnOffset, packetLength: pnOffset + length)
        return .long(header)
    }

    /// The next packet and its bytes (for decryption), moving the cursor past it.
    public static func next(_ c: inout ByteCursor) throws(DecodeError) -> (packet: QUICPacket, bytes: UnsafeRawBufferPointer)? {
        var before = c
        guard let packet = try parse(&c) else { return nil }
        guard let bytes = before.readBytes(c.offset - before.offset) else { return nil }
        return (packet, bytes)
    }

    private static func connectionIDs(_ c: inout ByteCursor, limit: Int) throws(DecodeError) -> ([UInt8], [UInt8]) {
        guard let dl = c.readU8() else { throw DecodeError(truncated, at: c.position, "DCID length") }
        guard Int(dl) <= limit else { throw DecodeError(badHeader, at: c.position - 1, "DCID of \(dl) bytes") }
        guard let dcid = c.readBytes(Int(dl)) else { throw DecodeError(truncated, at: c.position, "DCID") }
        guard let sl = c.readU8() else { throw DecodeError(truncated, at: c.position, "SCID length") }
        guard Int(sl) <= limit else { throw DecodeError(badHeader, at: c.position - 1, "SCID of \(sl) bytes") }
        guard let scid = c.readBytes(Int(sl)) else { throw DecodeError(truncated, at: c.position, "SCID") }
        return (Array(dcid), Array(scid))
    }

    /// Google QUIC with an IETF-style long header ("Q046", "Q050", "T050", "T051"...), IETF drafts
    /// (0xff0000xx) and greased versions (0x?a?a?a?a, RFC 9000 §15).
    static func isRecognisedOtherVersion(_ v: UInt32) -> Bool {
        let b0 = UInt8(truncatingIfNeeded: v >> 24), b1 = UInt8(truncatingIfNeeded: v >> 16)
        let b2 = UInt8(truncatingIfNeeded: v >> 8), b3 = UInt8(truncatingIfNeeded: v)
        let digits = (0x30...0x39).contains(b1) && (0x30...0x39).contains(b2) && (0x30...0x39).contains(b3)
        if (b0 == UInt8(ascii: "Q") || b0 == UInt8(ascii: "T")) && digits { return true }
        if v & 0xFFFF_FF00 == 0xFF00_0000 { return true }
        return v & 0x0F0F_0F0F == 0x0A0A_0A0A
    }
}

extension ByteCursor {
    /// A QUIC variable-length integer (RFC 9000 §16): the first byte's two high bits give its length
    /// (1, 2, 4 or 8 bytes), the value is at most 2^62 - 1. Nil when too few bytes remain; the cursor
    /// moves only on success. Convert with `Int(exactly:)`.
    public mutating func readQUICVarint() -> UInt64? {
        guard let first = peekU8() else { return nil }
        let length = 1 << Int(first >> 6)
        guard remaining >= length else { return nil }  // readU64 alone would move on a partial read
        switch length {
        case 1: return readU8().map { UInt64($0) }
        case 2: return readU16().map { UInt64($0 & 0x3FFF) }
        case 4: return readU32().map { UInt64($0 & 0x3FFF_FFFF) }
        default: return readU64().map { $0 & 0x3FFF_FFFF_FFFF_FFFF }
        }
    }
}
