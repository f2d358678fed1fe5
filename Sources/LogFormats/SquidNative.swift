import ShadowScopeCore
#if arch(x86_64)
import _Builtin_intrinsics.intel
#endif

/// Squid's native access.log (`logformat squid`):
/// `time.ms elapsed client code/status bytes method URL user hierarchy/peer type`.
/// `bytes` is the size of the reply sent to the client (headers included): it is the download
/// size. Nothing in this format says how much the client sent, so `bytes_up` stays unknown.
public struct SquidNative: StatelessLogFormat {
    public let name = "squid"
    static let fieldCount = 10

    public init() {}

    public func recognizes(_ line: UnsafeRawBufferPointer) -> Bool {
        if case .observation = parse(line, source: SourceRef(file: "", position: .none)) { return true }
        return false
    }

    /// The CONNECT target's or URL's host, found by counting fields: only lines with exactly ten
    /// fields and a plain host qualify; anything unusual returns nil and gets the full parse.
    public func quickHost(_ line: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        guard let base = line.baseAddress else { return nil }
        let n = line.count
        // Eight bytes at a time: which bytes are spaces, where fields (runs of non-spaces) start.
        // A tab anywhere sends the line to the full parse.
        var fields = 0
        var methodStart = -1, urlStart = -1, userStart = -1
        var previousWasSpace: UInt64 = 0x80  // the line start counts as a space before byte 0
        var offset = 0
        while offset < n {
            let word = Self.word(base, at: offset, count: n)
            let spaces = zeroByteHighBits(word ^ 0x2020_2020_2020_2020)
            if zeroByteHighBits(word ^ 0x0909_0909_0909_0909) != 0 { return nil }
            let starts = ~spaces & 0x8080_8080_8080_8080 & (spaces << 8 | previousWasSpace)
            previousWasSpace = spaces >> 56
            // One pass per field start (a word holds one or two): cheaper than a popcount, which the
            // baseline x86-64 target has to emulate.
            var m = starts
            while m != 0 {
                if fields >= 5 && fields <= 7 {
                    let at = offset + m.trailingZeroBitCount / 8
                    if fields == 5 { methodStart = at } else if fields == 6 { urlStart = at } else { userStart = at }
                }
                fields += 1
                m &= m - 1
            }
            if fields > Self.fieldCount { return nil }
            offset += 8
        }
        guard fields == Self.fieldCount else { return nil }
        return Self.targetHost(base, methodStart: methodStart, urlStart: urlStart, userStart: userStart, readable: n)
    }

