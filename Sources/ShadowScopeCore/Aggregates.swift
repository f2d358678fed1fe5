#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Synchronization

/// Byte order of two strings' UTF-8 (negative, zero, positive), by memcmp when both are stored
/// contiguously (every String this tool makes), else element by element.
@inline(__always)
func compareUTF8(_ a: String, _ b: String) -> Int {
    let fast = a.utf8.withContiguousStorageIfAvailable { pa in
        b.utf8.withContiguousStorageIfAvailable { pb -> Int in
            let n = min(pa.count, pb.count)
            if n > 0, let x = pa.baseAddress, let y = pb.baseAddress {
                let c = memcmp(x, y, n)
                if c != 0 { return Int(c) }
            }
            return pa.count - pb.count
        }
    }
    if let c = fast ?? nil { return c }
    if a.utf8.elementsEqual(b.utf8) { return 0 }
    return a.utf8.lexicographicallyPrecedes(b.utf8) ? -1 : 1
}

/// Business hours used to count off-hours connections. Until a policy file exists (issue 7) the
/// default is Monday to Friday, 08:00 to 18:00 UTC.
public struct BusinessHours: Sendable {
    public var startHour: Int
    public var endHour: Int
    /// 0 = Monday ... 6 = Sunday.
    public var weekdays: Set<Int> { didSet { weekdayMask = Self.mask(weekdays) } }
    /// `weekdays` as bits: the off-hours test runs once per matched record, and a Set look-up hashes.
    private var weekdayMask: UInt8
    public var utcOffsetSeconds: Int64
    /// A named time zone (with daylight saving): its offset at a given time, when the policy names one.
    public var zoneName: String? = nil
    public var offsetAt: (@Sendable (Timestamp) -> Int64)? = nil

    public init(startHour: Int = 8, endHour: Int = 18, weekdays: Set<Int> = [0, 1, 2, 3, 4], utcOffsetSeconds: Int64 = 0) {
        self.startHour = startHour
        self.endHour = endHour
        self.weekdays = weekdays
        self.weekdayMask = Self.mask(weekdays)
        self.utcOffsetSeconds = utcOffsetSeconds
    }

    private static func mask(_ days: Set<Int>) -> UInt8 {
        days.reduce(0) { m, d in (0..<7).contains(d) ? m | 1 << UInt8(d) : m }
    }

    /// `Mon-Fri 08:00-18:00 UTC+0h`, for the summary's assumptions.
    public var description: String {
        let names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
        let days = weekdays == [0, 1, 2, 3, 4] ? "Mon-Fri" : weekdays.sorted().map { names[$0 % 7] }.joined(separator: ",")
        let hh = { (h: Int) in h < 10 ? "0\(h):00" : "\(h):00" }
        let offset = zoneName ?? (utcOffsetSeconds == 0 ? "UTC" : "UTC\(utcOffsetSeconds >= 0 ? "+" : "")\(Double(utcOffsetSeconds) / 3600)h")
        return "\(days) \(hh(startHour))-\(hh(endHour)) \(offset)"
    }

    public func isOffHours(_ t: Timestamp) -> Bool {
        let offset = offsetAt?(t) ?? utcOffsetSeconds
        let local = Timestamp(microseconds: t.microseconds &+ offset &* 1_000_000)
        let hour = Int(floorMod(local.seconds, 86_400) / 3600)
        return weekdayMask & 1 << UInt8(local.weekday) == 0 || hour < startHour || hour >= endHour
    }
}

/// One row of the summary: a day, a user, a service and a destination region.
public struct AggregateKey: Hashable, Sendable, Comparable {
    public var day: String
    public var user: String
    public var serviceID: String
    public var region: String

    public init(day: String, user: String, serviceID: String, region: String) {
        self.day = day
        self.user = user
        self.serviceID = serviceID
        self.region = region
    }

    /// The row table's hash of a key whose fields' own hashes (`String.hashValue`, seeded once per
    /// process) are these: mixed with a multiply each instead of SipHash over all four strings
    /// again, so a caller that knows the day's, service's and region's hashes hashes only the user.
    /// Equal keys have equal field hashes, so equal table hashes.
    @inline(__always)
    static func tableHash(day: Int, user: Int, serviceID: Int, region: Int) -> Int {
        var h = UInt64(UInt(bitPattern: day))
        h = (h ^ UInt64(UInt(bitPattern: user))) &* 0x9E37_79B9_7F4A_7C15
        h = (h ^ UInt64(UInt(bitPattern: serviceID))) &* 0xC2B2_AE3D_27D4_EB4F
        h = (h ^ UInt64(UInt(bitPattern: region))) &* 0x1656_67B1_9E37_79F9
        return Int(truncatingIfNeeded: h ^ (h >> 31))
    }

    var tableHash: Int {
        Self.tableHash(day: day.hashValue, user: user.hashValue, serviceID: serviceID.hashValue, region: region.hashValue)
    }

