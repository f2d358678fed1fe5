import ShadowScopeCore

/// A small streaming JSON writer into a byte buffer: keys in the order written, no Foundation,
/// so NDJSON output costs no more than the bytes it writes.
public struct JSONWriter {
    /// The bytes written, in a buffer of our own: an append is a capacity compare and a copy. Through
    /// `[UInt8]`'s generic `append(contentsOf:)` each of the seventy appends of a summary row cost
    /// 20-30 ns, a fifth of writing the summary.
    private var store = ByteStore(capacity: 512)
    /// Whether the object or array open at each depth has an item yet (so the next needs a comma):
    /// bit d for depth d, the document itself at depth 0. Bits, not a `[Bool]`: every field asked,
    /// and the array's uniqueness and bounds checks were a tenth of writing a summary row.
    private var hasItems: UInt64 = 0
    /// Objects and arrays open; at most `maximumDepth`, far more than any document here nests.
    private var depth = 0
    private static let maximumDepth = 63
    /// Indent nested values by two spaces per level (for files people read); NDJSON stays compact.
    public var pretty: Bool

    public init(pretty: Bool = false) {
        self.pretty = pretty
    }

    /// The bytes written so far (a copy).
    public var bytes: [UInt8] { Array(UnsafeBufferPointer(start: store.base, count: store.count)) }

    /// How many bytes are written so far.
    public var byteCount: Int { store.count }

    /// Room for `count` more bytes, so a large document (a summary of many rows) grows once.
    public mutating func reserveCapacity(_ count: Int) { _ = room(count) }

    /// Ends the document with a newline, as files and NDJSON lines do.
    public mutating func appendNewline() { put(0x0A) }

    /// Hands the bytes written so far to `sink` (valid during the call: no copy is made) and forgets
    /// them, keeping where the document is (open objects, commas): a long document goes out in pieces.
    public mutating func drain(into sink: (UnsafeRawBufferPointer) -> Void) {
        sink(UnsafeRawBufferPointer(start: store.base, count: store.count))
        clearBytes()
    }

    public mutating func reset() {
        clearBytes()
        hasItems = 0
        depth = 0
    }

    @inline(__always) private var innermostHasItems: Bool {
        get { hasItems >> depth & 1 != 0 }
        set { hasItems = newValue ? hasItems | 1 << depth : hasItems & ~(1 << depth) }
    }

    /// This writer's place (open containers and their items) taken from `w`'s.
    @inline(__always) private mutating func takePlace(of w: JSONWriter, afterItems: Bool) {
        hasItems = w.hasItems
        depth = w.depth
        innermostHasItems = afterItems
    }

    /// Forgets the bytes, keeping the buffer.
    private mutating func clearBytes() {
        if isKnownUniquelyReferenced(&store) { store.count = 0 } else { store = ByteStore(capacity: store.capacity) }
    }

    /// Where `n` more bytes go: the buffer, this writer's own, has room for them after this.
    @inline(__always) private mutating func room(_ n: Int) -> UnsafeMutablePointer<UInt8> {
        if !isKnownUniquelyReferenced(&store) || store.capacity - store.count < n { grow(n) }
        return store.base + store.count
    }

    @inline(never) private mutating func grow(_ n: Int) {
        let bigger = ByteStore(capacity: max(2 * store.capacity, store.count + n, 512))
        bigger.base.initialize(from: store.base, count: store.count)
        bigger.count = store.count
        store = bigger
    }

    @inline(__always) private mutating func put(_ b: UInt8) {
        room(1).pointee = b
        store.count += 1
    }

    @inline(__always) private mutating func put(_ p: UnsafeRawPointer, _ n: Int) {
        guard n > 0 else { return }
        UnsafeMutableRawPointer(room(n)).copyMemory(from: p, byteCount: n)
        store.count += n
    }

    @inline(__always) private mutating func put(_ b: UnsafeBufferPointer<UInt8>) {
        if let base = b.baseAddress { put(UnsafeRawPointer(base), b.count) }
    }

    private mutating func separator() {
        if innermostHasItems { put(0x2C) }
        innermostHasItems = true
        if pretty && depth > 0 { newline(depth: depth) }
    }

    private mutating func newline(depth: Int) {
        if depth < Self.indentLevels { return put(Self.indents, 1 + 2 * depth) }
        put(0x0A)
        for _ in 0..<2 * depth { put(0x20) }
    }

    /// A newline and the spaces of the first levels' indents, ready to copy. Raw bytes that live as
    /// long as the process: an array here was retained and released by every newline, and on
    /// `--jobs` threads writing rows at once that shared count made two threads slower than one.
    private static let indentLevels = 8
    private nonisolated(unsafe) static let indents: UnsafeRawPointer = immortalBytes([0x0A] + [UInt8](repeating: 0x20, count: 2 * (indentLevels - 1)))

