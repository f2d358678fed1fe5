import Glibc

/// What a host means, from the signature catalog.
public struct ServiceMatch: Sendable, Equatable {
    public enum Evidence: String, Sendable { case strong, weak }

    /// Everything a match says, made once per catalog host (and per region a regional host names):
    /// a match is copied for each matched record (attribution, rules, rows), and as one reference
    /// a copy is one retain. As a struct of strings, an optional match was copied through the
    /// runtime's generic value witnesses, about a hundred instructions a copy, five copies a record.
    public final class Facts: Sendable {
        public let serviceID: String
        public let vendor: String
        public let service: String
        public let tier: String
        public let category: String
        public let tierInName: Bool
        public let evidence: Evidence
        public let regionToken: String?
        public let regionCountry: String?
        /// `serviceID.hashValue`, hashed once: summary rows are keyed by the service of every matched record.
        public let serviceIDHash: Int

        init(serviceID: String, vendor: String, service: String, tier: String, category: String, tierInName: Bool,
             evidence: Evidence, regionToken: String?, regionCountry: String?, serviceIDHash: Int? = nil) {
            self.serviceID = serviceID
            self.serviceIDHash = serviceIDHash ?? serviceID.hashValue
            self.vendor = vendor
            self.service = service
            self.tier = tier
            self.category = category
            self.tierInName = tierInName
            self.evidence = evidence
            self.regionToken = regionToken
            self.regionCountry = regionCountry
        }
    }

    public let facts: Facts
    public var serviceID: String { facts.serviceID }
    public var vendor: String { facts.vendor }
    public var service: String { facts.service }
    public var tier: String { facts.tier }
    public var category: String { facts.category }
    public var tierInName: Bool { facts.tierInName }
    public var evidence: Evidence { facts.evidence }
    /// The region token the host name carries (`eu-central-1`), when its pattern binds one.
    public var regionToken: String? { facts.regionToken }
    /// That region's country code (or `EU`), from the vendor's region_codes; nil when unknown.
    public var regionCountry: String? { facts.regionCountry }

    public init(serviceID: String, vendor: String, service: String, tier: String, category: String,
                tierInName: Bool, evidence: Evidence, regionToken: String? = nil, regionCountry: String? = nil) {
        facts = Facts(serviceID: serviceID, vendor: vendor, service: service, tier: tier, category: category,
                      tierInName: tierInName, evidence: evidence, regionToken: regionToken, regionCountry: regionCountry)
    }

    /// This match for a host name that names `token` as its region (whose country is `country`).
    public func inRegion(_ token: String, country: String?) -> ServiceMatch {
        ServiceMatch(facts: Facts(serviceID: serviceID, vendor: vendor, service: service, tier: tier, category: category,
                                  tierInName: tierInName, evidence: evidence, regionToken: token, regionCountry: country,
                                  serviceIDHash: facts.serviceIDHash))
    }

    private init(facts: Facts) { self.facts = facts }

    public static func == (a: ServiceMatch, b: ServiceMatch) -> Bool {
        if a.facts === b.facts { return true }
        return a.serviceID == b.serviceID && a.vendor == b.vendor && a.service == b.service && a.tier == b.tier
            && a.category == b.category && a.tierInName == b.tierInName && a.evidence == b.evidence
            && a.regionToken == b.regionToken && a.regionCountry == b.regionCountry
    }
}

/// Looks a normalised host name up in a catalog. Implemented by `Signatures`.
public protocol ServiceMatcher: Sendable {
    func match(host: String) -> ServiceMatch?
    /// The same from raw bytes (lower case, no trailing dot), without making a String.
    func match(bytes: UnsafeRawBufferPointer) -> ServiceMatch?
    /// Whether raw host bytes may belong to a catalog service: false only when neither the bytes nor
    /// their normal form (lower case, no trailing dot) can match (see the default below).
    func mayMatch(rawHost bytes: UnsafeRawBufferPointer) -> Bool
    /// `mayMatch`, and the match when finding the answer looked one up (nil when it did not).
    func relevance(rawHost bytes: UnsafeRawBufferPointer) -> (mayMatch: Bool, match: ServiceMatch?)
    /// The part of `mayMatch` that needs no look-up, for a scanner to ask inline; nil when there is none.
    var hostPrefilter: HostPrefilter? { get }
}

extension ServiceMatcher {
    public var hostPrefilter: HostPrefilter? { nil }

    public func match(bytes: UnsafeRawBufferPointer) -> ServiceMatch? {
        match(host: String(decoding: bytes, as: UTF8.self))
    }

    /// Whether raw host bytes may belong to a catalog service. Bytes that are not already in
    /// normal form (upper case, a trailing dot) answer true, so the caller parses them fully.
    public func mayMatch(rawHost bytes: UnsafeRawBufferPointer) -> Bool {
        relevance(rawHost: bytes).mayMatch
    }

    public func relevance(rawHost bytes: UnsafeRawBufferPointer) -> (mayMatch: Bool, match: ServiceMatch?) {
        guard let last = bytes.last, last != 0x2E else { return (true, nil) }
        for c in bytes where c >= 0x41 && c <= 0x5A { return (true, nil) }
        let match = match(bytes: bytes)
        return (match != nil, match)
    }
}

/// The match the last relevance check of a log scan looked up, kept for the attribution of the record
/// it let through: the scanner asks about a line's host, then parses and attributes the line, and
/// looked the same host up twice (about 600 instructions a matched line). One entry, keyed by the
/// host's bytes, so an entry is only ever given for the host it was found for. One per scan (thread).
public final class RelevanceMemo {
    private let matcher: any ServiceMatcher
    /// The host's bytes (`count` of them); a longer host than fits is not kept.
    private let host = UnsafeMutableRawPointer.allocate(byteCount: RelevanceMemo.capacity, alignment: 8)
    private var count = 0
    private var match: ServiceMatch?
    private static let capacity = 256