    /// One field as sort bytes: the fields in sort order (day, service, user, region) written thus make
    /// one byte string whose byte order is this type's `<`: each field's UTF-8 with a NUL written as
    /// 00 FF, ended by 00 00 (so a field sorts before its extensions).
    static func appendSortField(_ field: String, to out: inout [UInt8]) {
        var field = field
        let copied = field.withUTF8 { bytes -> Bool in
            if let base = bytes.baseAddress, memchr(base, 0, bytes.count) != nil { return false }
            out.append(contentsOf: bytes)  // nearly always: one copy
            return true
        }
        if !copied {
            for b in field.utf8 {
                out.append(b)
                if b == 0 { out.append(0xFF) }
            }
        }
        out.append(0)
        out.append(0)
    }

    /// Byte order of the UTF-8 (not Unicode collation): stable, and fast for the tens of thousands of
    /// rows a large organisation's day has.
    public static func < (a: AggregateKey, b: AggregateKey) -> Bool {
        var c = compareUTF8(a.day, b.day)
        if c != 0 { return c < 0 }
        c = compareUTF8(a.serviceID, b.serviceID)
        if c != 0 { return c < 0 }
        c = compareUTF8(a.user, b.user)
        if c != 0 { return c < 0 }
        return compareUTF8(a.region, b.region) < 0
    }
}

public struct AggregateValue: Sendable, Equatable {
    /// What a row counts and flags: everything but its references (service facts, country, evidence).
    public struct Figures: Sendable, Equatable {
        public var connections: Int64 = 0
        /// DNS look-ups of the service's names: evidence of use, but no data sent to the service.
        public var lookups: Int64 = 0
        /// Sums of the sizes that were measured; `…Unknown` counts observations whose size was not.
        public var bytesUp: Int64 = 0
        public var bytesDown: Int64 = 0
        public var bytesUpUnknown: Int64 = 0
        public var bytesDownUnknown: Int64 = 0
        public var firstSeen: Timestamp
        public var lastSeen: Timestamp
        public var offHoursConnections: Int64 = 0
        public var how: Region.How
        public var approved: Bool
        /// Every match was weak evidence (a CDN, a login page): such rows never alert alone.
        public var weakOnly = false

        /// `AggregateValue.merge` of the figures: associative and commutative.
        public mutating func merge(_ o: Figures) {
            connections += o.connections
            lookups += o.lookups
            bytesUp += o.bytesUp
            bytesDown += o.bytesDown
            bytesUpUnknown += o.bytesUpUnknown
            bytesDownUnknown += o.bytesDownUnknown
            firstSeen = min(firstSeen, o.firstSeen)
            lastSeen = max(lastSeen, o.lastSeen)
            offHoursConnections += o.offHoursConnections
            if o.how == .host { how = .host }  // a region the host name binds outranks GeoIP
            approved = approved || o.approved
            weakOnly = weakOnly && o.weakOnly
        }
    }

    /// Kept apart from the references so a writer can merge the figures of a row's values in several
    /// tables without copying a value (each copy retains what rows share).
    public var figures: Figures
    public var match: ServiceMatchSummary
    public var country: String?
    /// Up to `maxEvidence` file:line / file:frame references, the smallest in sort order, so the
    /// choice does not depend on how inputs were split or merged.
    public var evidenceList = EvidenceList()
    public static let maxEvidence = EvidenceList.limit

    public var connections: Int64 { get { figures.connections } set { figures.connections = newValue } }
    public var lookups: Int64 { get { figures.lookups } set { figures.lookups = newValue } }
    public var bytesUp: Int64 { get { figures.bytesUp } set { figures.bytesUp = newValue } }
    public var bytesDown: Int64 { get { figures.bytesDown } set { figures.bytesDown = newValue } }
    public var bytesUpUnknown: Int64 { get { figures.bytesUpUnknown } set { figures.bytesUpUnknown = newValue } }
    public var bytesDownUnknown: Int64 { get { figures.bytesDownUnknown } set { figures.bytesDownUnknown = newValue } }
    public var firstSeen: Timestamp { get { figures.firstSeen } set { figures.firstSeen = newValue } }
    public var lastSeen: Timestamp { get { figures.lastSeen } set { figures.lastSeen = newValue } }
    public var offHoursConnections: Int64 { get { figures.offHoursConnections } set { figures.offHoursConnections = newValue } }
    public var how: Region.How { get { figures.how } set { figures.how = newValue } }
    public var approved: Bool { get { figures.approved } set { figures.approved = newValue } }
    public var weakOnly: Bool { get { figures.weakOnly } set { figures.weakOnly = newValue } }

    /// The references as text; setting it normalises what it is given (distinct, sorted, the first
    /// `maxEvidence`), as a list read from a file may be neither.
    public var evidence: [String] {
        get { evidenceList.strings }
        set { evidenceList = EvidenceList(normalizing: newValue) }
    }

