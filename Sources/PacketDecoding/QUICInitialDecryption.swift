import Crypto
import Foundation
import ShadowScopeCore
import _CryptoExtras

// Step two of three: Initial packet protection (RFC 9001 §5). Keys come from the Destination
// Connection ID of the client's first Initial and a per-version salt, so anyone on the path can remove
// them; that is what lets us read the ClientHello. Input: one packet's bytes and its parsed header.
// Output: the packet number and the plaintext frames, which QUICCryptoFrames.swift parses.

/// AEAD key, IV and header-protection key for one direction's Initial packets.
public struct QUICInitialKeys: Sendable, Equatable {
    public var key: [UInt8]
    public var iv: [UInt8]
    public var hp: [UInt8]

    public init(key: [UInt8], iv: [UInt8], hp: [UInt8]) {
        self.key = key
        self.iv = iv
        self.hp = hp
    }

    /// Keys protecting the client's Initials, from the DCID of its first Initial.
    public static func client(destinationConnectionID dcid: [UInt8], version: QUICVersion) -> QUICInitialKeys {
        derive(dcid: dcid, version: version, direction: "client in")
    }

    /// Keys protecting the server's Initials (same DCID: the client's original choice).
    public static func server(destinationConnectionID dcid: [UInt8], version: QUICVersion) -> QUICInitialKeys {
        derive(dcid: dcid, version: version, direction: "server in")
    }

    private static func derive(dcid: [UInt8], version: QUICVersion, direction: String) -> QUICInitialKeys {
        // HKDF-Extract (RFC 5869 §2.2) is HMAC(salt, IKM).
        var extract = saltKeyed.byVersion[version] ?? HMAC<SHA256>(key: SymmetricKey(data: version.initialSalt))
        extract.update(data: dcid)
        let secret = QUICInitialDecryption.expandLabel(Array(extract.finalize()), label: direction, length: 32)
        // The three expansions of one secret: the HMAC keyed once, a copy for each label.
        let keyed = HMAC<SHA256>(key: SymmetricKey(data: secret))
        let p = version.labelPrefix
        return QUICInitialKeys(key: QUICInitialDecryption.expandLabel(keyedWith: keyed, secret: secret, label: p + "key", length: 16),
                               iv: QUICInitialDecryption.expandLabel(keyedWith: keyed, secret: secret, label: p + "iv", length: 12),
                               hp: QUICInitialDecryption.expandLabel(keyedWith: keyed, secret: secret, label: p + "hp", length: 16))
    }

    /// An HMAC keyed with each version's salt, made once: keying an HMAC (a key block hashed twice,
    /// contexts allocated) cost more than the short message it then takes, and every QUIC flow's
    /// first Initial derives its keys.
    private static let saltKeyed = SaltKeyed(byVersion: Dictionary(uniqueKeysWithValues: QUICVersion.allCases.map {
        ($0, HMAC<SHA256>(key: SymmetricKey(data: $0.initialSalt)))
    }))

    /// Shared by every thread and only copied: a copy that takes data copies its hash contexts first
    /// (swift-crypto's digests are copy-on-write), so the shared ones are never written.
    private struct SaltKeyed: @unchecked Sendable {
        let byVersion: [QUICVersion: HMAC<SHA256>]
    }
}

/// A packet whose protection was removed.
public struct QUICOpenedPacket: Sendable, Equatable {
    public var packetNumber: UInt64
    /// The header with protection removed (first byte and full packet number), as authenticated.
    public var header: [UInt8]
    /// The decrypted frames.
    public var payload: [UInt8]
    /// Reserved bits of the first byte were set after header protection was removed: a protocol
    /// violation (RFC 9000 §17.2) that we flag but do not reject.
    public var reservedBitsSet: Bool
}

public enum QUICInitialDecryption {
    /// AEAD authentication failed: wrong keys (not the first DCID, not this direction) or altered bytes.
    public static let aeadFailed = DecodeError.Code("quic.aead-failed")
    /// Too few bytes after the packet number offset for the header-protection sample and the tag.
    public static let tooShort = DecodeError.Code("quic.packet-too-short")

    static let sampleLength = 16
    static let tagLength = 16

    /// HKDF-Expand-Label (RFC 8446 §7.1) with an empty context, as QUIC uses it.
    static func expandLabel(_ secret: [UInt8], label: String, length: Int) -> [UInt8] {
        expandLabel(keyedWith: HMAC<SHA256>(key: SymmetricKey(data: secret)), secret: secret, label: label, length: length)
    }

