import Glibc
import ShadowScopeCore

/// The catalog compiled for lookups. Exact hosts, `*.suffix` patterns and the fixed right-hand part
/// of `{region}` patterns sit in one hash table keyed by a hash of the name folded label by label from
/// the right. One pass over the host, from its last label, yields the hash of every suffix at a label
/// boundary, so a lookup costs one pass and one probe per label: no regex, no allocation unless a
/// region matches.
/// Precedence: exact host, then region pattern, then the longest suffix.
public struct HostMatcher: ServiceMatcher, Sendable {
    struct Entry: Sendable {
        var name: [UInt8]
        var match: ServiceMatch
    }

    struct RegionEntry: Sendable {
        var fixed: [UInt8]
        /// The labels left of the region label, joined with dots (empty when none).
        var left: [UInt8]
        var before: [UInt8]
        var after: [UInt8]
        var regionCodes: [String: String]
        var match: ServiceMatch
    }

    /// Every pattern's entry; the table below points into these.
    private var entries: [Entry] = []
    private var regionEntries: [RegionEntry] = []
    /// Open addressing over the FNV hashes themselves (already well mixed, so no second hash):
    /// a power-of-two table at most 1/4 full, so a name that is not there usually costs one probe.
    private var slots: [Slot] = []
    private var mask = 0
    public private(set) var patternCount = 0
    /// Turns away hosts whose last two labels no pattern has: most hosts in a log.
    private var prefilter = HostPrefilter(names: [String]())
    public var hostPrefilter: HostPrefilter? { prefilter }

    struct Slot: Sendable {
        var key: UInt64 = 0   // 0 = empty
        var index: Int32 = 0  // into entries (exact, suffix) when >= 0, else regionEntries[-index - 1]
        var next: Int32 = -1  // another slot with the same key (a hash collision between names)
    }

    /// Tag mixed into the hash of suffix names, so exact hosts and suffixes share one table. Region
    /// patterns are filed under the same key as a suffix of their fixed part: one probe per label.
    private static let exactTag: UInt64 = 0
    private static let suffixTag: UInt64 = 0x5355_4646_4958_0001
    /// Every pattern ends in at least two fixed labels; the hash of a pattern's last two labels is
    /// filed under this tag, so a host whose last two labels no pattern has (most hosts) is rejected
    /// after hashing just those two labels.
    private static let lastTwoTag: UInt64 = 0x4C41_5354_5457_0003
    private static let lastTwoMarker = Int32.min

    public init(catalog: Catalog) {
        var keys: [(UInt64, Int32)] = []
        for vendor in catalog.vendors {
            for service in vendor.services {
                for host in service.hosts {
                    let match = ServiceMatch(serviceID: service.id, vendor: vendor.name, service: service.name,
                                             tier: service.tier.rawValue, category: service.category.rawValue,
                                             tierInName: service.tierVisibleInName, evidence: host.evidence)
                    switch host.kind {
                    case .exact(let name):
                        keys.append((Self.reverseHash(Array(name.utf8)) ^ Self.exactTag, Int32(entries.count)))
                        entries.append(Entry(name: Array(name.utf8), match: match))
                    case .suffix(let name):
                        keys.append((Self.reverseHash(Array(name.utf8)) ^ Self.suffixTag, Int32(entries.count)))
                        entries.append(Entry(name: Array(name.utf8), match: match))
                    case .region(let left, let before, let after, let fixed):
                        let e = RegionEntry(fixed: Array(fixed.utf8), left: Array(left.joined(separator: ".").utf8),
                                            before: Array(before.utf8), after: Array(after.utf8),
                                            regionCodes: vendor.regionCodes, match: match)
                        keys.append((Self.reverseHash(e.fixed) ^ Self.suffixTag, -Int32(regionEntries.count) - 1))
                        regionEntries.append(e)
                    }
                    patternCount += 1
                }
            }
        }
        // Each pattern's last two labels: filed in the table, and a bit in the filter.
        var lastTwo = Set<UInt64>()
        var names: [String] = []
        for vendor in catalog.vendors {
            for host in vendor.services.flatMap(\.hosts) {
                let name: String
                switch host.kind {
                case .exact(let n), .suffix(let n): name = n
                case .region(_, _, _, let fixed): name = fixed
                }
                let labels = name.split(separator: ".")
                lastTwo.insert(Self.reverseHash(Array(labels.suffix(2).joined(separator: ".").utf8)) ^ Self.lastTwoTag)
                names.append(name)
            }
        }
        prefilter = HostPrefilter(names: names)
        keys += lastTwo.map { ($0, Self.lastTwoMarker) }
        var capacity = 16
        while capacity < keys.count * 4 { capacity *= 2 }
        slots = [Slot](repeating: Slot(), count: capacity)
        mask = capacity - 1
        for (key, index) in keys {
            let k = key == 0 ? 1 : key
            var i = Int(truncatingIfNeeded: k) & mask
            var previousSame: Int? = nil
            while slots[i].key != 0 {
                if slots[i].key == k { previousSame = i }
                i = (i + 1) & mask
            }
            slots[i] = Slot(key: k, index: index, next: -1)
            if let p = previousSame {
                // Append to the end of this key's chain.
                var last = p
                while slots[last].next >= 0 { last = Int(slots[last].next) }
                slots[last].next = Int32(i)
            }
        }
    }