    public init(firstSeen: Timestamp, lastSeen: Timestamp, match: ServiceMatchSummary, country: String?, how: Region.How, approved: Bool) {
        figures = Figures(firstSeen: firstSeen, lastSeen: lastSeen, how: how, approved: approved)
        self.match = match
        self.country = country
    }

    /// Merge is associative and commutative: the aggregate of two disjoint inputs is the merge of theirs.
    public mutating func merge(_ o: AggregateValue) {
        figures.merge(o.figures)
        evidenceList.merge(o.evidenceList)
    }

    /// Adds one observation: what `merge` does with the value `Aggregates.add` would build for it.
    mutating func count(_ o: Observation, isLookup: Bool, offHours: Bool, how newHow: Region.How, approved newApproved: Bool, weak: Bool) {
        if isLookup {
            figures.lookups += 1
        } else {
            figures.connections += 1
            if let up = o.bytesUp { figures.bytesUp += up } else { figures.bytesUpUnknown += 1 }
            if let down = o.bytesDown { figures.bytesDown += down } else { figures.bytesDownUnknown += 1 }
        }
        figures.firstSeen = min(figures.firstSeen, o.timestamp)
        figures.lastSeen = max(figures.lastSeen, o.timestamp)
        if offHours { figures.offHoursConnections += 1 }
        if newHow == .host { figures.how = .host }
        figures.approved = figures.approved || newApproved
        figures.weakOnly = figures.weakOnly && weak
        evidenceList.insert(o.source)
    }

    /// What `merge` keeps of the evidence of `values` (one row's values in several tables, in order)
    /// when each list is positions in one file and no two share a file (the rows of several inputs):
    /// `body(j, n)` for each list in file order, `n` of `values[j]`'s first numbers kept, until the
    /// limit is reached. False, and `body` never called, when the lists are of another kind: then
    /// merge them. Lets a writer write the evidence from the lists where they are: merging built a
    /// list of references, each retaining its file's name.
    public static func evidenceByFile(_ values: UnsafeBufferPointer<UnsafePointer<AggregateValue>>,
                                      _ body: (_ value: Int, _ numbers: Int) -> Void) -> Bool {
        guard values.allSatisfy({ $0.pointee.evidenceList.isPositionsInOneFile }) else { return false }
        return withUnsafeTemporaryAllocation(of: Int.self, capacity: values.count) { order -> Bool in
            // Insertion sort by file: a row is in a few tables.
            for j in values.indices {
                var k = j
                while k > 0 {
                    // nil: two lists of one file.
                    guard let less = EvidenceList.fileLess(values[j].pointee.evidenceList, values[order[k - 1]].pointee.evidenceList)
                    else { return false }
                    guard less else { break }
                    order[k] = order[k - 1]
                    k -= 1
                }
                order[k] = j
            }
            var left = EvidenceList.limit
            for j in order where left > 0 {
                let n = min(left, values[j].pointee.evidenceList.count)
                body(j, n)
                left -= n
            }
            return true
        }
    }
}

/// The service facts a summary row repeats: one shared object per service, so a row holds a reference
/// rather than four strings (rows are updated once per matched record, and smaller rows miss the
/// caches less).
public final class ServiceMatchSummary: Sendable, Equatable {
    public let vendor: String
    public let service: String
    public let tier: String
    public let category: String
    public let tierInName: Bool

    public init(vendor: String, service: String, tier: String, category: String, tierInName: Bool) {
        self.vendor = vendor
        self.service = service
        self.tier = tier
        self.category = category
        self.tierInName = tierInName
    }

    func describes(_ m: ServiceMatch) -> Bool {
        vendor == m.vendor && service == m.service && tier == m.tier && category == m.category && tierInName == m.tierInName
    }

    public static func == (a: ServiceMatchSummary, b: ServiceMatchSummary) -> Bool {
        a === b || (a.vendor == b.vendor && a.service == b.service && a.tier == b.tier && a.category == b.category
                    && a.tierInName == b.tierInName)
    }
}

/// Aggregates per day × user × service × region. A monoid under `merge`.
///
/// Rows are kept in the order they were first counted, keys and values in arrays side by side with
/// each key's hash, and found through an open-addressing table of row positions (`slots`). A
/// `Dictionary` of rows moved every key and value (about 200 bytes a row) into fresh memory each
/// time it grew, and merging the rows of two inputs into one large table was mostly that: here the
/// table holds 8 bytes a slot, grows without hashing a key again, and merging takes the other
/// table's hashes as they are.
public struct Aggregates: Sendable {
    fileprivate private(set) var keys = RowChunks<AggregateKey>()
    fileprivate private(set) var values = RowChunks<AggregateValue>()
    /// `keys[i].tableHash`: the same in every table of this process (one seed), so never computed twice.
    private var hashes: [Int] = []
    /// A slot is empty (0) or holds the high 32 bits of its row's hash and the row's position + 1.
    /// The slot count is a power of two, at least twice the rows.
    private var slots: [UInt64] = []
    /// Every change calls `staleSortedRows` first.
    private var sortedRows = SortedRows()
    /// Connections (not DNS look-ups) per UTC hour of day, 0...23, over all rows: the report's
    /// "use by hour" chart. Kept apart from the rows so the row key stays day × user × service × region.
    public private(set) var hours = [Int64](repeating: 0, count: 24)
    /// Each service's row facts, made once and shared by its rows.
    private var serviceSummaries: [String: ServiceMatchSummary] = [:]
    /// The last day formatted, and its hash: consecutive records are nearly always on the same day.
    private var lastDay: (number: Int64, text: String, hash: Int) = (Int64.min, "", 0)
    /// The last region counted, with its hash: most records repeat it, and a string compared equal
    /// to the last (a few inline bytes) is cheaper to compare than to hash.
    private var lastRegion: (key: String, hash: Int) = ("", "".hashValue)