    /// The host of the request target whose method field starts at `methodStart`, URL at `urlStart`
    /// and user at `userStart` (fields of a line at `base`, separated by runs of spaces), or nil when
    /// it is not a plain `host:port` (CONNECT) or `scheme://host...` target. `readable`: bytes that
    /// may be read from `base`.
    @inline(__always)
    static func targetHost(_ base: UnsafeRawPointer, methodStart: Int, urlStart: Int, userStart: Int, readable: Int) -> UnsafeRawBufferPointer? {
        // Each field ends at the first space after its start; the next field starts after a run of them.
        var methodEnd = urlStart
        while base.load(fromByteOffset: methodEnd - 1, as: UInt8.self) == 0x20 { methodEnd -= 1 }
        var urlEnd = userStart
        while base.load(fromByteOffset: urlEnd - 1, as: UInt8.self) == 0x20 { urlEnd -= 1 }
        if methodEnd - methodStart == 7 && base.load(fromByteOffset: methodStart, as: UInt8.self) == 0x43 {  // CONNECT
            guard base.load(fromByteOffset: urlStart, as: UInt8.self) != 0x5B else { return nil }
            // The last colon: most targets end in ":443", seen in one load.
            var colon = urlEnd - 4
            if colon <= urlStart || base.loadUnaligned(fromByteOffset: colon, as: UInt32.self) != UInt32(littleEndian: 0x3334_343A) {
                colon = urlEnd - 1
                while colon >= urlStart && base.load(fromByteOffset: colon, as: UInt8.self) != 0x3A { colon -= 1 }
                guard colon >= urlStart else { return nil }
            }
            return UnsafeRawBufferPointer(start: base + urlStart, count: colon - urlStart)
        }
        // scheme://host[:port]/...: "http://" and "https://" seen in one word (their seven or eight bytes,
        // none a space, lie inside the URL), any other scheme found by searching for "://".
        let head = urlStart &+ 8 <= readable ? UInt64(littleEndian: (base + urlStart).loadUnaligned(as: UInt64.self)) : 0
        let hostStart: Int
        if head & 0x00FF_FFFF_FFFF_FFFF == 0x002F_2F3A_7074_7468 {  // "http://"
            hostStart = urlStart &+ 7
        } else if head == 0x2F2F_3A73_7074_7468 {  // "https://"
            hostStart = urlStart &+ 8
        } else {
            var j = urlStart
            while j + 2 < urlEnd && !(base.load(fromByteOffset: j, as: UInt8.self) == 0x3A
                                       && base.load(fromByteOffset: j + 1, as: UInt8.self) == 0x2F
                                       && base.load(fromByteOffset: j + 2, as: UInt8.self) == 0x2F) { j += 1 }
            guard j + 2 < urlEnd else { return nil }
            hostStart = j + 3
        }
        let k = firstHostDelimiter(base, from: hostStart, to: urlEnd, readable: readable)
        if k < urlEnd {
            let c = base.load(fromByteOffset: k, as: UInt8.self)
            if c == 0x40 || c == 0x5B { return nil }  // user@host or [IPv6]: full parse
        }
        return k > hostStart ? UnsafeRawBufferPointer(start: base + hostStart, count: k - hostStart) : nil
    }

