import ShadowScopeCore

// MARK: a small JSON scanner for one-object-per-line logs (Zeek JSON, Suricata eve.json, Zscaler NSS)

/// A scalar as the scanner found it: bytes of the line, never copied.
enum JSONScalar {
    /// The bytes between the quotes; `escaped` when they hold a backslash escape.
    case string(UnsafeRawBufferPointer, escaped: Bool)
    case number(UnsafeRawBufferPointer)
    case bool(Bool)
    case null
}

/// Why a line is not one JSON object; `offset` is the byte where the scan stopped.
struct FlatJSONError: Error, Equatable, CustomStringConvertible {
    enum Code: String, Sendable {
        case notAnObject = "not a JSON object"
        case truncated = "JSON ends early"
        case unexpectedByte = "unexpected byte"
        case tooDeep = "nested deeper than 8 levels"
        case trailingBytes = "bytes after the JSON object"
        case badEscape = "invalid string escape"
        case badNumber = "invalid number"
        case controlByte = "control byte in a string"
    }
    var code: Code
    var offset: Int
    var description: String { "\(code.rawValue) at byte \(offset)" }
}

/// Scans a line holding exactly one JSON object (RFC 8259) without building a tree: every scalar is
/// handed to `visit` with its path, the member names from the top object down (an array element
/// carries its array's name, so `"answers":["a","b"]` visits `answers` twice). Objects and arrays
/// may nest up to `maxDepth` containers; deeper is an error, so a hostile line cannot recurse.
/// The scan is iterative and reads each byte once; strings are checked (escapes, no control bytes)
/// but not decoded: `jsonString` decodes the few values a parser keeps.
enum FlatJSON {
    /// Containers open at once, the top object included.
    static let maxDepth = 8

    private enum Container { case object, array }
    private enum State { case opened, afterValue, afterComma }

    /// Nil when the line is one well-formed object; else the error (`visit` may have seen earlier members).
    static func scan(_ b: UnsafeRawBufferPointer,
                     visit: (_ path: [UnsafeRawBufferPointer], _ value: JSONScalar) -> Void) -> FlatJSONError? {
        let n = b.count
        var i = skipSpace(b, 0)
        guard i < n, b[i] == 0x7B else { return FlatJSONError(code: i < n ? .notAnObject : .truncated, offset: i) }
        i += 1
        var containers: [Container] = [.object]
        containers.reserveCapacity(maxDepth)
        var path: [UnsafeRawBufferPointer] = []
        path.reserveCapacity(maxDepth)
        var state = State.opened
        while true {
            i = skipSpace(b, i)
            guard i < n else { return FlatJSONError(code: .truncated, offset: i) }
            guard let top = containers.last else { return FlatJSONError(code: .unexpectedByte, offset: i) }
            let c = b[i]
            let close: UInt8 = top == .object ? 0x7D : 0x5D
            if c == close && state != .afterComma {
                containers.removeLast()
                i += 1
                if containers.isEmpty {
                    i = skipSpace(b, i)
                    return i == n ? nil : FlatJSONError(code: .trailingBytes, offset: i)
                }
                if containers.last == .object { path.removeLast() }
                state = .afterValue
                continue
            }
            if state == .afterValue {
                guard c == 0x2C else { return FlatJSONError(code: .unexpectedByte, offset: i) }
                i += 1
                state = .afterComma
                continue
            }
            if top == .object {
                guard c == 0x22 else { return FlatJSONError(code: .unexpectedByte, offset: i) }
                let key: UnsafeRawBufferPointer
                switch string(b, i) {
                case .failure(let e): return e
                case .success(let (k, _, end)): key = k; i = end
                }
                i = skipSpace(b, i)
                guard i < n else { return FlatJSONError(code: .truncated, offset: i) }
                guard b[i] == 0x3A else { return FlatJSONError(code: .unexpectedByte, offset: i) }
                i = skipSpace(b, i + 1)
                guard i < n else { return FlatJSONError(code: .truncated, offset: i) }
                path.append(key)
            }
            let v = b[i]
            if v == 0x7B || v == 0x5B {
                guard containers.count < maxDepth else { return FlatJSONError(code: .tooDeep, offset: i) }
                containers.append(v == 0x7B ? .object : .array)
                i += 1
                state = .opened
                continue
            }
            let scalar: JSONScalar
            switch v {
            case 0x22:
                switch string(b, i) {
                case .failure(let e): return e
                case .success(let (s, escaped, end)): scalar = .string(s, escaped: escaped); i = end
                }
            case 0x2D, 0x30...0x39:
                guard let end = number(b, i) else {
                    return FlatJSONError(code: numberEnd(b, i) == n ? .truncated : .badNumber, offset: i)
                }
                scalar = .number(UnsafeRawBufferPointer(rebasing: b[i..<end]))
                i = end
            case 0x74, 0x66, 0x6E:  // true, false, null
                let word: [UInt8] = v == 0x74 ? Array("true".utf8) : v == 0x66 ? Array("false".utf8) : Array("null".utf8)
                var k = 0
                while k < word.count {
                    guard i + k < n else { return FlatJSONError(code: .truncated, offset: i + k) }
                    guard b[i + k] == word[k] else { return FlatJSONError(code: .unexpectedByte, offset: i + k) }
                    k += 1
                }
                scalar = v == 0x74 ? .bool(true) : v == 0x66 ? .bool(false) : .null
                i += word.count
            default:
                return FlatJSONError(code: .unexpectedByte, offset: i)
            }
            visit(path, scalar)
            if top == .object { path.removeLast() }
            state = .afterValue
        }
    }