    public init() {}

    /// The rows, in the order they were first counted (`sorted` for key order); looked up by key too.
    public var rows: AggregateRows { AggregateRows(table: self) }

    /// The position of the row with `key` (whose hash is `hash`), or nil.
    @inline(__always)
    fileprivate func position(of key: AggregateKey, hash: Int) -> Int? {
        guard !slots.isEmpty else { return nil }
        let mask = slots.count - 1
        let tag = UInt64(UInt32(truncatingIfNeeded: hash >> 32))
        var b = hash & mask
        while true {
            let slot = slots[b]
            if slot == 0 { return nil }
            if slot >> 32 == tag {
                let i = Int(truncatingIfNeeded: slot & 0xFFFF_FFFF) - 1
                if keys[i] == key { return i }
            }
            b = (b + 1) & mask
        }
    }

    fileprivate func position(of key: AggregateKey) -> Int? { position(of: key, hash: key.tableHash) }

    /// Adds a row whose key is in no row yet.
    private mutating func append(_ key: AggregateKey, _ value: AggregateValue, hash: Int) {
        if (keys.count + 1) * 2 > slots.count { growSlots(to: max(16, slots.count * 2)) }
        keys.append(key)
        values.append(value)
        hashes.append(hash)
        placeSlot(hash: hash, position: keys.count - 1)
    }

    private mutating func placeSlot(hash: Int, position: Int) {
        let mask = slots.count - 1
        var b = hash & mask
        while slots[b] != 0 { b = (b + 1) & mask }
        slots[b] = UInt64(UInt32(truncatingIfNeeded: hash >> 32)) << 32 | UInt64(position + 1)
    }

    private mutating func growSlots(to count: Int) {
        slots = [UInt64](repeating: 0, count: count)
        for (i, h) in hashes.enumerated() { placeSlot(hash: h, position: i) }
    }

    public mutating func add(_ o: Observation, _ a: Attribution, hours: BusinessHours, approved: Set<String>) {
        guard let m = a.match else { return }
        add(o, a, hours: hours, approved: approved.contains(m.serviceID))
    }

    public mutating func add(_ o: Observation, _ a: Attribution, policy: Policy) {
        guard let m = a.match else { return }
        add(o, a, hours: policy.hours, approved: policy.isApproved(serviceID: m.serviceID, vendor: m.vendor, tier: m.tier))
    }

    private mutating func add(_ o: Observation, _ a: Attribution, hours: BusinessHours, approved: Bool) {
        guard let m = a.match else { return }
        let dayNumber = o.timestamp.seconds / 86_400
        if dayNumber != lastDay.number {
            let text = o.timestamp.day
            lastDay = (dayNumber, text, text.hashValue)
        }
        let regionKey = a.region.key
        if regionKey != lastRegion.key { lastRegion = (regionKey, regionKey.hashValue) }
        let key = AggregateKey(day: lastDay.text, user: a.user, serviceID: m.serviceID, region: regionKey)
        let hash = AggregateKey.tableHash(day: lastDay.hash, user: a.user.hashValue, serviceID: m.facts.serviceIDHash, region: lastRegion.hash)
        let isLookup = o.hostSource == .dnsQuery
        let offHours = hours.isOffHours(o.timestamp)
        staleSortedRows()
        if let i = position(of: key, hash: hash) {
            // Most observations land in a row that exists: counted in place, no row value built (its
            // strings and evidence list) only to be merged and dropped.
            if !isLookup { self.hours[Int(floorMod(o.timestamp.seconds, 86_400) / 3600)] += 1 }
            values[i].count(o, isLookup: isLookup, offHours: offHours, how: a.region.how, approved: approved,
                            weak: m.evidence == .weak)
            return
        }
        var v = AggregateValue(
            firstSeen: o.timestamp, lastSeen: o.timestamp,
            match: serviceFacts(m),
            country: a.region.country, how: a.region.how, approved: approved)
        v.weakOnly = m.evidence == .weak
        v.evidenceList = EvidenceList(o.source)
        if o.hostSource == .dnsQuery {
            v.lookups = 1  // a DNS query's bytes went to the resolver, not to the service
        } else {
            v.connections = 1
            if let up = o.bytesUp { v.bytesUp = up } else { v.bytesUpUnknown = 1 }
            if let down = o.bytesDown { v.bytesDown = down } else { v.bytesDownUnknown = 1 }
            self.hours[Int(floorMod(o.timestamp.seconds, 86_400) / 3600)] += 1  // the UTC hour
        }
        v.offHoursConnections = offHours ? 1 : 0
        append(key, v, hash: hash)
    }

