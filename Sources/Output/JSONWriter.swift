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
        if depth < Self.indents.count { return bytes.append(contentsOf: Self.indents[depth]) }
        bytes.append(0x0A)
        for _ in 0..<2 * depth { bytes.append(0x20) }
    }

    /// A newline and the indent of each of the first levels, ready to copy.
    private static let indents: [[UInt8]] = (0..<8).map { [0x0A] + [UInt8](repeating: 0x20, count: 2 * $0) }

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
    public struct FieldOpenings: Sendable {
        fileprivate let openings: [[UInt8]]
    }

    /// Openings for the fields `keys` of objects begun at the current depth (call before `beginObject`).
    public func fieldOpenings(_ keys: [String]) -> FieldOpenings {
        var probe = JSONWriter(pretty: pretty)
        probe.needsComma = needsComma + [false]
        var openings: [[UInt8]] = []
        for k in keys {
            probe.bytes.removeAll()
            probe.key(k)
            openings.append(probe.bytes)
        }
        return FieldOpenings(openings: openings)
    }

    /// Opens field `index` of `fields` in the object just begun, and its value with the arguments.
    /// Fields must come in the order given to `fieldOpenings`, all of them.
    public mutating func open(_ fields: FieldOpenings, _ index: Int) {
        bytes.append(contentsOf: fields.openings[index])
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

    /// Takes the bytes of a continuation of this writer, written after everything here.
    public mutating func append(continuation part: JSONWriter) {
        bytes.append(contentsOf: part.bytes)
        if part.needsComma.last == true { needsComma[needsComma.count - 1] = true }
    }

    public mutating func rawValue(_ v: String?) { if let v { appendString(v) } else { appendNull() } }
    public mutating func rawValue(_ v: Int64?) { if let v { appendInteger(v) } else { appendNull() } }
    public mutating func rawValue(_ v: Bool) { bytes.append(contentsOf: (v ? "true" : "false").utf8) }

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
        if let v { bytes.append(contentsOf: (v ? "true" : "false").utf8) } else { appendNull() }
    }

    public mutating func value(_ v: String) {
        separator()
        appendString(v)
    }

    /// The string `prefix` followed by `number`'s digits (an evidence reference `file:123`), without
    /// making that String.
    public mutating func value(_ prefix: String, _ number: Int) {
        separator()
        appendString(prefix)
        bytes.removeLast()  // the closing quote: the digits go inside
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

    private mutating func appendNull() { bytes.append(contentsOf: "null".utf8) }

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
