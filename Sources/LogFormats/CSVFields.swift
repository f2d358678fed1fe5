import ShadowScopeCore

// MARK: delimited fields shared by the vendor formats (Umbrella, PAN-OS, Zscaler NSS)

/// One field of a delimited line: its bytes (inside the quotes when quoted) and whether `""` pairs
/// inside it stand for quotes.
struct DelimitedField {
    var bytes: UnsafeRawBufferPointer
    var quoted: Bool

    var isEmpty: Bool { bytes.isEmpty }

    /// The field as text, `""` turned into `"`.
    var string: String {
        guard quoted, bytes.contains(0x22) else { return text(bytes) }
        var out = [UInt8]()
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            out.append(bytes[i])
            i += (bytes[i] == 0x22 && i + 1 < bytes.count && bytes[i + 1] == 0x22) ? 2 : 1
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Splits `line` at `separator`. A field whose first byte (after blanks) is `"` runs to the closing
/// quote, `""` inside being a quote, and may be followed by blanks only; an unquoted field is kept as
/// it is, blanks included. Returns the fields, or why the line cannot be split: an unclosed quote,
/// text after a closing quote, or more than `maxFields` fields.
func splitDelimited(_ line: UnsafeRawBufferPointer, separator: UInt8, maxFields: Int) -> Result<[DelimitedField], SkipReason> {
    var fields: [DelimitedField] = []
    var i = 0
    let n = line.count
    while true {
        guard fields.count < maxFields else { return .failure(SkipReason("more than \(maxFields) fields")) }
        var j = i
        while j < n, isBlank(line[j]), line[j] != separator { j += 1 }
        if j < n, line[j] == 0x22 {
            let start = j + 1
            var k = start
            var closed = false
            while k < n {
                if line[k] == 0x22 {
                    if k + 1 < n, line[k + 1] == 0x22 { k += 2; continue }
                    closed = true
                    break
                }
                k += 1
            }
            guard closed else { return .failure(SkipReason("field \(fields.count + 1) has no closing quote")) }
            fields.append(DelimitedField(bytes: UnsafeRawBufferPointer(rebasing: line[start..<k]), quoted: true))
            k += 1
            while k < n, isBlank(line[k]), line[k] != separator { k += 1 }
            if k == n { return .success(fields) }
            guard line[k] == separator else { return .failure(SkipReason("text after the closing quote of field \(fields.count)")) }
            i = k + 1
        } else {
            var k = i
            while k < n, line[k] != separator { k += 1 }
            fields.append(DelimitedField(bytes: UnsafeRawBufferPointer(rebasing: line[i..<k]), quoted: false))
            if k == n { return .success(fields) }
            i = k + 1
        }
    }
}

/// A URL as firewalls and cloud proxies log it: absolute (`https://host/path?q`), or without a
/// scheme (`host[:port]/path?q`, PAN-OS and Zscaler). Host normalised, path without query.
func parseLoggedURL(_ b: UnsafeRawBufferPointer) -> (host: String?, port: UInt16?, path: String?)? {
    guard !b.isEmpty else { return nil }
    if find(b, Array("://".utf8)) != nil || b.first == 0x2F { return parseURL(b) }
    let bytes = b[...]
    let end = bytes.firstIndex { $0 == 0x2F || $0 == 0x3F || $0 == 0x23 } ?? bytes.endIndex
    guard let (host, port) = splitHostPort(bytes[..<end]) else { return nil }
    let rest = bytes[end...]
    return (host, port, rest.first == 0x2F ? pathWithoutQuery(rest) : "/")
}

/// `Mon Jun 20 15:29:11 2022` (C `asctime` layout, day possibly space-padded) → timestamp, taken as UTC.
func parseAsctime(_ b: UnsafeRawBufferPointer) -> Timestamp? {
    var c = TextCursor(b)
    guard c.letters(max: 3) != nil, c.byte(0x20), let monthName = c.letters(max: 3),
          let month = monthFromAbbreviation(monthName), c.byte(0x20) else { return nil }
    _ = c.byte(0x20)
    guard let (day, _) = c.digits(upTo: 2), c.byte(0x20),
          let h = c.digits(2), c.byte(0x3A), let mi = c.digits(2), c.byte(0x3A), let s = c.digits(2), c.byte(0x20),
          let y = c.digits(4), c.isAtEnd else { return nil }
    return civilTimestamp(year: Int64(y), month: month, day: day, hour: h, minute: mi, second: s)
}