    /// The shared facts of `m`'s service; made anew when they changed (a catalog reloaded mid-capture).
    private mutating func serviceFacts(_ m: ServiceMatch) -> ServiceMatchSummary {
        if let known = serviceSummaries[m.serviceID], known.describes(m) { return known }
        let made = ServiceMatchSummary(vendor: m.vendor, service: m.service, tier: m.tier, category: m.category,
                                       tierInName: m.tierInName)
        serviceSummaries[m.serviceID] = made
        return made
    }

    public mutating func merge(_ other: Aggregates) {
        staleSortedRows()
        if keys.isEmpty {
            // The first (often the only) input's rows: shared, not copied row by row.
            keys = other.keys
            values = other.values
            hashes = other.hashes
            slots = other.slots
        } else {
            if (keys.count + other.keys.count) * 2 > slots.count {
                // At most every row of both: grown once, not again midway.
                var count = slots.count
                while (keys.count + other.keys.count) * 2 > count { count *= 2 }
                growSlots(to: count)
            }
            hashes.reserveCapacity(hashes.count + other.hashes.count)
            for j in other.keys.indices {
                if let i = position(of: other.keys[j], hash: other.hashes[j]) {
                    values[i].merge(other.values[j])  // in place: the other row is read, not copied
                } else {
                    append(other.keys[j], other.values[j], hash: other.hashes[j])
                }
            }
        }
        addHourCounts(other.hours)
    }

    /// Adds `offset` to every line or frame number of evidence in `file`: the rows of a part of a file
    /// numbered from 1, once the lines before the part are counted. The rows' order does not change.
    public mutating func shiftEvidenceNumbers(in file: String, by offset: Int) {
        guard offset != 0 else { return }
        staleSortedRows()
        for i in values.indices { values[i].evidenceList.shiftNumbers(in: file, by: offset) }
    }

    /// Adds per-hour connection counts (from a summary being merged); entries past 23 are ignored.
    public mutating func addHourCounts(_ counts: [Int64]) {
        for (h, n) in counts.prefix(24).enumerated() { hours[h] += n }
    }

    /// Adds one row (from a summary being merged) to this aggregate.
    public mutating func insert(_ k: AggregateKey, _ v: AggregateValue) {
        staleSortedRows()
        let hash = k.tableHash
        if let i = position(of: k, hash: hash) {
            values[i].merge(v)  // in place: no copy of the row, one lookup
        } else {
            append(k, v, hash: hash)
        }
    }

    /// Before the rows change: the sorted cache no longer holds. A cache another copy of this value
    /// shares, or one already filled, is replaced by a new box (the copy keeps the old one); an empty
    /// box only this value holds is kept, so adding row after row allocates nothing.
    private mutating func staleSortedRows() {
        if !isKnownUniquelyReferenced(&sortedRows) || sortedRows.isFilled { sortedRows = SortedRows() }
    }

    /// Rows in a stable order (day, service, user, region) so output is reproducible: a view that
    /// reads each row from the table when it is visited, so no sorted copy of every row is made.
    public var sorted: SortedAggregateRows {
        SortedAggregateRows(tables: [self], order: SortedOrder(entries: sortedRows.get { Self.sortOrder(of: [self], threads: 1).entries }))
    }

    /// Sorts the rows on up to `threads` threads now, for `sorted` (`scan --jobs`): each sorts a share
    /// of at least `rowsPerThread` rows, and the sorted shares are merged. The order is the same as on
    /// one thread.
    public func sortRows(threads: Int, rowsPerThread: Int = 8_192) {
        _ = sortedRows.get { Self.sortOrder(of: [self], threads: threads, rowsPerThread: rowsPerThread).entries }
    }

    /// The rows of several tables in key order, as `sorted` gives them once the tables are merged in
    /// this order, without making the merged table: rows with the same key are merged as they are
    /// read. Merging two large tables (a capture's two halves with `--jobs 2`) was serial work after
    /// the threads had finished; sorting each table's rows is shared out like one table's.
    /// More than `maximumSortedTogether` tables are merged into one first: the serial merge of the
    /// sorted shares compares each share's next key for every row.
    public static func sorted(_ tables: [Aggregates], threads: Int, rowsPerThread: Int = 8_192) -> SortedAggregateRows {
        if tables.count == 1 || tables.count > maximumSortedTogether {
            var one = tables.first ?? Aggregates()
            for table in tables.dropFirst() { one.merge(table) }
            one.sortRows(threads: threads, rowsPerThread: rowsPerThread)
            return one.sorted
        }
        return SortedAggregateRows(tables: tables, order: sortOrder(of: tables, threads: threads, rowsPerThread: rowsPerThread))
    }

