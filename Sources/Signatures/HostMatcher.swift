import ShadowScopeCore

/// The catalog compiled for lookups: exact hosts and `*.suffix` patterns in hash tables keyed by a
/// hash of the name read right to left. One pass over the host, from its last byte, yields the hash
/// of every suffix at a label boundary, so a lookup costs one pass and at most one probe per label:
/// no regex, no allocation.
public struct HostMatcher: ServiceMatcher, Sendable {
    struct Entry: Sendable {
        var name: [UInt8]
        var match: ServiceMatch
    }

    private var exact: [UInt64: [Entry]] = [:]
    private var suffix: [UInt64: [Entry]] = [:]
    public private(set) var patternCount = 0

    public init(catalog: Catalog) {
        for vendor in catalog.vendors {
            for service in vendor.services {
                for host in service.hosts {
                    let match = ServiceMatch(serviceID: service.id, vendor: vendor.name, service: service.name,
                                             tier: service.tier.rawValue, category: service.category.rawValue,
                                             tierInName: service.tierInName, evidence: host.evidence)
                    let name = Array(host.name.utf8)
                    let entry = Entry(name: name, match: match)
                    let h = Self.reverseHash(name)
                    if host.isSuffix { suffix[h, default: []].append(entry) } else { exact[h, default: []].append(entry) }
                    patternCount += 1
                }
            }
        }
    }

    /// The service a normalised host (lower case, no trailing dot) belongs to: an exact host first,
    /// else the longest `*.suffix` the host is strictly below.
    public func match(host: String) -> ServiceMatch? {
        var host = host
        return host.withUTF8 { match(bytes: UnsafeRawBufferPointer($0)) }
    }

    public func match(bytes: UnsafeRawBufferPointer) -> ServiceMatch? {
        let n = bytes.count
        guard n > 0 else { return nil }
        var h = Self.offset
        var best: ServiceMatch? = nil
        var i = n - 1
        while true {
            let c = bytes[i]
            // Before taking in a dot, the hash covers bytes[i+1..<n]: a suffix at a label boundary.
            if c == 0x2E, i + 1 < n, let m = Self.find(suffix[h], bytes, from: i + 1) {
                best = m  // later hits are longer suffixes, so more specific
            }
            h = (h ^ UInt64(c)) &* Self.prime
            if i == 0 { break }
            i -= 1
        }
        if let m = Self.find(exact[h], bytes, from: 0) { return m }
        return best
    }

    @inline(__always)
    private static func find(_ entries: [Entry]?, _ bytes: UnsafeRawBufferPointer, from start: Int) -> ServiceMatch? {
        guard let entries else { return nil }
        let count = bytes.count - start
        for e in entries where e.name.count == count {
            var equal = true
            for j in 0..<count where e.name[j] != bytes[start + j] {
                equal = false
                break
            }
            if equal { return e.match }
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