    /// Counts the lines at the start of `text` that are ten-field records with a plain host which
    /// `isRelevant` rejects — exactly the lines `quickHost` and `isRelevant` would drop one by one —
    /// and stops at the first line that needs a closer look: one with a tab, NUL or another byte below
    /// CR (but LF), or a CR other than at the end of its last field, one near or over the line cap,
    /// one with another field count or target, one whose host is relevant, or the unfinished line at
    /// the end. Sixty-four bytes are classified at a time and only field starts and line ends are
    /// visited, so a line costs about a dozen steps.
    public func skipIrrelevantLines(_ text: UnsafeRawBufferPointer, prefilter: HostPrefilter?,
                                    isRelevant: (UnsafeRawBufferPointer) -> Bool) -> (bytes: Int, lines: Int, nextIsRelevant: Bool)? {
        guard let base = text.baseAddress else { return (0, 0, false) }
        let n = text.count
        var lineStart = 0, lines = 0
        var fields = 0
        var methodStart = 0, urlStart = 0, userStart = 0
        var previousWasSeparator: UInt64 = 1  // the text starts at a line start
        var block = 0
        while block < n {
            // A line that may reach the cap is left to the line-by-line path, which reports it.
            if block &+ 64 &- lineStart > LineReader.maxLineBytes { return (lineStart, lines, false) }
            var classes: ByteClasses
            if n &- block >= 64 {
                classes = ByteClasses(base + block)
            } else {
                // The last, short block: classify a copy, and ignore the bytes past the end.
                var copy: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
                classes = withUnsafeMutableBytes(of: &copy) { raw in
                    raw.baseAddress!.copyMemory(from: base + block, byteCount: n - block)
                    return ByteClasses(UnsafeRawPointer(raw.baseAddress!))
                }
                let valid = (UInt64(1) << UInt64(n - block)) &- 1
                classes.newline &= valid
                classes.separator &= valid
                classes.control &= valid
            }
            let separators = classes.separator
            var starts = ~separators & (separators << 1 | previousWasSeparator)
            previousWasSeparator = separators >> 63
            // A tab or NUL always needs the line-by-line path; so does a CR anywhere but just before the
            // LF after a field (the line reader drops it; a CR alone after a space would be counted here
            // as a field the line does not have). Checked line by line, in order, when the block has one.
            var controls = classes.control
            @inline(__always) func onlyFinalCRs(_ mask: UInt64) -> Bool {
                var rest = mask
                while rest != 0 {
                    let at = block &+ rest.trailingZeroBitCount
                    guard base.load(fromByteOffset: at, as: UInt8.self) == 0x0D, at &+ 1 < n,
                          base.load(fromByteOffset: at &+ 1, as: UInt8.self) == 0x0A, at > lineStart,
                          base.load(fromByteOffset: at &- 1, as: UInt8.self) != 0x20
                    else { return false }
                    rest &= rest &- 1
                }
                return true
            }
            // Line ends, and the field starts before each: visited one by one (a record has ten). The
            // baseline x86-64 has no popcount instruction, and its emulation cost more than the visits.
            var newlines = classes.newline
            while true {
                let below = newlines == 0 ? ~0 : (newlines & (0 &- newlines)) &- 1
                let before = starts & below
                starts &= ~before
                var rest = before
                while rest != 0 {
                    fields &+= 1
                    if UInt(bitPattern: fields &- 6) < 3 {
                        let at = block &+ rest.trailingZeroBitCount
                        if fields == 6 { methodStart = at } else if fields == 7 { urlStart = at } else { userStart = at }
                    }
                    rest &= rest &- 1
                }
                if controls != 0 {
                    guard onlyFinalCRs(controls & below) else { return (lineStart, lines, false) }
                    controls &= ~below
                }
                if newlines == 0 { break }
                let end = block &+ newlines.trailingZeroBitCount
                newlines &= newlines &- 1
                guard fields == Self.fieldCount,
                      let host = Self.targetHost(base, methodStart: methodStart, urlStart: urlStart, userStart: userStart, readable: n)
                else { return (lineStart, lines, false) }
                // Most hosts are turned away by the prefilter, inline; the rest ask the caller.
                let hostStart = base.distance(to: host.baseAddress!)
                if prefilter?.rejects(base, from: hostStart, to: hostStart &+ host.count) != true && isRelevant(host) {
                    return (lineStart, lines, true)
                }
                lines &+= 1
                lineStart = end &+ 1
                fields = 0
            }
            block &+= 64
        }
        return (lineStart, lines, false)
    }

    public func parse(_ line: UnsafeRawBufferPointer, source: SourceRef) -> LineResult {
        // The ten fields on the stack: an array was an allocation per matched line. The result is
        // stored from inside rather than returned through the generic closure, which copied its
        // three hundred bytes four times more.
        var result = LineResult.ignored
        withUnsafeTemporaryAllocation(of: UnsafeRawBufferPointer.self, capacity: Self.fieldCount) { fields in
            guard let count = Self.splitFields(line, into: fields) else {
                result = .skipped("more than \(Self.fieldCount) fields: not squid native format")
                return
            }
            if count == 0 { return }
            guard count == Self.fieldCount else {
                result = .skipped("expected \(Self.fieldCount) fields, found \(count)")
                return
            }
            result = parse(fields: UnsafeBufferPointer(fields), source: source)
        }
        return result
    }

    /// The eight bytes of `base[0..<count]` from `offset` as a little-endian word; a short last word is
    /// padded with spaces (which end a field, as the line's end does).
    @inline(__always)
    static func word(_ base: UnsafeRawPointer, at offset: Int, count: Int) -> UInt64 {
        if count - offset >= 8 { return UInt64(littleEndian: (base + offset).loadUnaligned(as: UInt64.self)) }
        var word: UInt64 = 0x2020_2020_2020_2020
        withUnsafeMutableBytes(of: &word) { $0.baseAddress!.copyMemory(from: base + offset, byteCount: count - offset) }
        return UInt64(littleEndian: word)
    }