    /// The most tables `sorted(_:threads:)` sorts and merges as they are; more are merged into one first.
    public static let maximumSortedTogether = 8

    /// The rows of `tables` in key order. Sorting (key, value) pairs by `<` retained and compared four
    /// Strings per step: a fifth of a 150k-row capture scan. Each key is written once as bytes in key
    /// order, and positions sort by memcmp of those. Before the memcmp, a 24-byte prefix settles
    /// nearly every comparison: the day's and service's ranks among the tables' few days and services
    /// (in the bytes every row starts with the same day and often the same service), then the first
    /// 16 bytes of the user and region part. Each table is cut into shares of at least
    /// `rowsPerThread` rows, the threads shared out by the tables' sizes (at most 16 shares a table),
    /// sorted on the threads, then merged: fewer shares, fewer comparisons in the serial merge.
    private static func sortOrder(of tables: [Aggregates], threads: Int, rowsPerThread: Int = 8_192) -> SortedOrder {
        let total = tables.reduce(0) { $0 + $1.keys.count }
        var shares: [(table: Int, rows: Range<Int>)] = []
        for (t, table) in tables.enumerated() where !table.keys.isEmpty {
            let n = table.keys.count
            let count = max(1, min((threads * n + total / 2) / total, n / max(1, rowsPerThread), 16))
            shares += (0..<count).map { k in (t, (n * k / count)..<(n * (k + 1) / count)) }
        }
        if shares.isEmpty { return SortedOrder(entries: []) }
        // The distinct days and services, each share's found apart, then ranked in byte order.
        var distinct = [(days: Set<UTF8Bytes>, services: Set<UTF8Bytes>)](repeating: ([], []), count: shares.count)
        eachShare(&distinct, threads: threads) { k, found in
            let keys = tables[shares[k].table].keys
            for i in shares[k].rows {
                found.days.insert(UTF8Bytes(keys[i].day))
                found.services.insert(UTF8Bytes(keys[i].serviceID))
            }
        }
        func ranks(_ all: [Set<UTF8Bytes>]) -> [UTF8Bytes: UInt64] {
            let sorted = all.reduce(into: Set<UTF8Bytes>()) { $0.formUnion($1) }.sorted { compareUTF8($0.string, $1.string) < 0 }
            return Dictionary(uniqueKeysWithValues: sorted.enumerated().map { ($1, UInt64($0)) })
        }
        let dayRank = ranks(distinct.map(\.days)), serviceRank = ranks(distinct.map(\.services))
        var runs = [SortRun](repeating: SortRun(), count: shares.count)
        eachShare(&runs, threads: threads) { k, run in
            run = SortRun(table: shares[k].table, keys: tables[shares[k].table].keys, positions: shares[k].rows,
                          dayRank: dayRank, serviceRank: serviceRank)
        }
        return SortRun.merged(runs)
    }

    /// Runs `body` for every element of `items` (its index and the element), on up to `threads` threads.
    private static func eachShare<T>(_ items: inout [T], threads: Int, _ body: (Int, inout T) -> Void) {
        let workers = min(threads, items.count)
        if workers <= 1 {
            for k in items.indices { body(k, &items[k]) }
            return
        }
        items.withUnsafeMutableBufferPointer { buffer in
            let shared = UnsafeSendable(buffer)
            withoutActuallyEscaping(body) { body in
                let call = UnsafeSendable(body)
                DispatchQueue.concurrentPerform(iterations: workers) { w in
                    for k in stride(from: w, to: shared.value.count, by: workers) { call.value(k, &shared.value[k]) }
                }
            }
        }
    }
}

/// A value handed to the threads of `DispatchQueue.concurrentPerform`, each of which touches only
/// its own part of it.
private struct UnsafeSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// A share of the rows sorted by key: each key written once as bytes in key order (`flat`, from
/// `starts[j]` to `starts[j + 1]`), and its sort prefix (day and service ranks, then 16 bytes of the
/// user and region part), in key order.
private struct SortRun {
    /// The table whose rows these are.
    var table = 0
    var flat: [UInt8] = []
    var starts: [Int] = [0]
    /// (ranks, user/region bytes 0..<8, 8..<16, j): j is the key's place in `flat` and `positions`.
    var prefixes: [(UInt64, UInt64, UInt64, Int)] = []
    var positions: [Int] = []

    init() {}

