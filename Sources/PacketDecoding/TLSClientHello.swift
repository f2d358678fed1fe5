import ShadowScopeCore

/// Finds the server name in a TLS ClientHello (RFC 8446 §4.1.2, RFC 6066 §3) from the start of the
/// client's byte stream. The handshake message may span several TLS records; the caller keeps
/// feeding a longer prefix while the result is `.needMoreData`.
public enum TLSClientHello {
    /// Largest ClientHello we reassemble. Post-quantum key shares make real ones 1.7–2 KB; 16 KB is
    /// far above any real client and bounds what one flow can make us buffer.
    public static let maxHelloBytes = 16_384
    /// Most TLS records one ClientHello may be fragmented into.
    public static let maxRecords = 16

    public struct Hello: Sendable, Equatable {
        /// The first `host_name` entry, normalised; nil when absent or not a valid DNS name.
        public var serverName: String?
        /// The client offered Encrypted Client Hello (extension 0xfe0d): `serverName` is the outer,
        /// public name, not the real destination.
        public var offersECH: Bool
        /// A server_name extension was present but its name was not a valid host name.
        public var invalidServerName: Bool
    }

    public enum Result: Sendable, Equatable {
        case needMoreData
        case notTLS
        case hello(Hello)
    }

    public static let badRecord = DecodeError.Code("tls.bad-record")
    public static let badHandshake = DecodeError.Code("tls.bad-handshake")
    public static let tooLarge = DecodeError.Code("tls.hello-too-large")
    public static let badExtension = DecodeError.Code("tls.bad-extension")

    /// Parses the client's first bytes. Throws when they are TLS but malformed.
    public static func parse(_ stream: UnsafeRawBufferPointer) throws(DecodeError) -> Result {
        var c = ByteCursor(stream)
        guard let firstType = c.peekU8() else { return .needMoreData }
        guard firstType == 22 else { return .notTLS }
        // Gather the handshake bytes out of consecutive handshake records.
        var handshake: [UInt8] = []
        var records = 0
        var needed: Int? = nil
        while needed.map({ handshake.count < $0 }) ?? true {
            guard let type = c.readU8(), let major = c.readU8(), c.skip(1), let length = c.readU16() else { return .needMoreData }
            guard type == 22 else { throw DecodeError(badRecord, at: c.position - 5, "record type \(type) inside ClientHello") }
            guard major == 3 else {
                if records == 0 { return .notTLS }  // e.g. an SSLv2-compatible hello or not TLS at all
                throw DecodeError(badRecord, at: c.position - 4, "record version \(major).x")
            }
            guard length > 0, length <= 16_384 + 2048 else { throw DecodeError(badRecord, at: c.position - 2, "record length \(length)") }
            records += 1
            guard records <= maxRecords else { throw DecodeError(tooLarge, at: c.position, "more than \(maxRecords) records") }
            guard let body = c.readBytes(Int(length)) else {
                // Judge the handshake header as soon as it is here, so a hostile length is rejected
                // before we buffer up to it.
                if needed == nil { _ = try helloLength(handshake + Array(c.rest)) }
                return .needMoreData
            }
            handshake.append(contentsOf: body)
            if needed == nil { needed = try helloLength(handshake) }
        }
        let total = needed ?? 0
        let parsed = handshake.withUnsafeBytes { raw in
            Swift.Result { () throws(DecodeError) in try parseHello(UnsafeRawBufferPointer(rebasing: raw[4..<total])) }
        }
        return .hello(try parsed.get())
    }

    /// Parses the client's first bytes held in an array.
    public static func parse(_ stream: [UInt8]) throws(DecodeError) -> Result {
        let parsed = stream.withUnsafeBytes { raw in Swift.Result { () throws(DecodeError) in try parse(raw) } }
        return try parsed.get()
    }

    /// Parses a bare handshake message with no record header, as QUIC CRYPTO frames carry it (RFC 9001
    /// §4): `.needMoreData` until the whole ClientHello is here; never `.notTLS`. Error offsets are
    /// those of the record-framed form (5 more than in `message`).
    public static func parseHandshake(_ message: UnsafeRawBufferPointer) throws(DecodeError) -> Result {
        var c = ByteCursor(message)
        guard let header = c.readBytes(4) else { return .needMoreData }
        guard let total = try helloLength(Array(header)), let body = c.readBytes(total - 4) else { return .needMoreData }
        return .hello(try parseHello(body))
    }