    private mutating func close(_ bracket: UInt8) {
        let hadItems = innermostHasItems
        innermostHasItems = false
        depth -= 1
        if pretty && hadItems { newline(depth: depth) }
        put(bracket)
    }

    /// After the bracket that opens an object or array.
    private mutating func opened() {
        precondition(depth < Self.maximumDepth, "JSON nested more than \(Self.maximumDepth) levels")
        depth += 1
        innermostHasItems = false
    }

    private mutating func key(_ k: String) {
        separator()
        appendString(k)
        put(0x3A)
        if pretty { put(0x20) }
    }

    public mutating func beginObject(_ k: String? = nil) {
        if let k { key(k) } else { separator() }
        put(0x7B)
        opened()
    }

    public mutating func endObject() { close(0x7D) }

    /// The bytes that open each field of objects written at one depth: the comma (none before the
    /// first), the newline and indent when pretty, the quoted key and the colon. Made once, so a field
    /// of a row costs one copy; the summary writes 25 fields for each of hundreds of thousands of rows.
    /// Raw bytes that are never freed (a few hundred per kind of record), so threads writing records at
    /// once share them without touching a reference count.
    public struct FieldOpenings: @unchecked Sendable {
        fileprivate let bytes: UnsafeRawPointer
        /// Field i's opening is `bytes[ends[i]..<ends[i + 1]]`.
        fileprivate let ends: UnsafePointer<Int>
    }