    /// The first slot holding `key`, or nil.
    @inline(__always)
    private func slot(_ key: UInt64) -> Int? {
        let k = key == 0 ? 1 : key
        var i = Int(truncatingIfNeeded: k) & mask
        while true {
            let s = slots[i].key
            if s == k { return i }
            if s == 0 { return nil }
            i = (i + 1) & mask
        }
    }

    /// The service a normalised host (lower case, no trailing dot) belongs to.
    public func match(host: String) -> ServiceMatch? {
        var host = host
        return host.withUTF8 { match(bytes: UnsafeRawBufferPointer($0)) }
    }

    /// `ServiceMatcher.mayMatch` for the log scanner's quick pass, once per line: true whenever the
    /// default would be for a name whose lower-case form matches, but a name whose last two labels
    /// (in any case) no pattern ends with is turned down by one bit of `prefilter`, upper case or not
    /// (most lines of a proxy log).
    public func mayMatch(rawHost bytes: UnsafeRawBufferPointer) -> Bool {
        relevance(rawHost: bytes).mayMatch
    }

    /// `mayMatch`, and the match it looked up on the way (a `RelevanceMemo` keeps it for the attribution).
    public func relevance(rawHost bytes: UnsafeRawBufferPointer) -> (mayMatch: Bool, match: ServiceMatch?) {
        let n = bytes.count
        guard n > 0, let base = bytes.baseAddress else { return (true, nil) }
        // A trailing dot: the caller parses the line fully.
        if base.load(fromByteOffset: n - 1, as: UInt8.self) == 0x2E { return (true, nil) }
        if prefilter.rejects(bytes) { return (false, nil) }
        // Upper case past the filter: the caller parses the line fully (and lower-cases the host).
        if Self.hasUpperCase(base, n) { return (true, nil) }
        var h = Self.offset
        var end = n
        var labels = 0
        while true {
            var start = end
            while start > 0 && base.load(fromByteOffset: start - 1, as: UInt8.self) != 0x2E { start -= 1 }
            h = Self.combine(h, Self.labelHash(bytes, start, end))
            labels += 1
            if labels == 2 && slot(h ^ Self.lastTwoTag) == nil { return (false, nil) }
            // Two labels known to a pattern, or a single label (only an exact host can match): look it up.
            if labels == 2 || start == 0 {
                let found = match(bytes: bytes)
                return (found != nil, found)
            }
            end = start - 1
        }
    }