    /// The fields of `line` (runs of bytes other than space and tab) in order, written into `fields`;
    /// their count, or nil when there are more than `fields` holds. Sixteen bytes at a time (SSE2),
    /// then eight: only the places where a field starts or ends are visited (a byte-at-a-time split
    /// was a tenth of a matched line's cost).
    static func splitFields(_ line: UnsafeRawBufferPointer, into fields: UnsafeMutableBufferPointer<UnsafeRawBufferPointer>) -> Int? {
        guard let base = line.baseAddress else { return 0 }
        let n = line.count
        var count = 0
        var start = -1  // where the open field starts; -1 between fields
        // Byte `at` opens a field, or closes the open one; false when there is no room for another.
        @inline(__always) func edge(at: Int) -> Bool {
            if start < 0 {
                start = at
                return true
            }
            guard count < fields.count else { return false }
            fields.initializeElement(at: count, to: UnsafeRawBufferPointer(start: base + start, count: at - start))
            count += 1
            start = -1
            return true
        }
        var offset = 0
        #if arch(x86_64)
        // Sixteen bytes at a time while that many remain (SSE2), then words: a bit per byte that is a
        // separator; a field starts or ends where a bit differs from the one before it.
        let space = _mm_set1_epi8(0x20), tab = _mm_set1_epi8(0x09)
        while n &- offset >= 16 {
            let v = _mm_loadu_si128((base + offset).assumingMemoryBound(to: __m128i.self))
            let separators = UInt32(truncatingIfNeeded: _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, space), _mm_cmpeq_epi8(v, tab))))
            var changes = (separators ^ (separators << 1 | (start < 0 ? 1 : 0))) & 0xFFFF
            while changes != 0 {
                guard edge(at: offset &+ changes.trailingZeroBitCount) else { return nil }
                changes &= changes &- 1
            }
            offset &+= 16
        }
        #endif
        while offset < n {
            let word = Self.word(base, at: offset, count: n)
            let separators = zeroByteHighBits(word ^ 0x2020_2020_2020_2020) | zeroByteHighBits(word ^ 0x0909_0909_0909_0909)
            // A field starts or ends where a byte's kind differs from the one before it (before byte 0:
            // a separator unless a field is open).
            var changes = (separators ^ (separators << 8 | (start < 0 ? 0x80 : 0))) & 0x8080_8080_8080_8080
            while changes != 0 {
                guard edge(at: offset &+ changes.trailingZeroBitCount / 8) else { return nil }
                changes &= changes &- 1
            }
            offset += 8
        }
        if start >= 0, !edge(at: n) { return nil }  // a field running to the end of a line of whole words
        return count
    }

    /// A line's ten fields → its observation.
    private func parse(fields: UnsafeBufferPointer<UnsafeRawBufferPointer>, source: SourceRef) -> LineResult {
        guard let ts = parseTimestamp(fields[0]) else { return .skipped("time '\(text(fields[0]))' is not seconds.milliseconds") }
        guard let elapsed = parseInt(fields[1]) else { return .skipped("elapsed '\(text(fields[1]))' is not a number") }
        guard let slash = fields[3].firstIndex(of: 0x2F),
              let status = parseInt(UnsafeRawBufferPointer(rebasing: fields[3][(slash + 1)...])) else {
            return .skipped("result '\(text(fields[3]))' is not CODE/STATUS")
        }
        guard let bytes = parseInt(fields[4]) else { return .skipped("bytes '\(text(fields[4]))' is not a number") }

        var o = Observation(timestamp: ts, source: source)
        o.transport = .tcp
        o.durationMs = elapsed
        if let ip = IPAddress(bytes: fields[2]) { o.clientIP = ip } else { o.clientName = text(fields[2]) }
        o.status = Int(status)
        o.bytesDown = bytes
        o.bytesUp = nil
        o.method = text(fields[5])
        let user = fields[7]
        if !(user.count == 1 && user[0] == 0x2D) { o.user = percentDecoded(user) }
        // "HIER_DIRECT/203.0.113.5": for direct fetches the peer is the origin server.
        if let hs = fields[8].firstIndex(of: 0x2F) {
            o.serverIP = IPAddress(bytes: UnsafeRawBufferPointer(rebasing: fields[8][(hs + 1)...]))
        }
        if let problem = applyProxyTarget(fields[6], to: &o) { return .skipped(problem) }
        return .observation(o)
    }
}

