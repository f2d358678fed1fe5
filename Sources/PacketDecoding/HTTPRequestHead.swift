import ShadowScopeCore

/// The head of an HTTP/1.x request (RFC 9112 §2–§3, §5; RFC 9110 §7.2 Host) from the start of a client's
/// TCP byte stream: method, request target, version and the host it names. The caller keeps feeding a
/// longer prefix while the result is `.needMoreData`; the answer depends only on the bytes, never on how
/// they were split.
///
/// Decisions:
/// - The method must be 1–`maxMethodBytes` upper-case letters, `-` or `_`, then one space; anything else
///   (a lower-case `get`, a TLS record, an SSH banner, a leading empty line) is `.notHTTP`. Methods are
///   case-sensitive (RFC 9110 §9.1), no real client sends `get`, and text protocols that start with a
///   lower-case word and a space (`ehlo x`, `nick x`) must not count as broken HTTP.
/// - The HTTP/2 connection preface (`PRI * HTTP/2.0`) is `.notHTTP`; other versions than 1.x are invalid.
/// - Line folding (obs-fold, a line starting with space or tab) is rejected (RFC 9112 §5.2 allows it), as
///   are a space before the colon (§5.1) and two Host header lines (§3.2): each can make two parsers
///   disagree about the host.
/// - A bare LF ends a line (§2.2 allows it) and is flagged; a CR elsewhere in a field line is invalid (in
///   the request line it is white space, below).
/// - obs-text (bytes 0x80–0xFF) is allowed in field values other than Host, where the host is then
///   unusable (nil, flagged `badHost`); in the method it is `.notHTTP`, in the target or a field name
///   invalid.
/// - A missing Host is flagged on HTTP/1.1 (§3.2 makes it a 400) and is normal on HTTP/1.0.
/// - The request line is split on runs of white space (SP, HTAB, VT, FF, CR), as RFC 9112 §3 lets a
///   recipient do: the first word is the method, the last the version, everything between the target.
///   A line that needed this (several spaces, a space or a byte outside 0x21–0x7E in the target), or a
///   target of none of the four forms, is flagged `malformedRequestLine` and still read: Zeek and
///   tshark read the Host of such requests, and so must we. HTTP/0.9 (no version) stays invalid.
public enum HTTPRequestHead {
    /// Largest request head (request line through the empty line) we wait for. Real heads are well under
    /// 2 KB; 16 KB matches common server defaults and bounds what one flow makes us buffer.
    public static let maxHeadBytes = 16_384
    /// Longest method token (registered ones are at most 17 bytes: UPDATEREDIRECTREF).
    public static let maxMethodBytes = 24

    public static let badRequestLine = DecodeError.Code("http.bad-request-line")
    public static let unsupportedVersion = DecodeError.Code("http.unsupported-version")
    public static let badHeader = DecodeError.Code("http.bad-header")
    public static let obsFold = DecodeError.Code("http.obs-fold")
    public static let duplicateHost = DecodeError.Code("http.duplicate-host")
    public static let headTooLarge = DecodeError.Code("http.head-too-large")
    public static let badConnectTarget = DecodeError.Code("http.bad-connect-target")

    /// Recoverable oddities on a request that is still returned.
    public enum Anomaly: String, Sendable, Hashable, CaseIterable {
        /// HTTP/1.1 without a Host header line.
        case missingHost = "http.missing-host"
        /// A Host header or URL/CONNECT authority that is not a host name, IP literal or port.
        case badHost = "http.bad-host"
        /// The absolute-form URL names another host than the Host header (the URL wins, RFC 9112 §3.2.2).
        case hostMismatch = "http.host-mismatch"
        /// A line ended by LF alone.
        case bareLF = "http.bare-lf"
        /// A request line read on white-space word boundaries (extra spaces, a space or a byte outside
        /// 0x21–0x7E in the target) or with a target of no known form (then no path, and only the Host
        /// header names the host).
        case malformedRequestLine = "http.malformed-request-line"
    }

    public struct Request: Sendable, Equatable {
        public var method: String
        /// The request target as sent.
        public var target: String
        /// `HTTP/1.1` or `HTTP/1.0` (any `HTTP/1.x`).
        public var version: String
        /// The host the request is for, normalised (lower case, no port, no trailing dot; IPv6 without
        /// brackets): from the CONNECT target, the absolute-form URL, else the Host header.
        public var host: String?
        /// Where `host` came from: `.proxyConnect`, `.proxyURL` or `.httpHost`; nil without a host.
        public var hostSource: HostSource?
        /// The port next to `host` when one was written.
        public var port: UInt16?
        /// The Host header's host, normalised, even when the target named the host.
        public var hostHeader: String?
        /// Origin-form or absolute-form path without query or fragment (`/` for an empty URL path);
        /// nil for CONNECT and `*`.
        public var path: String?
        /// Bytes from the request line through the empty line: where a body or the next request starts.
        public var headLength: Int
        public var anomalies: Set<Anomaly>
    }