    init(table: Int, keys: RowChunks<AggregateKey>, positions range: Range<Int>, dayRank: [UTF8Bytes: UInt64],
         serviceRank: [UTF8Bytes: UInt64]) {
        self.table = table
        positions = Array(range)
        starts.reserveCapacity(range.count + 1)
        prefixes.reserveCapacity(range.count)
        for (j, i) in range.enumerated() {
            let key = keys[i]
            AggregateKey.appendSortField(key.day, to: &flat)
            AggregateKey.appendSortField(key.serviceID, to: &flat)
            let userStart = flat.count
            AggregateKey.appendSortField(key.user, to: &flat)
            AggregateKey.appendSortField(key.region, to: &flat)
            var words: (UInt64, UInt64) = (0, 0)  // zero padded: a shorter part is a prefix, so first
            withUnsafeMutableBytes(of: &words) { w in
                for b in 0..<min(16, flat.count - userStart) { w[b] = flat[userStart + b] }
            }
            starts.append(flat.count)
            prefixes.append((dayRank[UTF8Bytes(key.day)]! << 32 | serviceRank[UTF8Bytes(key.serviceID)]!,
                             UInt64(bigEndian: words.0), UInt64(bigEndian: words.1), j))
        }
        flat.withUnsafeBufferPointer { f in
            starts.withUnsafeBufferPointer { s in
                prefixes.sort { x, y in Self.compare(x, f, s, y, f, s) < 0 }
            }
        }
    }

    /// Key order of two sorted entries, each with its run's bytes and starts: negative, zero (the
    /// same key) or positive.
    @inline(__always)
    static func compare(_ x: (UInt64, UInt64, UInt64, Int), _ xf: UnsafeBufferPointer<UInt8>, _ xs: UnsafeBufferPointer<Int>,
                        _ y: (UInt64, UInt64, UInt64, Int), _ yf: UnsafeBufferPointer<UInt8>, _ ys: UnsafeBufferPointer<Int>) -> Int {
        if x.0 != y.0 { return x.0 < y.0 ? -1 : 1 }
        if x.1 != y.1 { return x.1 < y.1 ? -1 : 1 }
        if x.2 != y.2 { return x.2 < y.2 ? -1 : 1 }
        let a = xs[x.3], an = xs[x.3 + 1] - a, b = ys[y.3], bn = ys[y.3 + 1] - b
        let c = Int(memcmp(xf.baseAddress! + a, yf.baseAddress! + b, min(an, bn)))
        return c != 0 ? c : an - bn
    }

    /// The rows of all runs in key order: each run's next entry compared with the others'. Runs of
    /// one table never hold equal keys; equal keys of several tables are one row, its entries in the
    /// runs' order (the tables' order). Each run's entries are compared in its own buffers: joining
    /// them first copied every key's bytes into fresh memory, most of a serial tenth of a second
    /// for 300k rows.
    static func merged(_ runs: [SortRun]) -> SortedOrder {
        if runs.count == 1 { return SortedOrder(entries: runs[0].prefixes.map { SortedOrder.entry(runs[0].table, runs[0].positions[$0.3]) }) }
        // Each run's buffers opened in turn, then the merge runs inside all of them.
        func visit(_ k: Int, _ buffers: [(UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<Int>)]) -> SortedOrder {
            if k < runs.count {
                return runs[k].flat.withUnsafeBufferPointer { f in
                    runs[k].starts.withUnsafeBufferPointer { s in visit(k + 1, buffers + [(f, s)]) }
                }
            }
            var order = SortedOrder(entries: [])
            order.entries.reserveCapacity(runs.reduce(0) { $0 + $1.positions.count })
            var rowStarts: [Int] = []
            var next = [Int](repeating: 0, count: runs.count)
            var smallest: [Int] = []  // the runs whose next key is the smallest
            while true {
                smallest.removeAll(keepingCapacity: true)
                for r in runs.indices where next[r] < runs[r].prefixes.count {
                    guard let first = smallest.first else {
                        smallest.append(r)
                        continue
                    }
                    let c = compare(runs[r].prefixes[next[r]], buffers[r].0, buffers[r].1,
                                    runs[first].prefixes[next[first]], buffers[first].0, buffers[first].1)
                    if c < 0 {
                        smallest.removeAll(keepingCapacity: true)
                        smallest.append(r)
                    } else if c == 0 {
                        smallest.append(r)
                    }
                }
                if smallest.isEmpty { break }
                rowStarts.append(order.entries.count)
                for r in smallest {
                    order.entries.append(SortedOrder.entry(runs[r].table, runs[r].positions[runs[r].prefixes[next[r]].3]))
                    next[r] += 1
                }
            }
            if rowStarts.count < order.entries.count {
                rowStarts.append(order.entries.count)
                order.rowStarts = rowStarts
            }
            return order
        }
        return visit(0, [])
    }
}

/// Rows in key order, as entries `table << 32 | position`; `rowStarts`, when entries of several
/// tables share a key, says where each row's entries start (one more at the end).
struct SortedOrder: Sendable {
    var entries: [Int]
    var rowStarts: [Int]? = nil

    static func entry(_ table: Int, _ position: Int) -> Int { table << 32 | position }
}