    /// Openings for the fields `keys` of objects begun at the current depth (call before `beginObject`).
    public func fieldOpenings(_ keys: [String]) -> FieldOpenings {
        var probe = JSONWriter(pretty: pretty)
        probe.takePlace(of: self, afterItems: innermostHasItems)
        probe.opened()
        var all: [UInt8] = []
        var ends = [0]
        for k in keys {
            probe.clearBytes()
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
        put(fields.bytes + start, fields.ends[index + 1] - start)
        innermostHasItems = true
    }

    /// An empty writer at this writer's place in the document, as if `afterItems` told whether items
    /// came before: parts of one array written apart (on other threads) and joined with `append`.
    public func continuation(afterItems: Bool) -> JSONWriter {
        var w = JSONWriter(pretty: pretty)
        w.takePlace(of: self, afterItems: afterItems)
        return w
    }

    /// Makes this writer, emptied but keeping its buffer, a continuation of `w` (see `continuation`).
    public mutating func `continue`(_ w: JSONWriter, afterItems: Bool) {
        clearBytes()
        takePlace(of: w, afterItems: afterItems)
    }

    /// Hands what this writer holds to `sink`, then the bytes of `part`, a continuation of this writer
    /// written after everything here; `part` is emptied, keeping its buffer.
    public mutating func drain(continuation part: inout JSONWriter, into sink: (UnsafeRawBufferPointer) -> Void) {
        if store.count > 0 { drain(into: sink) }
        if part.store.count > 0 { part.drain(into: sink) }
        part.clearBytes()
        if part.innermostHasItems { innermostHasItems = true }
    }

    /// Takes the bytes of a continuation of this writer, written after everything here.
    public mutating func append(continuation part: JSONWriter) {
        put(UnsafeRawPointer(part.store.base), part.store.count)
        if part.innermostHasItems { innermostHasItems = true }
    }

    public mutating func rawValue(_ v: String?) { if let v { appendString(v) } else { appendNull() } }
    public mutating func rawValue(_ v: Int64?) { if let v { appendInteger(v) } else { appendNull() } }
    public mutating func rawValue(_ v: Bool) { appendBool(v) }

    /// A time as `rfc3339` writes it, without making the String.
    public mutating func rawValue(_ t: Timestamp) {
        let at = room(26)
        at.pointee = 0x22
        guard let n = t.writeRFC3339(into: UnsafeMutableBufferPointer(start: at + 1, count: 24)) else { return appendString(t.rfc3339) }
        at[n + 1] = 0x22
        store.count += n + 2
    }

    /// Row facts written once and copied into every row that has them (a service's vendor, name,
    /// tier...): bytes made by `bytes(writing:)` of a continuation of the writer at that place.
    public mutating func rawBytes(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { put($0.baseAddress!, $0.count) }
    }

    /// What `body` writes from here in this writer's place (a copy of it), as bytes to copy with
    /// `rawBytes` into rows at the same place: the same bytes `body` would write there.
    public func bytes(writing body: (inout JSONWriter) -> Void) -> [UInt8] {
        var w = JSONWriter(pretty: pretty)
        w.takePlace(of: self, afterItems: innermostHasItems)
        body(&w)
        return w.bytes
    }

    /// One string value per n: `prefix`, `separator`, then n's digits (evidence references `file:123`),
    /// without making those Strings; the prefix is escaped once for all of them.
    public mutating func values(_ prefix: String, separatedBy separator: UInt8, _ numbers: some Sequence<Int>) {
        // The prefix's bytes where they are: a copy (for `withUTF8`) retained the string, which the
        // rows of one input share and every thread writing them would retain.
        if prefix.utf8.withContiguousStorageIfAvailable({ values(UnsafeRawBufferPointer($0), separatedBy: separator, numbers) }) == nil {
            var prefix = prefix
            prefix.withUTF8 { values(UnsafeRawBufferPointer($0), separatedBy: separator, numbers) }
        }
    }

    private mutating func values(_ utf8: UnsafeRawBufferPointer, separatedBy separator: UInt8, _ numbers: some Sequence<Int>) {
        // The opening of each value (quote, prefix, separator): the prefix as it is when it needs
        // no escape (nearly always: a file name), without a writer of its own to escape it.
        if !Self.needsEscape(utf8) {
            return withUnsafeTemporaryAllocation(byteCount: utf8.count + 2, alignment: 1) { opening in
                opening[0] = 0x22
                UnsafeMutableRawBufferPointer(rebasing: opening[1...]).copyMemory(from: utf8)
                opening[utf8.count + 1] = separator
                put(values: numbers, opening: UnsafeRawBufferPointer(opening))
            }
        }
        var head = JSONWriter()
        head.appendString(String(decoding: utf8, as: UTF8.self))
        head.store.count -= 1  // the closing quote
        head.put(separator)
        put(values: numbers, opening: UnsafeRawBufferPointer(start: head.store.base, count: head.store.count))
        withExtendedLifetime(head) {}
    }

    private mutating func put(values numbers: some Sequence<Int>, opening: UnsafeRawBufferPointer) {
        for n in numbers {
            separator()
            put(opening.baseAddress!, opening.count)
            appendInteger(Int64(n))
            put(0x22)
        }
    }

    public mutating func beginArray(_ k: String? = nil) {
        if let k { key(k) } else { separator() }
        put(0x5B)
        opened()
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

    public mutating func value(_ v: Int64) {
        separator()
        appendInteger(v)
    }

    /// Decimal digits straight into the buffer: no String per number.
    private mutating func appendInteger(_ v: Int64) {
        if v < 0 { put(0x2D) }
        var magnitude = v.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for the 20 digits of UInt64.max
        withUnsafeMutableBytes(of: &digits) { raw in
            var i = raw.count
            repeat {
                i -= 1
                raw[i] = 0x30 &+ UInt8(truncatingIfNeeded: magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            put(raw.baseAddress! + i, raw.count - i)
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

    private mutating func appendNull() { put(Self.words, 4) }

    private mutating func appendBool(_ v: Bool) { put(Self.words + (v ? 4 : 8), v ? 4 : 5) }

    /// `null`, `true` and `false`, for copying.
    private nonisolated(unsafe) static let words: UnsafeRawPointer = immortalBytes(Array("nulltruefalse".utf8))

    private mutating func appendString(_ s: String) {
        put(0x22)
        var s = s
        s.withUTF8 { utf8 in
            if !Self.needsEscape(UnsafeRawBufferPointer(utf8)) {  // nearly every key and value: one copy
                put(utf8)
                return
            }
            // Copy runs of bytes that need no escape in one go.
            var runStart = 0
            for (i, c) in utf8.enumerated() where c < 0x20 || c == 0x22 || c == 0x5C {
                put(UnsafeBufferPointer(rebasing: utf8[runStart..<i]))
                switch c {
                case 0x22: put(0x5C); put(0x22)
                case 0x5C: put(0x5C); put(0x5C)
                case 0x0A: put(0x5C); put(0x6E)
                case 0x0D: put(0x5C); put(0x72)
                case 0x09: put(0x5C); put(0x74)
                default:
                    let hex: [UInt8] = Array("0123456789abcdef".utf8)
                    for b in [0x5C, 0x75, 0x30, 0x30, hex[Int(c >> 4)], hex[Int(c & 0xF)]] { put(b) }
                }
                runStart = i + 1
            }
            put(UnsafeBufferPointer(rebasing: utf8[runStart...]))
        }
        put(0x22)
    }
}

/// A writer's bytes: memory of our own, freed with the last writer that holds it (writers are
/// values: one copied and then written to gets a buffer of its own first).
private final class ByteStore {
    let base: UnsafeMutablePointer<UInt8>
    let capacity: Int
    var count = 0

    init(capacity: Int) {
        self.capacity = capacity
        base = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
    }

    deinit { base.deallocate() }
}

/// A copy of `bytes` that is never freed: for the few constant byte strings that writers on many
/// threads copy from.
private func immortalBytes(_ bytes: [UInt8]) -> UnsafeRawPointer {
    let p = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
    bytes.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    return UnsafeRawPointer(p)
}