    /// A bare handshake message held in an array.
    public static func parseHandshake(_ message: [UInt8]) throws(DecodeError) -> Result {
        let parsed = message.withUnsafeBytes { raw in Swift.Result { () throws(DecodeError) in try parseHandshake(raw) } }
        return try parsed.get()
    }

    /// The whole handshake message's size from its 4-byte header, nil while fewer bytes are here.
    private static func helloLength(_ handshake: [UInt8]) throws(DecodeError) -> Int? {
        guard handshake.count >= 4 else { return nil }
        guard handshake[0] == 1 else { throw DecodeError(badHandshake, at: 5, "handshake type \(handshake[0]), not ClientHello") }
        let len = Int(handshake[1]) << 16 | Int(handshake[2]) << 8 | Int(handshake[3])
        guard len + 4 <= maxHelloBytes else { throw DecodeError(tooLarge, at: 6, "ClientHello of \(len) bytes") }
        return len + 4
    }

    /// Parses the ClientHello body (after the 4-byte handshake header).
    static func parseHello(_ body: UnsafeRawBufferPointer) throws(DecodeError) -> Hello {
        var c = ByteCursor(body, origin: 9)
        guard c.skip(2 + 32),  // legacy_version, random
              let sessionLength = c.readU8(), sessionLength <= 32, c.skip(Int(sessionLength)),
              let suitesLength = c.readU16(), suitesLength % 2 == 0, c.skip(Int(suitesLength)),
              let compressionLength = c.readU8(), compressionLength >= 1, c.skip(Int(compressionLength))
        else { throw DecodeError(badHandshake, at: c.position, "ClientHello fields before extensions") }
        var hello = Hello(serverName: nil, offersECH: false, invalidServerName: false)
        if c.isAtEnd { return hello }  // no extensions at all: a valid, old-style hello
        guard let extLength = c.readU16(), var exts = c.readCursor(Int(extLength)) else {
            throw DecodeError(badExtension, at: c.position, "extensions length beyond the ClientHello")
        }
        var seenSNI = false
        while !exts.isAtEnd {
            guard let type = exts.readU16(), let length = exts.readU16(), var ext = exts.readCursor(Int(length)) else {
                throw DecodeError(badExtension, at: exts.position, "extension header or length")
            }
            switch type {
            case 0x0000:
                guard !seenSNI else { throw DecodeError(badExtension, at: ext.position, "two server_name extensions") }
                seenSNI = true
                (hello.serverName, hello.invalidServerName) = try serverName(&ext)
            case 0xFE0D:
                hello.offersECH = true
            default:
                break
            }
        }
        return hello
    }

    /// `name` without a trailing `:port`. RFC 6066 §3 allows no port in a HostName, but some clients
    /// send one (quic-go's interop client sends `server4:443`); the host before it is what they meant.
    static func withoutPort(_ name: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        guard let colon = name.lastIndex(of: 0x3A) else { return name }
        let digits = name.count - colon - 1
        guard colon > 0, (1...5).contains(digits), name[(colon + 1)...].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return name }
        return UnsafeRawBufferPointer(rebasing: name[..<colon])
    }

    private static func serverName(_ ext: inout ByteCursor) throws(DecodeError) -> (String?, Bool) {
        if ext.isAtEnd { return (nil, false) }  // empty server_name (a server's echo): not an error
        guard let listLength = ext.readU16(), var list = ext.readCursor(Int(listLength)) else {
            throw DecodeError(badExtension, at: ext.position, "server_name list length")
        }
        while !list.isAtEnd {
            guard let nameType = list.readU8(), let nameLength = list.readU16(), let name = list.readBytes(Int(nameLength)) else {
                throw DecodeError(badExtension, at: list.position, "server_name entry")
            }
            if nameType == 0 {
                if let host = normalizeHost(withoutPort(name)) { return (host, false) }
                return (nil, true)
            }
        }
        return (nil, false)
    }
}
