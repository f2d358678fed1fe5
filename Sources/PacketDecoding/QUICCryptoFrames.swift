import ShadowScopeCore

// Step three of three: the frames of a decrypted Initial packet (RFC 9000 §12.4, §19) and the
// reassembly of their CRYPTO data into the TLS handshake stream. Input: plaintext bytes. No crypto here.

public enum QUICFrames {
    /// One CRYPTO frame: `data` belongs at `offset` of the Initial-level handshake stream.
    public struct CryptoFrame: Sendable, Equatable {
        public var offset: UInt64
        public var data: [UInt8]
    }

    /// What an Initial packet's payload held.
    public struct Parsed: Sendable, Equatable {
        public var crypto: [CryptoFrame] = []
        public var paddingBytes = 0
        public var pings = 0
        public var acks = 0
        /// Error code of a CONNECTION_CLOSE (type 0x1c) frame, when one was present.
        public var connectionCloseError: UInt64?
        /// A frame type that may not appear in an Initial packet stopped parsing (an anomaly: the frames
        /// before it are kept). Its type is `unexpectedFrameType`.
        public var anomaly: DecodeError.Code?
        public var unexpectedFrameType: UInt64?
    }

    /// A frame's fields run past the payload or hold impossible values.
    public static let badFrame = DecodeError.Code("quic.bad-frame")
    /// Anomaly (not thrown): a frame type other than PADDING, PING, ACK, CRYPTO, CONNECTION_CLOSE.
    public static let unexpectedFrame = DecodeError.Code("quic.unexpected-frame-in-initial")

    /// Parses every frame of a decrypted Initial payload. Throws `badFrame` when a frame is cut short;
    /// stops with `anomaly` set at a frame type Initial packets may not carry.
    public static func parse(_ payload: UnsafeRawBufferPointer) throws(DecodeError) -> Parsed {
        var c = ByteCursor(payload)
        var out = Parsed()
        while !c.isAtEnd {  // every pass consumes at least one byte
            let frameStart = c.position
            guard let type = c.readQUICVarint() else { throw DecodeError(badFrame, at: frameStart, "frame type") }
            switch type {
            case 0x00:
                out.paddingBytes += 1
                while c.peekU8() == 0 {  // runs of PADDING: consume them in one go
                    _ = c.skip(1)
                    out.paddingBytes += 1
                }
            case 0x01:
                out.pings += 1
            case 0x02, 0x03:
                try skipACK(&c, ecn: type == 0x03, at: frameStart)
                out.acks += 1
            case 0x06:
                guard let offset = c.readQUICVarint(), let rawLength = c.readQUICVarint(),
                      let length = Int(exactly: rawLength), let data = c.readBytes(length)
                else { throw DecodeError(badFrame, at: frameStart, "CRYPTO frame runs past the packet") }
                out.crypto.append(CryptoFrame(offset: offset, data: Array(data)))
            case 0x1C:
                guard let code = c.readQUICVarint(), c.readQUICVarint() != nil, let rawLength = c.readQUICVarint(),
                      let length = Int(exactly: rawLength), c.skip(length)
                else { throw DecodeError(badFrame, at: frameStart, "CONNECTION_CLOSE runs past the packet") }
                out.connectionCloseError = code
            default:
                out.anomaly = unexpectedFrame
                out.unexpectedFrameType = type
                return out
            }
        }
        return out
    }

    /// ACK and ACK_ECN (RFC 9000 §19.3): largest, delay, range count, first range, then count x (gap,
    /// length), then three ECN counts. The loop is bounded by the payload: each range reads 2+ bytes.
    private static func skipACK(_ c: inout ByteCursor, ecn: Bool, at start: Int) throws(DecodeError) {
        guard c.readQUICVarint() != nil, c.readQUICVarint() != nil, let rangeCount = c.readQUICVarint(),
              c.readQUICVarint() != nil
        else { throw DecodeError(badFrame, at: start, "ACK header") }
        var left = rangeCount
        while left > 0 {
            guard c.readQUICVarint() != nil, c.readQUICVarint() != nil else {
                throw DecodeError(badFrame, at: start, "ACK announces \(rangeCount) ranges")
            }
            left -= 1
        }
        if ecn {
            guard c.readQUICVarint() != nil, c.readQUICVarint() != nil, c.readQUICVarint() != nil else {
                throw DecodeError(badFrame, at: start, "ACK_ECN counts")
            }
        }
    }
}

/// The Initial-level CRYPTO stream put back together: frames may arrive in any order, repeat, overlap
/// or leave gaps; `contiguous` counts the bytes from offset 0 with no gap. Memory is bounded by
/// `maxCryptoBytes` (plus a bitmap of an eighth of that).
public struct QUICCryptoStream: Sendable {
    /// Highest stream offset (exclusive) we store. A ClientHello is capped at
    /// `TLSClientHello.maxHelloBytes` (16 KB) anyway; Initial CRYPTO data beyond is of no use to us.
    public static let maxCryptoBytes = 16_384

    /// A CRYPTO frame reaches past `maxCryptoBytes`; it is dropped and counted.
    public static let beyondLimit = DecodeError.Code("quic.crypto-beyond-limit")

    private var buffer: [UInt8] = []
    private var received: [UInt64] = []  // one bit per buffered byte
    /// Bytes from offset 0 without a gap.
    public private(set) var contiguous = 0
    /// Frames rejected because offset + length exceeded `maxCryptoBytes`.
    public private(set) var framesBeyondLimit = 0

    public init() {}

    /// Stores one CRYPTO frame's data. Throws `beyondLimit` (and counts it) when it would end past
    /// `maxCryptoBytes`; nothing of that frame is stored.
    public mutating func add(offset: UInt64, data: [UInt8]) throws(DecodeError) {
        guard let start = Int(exactly: offset), start <= Self.maxCryptoBytes,
              data.count <= Self.maxCryptoBytes - start
        else {
            framesBeyondLimit += 1
            throw DecodeError(Self.beyondLimit, at: 0, "CRYPTO data at \(offset) + \(data.count) > \(Self.maxCryptoBytes)")
        }
        let end = start + data.count
        if buffer.count < end {
            buffer += [UInt8](repeating: 0, count: end - buffer.count)
            let words = (end + 63) / 64
            if received.count < words { received += [UInt64](repeating: 0, count: words - received.count) }
        }
        // Indices are within buffer/received by the two checks above.
        for (i, byte) in zip(start..<end, data) {
            buffer[i] = byte
            received[i >> 6] |= 1 << UInt64(i & 63)
        }
        while contiguous < buffer.count && received[contiguous >> 6] & (1 << UInt64(contiguous & 63)) != 0 {
            contiguous += 1
        }
    }

    /// The gap-free bytes from offset 0.
    public var contiguousPrefix: ArraySlice<UInt8> { buffer.prefix(contiguous) }
}