    /// Whether a byte of `base[0..<n]` is an ASCII upper-case letter: eight bytes at a time with the
    /// "has a byte between m and n" word test (0x40 < b < 0x5B; bytes with the high bit set never count).
    @inline(__always) static func hasUpperCase(_ base: UnsafeRawPointer, _ n: Int) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        var i = 0
        while i + 8 <= n {
            let x = UInt64(littleEndian: (base + i).loadUnaligned(as: UInt64.self))
            let low = x & (ones &* 127)
            if (ones &* (127 + 0x5B) &- low) & ~x & (low &+ ones &* (127 - 0x40)) & (ones &* 128) != 0 { return true }
            i += 8
        }
        while i < n {
            if (0x41...0x5A).contains(base.load(fromByteOffset: i, as: UInt8.self)) { return true }
            i += 1
        }
        return false
    }

    public func match(bytes: UnsafeRawBufferPointer) -> ServiceMatch? {
        let n = bytes.count
        guard n > 0 else { return nil }
        // Only indices move during the scan; the (large) ServiceMatch is copied once at the end.
        var h = Self.offset
        var bestSuffix = -1
        var regional: (entry: Int, token: Range<Int>)? = nil
        var end = n
        var labels = 0
        while true {
            // The next label to the left: bytes[start..<end].
            var start = end
            while start > 0 && bytes[start - 1] != 0x2E { start -= 1 }
            h = Self.combine(h, Self.labelHash(bytes, start, end))
            labels += 1
            if labels == 2 && slot(h ^ Self.lastTwoTag) == nil { return nil }
            if start == 0 { break }
            // h now covers bytes[start...], a suffix at a label boundary (the dot is at start - 1).
            if let first = slot(h ^ Self.suffixTag) {
                let s = find(first, bytes, from: start)
                if s >= 0 { bestSuffix = s }  // later hits are longer suffixes, so more specific
                if regional == nil { regional = findRegion(first, bytes, dot: start - 1) }
            }
            end = start - 1
        }
        if let first = slot(h ^ Self.exactTag) {
            let e = find(first, bytes, from: 0)
            if e >= 0 { return entries[e].match }
        }
        if let (index, range) = regional {
            let entry = regionEntries[index]
            let token = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
            return entry.match.inRegion(token, country: entry.regionCodes[token])
        }
        return bestSuffix >= 0 ? entries[bestSuffix].match : nil
    }

    @inline(__always)
    private static func equal(_ a: [UInt8], _ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Bool {
        guard end - start == a.count else { return false }
        if a.isEmpty { return true }
        guard let base = bytes.baseAddress else { return false }
        return a.withUnsafeBytes { raw in raw.baseAddress.map { memcmp($0, base + start, a.count) == 0 } ?? false }
    }

    /// The index of the entry in the chain from slot `first` whose name equals `bytes[start...]`, or -1.
    @inline(__always)
    private func find(_ first: Int, _ bytes: UnsafeRawBufferPointer, from start: Int) -> Int {
        var s: Int? = first
        while let i = s {
            let index = Int(slots[i].index)
            if index >= 0, Self.equal(entries[index].name, bytes, start, bytes.count) { return index }  // skips markers too
            s = slots[i].next >= 0 ? Int(slots[i].next) : nil
        }
        return -1
    }

    /// `bytes[dot+1...]` may equal a region entry's fixed part; check it, the region label and the
    /// labels left of it. Returns the entry and where the token is.
    private func findRegion(_ first: Int, _ bytes: UnsafeRawBufferPointer, dot: Int) -> (entry: Int, token: Range<Int>)? {
        var s: Int? = first
        while let si = s {
            defer { s = slots[si].next >= 0 ? Int(slots[si].next) : nil }
            guard slots[si].index < 0, slots[si].index != Self.lastTwoMarker else { continue }
            let index = -Int(slots[si].index) - 1
            let e = regionEntries[index]
            guard Self.equal(e.fixed, bytes, dot + 1, bytes.count) else { continue }
            // The region label runs from after the previous dot (or the start) to `dot`.
            var labelStart = dot
            while labelStart > 0 && bytes[labelStart - 1] != 0x2E { labelStart -= 1 }
            let leftEnd = labelStart == 0 ? 0 : labelStart - 1
            guard Self.equal(e.left, bytes, 0, leftEnd), (labelStart == 0) == e.left.isEmpty else { continue }
            let tokenStart = labelStart + e.before.count
            let tokenEnd = dot - e.after.count
            guard tokenEnd > tokenStart, Self.equal(e.before, bytes, labelStart, tokenStart),
                  Self.equal(e.after, bytes, tokenEnd, dot) else { continue }
            return (index, tokenStart..<tokenEnd)
        }
        return nil
    }

    // A name's hash folds its labels from the right, each label hashed eight bytes at a time, so the
    // hash of every suffix at a label boundary falls out of one right-to-left pass.
    private static let offset: UInt64 = 0xcbf2_9ce4_8422_2325
    private static let prime: UInt64 = 0x9E37_79B9_7F4A_7C15

    @inline(__always)
    static func combine(_ h: UInt64, _ label: UInt64) -> UInt64 {
        let x = (h ^ label) &* prime
        return x ^ (x >> 31)
    }

    @inline(__always)
    static func labelHash(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> UInt64 {
        var h = UInt64(truncatingIfNeeded: end - start) &* 0xFF51_AFD7_ED55_8CCD
        var i = start
        while i + 8 <= end {
            h = (h ^ bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* prime
            h ^= h >> 29
            i += 8
        }
        if i < end {
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            while i < end {
                tail |= UInt64(bytes[i]) << shift
                shift += 8
                i += 1
            }
            h = (h ^ tail) &* prime
            h ^= h >> 29
        }
        return h
    }

    static func reverseHash(_ name: [UInt8]) -> UInt64 {
        name.withUnsafeBytes { bytes in
            var h = offset
            var end = bytes.count
            while true {
                var start = end
                while start > 0 && bytes[start - 1] != 0x2E { start -= 1 }
                h = combine(h, labelHash(bytes, start, end))
                if start == 0 { return h }
                end = start - 1
            }
        }
    }
}