// MARK: field helpers shared by log formats

/// A proxy's request target: `host:port` for CONNECT (proxy-connect), else an absolute URL
/// (proxy-url: host, port, path without query). Returns why the target is unusable, or nil.
func applyProxyTarget(_ url: UnsafeRawBufferPointer, to o: inout Observation) -> String? {
    if o.method == "CONNECT" {
        guard let (host, port) = splitHostPort(url[...]) else { return "CONNECT target '\(text(url))' is not host:port" }
        o.host = host
        o.serverPort = port
        o.hostSource = .proxyConnect
    } else if let parsed = parseURL(url) {
        o.host = parsed.host
        o.serverPort = parsed.port
        o.urlPath = parsed.path
        o.hostSource = parsed.host == nil ? nil : .proxyURL
    }
    return nil
}

func text(_ b: UnsafeRawBufferPointer) -> String { String(decoding: b, as: UTF8.self) }

func parseInt(_ b: UnsafeRawBufferPointer) -> Int64? {
    guard !b.isEmpty, b.count <= 18 else { return nil }
    // At most 18 digits: below 10^18, so the arithmetic cannot overflow and needs no checks.
    var v: Int64 = 0
    for c in b {
        let digit = c &- 0x30
        guard digit < 10 else { return nil }
        v = v &* 10 &+ Int64(digit)
    }
    return v
}

/// `1795606324.678` (seconds, optional fraction) → timestamp.
func parseTimestamp(_ b: UnsafeRawBufferPointer) -> Timestamp? {
    let dot = b.firstIndex(of: 0x2E) ?? b.count
    guard let secs = parseInt(UnsafeRawBufferPointer(rebasing: b[..<dot])) else { return nil }
    var micros: Int64 = 0
    if dot < b.count {
        let frac = UnsafeRawBufferPointer(rebasing: b[(dot + 1)...])
        guard !frac.isEmpty, frac.count <= 9, let f = parseInt(frac) else { return nil }
        micros = f
        // Scale to 6 digits; up to 9 are accepted (nanoseconds). A range `count..<6` traps past 6 digits.
        for _ in min(frac.count, 6)..<6 { micros *= 10 }
        for _ in 6..<max(6, frac.count) { micros /= 10 }
    }
    return Timestamp(seconds: secs, microseconds: micros)
}

/// `host:port`, `[v6]:port` or a bare host → normalised host and port.
func splitHostPort(_ b: Slice<UnsafeRawBufferPointer>) -> (String, UInt16?)? {
    guard !b.isEmpty else { return nil }
    var hostPart = b
    var port: UInt16? = nil
    if b.first == 0x5B {  // [IPv6]:port
        guard let close = b.firstIndex(of: 0x5D) else { return nil }
        hostPart = b[(b.startIndex + 1)..<close]
        let after = b[(close + 1)...]
        if after.first == 0x3A {
            guard let p = parseInt(UnsafeRawBufferPointer(rebasing: after.dropFirst())), let p16 = UInt16(exactly: p) else { return nil }
            port = p16
        }
        guard let ip = IPAddress(String(decoding: hostPart, as: UTF8.self)) else { return nil }
        return (ip.description, port)
    }
    if let colon = b.lastIndex(of: 0x3A) {
        if b[b.startIndex..<colon].contains(0x3A) {
            // A bare IPv6 address without brackets.
            guard let ip = IPAddress(String(decoding: b, as: UTF8.self)) else { return nil }
            return (ip.description, nil)
        }
        hostPart = b[b.startIndex..<colon]
        guard let p = parseInt(UnsafeRawBufferPointer(rebasing: b[(colon + 1)...])), let p16 = UInt16(exactly: p) else { return nil }
        port = p16
    }
    guard let host = normalizeHost(hostPart) else { return nil }
    return (host, port)
}