    /// `expandLabel` with an HMAC already keyed with `secret` (copied, not changed).
    static func expandLabel(keyedWith keyed: HMAC<SHA256>, secret: [UInt8], label: String, length: Int) -> [UInt8] {
        let full = Array(("tls13 " + label).utf8)
        var info: [UInt8] = [UInt8(truncatingIfNeeded: length >> 8), UInt8(truncatingIfNeeded: length)]
        info.append(UInt8(truncatingIfNeeded: full.count))
        info += full
        info.append(0)
        guard length <= SHA256.Digest.byteCount else {
            let out = HKDF<SHA256>.expand(pseudoRandomKey: SymmetricKey(data: secret), info: info, outputByteCount: length)
            return out.withUnsafeBytes { Array($0) }
        }
        // Every QUIC label fits one block: HKDF-Expand (RFC 5869 §2.3) is then T(1) = HMAC(PRK, info | 0x01),
        // cut to `length`. swift-crypto's general expand cost ten times the HMAC it computes.
        info.append(1)
        var hmac = keyed
        hmac.update(data: info)
        return Array(hmac.finalize().prefix(length))
    }

    /// Removes header protection and opens the AEAD of one Initial/Handshake/0-RTT packet. `packet` is
    /// exactly that packet's bytes (`QUICHeader.next`); `largestPacketNumber` is the largest one already
    /// opened in this packet-number space (nil before the first), for decoding the truncated number.
    public static func open(_ packet: UnsafeRawBufferPointer, header: QUICLongHeader, keys: QUICInitialKeys,
                            largestPacketNumber: UInt64?) throws(DecodeError) -> QUICOpenedPacket {
        let pnOffset = header.packetNumberOffset
        // The sample starts 4 bytes after the packet number offset, whatever the packet number's length.
        var sc = ByteCursor(packet)
        guard sc.skip(pnOffset + 4), let sampleBytes = sc.readBytes(sampleLength) else {
            throw DecodeError(tooShort, at: pnOffset, "\(packet.count - pnOffset) bytes after the packet number offset")
        }
        var mask = Array(sampleBytes)
        do {
            try AES.permute(&mask, key: SymmetricKey(data: keys.hp))
        } catch {
            throw DecodeError(aeadFailed, at: pnOffset, "header protection: \(error)")
        }
        var c = ByteCursor(packet)
        guard let firstProtected = c.readU8(), let middle = c.readBytes(pnOffset - 1) else {
            throw DecodeError(tooShort, at: 0, "header")
        }
        let first = firstProtected ^ (mask[0] & 0x0F)  // long header: low 4 bits protected
        let pnLength = Int(first & 0x03) + 1
        guard let pnProtected = c.readBytes(pnLength) else { throw DecodeError(tooShort, at: pnOffset, "packet number") }
        var truncatedPN: UInt64 = 0
        var unprotected: [UInt8] = [first]
        unprotected += middle
        for (i, b) in pnProtected.enumerated() {
            let plain = b ^ mask[i + 1]
            unprotected.append(plain)
            truncatedPN = truncatedPN << 8 | UInt64(plain)
        }
        guard c.remaining >= tagLength, let ciphertext = c.readBytes(c.remaining - tagLength), let tag = c.readBytes(tagLength) else {
            throw DecodeError(tooShort, at: c.position, "payload shorter than the AEAD tag")
        }
        let pn = decodePacketNumber(truncated: truncatedPN, lengthInBytes: pnLength, largest: largestPacketNumber)
        var nonce = keys.iv
        for i in 0..<8 where nonce.count - 1 - i >= 0 {
            nonce[nonce.count - 1 - i] ^= UInt8(truncatingIfNeeded: pn >> (8 * UInt64(i)))
        }
        let plaintext: Data
        do {
            let box = try AES.GCM.SealedBox(nonce: AES.GCM.Nonce(data: nonce), ciphertext: Data(ciphertext), tag: Data(tag))
            plaintext = try AES.GCM.open(box, using: SymmetricKey(data: keys.key), authenticating: unprotected)
        } catch {
            throw DecodeError(aeadFailed, at: pnOffset, "packet number \(pn)")
        }
        return QUICOpenedPacket(packetNumber: pn, header: unprotected, payload: Array(plaintext),
                                reservedBitsSet: first & 0x0C != 0)
    }

    /// RFC 9000 Appendix A.3: the full packet number closest to the one expected next.
    public static func decodePacketNumber(truncated: UInt64, lengthInBytes: Int, largest: UInt64?) -> UInt64 {
        let bits = UInt64(max(1, min(4, lengthInBytes)) * 8)
        let expected = Int64(clamping: (largest ?? UInt64.max) &+ 1)  // nil: expect packet 0
        let window = Int64(1) << bits
        let half = window / 2
        let candidate = (expected & ~(window - 1)) | Int64(truncated & UInt64(window - 1))
        if candidate <= expected - half && candidate < (Int64(1) << 62) - window {
            return UInt64(clamping: candidate + window)
        }
        if candidate > expected + half && candidate >= window {
            return UInt64(clamping: candidate - window)
        }
        return UInt64(clamping: candidate)
    }
}