    public enum Result: Sendable, Equatable {
        case needMoreData
        case notHTTP
        case request(Request)
    }

    /// Parses the client's first bytes. Throws when they start like an HTTP request but are malformed.
    public static func parse(_ stream: UnsafeRawBufferPointer) throws(DecodeError) -> Result {
        // The method token decides HTTP or not as soon as its bytes are here.
        var m = ByteCursor(stream)
        var methodLength = 0
        while true {
            guard let b = m.readU8() else { return .needMoreData }
            if b == 0x20 { break }
            guard methodLength < maxMethodBytes, isMethodByte(b) else { return .notHTTP }
            methodLength += 1
        }
        guard methodLength > 0 else { return .notHTTP }

        var c = ByteCursor(stream)
        var anomalies: Set<Anomaly> = []
        guard let (requestLine, requestLF) = try nextLine(&c, in: stream) else { return .needMoreData }
        if requestLF { anomalies.insert(.bareLF) }
        guard let line = try requestLineParts(requestLine) else { return .notHTTP }
        if line.malformed { anomalies.insert(.malformedRequestLine) }

        var hostValue: UnsafeRawBufferPointer? = nil
        while true {
            let lineStart = c.position
            guard let (field, bareLF) = try nextLine(&c, in: stream) else { return .needMoreData }
            if bareLF { anomalies.insert(.bareLF) }
            if field.isEmpty { break }
            var f = ByteCursor(field, origin: lineStart)
            guard let first = f.peekU8(), first != 0x20, first != 0x09 else {
                throw DecodeError(obsFold, at: lineStart, "line starts with white space (obs-fold)")
            }
            guard let colon = index(of: 0x3A, in: field), let name = f.readBytes(colon), f.skip(1) else {
                throw DecodeError(badHeader, at: lineStart, "field line without a colon")
            }
            guard !name.isEmpty, name.allSatisfy(isTokenByte) else {
                throw DecodeError(badHeader, at: lineStart, "field name with a byte outside token (space before the colon?)")
            }
            let value = f.rest
            guard value.allSatisfy(isFieldValueByte) else {
                throw DecodeError(badHeader, at: f.position, "control byte in a field value")
            }
            if name.count == 4, name.elementsEqual("host".utf8, by: { $0 | 0x20 == $1 }) {
                guard hostValue == nil else { throw DecodeError(duplicateHost, at: lineStart, "second Host line") }
                hostValue = trimmed(value)
            }
        }

        var request = Request(method: line.method, target: text(line.target), version: text(line.version),
                              host: nil, hostSource: nil, port: nil, hostHeader: nil, path: nil,
                              headLength: c.offset, anomalies: [])
        var headerPort: UInt16? = nil
        if let hostValue, !hostValue.isEmpty {
            if let (h, p) = authority(hostValue) {
                request.hostHeader = h
                headerPort = p
            } else {
                anomalies.insert(.badHost)
            }
        } else if hostValue == nil, line.minorVersion >= 1 {
            anomalies.insert(.missingHost)
        }

        if line.method == "CONNECT" {
            // authority-form: host and port, both required (RFC 9110 §9.3.6).
            guard index(of: 0x3A, in: line.target, last: true) != nil else {
                throw DecodeError(badConnectTarget, at: methodLength + 1, "CONNECT target without a port")
            }
            if case let (h, p?)? = authority(line.target) {
                (request.host, request.port, request.hostSource) = (h, p, .proxyConnect)
            } else {
                anomalies.insert(.badHost)
            }
        } else if line.target.first == 0x2F {  // origin-form
            request.path = text(beforeQuery(line.target))
        } else if line.target.elementsEqual("*".utf8) {  // asterisk-form
        } else if let (authorityBytes, path) = absoluteForm(line.target) {
            request.path = path.isEmpty ? "/" : text(path)
            if let (h, p) = authority(withoutUserinfo(authorityBytes)) {
                (request.host, request.port, request.hostSource) = (h, p, .proxyURL)
                if let header = request.hostHeader, header != h { anomalies.insert(.hostMismatch) }
            } else {
                anomalies.insert(.badHost)
            }
        } else {
            anomalies.insert(.malformedRequestLine)  // none of the four forms: the Host header alone names the host
        }
        if request.host == nil, let header = request.hostHeader {
            (request.host, request.port, request.hostSource) = (header, headerPort, .httpHost)
        }
        request.anomalies = anomalies
        return .request(request)
    }