    private static func skipSpace(_ b: UnsafeRawBufferPointer, _ from: Int) -> Int {
        var i = from
        while i < b.count, b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0D || b[i] == 0x0A { i += 1 }
        return i
    }

    /// A string starting at the quote at `start`: its content, whether it has escapes, and the offset after the closing quote.
    private static func string(_ b: UnsafeRawBufferPointer, _ start: Int)
        -> Result<(UnsafeRawBufferPointer, Bool, Int), FlatJSONError> {
        var i = start + 1
        var escaped = false
        while i < b.count {
            let c = b[i]
            if c == 0x22 { return .success((UnsafeRawBufferPointer(rebasing: b[(start + 1)..<i]), escaped, i + 1)) }
            if c < 0x20 { return .failure(FlatJSONError(code: .controlByte, offset: i)) }
            if c == 0x5C {
                escaped = true
                guard i + 1 < b.count else { return .failure(FlatJSONError(code: .truncated, offset: i + 1)) }
                switch b[i + 1] {
                case 0x22, 0x5C, 0x2F, 0x62, 0x66, 0x6E, 0x72, 0x74:
                    i += 2
                case 0x75:  // \uXXXX
                    guard i + 5 < b.count else { return .failure(FlatJSONError(code: .truncated, offset: b.count)) }
                    for k in 2...5 where hexValue(b[i + k]) == nil {
                        return .failure(FlatJSONError(code: .badEscape, offset: i))
                    }
                    i += 6
                default:
                    return .failure(FlatJSONError(code: .badEscape, offset: i))
                }
                continue
            }
            i += 1
        }
        return .failure(FlatJSONError(code: .truncated, offset: i))
    }

    /// The end of a JSON number at `start` (`-? int frac? exp?`), nil when malformed.
    private static func number(_ b: UnsafeRawBufferPointer, _ start: Int) -> Int? {
        var i = start
        func digits() -> Bool {
            let s = i
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 { i += 1 }
            return i > s
        }
        if i < b.count, b[i] == 0x2D { i += 1 }
        guard digits() else { return nil }
        if i < b.count, b[i] == 0x2E {
            i += 1
            guard digits() else { return nil }
        }
        if i < b.count, b[i] == 0x65 || b[i] == 0x45 {
            i += 1
            if i < b.count, b[i] == 0x2B || b[i] == 0x2D { i += 1 }
            guard digits() else { return nil }
        }
        // A number must end at a delimiter: `12x` is not a number.
        if i < b.count, !(b[i] == 0x2C || b[i] == 0x7D || b[i] == 0x5D || b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0D || b[i] == 0x0A) { return nil }
        return i
    }

    /// Where a run of number-like bytes stops (to tell a truncated number from a malformed one).
    private static func numberEnd(_ b: UnsafeRawBufferPointer, _ start: Int) -> Int {
        var i = start
        while i < b.count, (b[i] >= 0x30 && b[i] <= 0x39) || b[i] == 0x2D || b[i] == 0x2B || b[i] == 0x2E || b[i] == 0x65 || b[i] == 0x45 { i += 1 }
        return i
    }
}

private func hexValue(_ c: UInt8) -> UInt32? {
    switch c {
    case 0x30...0x39: return UInt32(c - 0x30)
    case 0x61...0x66: return UInt32(c - 0x61 + 10)
    case 0x41...0x46: return UInt32(c - 0x41 + 10)
    default: return nil
    }
}

// MARK: values

/// True when `path` is exactly `keys` (raw member names; the logs read here never escape them).
func pathIs(_ path: [UnsafeRawBufferPointer], _ keys: String...) -> Bool {
    guard path.count == keys.count else { return false }
    for (p, k) in zip(path, keys) where !p.elementsEqual(k.utf8) { return false }
    return true
}

