import ShadowScopeCore

/// The catalog compiled for lookups. Exact hosts, `*.suffix` patterns and the fixed right-hand part
/// of `{region}` patterns sit in hash tables keyed by a hash of the name read right to left. One pass
/// over the host, from its last byte, yields the hash of every suffix at a label boundary, so a lookup
/// costs one pass and at most a few probes per label: no regex, no allocation unless a region matches.
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

    private var exact: [UInt64: [Entry]] = [:]
    private var suffix: [UInt64: [Entry]] = [:]
    private var region: [UInt64: [RegionEntry]] = [:]
    public private(set) var patternCount = 0

    public init(catalog: Catalog) {
        for vendor in catalog.vendors {
            for service in vendor.services {
                for host in service.hosts {
                    let match = ServiceMatch(serviceID: service.id, vendor: vendor.name, service: service.name,
                                             tier: service.tier.rawValue, category: service.category.rawValue,
                                             tierInName: service.tierInName, evidence: host.evidence)
                    switch host.kind {
                    case .exact(let name):
                        exact[Self.reverseHash(Array(name.utf8)), default: []].append(Entry(name: Array(name.utf8), match: match))
                    case .suffix(let name):
                        suffix[Self.reverseHash(Array(name.utf8)), default: []].append(Entry(name: Array(name.utf8), match: match))
                    case .region(let left, let before, let after, let fixed):
                        let e = RegionEntry(fixed: Array(fixed.utf8), left: Array(left.joined(separator: ".").utf8),
                                            before: Array(before.utf8), after: Array(after.utf8),
                                            regionCodes: vendor.regionCodes, match: match)
                        region[Self.reverseHash(e.fixed), default: []].append(e)
                    }
                    patternCount += 1
                }
            }
        }
    }

    /// The service a normalised host (lower case, no trailing dot) belongs to.
    public func match(host: String) -> ServiceMatch? {
        var host = host
        return host.withUTF8 { match(bytes: UnsafeRawBufferPointer($0)) }
    }

    public func match(bytes: UnsafeRawBufferPointer) -> ServiceMatch? {
        let n = bytes.count
        guard n > 0 else { return nil }
        var h = Self.offset
        var bestSuffix: ServiceMatch? = nil
        var regional: ServiceMatch? = nil
        var i = n - 1
        while true {
            let c = bytes[i]
            // Before taking in a dot, the hash covers bytes[i+1..<n]: a suffix at a label boundary.
            if c == 0x2E, i + 1 < n {
                if let m = Self.find(suffix[h], bytes, from: i + 1) { bestSuffix = m }  // later hits are longer
                if regional == nil, let entries = region[h] { regional = Self.findRegion(entries, bytes, dot: i) }
            }
            h = (h ^ UInt64(c)) &* Self.prime
            if i == 0 { break }
            i -= 1
        }
        if let m = Self.find(exact[h], bytes, from: 0) { return m }
        return regional ?? bestSuffix
    }

    @inline(__always)
    private static func equal(_ a: [UInt8], _ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Bool {
        guard end - start == a.count else { return false }
        for j in 0..<a.count where a[j] != bytes[start + j] { return false }
        return true
    }

    @inline(__always)
    private static func find(_ entries: [Entry]?, _ bytes: UnsafeRawBufferPointer, from start: Int) -> ServiceMatch? {
        guard let entries else { return nil }
        for e in entries where equal(e.name, bytes, start, bytes.count) { return e.match }
        return nil
    }

    /// `bytes[dot+1...]` equals an entry's fixed part; check the region label and the labels left of it.
    private static func findRegion(_ entries: [RegionEntry], _ bytes: UnsafeRawBufferPointer, dot: Int) -> ServiceMatch? {
        for e in entries where equal(e.fixed, bytes, dot + 1, bytes.count) {
            // The region label runs from after the previous dot (or the start) to `dot`.
            var labelStart = dot
            while labelStart > 0 && bytes[labelStart - 1] != 0x2E { labelStart -= 1 }
            let leftEnd = labelStart == 0 ? 0 : labelStart - 1
            guard equal(e.left, bytes, 0, leftEnd), (labelStart == 0) == e.left.isEmpty else { continue }
            let tokenStart = labelStart + e.before.count
            let tokenEnd = dot - e.after.count
            guard tokenEnd > tokenStart, equal(e.before, bytes, labelStart, tokenStart), equal(e.after, bytes, tokenEnd, dot) else { continue }
            let token = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[tokenStart..<tokenEnd]), as: UTF8.self)
            var m = e.match
            m.regionToken = token
            m.regionCountry = e.regionCodes[token]
            return m
        }
        return nil
    }

    // FNV-1a, 64-bit, over the bytes from last to first.
    private static let offset: UInt64 = 0xcbf2_9ce4_8422_2325
    private static let prime: UInt64 = 0x0000_0100_0000_01B3

    static func reverseHash(_ name: [UInt8]) -> UInt64 {
        var h = offset
        for c in name.reversed() { h = (h ^ UInt64(c)) &* prime }
        return h
    }
}