    /// Parses the client's first bytes held in an array.
    public static func parse(_ stream: [UInt8]) throws(DecodeError) -> Result {
        let parsed = stream.withUnsafeBytes { raw in Swift.Result { () throws(DecodeError) in try parse(raw) } }
        return try parsed.get()
    }

    // MARK: lines

    /// The next line without its ending, and whether it ended in a bare LF; nil while its end is not
    /// here. Throws when the line cannot end within `maxHeadBytes`.
    private static func nextLine(_ c: inout ByteCursor, in stream: UnsafeRawBufferPointer)
        throws(DecodeError) -> (UnsafeRawBufferPointer, Bool)?
    {
        var n = 0
        while true {
            guard c.offset + n < maxHeadBytes else {
                if stream.count >= maxHeadBytes {
                    throw DecodeError(headTooLarge, at: maxHeadBytes, "no end of head in the first \(maxHeadBytes) bytes")
                }
                return nil
            }
            guard let b = c.peekU8(ahead: n) else { return nil }
            if b == 0x0A { break }
            n += 1
        }
        guard var line = c.readCursor(n), c.skip(1) else { return nil }
        if n > 0, line.peekU8(ahead: n - 1) == 0x0D, let body = line.readBytes(n - 1) {
            return (body, false)
        }
        return (line.rest, true)
    }

    private struct RequestLine {
        var method: String
        var target: UnsafeRawBufferPointer
        var version: UnsafeRawBufferPointer
        var minorVersion: Int
        /// Not `method SP target SP version` with a target of visible ASCII: read on word boundaries.
        var malformed: Bool
    }