/// The decoded bytes of a JSON string (escapes resolved, `\u` surrogate pairs joined, a lone
/// surrogate becomes U+FFFD). The scanner has already checked the escapes; bounds are checked again.
func jsonStringBytes(_ raw: UnsafeRawBufferPointer, escaped: Bool) -> [UInt8] {
    guard escaped else { return Array(raw) }
    var out = [UInt8]()
    out.reserveCapacity(raw.count)
    var i = 0
    func hex4(_ at: Int) -> UInt32? {
        guard at + 4 <= raw.count else { return nil }
        var v: UInt32 = 0
        for k in at..<(at + 4) {
            guard let h = hexValue(raw[k]) else { return nil }
            v = v << 4 | h
        }
        return v
    }
    while i < raw.count {
        let c = raw[i]
        guard c == 0x5C, i + 1 < raw.count else { out.append(c); i += 1; continue }
        let e = raw[i + 1]
        i += 2
        switch e {
        case 0x62: out.append(0x08)
        case 0x66: out.append(0x0C)
        case 0x6E: out.append(0x0A)
        case 0x72: out.append(0x0D)
        case 0x74: out.append(0x09)
        case 0x75:
            guard var u = hex4(i) else { out.append(contentsOf: [0xEF, 0xBF, 0xBD]); continue }
            i += 4
            if u >= 0xD800 && u <= 0xDBFF, i + 1 < raw.count, raw[i] == 0x5C, raw[i + 1] == 0x75,
               let low = hex4(i + 2), low >= 0xDC00 && low <= 0xDFFF {
                u = 0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00)
                i += 6
            }
            let scalar = Unicode.Scalar(u) ?? "\u{FFFD}"
            out.append(contentsOf: Array(String(Character(scalar)).utf8))
        default: out.append(e)  // \" \\ \/
        }
    }
    return out
}

/// A string value as text; nil for other kinds.
func jsonText(_ v: JSONScalar?) -> String? {
    guard case .string(let raw, let escaped)? = v else { return nil }
    return String(decoding: jsonStringBytes(raw, escaped: escaped), as: UTF8.self)
}

/// A host name from a string value (normalised); nil when absent or not a host name.
func jsonHost(_ v: JSONScalar?) -> String? {
    guard case .string(let raw, let escaped)? = v else { return nil }
    return escaped ? normalizeHost(jsonStringBytes(raw, escaped: true)) : normalizeHost(raw)
}

/// The raw bytes of a number, or of a string of digits (some feeds quote every value).
func jsonNumberBytes(_ v: JSONScalar?) -> UnsafeRawBufferPointer? {
    switch v {
    case .number(let b)?: return b
    case .string(let b, false)?: return b
    default: return nil
    }
}

/// How a value reads in a skip reason.
func jsonShown(_ v: JSONScalar?) -> String {
    switch v {
    case .string(let b, _)?: return "\"" + text(clip(b, 0)) + "\""
    case .number(let b)?: return text(clip(b, 0))
    case .bool(let x)?: return x ? "true" : "false"
    case .null?: return "null"
    case nil: return "absent"
    }
}

// MARK: ISO 8601 times

/// `2026-11-25T12:00:00[.ffffff][Z|±hh:mm|±hhmm]` (or a blank instead of `T`), the whole value;
/// without an offset the time is UTC.
func parseISO8601(_ b: UnsafeRawBufferPointer) -> Timestamp? {
    var c = TextCursor(b)
    guard let y = c.digits(4), c.byte(0x2D), let m = c.digits(2), c.byte(0x2D), let d = c.digits(2),
          c.byte(0x54) || c.byte(0x20),
          let h = c.digits(2), c.byte(0x3A), let mi = c.digits(2), c.byte(0x3A), let s = c.digits(2),
          let micros = c.fraction() else { return nil }
    var offset: Int64 = 0
    if !c.isAtEnd {
        guard let o = c.utcOffset() else { return nil }
        offset = o
    }
    guard c.isAtEnd else { return nil }
    return civilTimestamp(year: Int64(y), month: m, day: d, hour: h, minute: mi, second: s, microseconds: micros, offsetSeconds: offset)
}

/// A skip reason carried through a `Result`.
struct SkipReason: Error, Equatable {
    var text: String
    init(_ text: String) { self.text = text }
}

/// A non-negative integer member (absent → nil), or why it is not one.
func jsonCount(_ v: JSONScalar?, _ name: String) -> Result<Int64?, SkipReason> {
    guard let v else { return .success(nil) }
    guard case .number(let b) = v, let n = parseInt(b) else { return .failure(SkipReason("\(name) \(jsonShown(v)) is not a count")) }
    return .success(n)
}

/// An HTTP record's Host (`host:port` allowed) and URL or URI: host (`http-host`, from the URL when
/// Host is absent) and path without query. Shared by the Zeek and Suricata JSON readers.
func applyHTTPHostAndURL(host: JSONScalar?, url: JSONScalar?, to o: inout Observation) {
    if case .string(let b, let escaped)? = host {
        let bytes = jsonStringBytes(b, escaped: escaped)
        if let (h, _) = bytes.withUnsafeBytes({ splitHostPort($0[...]) }) { o.host = h; o.hostSource = .httpHost }
    }
    if case .string(let b, let escaped)? = url {
        let bytes = jsonStringBytes(b, escaped: escaped)
        if let parsed = bytes.withUnsafeBytes({ parseURL($0) }) {
            o.urlPath = parsed.path
            if o.host == nil, let h = parsed.host { o.host = h; o.hostSource = .httpHost }
        }
    }
}
