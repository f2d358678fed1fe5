/// A small streaming JSON writer into a byte buffer: keys in the order written, no Foundation,
/// so NDJSON output costs no more than the bytes it writes.
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []
    private var needsComma: [Bool] = [false]
    /// Indent nested values by two spaces per level (for files people read); NDJSON stays compact.
    public var pretty: Bool

    public init(pretty: Bool = false) {
        self.pretty = pretty
        bytes.reserveCapacity(512)
    }

    /// Room for `count` more bytes, so a large document (a summary of many rows) grows once.
    public mutating func reserveCapacity(_ count: Int) { bytes.reserveCapacity(bytes.count + count) }

    /// Ends the document with a newline, as files and NDJSON lines do.
    public mutating func appendNewline() { bytes.append(0x0A) }

    /// Hands the bytes written so far to `sink` and forgets them, keeping where the document is
    /// (open objects, commas): a long document goes out in pieces.
    public mutating func drain(into sink: ([UInt8]) -> Void) {
        sink(bytes)
        bytes.removeAll(keepingCapacity: true)
    }

    public mutating func reset() {
        bytes.removeAll(keepingCapacity: true)
        needsComma = [false]
    }

    private mutating func separator() {
        if needsComma[needsComma.count - 1] { bytes.append(0x2C) }
        needsComma[needsComma.count - 1] = true
        if pretty && needsComma.count > 1 { newline(depth: needsComma.count - 1) }
    }

    private mutating func newline(depth: Int) {
        if depth < Self.indentLevels { return bytes.append(contentsOf: UnsafeRawBufferPointer(start: Self.indents, count: 1 + 2 * depth)) }
        bytes.append(0x0A)
        for _ in 0..<2 * depth { bytes.append(0x20) }
    }

    /// A newline and the spaces of the first levels' indents, ready to copy. Raw bytes that live as
    /// long as the process: an array here was retained and released by every newline, and on
    /// `--jobs` threads writing rows at once that shared count made two threads slower than one.
    private static let indentLevels = 8
    private nonisolated(unsafe) static let indents: UnsafeRawPointer = immortalBytes([0x0A] + [UInt8](repeating: 0x20, count: 2 * (indentLevels - 1)))

    private mutating func close(_ bracket: UInt8) {
        let hadItems = needsComma.removeLast()
        if pretty && hadItems { newline(depth: needsComma.count - 1) }
        bytes.append(bracket)
    }

    private mutating func key(_ k: String) {
        separator()
        appendString(k)
        bytes.append(0x3A)
        if pretty { bytes.append(0x20) }
    }

    public mutating func beginObject(_ k: String? = nil) {
        if let k { key(k) } else { separator() }
        bytes.append(0x7B)
        needsComma.append(false)
    }

    public mutating func endObject() { close(0x7D) }

    /// The bytes that open each field of objects written at one depth: the comma (none before the
    /// first), the newline and indent when pretty, the quoted key and the colon. Made once, so a field
    /// of a row costs one copy; the summary writes 25 fields for each of hundreds of thousands of rows.
    /// The bytes that open each field (comma, indent, quoted key), made once. Kept as raw bytes that
    /// are never freed (a few hundred per kind of record), so threads writing records at once share
    /// them without touching a reference count.
    public struct FieldOpenings: @unchecked Sendable {
        fileprivate let bytes: UnsafeRawPointer
        /// Field i's opening is `bytes[ends[i]..<ends[i + 1]]`.
        fileprivate let ends: UnsafePointer<Int>
    }

    /// Openings for the fields `keys` of objects begun at the current depth (call before `beginObject`).
    public func fieldOpenings(_ keys: [String]) -> FieldOpenings {
        var probe = JSONWriter(pretty: pretty)
        probe.needsComma = needsComma + [false]
        var all: [UInt8] = []
        var ends = [0]
        for k in keys {
            probe.bytes.removeAll()
            probe.key(k)
            all += probe.bytes
            ends.append(all.count)
        }
        let endsCopy = UnsafeMutablePointer<Int>.allocate(capacity: ends.count)
        endsCopy.initialize(from: ends, count: ends.count)
        return FieldOpenings(bytes: immortalBytes(all), ends: UnsafePointer(endsCopy))
    }

    /// Opens field `index` of `fields` in the object just begun, and its value with the arguments.
    /// Fields must come in the order given to `fieldOpenings`, all of them.
    public mutating func open(_ fields: FieldOpenings, _ index: Int) {
        let start = fields.ends[index]
        bytes.append(contentsOf: UnsafeRawBufferPointer(start: fields.bytes + start, count: fields.ends[index + 1] - start))
        needsComma[needsComma.count - 1] = true
    }

    /// An empty writer at this writer's place in the document, as if `afterItems` told whether items
    /// came before: parts of one array written apart (on other threads) and joined with `append`.
    public func continuation(afterItems: Bool) -> JSONWriter {
        var w = JSONWriter(pretty: pretty)
        w.needsComma = needsComma
        w.needsComma[w.needsComma.count - 1] = afterItems
        return w
    }

    /// Makes this writer, emptied but keeping its buffer, a continuation of `w` (see `continuation`).
    public mutating func `continue`(_ w: JSONWriter, afterItems: Bool) {
        bytes.removeAll(keepingCapacity: true)
        needsComma = w.needsComma
        needsComma[needsComma.count - 1] = afterItems
    }

    /// Hands what this writer holds to `sink`, then the bytes of `part`, a continuation of this writer
    /// written after everything here; `part` is emptied, keeping its buffer.
    public mutating func drain(continuation part: inout JSONWriter, into sink: ([UInt8]) -> Void) {
        if !bytes.isEmpty { drain(into: sink) }
        if !part.bytes.isEmpty { sink(part.bytes) }
        part.bytes.removeAll(keepingCapacity: true)
        if part.needsComma.last == true { needsComma[needsComma.count - 1] = true }
    }

    /// Takes the bytes of a continuation of this writer, written after everything here.
    public mutating func append(continuation part: JSONWriter) {
        bytes.append(contentsOf: part.bytes)
        if part.needsComma.last == true { needsComma[needsComma.count - 1] = true }
    }

    public mutating func rawValue(_ v: String?) { if let v { appendString(v) } else { appendNull() } }
    public mutating func rawValue(_ v: Int64?) { if let v { appendInteger(v) } else { appendNull() } }
    public mutating func rawValue(_ v: Bool) { appendBool(v) }

    public mutating func beginArray(_ k: String? = nil) {
        if let k { key(k) } else { separator() }
        bytes.append(0x5B)
        needsComma.append(false)
    }

    public mutating func endArray() { close(0x5D) }

    public mutating func field(_ k: String, _ v: String?) {
        key(k)
        if let v { appendString(v) } else { appendNull() }
    }

    public mutating func field(_ k: String, _ v: Int64?) {
        key(k)
        if let v { appendInteger(v) } else { appendNull() }
    }

    public mutating func field(_ k: String, _ v: Int?) { field(k, v.map { Int64($0) }) }

    public mutating func field(_ k: String, _ v: Bool?) {
        key(k)
        if let v { appendBool(v) } else { appendNull() }
    }

    public mutating func value(_ v: String) {
        separator()
        appendString(v)
    }

    /// The string `prefix` followed by `number`'s digits (an evidence reference `file:123`), without
    /// making that String.
    public mutating func value(_ prefix: String, _ number: Int) {
        value(prefix, separatedBy: nil, number)
    }

    /// `prefix`, then `separator` when given, then `number`'s digits, as one string (`file` `:` `123`).
    public mutating func value(_ prefix: String, separatedBy separator: UInt8?, _ number: Int) {
        self.separator()
        appendString(prefix)
        bytes.removeLast()  // the closing quote: the rest goes inside
        if let separator { bytes.append(separator) }
        appendInteger(Int64(number))
        bytes.append(0x22)
    }

    public mutating func value(_ v: Int64) {
        separator()
        appendInteger(v)
    }

    /// Decimal digits straight into the buffer: no String per number.
    private mutating func appendInteger(_ v: Int64) {
        if v < 0 { bytes.append(0x2D) }
        var magnitude = v.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for the 20 digits of UInt64.max
        withUnsafeMutableBytes(of: &digits) { raw in
            var i = raw.count
            repeat {
                i -= 1
                raw[i] = 0x30 &+ UInt8(truncatingIfNeeded: magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[i...]))
        }
    }

    /// Whether any byte is a control character, `"` or `\\`: eight bytes at a time (a byte is below 0x20
    /// when subtracting 0x20 borrows into its high bit while its own high bit was clear).
    @inline(__always)
    static func needsEscape(_ b: UnsafeRawBufferPointer) -> Bool {
        guard let base = b.baseAddress else { return false }
        let n = b.count
        var i = 0
        @inline(__always) func special(_ w: UInt64) -> Bool {
            let high: UInt64 = 0x8080_8080_8080_8080
            let control = (w &- 0x2020_2020_2020_2020) & ~w & high
            let q = w ^ 0x2222_2222_2222_2222, bs = w ^ 0x5C5C_5C5C_5C5C_5C5C
            let quote = (q &- 0x0101_0101_0101_0101) & ~q & high
            let backslash = (bs &- 0x0101_0101_0101_0101) & ~bs & high
            return control | quote | backslash != 0
        }
        while i + 8 <= n {
            if special(base.loadUnaligned(fromByteOffset: i, as: UInt64.self)) { return true }
            i += 8
        }
        while i < n {
            let c = base.load(fromByteOffset: i, as: UInt8.self)
            if c < 0x20 || c == 0x22 || c == 0x5C { return true }
            i += 1
        }
        return false
    }

    private mutating func appendNull() { bytes.append(contentsOf: UnsafeRawBufferPointer(start: Self.words, count: 4)) }

    private mutating func appendBool(_ v: Bool) {
        bytes.append(contentsOf: UnsafeRawBufferPointer(start: Self.words + (v ? 4 : 8), count: v ? 4 : 5))
    }

    /// `null`, `true` and `false`, for copying.
    private nonisolated(unsafe) static let words: UnsafeRawPointer = immortalBytes(Array("nulltruefalse".utf8))

    private mutating func appendString(_ s: String) {
        bytes.append(0x22)
        var s = s
        s.withUTF8 { utf8 in
            if !Self.needsEscape(UnsafeRawBufferPointer(utf8)) {  // nearly every key and value: one copy
                bytes.append(contentsOf: utf8)
                return
            }
            // Copy runs of bytes that need no escape in one go.
            var runStart = 0
            for (i, c) in utf8.enumerated() where c < 0x20 || c == 0x22 || c == 0x5C {
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<i]))
                switch c {
                case 0x22: bytes.append(0x5C); bytes.append(0x22)
                case 0x5C: bytes.append(0x5C); bytes.append(0x5C)
                case 0x0A: bytes.append(0x5C); bytes.append(0x6E)
                case 0x0D: bytes.append(0x5C); bytes.append(0x72)
                case 0x09: bytes.append(0x5C); bytes.append(0x74)
                default:
                    let hex: [UInt8] = Array("0123456789abcdef".utf8)
                    bytes.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, hex[Int(c >> 4)], hex[Int(c & 0xF)]])
                }
                runStart = i + 1
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...]))
        }
        bytes.append(0x22)
    }
}

/// A copy of `bytes` that is never freed: for the few constant byte strings that writers on many
/// threads copy from.
private func immortalBytes(_ bytes: [UInt8]) -> UnsafeRawPointer {
    let p = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
    bytes.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    return UnsafeRawPointer(p)
}