    /// SP, HTAB, VT, FF or CR: the white space RFC 9112 §3 lets a recipient split a request line on.
    private static func isLineSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0B || b == 0x0C || b == 0x0D }

    /// Method, target and version: the first word, the last, and everything between (white space
    /// trimmed); nil for the HTTP/2 preface.
    private static func requestLineParts(_ line: UnsafeRawBufferPointer) throws(DecodeError) -> RequestLine? {
        func at(_ i: Int) -> UInt8 { line.load(fromByteOffset: i, as: UInt8.self) }  // every i below is in 0..<line.count
        var end = line.count
        while end > 0 && isLineSpace(at(end - 1)) { end -= 1 }
        guard let sp1 = index(of: 0x20, in: line), sp1 < end else {
            throw DecodeError(badRequestLine, at: 0, "request line without a space")
        }
        var targetStart = sp1
        while targetStart < end && isLineSpace(at(targetStart)) { targetStart += 1 }
        // The version is the last word; the target runs from the first word after the method to the
        // white space before the version (so it is never empty when there is a version).
        var versionStart = end
        while versionStart > targetStart && !isLineSpace(at(versionStart - 1)) { versionStart -= 1 }
        guard versionStart > targetStart else {
            throw DecodeError(badRequestLine, at: targetStart, "request line without a version (HTTP/0.9 is not supported)")
        }
        var targetEnd = versionStart
        while targetEnd > targetStart && isLineSpace(at(targetEnd - 1)) { targetEnd -= 1 }
        let method = UnsafeRawBufferPointer(rebasing: line[0..<sp1])
        let target = UnsafeRawBufferPointer(rebasing: line[targetStart..<targetEnd])
        let version = UnsafeRawBufferPointer(rebasing: line[versionStart..<end])
        var v = ByteCursor(version)
        guard version.count == 8, let prefix = v.readBytes(5), prefix.elementsEqual("HTTP/".utf8),
              let major = v.readU8(), v.readU8() == 0x2E, let minor = v.readU8(),
              isDigit(major), isDigit(minor)
        else { throw DecodeError(badRequestLine, at: versionStart, "version is not HTTP/d.d") }
        guard major == 0x31 else {
            if major == 0x32, text(method) == "PRI", target.elementsEqual("*".utf8) { return nil }
            throw DecodeError(unsupportedVersion, at: versionStart, text(version))
        }
        // The grammar's own line: single spaces, nothing after the version, a visible-ASCII target.
        let plain = targetStart == sp1 + 1 && versionStart == targetEnd + 1 && at(targetEnd) == 0x20
            && end == line.count && target.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        return RequestLine(method: text(method), target: target, version: version, minorVersion: Int(minor - 0x30),
                           malformed: !plain)
    }

    // MARK: targets and hosts

    /// `scheme://authority` and the path after it (query and fragment dropped); nil when not absolute-form.
    private static func absoluteForm(_ target: UnsafeRawBufferPointer) -> (UnsafeRawBufferPointer, UnsafeRawBufferPointer)? {
        guard let colon = index(of: 0x3A, in: target), colon > 0 else { return nil }
        var c = ByteCursor(target)
        guard let scheme = c.readBytes(colon), scheme.first.map(isAlpha) == true,
              scheme.allSatisfy({ isAlpha($0) || isDigit($0) || $0 == 0x2B || $0 == 0x2D || $0 == 0x2E }),
              c.skip(1), c.readU8() == 0x2F, c.readU8() == 0x2F
        else { return nil }
        // The authority ends at the first '/', '?' or '#'.
        var n = 0
        while let b = c.peekU8(ahead: n), b != 0x2F, b != 0x3F, b != 0x23 { n += 1 }
        guard let authority = c.readBytes(n) else { return nil }
        return (authority, beforeQuery(c.rest))
    }

    /// The bytes before the first `?` or `#`.
    private static func beforeQuery(_ target: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var c = ByteCursor(target)
        var n = 0
        while let b = c.peekU8(ahead: n), b != 0x3F, b != 0x23 { n += 1 }
        return c.readBytes(n) ?? target
    }

    /// The part after the last `@` (userinfo, deprecated in http URLs, is not part of the host).
    private static func withoutUserinfo(_ authority: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        guard let at = index(of: 0x40, in: authority, last: true) else { return authority }
        var c = ByteCursor(authority)
        guard c.skip(at + 1) else { return authority }
        return c.rest
    }

    /// `host[:port]` or `[v6][:port]` → normalised host and port; nil when either is malformed.
    /// An empty port (`host:`) is allowed (RFC 3986 §3.2.3) and gives no port.
    static func authority(_ bytes: UnsafeRawBufferPointer) -> (String, UInt16?)? {
        var c = ByteCursor(bytes)
        let hostText: String
        if c.peekU8() == 0x5B {  // [IPv6]
            guard let close = index(of: 0x5D, in: bytes), c.skip(1), let inner = c.readBytes(close - 1), c.skip(1),
                  let address = IPAddress(text(inner)), !address.isV4
            else { return nil }
            hostText = address.description
        } else {
            let colon = index(of: 0x3A, in: bytes, last: true)
            guard let name = c.readBytes(colon ?? bytes.count), let host = normalizeHost(name) else { return nil }
            hostText = host
        }
        if c.isAtEnd { return (hostText, nil) }
        guard c.readU8() == 0x3A else { return nil }
        let digits = c.rest
        if digits.isEmpty { return (hostText, nil) }
        guard digits.count <= 5, digits.allSatisfy(isDigit) else { return nil }
        var port = 0
        for d in digits { port = port * 10 + Int(d - 0x30) }
        guard let p = UInt16(exactly: port) else { return nil }
        return (hostText, p)
    }

    // MARK: bytes

    /// Index of the first (or last) `byte`, found through the cursor.
    private static func index(of byte: UInt8, in bytes: UnsafeRawBufferPointer, last: Bool = false) -> Int? {
        let c = ByteCursor(bytes)
        var found: Int? = nil
        var i = 0
        while let b = c.peekU8(ahead: i) {
            if b == byte {
                found = i
                if !last { break }
            }
            i += 1
        }
        return found
    }

    private static func trimmed(_ bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var c = ByteCursor(bytes)
        while let b = c.peekU8(), b == 0x20 || b == 0x09 { _ = c.skip(1) }
        var n = c.remaining
        while n > 0, let b = c.peekU8(ahead: n - 1), b == 0x20 || b == 0x09 { n -= 1 }
        return c.readBytes(n) ?? c.rest
    }

    private static func text(_ bytes: UnsafeRawBufferPointer) -> String { String(decoding: bytes, as: UTF8.self) }

    private static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
    private static func isAlpha(_ b: UInt8) -> Bool { (b | 0x20) >= 0x61 && (b | 0x20) <= 0x7A }
    private static func isMethodByte(_ b: UInt8) -> Bool { (b >= 0x41 && b <= 0x5A) || b == 0x2D || b == 0x5F }

    /// tchar (RFC 9110 §5.6.2).
    private static func isTokenByte(_ b: UInt8) -> Bool {
        if isAlpha(b) || isDigit(b) { return true }
        switch b {
        case 0x21, 0x23, 0x24, 0x25, 0x26, 0x27, 0x2A, 0x2B, 0x2D, 0x2E, 0x5E, 0x5F, 0x60, 0x7C, 0x7E: return true
        default: return false
        }
    }

    /// field-vchar, SP, HTAB and obs-text (RFC 9110 §5.5).
    private static func isFieldValueByte(_ b: UInt8) -> Bool { b == 0x09 || (b >= 0x20 && b != 0x7F) }
}