    public init(_ matcher: any ServiceMatcher) { self.matcher = matcher }

    deinit { host.deallocate() }

    /// `matcher.mayMatch(rawHost:)`, keeping the match it looked up.
    public func mayMatch(rawHost bytes: UnsafeRawBufferPointer) -> Bool {
        let (may, found) = matcher.relevance(rawHost: bytes)
        if let found, let base = bytes.baseAddress, bytes.count <= Self.capacity {
            host.copyMemory(from: base, byteCount: bytes.count)
            count = bytes.count
            match = found
        }
        return may
    }

    /// The kept match when `host` is the host it was looked up for, else nil.
    public func match(for name: String) -> ServiceMatch? {
        guard let match else { return nil }
        let same = name.utf8.withContiguousStorageIfAvailable { bytes in
            bytes.count == count && (count == 0 || memcmp(bytes.baseAddress!, host, count) == 0)
        }
        return same == true ? match : nil
    }
}

/// Where a destination is, and how we know.
public struct Region: Sendable, Hashable {
    public enum How: String, Sendable { case host, geoip, unknown }
    public enum Group: String, Sendable {
        case euEEA = "eu-eea"
        case nonEU = "non-eu"
        case unknown
    }
    /// ISO 3166-1 alpha-2 country code, upper case, `EU` when a host name binds only the EU, or nil.
    public var country: String?
    public var how: How

    public init(country: String?, how: How) {
        self.country = country
        self.how = how
    }

    public static let unknown = Region(country: nil, how: .unknown)

    /// The aggregate key: the country code, or "unknown".
    public var key: String { country ?? "unknown" }

    public var group: Group {
        guard let c = country else { return .unknown }
        return c == "EU" || Region.euEEA.contains(c) ? .euEEA : .nonEU
    }

    /// EU member states plus the EEA's Iceland, Liechtenstein and Norway (GDPR applies in all 30).
    public static let euEEA: Set<String> = [
        "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV",
        "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO",
    ]
}

/// Finds the country of a server address. Implemented by `GeoIP`.
public protocol GeoLocator: Sendable {
    func country(of address: IPAddress) -> String?
}

/// An observation with what it means.
public struct Attribution: Sendable {
    public var match: ServiceMatch?
    /// The user the aggregates count this under: the source's user, else the client address.
    public var user: String
    public var region: Region

    public init(match: ServiceMatch?, user: String, region: Region) {
        self.match = match
        self.user = user
        self.region = region
    }
}

/// Adds meaning to observations: service, user, destination region.
public struct Attributor: Sendable {
    public var matcher: any ServiceMatcher
    public var geo: (any GeoLocator)?
    public var users: UserMap

    public init(matcher: any ServiceMatcher, geo: (any GeoLocator)?, users: UserMap = UserMap()) {
        self.matcher = matcher
        self.geo = geo
        self.users = users
    }

    public func attribute(_ o: Observation) -> Attribution {
        attribute(o, match: o.host.flatMap { matcher.match(host: $0) }) { ip in geo?.country(of: ip) }
    }

    /// The same, with GeoIP answers remembered in `cache` (one scan's: its thread's own).
    public func attribute(_ o: Observation, cache: inout GeoCache) -> Attribution {
        attribute(o, match: o.host.flatMap { matcher.match(host: $0) }) { ip in geo.flatMap { cache.country(of: ip, in: $0) } }
    }

    /// The attribution of an observation of a catalog service, or nil (and nothing else worked out:
    /// no user name made, no GeoIP look-up) for one that is not: all a caller that keeps only
    /// matches needs. GeoIP answers are remembered in `cache`.
    /// `memo`: what the scan's relevance check already looked up.
    public func attributeIfMatched(_ o: Observation, cache: inout GeoCache, memo: RelevanceMemo? = nil) -> Attribution? {
        guard let match = o.host.flatMap({ memo?.match(for: $0) ?? matcher.match(host: $0) }) else { return nil }
        return attribute(o, match: match) { ip in geo.flatMap { cache.country(of: ip, in: $0) } }
    }

    private func attribute(_ o: Observation, match: ServiceMatch?, country: (IPAddress) -> String?) -> Attribution {
        // The source's own user first, then the --users map, then the client address itself.
        let user = o.user ?? o.clientIP.flatMap { users.user(for: $0) } ?? o.clientIP?.description ?? o.clientName ?? "unknown"
        var region = Region.unknown
        if match == nil {
            // Only matched observations are aggregated: no GeoIP look-up for the rest.
        } else if let code = match?.regionCountry {
            region = Region(country: code, how: .host)  // the name binds the region: trust it over GeoIP
        } else if let ip = o.serverIP, let code = country(ip) {
            region = Region(country: code, how: .geoip)
        }
        return Attribution(match: match, user: user, region: region)
    }
}

/// GeoIP answers by address, for one scan: a proxy log or capture names the same few service
/// addresses again and again, and a database look-up (a tree walk, then two map paths) is about
/// ten times a table look-up. Bounded: emptied when it holds `limit` addresses.
public struct GeoCache: Sendable {
    private var countries: [IPAddress: String?] = [:]
    public static let limit = 65_536

    public init() {}

    public mutating func country(of address: IPAddress, in geo: any GeoLocator) -> String? {
        if let known = countries[address] { return known }
        let country = geo.country(of: address)
        if countries.count >= Self.limit { countries.removeAll(keepingCapacity: true) }
        countries[address] = country
        return country
    }
}