/// The rows of an `Aggregates` in the order they were first counted, and by key.
public struct AggregateRows: RandomAccessCollection, Equatable, Sendable {
    fileprivate let table: Aggregates

    public var startIndex: Int { 0 }
    public var endIndex: Int { table.keys.count }
    public subscript(position: Int) -> (key: AggregateKey, value: AggregateValue) {
        (table.keys[position], table.values[position])
    }
    /// The row with this key, or nil.
    public subscript(key: AggregateKey) -> AggregateValue? { table.position(of: key).map { table.values[$0] } }
    public var keys: some RandomAccessCollection<AggregateKey> { table.keys }
    public var values: some RandomAccessCollection<AggregateValue> { table.values }

    /// The same rows, in any order.
    public static func == (a: AggregateRows, b: AggregateRows) -> Bool {
        a.count == b.count && a.allSatisfy { b[$0.key] == $0.value }
    }
}

/// A String equal to another only when their UTF-8 is (String's `==` also equates canonically
/// equivalent texts, which the key's byte order tells apart).
struct UTF8Bytes: Hashable {
    let string: String
    init(_ string: String) { self.string = string }
    static func == (a: UTF8Bytes, b: UTF8Bytes) -> Bool { compareUTF8(a.string, b.string) == 0 }
    func hash(into hasher: inout Hasher) {
        if string.utf8.withContiguousStorageIfAvailable({ hasher.combine(bytes: UnsafeRawBufferPointer($0)) }) != nil { return }
        Array(string.utf8).withUnsafeBytes { hasher.combine(bytes: $0) }
    }
}

/// The rows of one or more `Aggregates` in key order, read from their tables as they are visited;
/// rows with the same key in several tables are merged, in the tables' order, when read.
public struct SortedAggregateRows: RandomAccessCollection, Sendable {
    let keys: [RowChunks<AggregateKey>]
    let values: [RowChunks<AggregateValue>]
    let order: SortedOrder

    init(tables: [Aggregates], order: SortedOrder) {
        keys = tables.map(\.keys)
        values = tables.map(\.values)
        self.order = order
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { order.rowStarts.map { $0.count - 1 } ?? order.entries.count }
    public subscript(position: Int) -> (key: AggregateKey, value: AggregateValue) {
        let range = entries(of: position)
        var (key, value) = row(order.entries[range.lowerBound])
        for k in range.dropFirst() { value.merge(row(order.entries[k]).value) }
        return (key, value)
    }

    /// Starts loading the row at `position` (its key and value; the first table's when it is in
    /// several) into the cache, if there is one: rows in key order are scattered over the table, and
    /// reading each only when it is written waited on memory for most of its time.
    public func prefetch(_ position: Int) {
        guard position < endIndex else { return }
        let (t, i) = Self.place(order.entries[entries(of: position).lowerBound])
        keys[t].prefetch(i)
        values[t].prefetch(i)
    }

    /// Calls `body` with the row at `position` read where it is, retaining nothing: its key (the first
    /// table's) and its values, one per table holding the key, in the tables' order (the row is their
    /// `merge`). For threads writing rows at once: copying a row retained the strings and objects rows
    /// share (the service's facts, the input's file name), each an atomic on a cache line every
    /// thread wrote. The pointers are valid during the call only.
    public func withRow(_ position: Int, _ body: (UnsafePointer<AggregateKey>, UnsafeBufferPointer<UnsafePointer<AggregateValue>>) -> Void) {
        let range = entries(of: position)
        withUnsafeTemporaryAllocation(of: UnsafePointer<AggregateValue>.self, capacity: range.count) { parts in
            for k in range {
                let (t, i) = Self.place(order.entries[k])
                parts.initializeElement(at: k - range.lowerBound, to: values[t].address(i))
            }
            let (t, i) = Self.place(order.entries[range.lowerBound])
            body(keys[t].address(i), UnsafeBufferPointer(parts))
        }
    }

    /// Where the row at `position` is in `order.entries`: one entry, or one per table holding its key.
    private func entries(of position: Int) -> Range<Int> {
        order.rowStarts.map { $0[position]..<$0[position + 1] } ?? position..<(position + 1)
    }

    /// An entry's table and position in it (`SortedOrder.entry`).
    private static func place(_ entry: Int) -> (table: Int, position: Int) { (entry >> 32, entry & 0xFFFF_FFFF) }

    private func row(_ entry: Int) -> (key: AggregateKey, value: AggregateValue) {
        let (t, i) = Self.place(entry)
        return (keys[t][i], values[t][i])
    }
}

/// The sorted rows of one state of an `Aggregates`, computed on first use; safe to share between threads.
private final class SortedRows: @unchecked Sendable {
    private let lock = Mutex<[Int]?>(nil)

    var isFilled: Bool { lock.withLock { $0 != nil } }

    func get(_ compute: () -> [Int]) -> [Int] {
        lock.withLock { cached in
            if let cached { return cached }
            let rows = compute()
            cached = rows
            return rows
        }
    }
}