/// `scheme://[user@]host[:port]/path?query#frag` → host, port (or the scheme's default) and path
/// without query or fragment. Nil for things that are not absolute URLs (`error:...`, `/path`).
func parseURL(_ b: UnsafeRawBufferPointer) -> (host: String?, port: UInt16?, path: String?)? {
    let bytes = b[...]
    guard let colon = bytes.firstIndex(of: 0x3A), colon + 2 < bytes.endIndex,
          bytes[colon + 1] == 0x2F, bytes[colon + 2] == 0x2F else {
        if bytes.first == 0x2F { return (nil, nil, pathWithoutQuery(bytes)) }
        return nil
    }
    let afterScheme = bytes[(colon + 3)...]
    let authorityEnd = afterScheme.firstIndex { $0 == 0x2F || $0 == 0x3F || $0 == 0x23 } ?? afterScheme.endIndex
    var authority = afterScheme[..<authorityEnd]
    if let at = authority.lastIndex(of: 0x40) { authority = authority[(at + 1)...] }
    guard let (host, explicitPort) = splitHostPort(authority) else { return (nil, nil, nil) }
    let defaultPort = defaultPort(scheme: UnsafeRawBufferPointer(rebasing: bytes[..<colon]))
    let rest = afterScheme[authorityEnd...]
    let path = rest.first == 0x2F ? pathWithoutQuery(rest) : "/"
    return (host, explicitPort ?? defaultPort, path)
}

/// The port a URL scheme (any case) implies: http and ws 80, https and wss 443, ftp 21; else nil.
private func defaultPort(scheme: UnsafeRawBufferPointer) -> UInt16? {
    guard scheme.count <= 5 else { return nil }
    // The scheme's bytes, upper-case letters folded, and its length, in one word.
    var folded = UInt64(scheme.count) << 56
    for (k, c) in scheme.enumerated() { folded |= UInt64(c >= 0x41 && c <= 0x5A ? c | 0x20 : c) << (8 * k) }
    func word(_ s: StaticString) -> UInt64 {
        var w = UInt64(s.utf8CodeUnitCount) << 56
        for k in 0..<s.utf8CodeUnitCount { w |= UInt64(s.utf8Start[k]) << (8 * k) }
        return w
    }
    switch folded {
    case word("http"), word("ws"): return 80
    case word("https"), word("wss"): return 443
    case word("ftp"): return 21
    default: return nil
    }
}

/// The path up to `?` or `#`: query strings can hold personal data and are never kept.
func pathWithoutQuery(_ b: Slice<UnsafeRawBufferPointer>) -> String {
    let end = b.firstIndex { $0 == 0x3F || $0 == 0x23 } ?? b.endIndex
    return String(decoding: b[..<end], as: UTF8.self)
}

/// Squid writes user names URL-encoded (`%40` for `@`); invalid escapes are kept as they are.
func percentDecoded(_ b: UnsafeRawBufferPointer) -> String {
    guard b.contains(0x25) else { return String(decoding: b, as: UTF8.self) }
    var out = [UInt8]()
    out.reserveCapacity(b.count)
    var i = 0
    while i < b.count {
        if b[i] == 0x25, i + 2 < b.count, let h = hex(b[i + 1]), let l = hex(b[i + 2]) {
            out.append(h << 4 | l)
            i += 3
        } else {
            out.append(b[i])
            i += 1
        }
    }
    return String(decoding: out, as: UTF8.self)
}

private func hex(_ c: UInt8) -> UInt8? {
    switch c {
    case 0x30...0x39: return c - 0x30
    case 0x61...0x66: return c - 0x61 + 10
    case 0x41...0x46: return c - 0x41 + 10
    default: return nil
    }
}
