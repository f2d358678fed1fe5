import Dispatch
import ShadowScopeCore

/// What the summary says about the GeoIP database it used (DB-IP's licence asks for credit).
public struct GeoIPInfo: Sendable {
    public var path: String
    public var databaseType: String
    public var buildEpoch: UInt64
    public var attribution: String?
    public init(path: String, databaseType: String, buildEpoch: UInt64, attribution: String?) {
        self.path = path
        self.databaseType = databaseType
        self.buildEpoch = buildEpoch
        self.attribution = attribution
    }
}

public struct SummaryContext: Sendable {
    public var tool: String
    public var geoip: GeoIPInfo?
    public var hours: BusinessHours
    public var policySource: String
    /// How log times written without a zone were read: `--timezone`'s zone, or as UTC.
    public var localTimes = SummaryContext.localTimesAsUTC
    public static let localTimesAsUTC = "UTC (no --timezone given)"
    public init(tool: String, geoip: GeoIPInfo?, hours: BusinessHours, policySource: String = Policy().source) {
        self.tool = tool
        self.geoip = geoip
        self.hours = hours
        self.policySource = policySource
    }
}

public let summarySchema = "shadowscope.summary/1"

/// The daily summary (DESIGN.md "Summary"): what each input yielded, then one flat row per
/// day × user × service × region. Rows are sorted, so equal inputs give byte-equal output.
/// `[{"at": "file:line", "reason": ...}]`, the shape of skipped and anomaly samples.
private func writeSamples(_ name: String, _ samples: [InputReport.Sample], to w: inout JSONWriter) {
    w.beginArray(name)
    for s in samples {
        w.beginObject()
        w.field("at", s.location)
        w.field("reason", s.reason)
        w.endObject()
    }
    w.endArray()
}

public func summaryJSON(inputs: [InputReport], aggregates: Aggregates, context: SummaryContext) -> [UInt8] {
    var all: [UInt8] = []
    all.reserveCapacity(65_536 + aggregates.rows.count * 1_024)  // about 800 bytes a row, pretty-printed
    writeSummaryJSON(inputs: inputs, aggregates: aggregates, context: context) { all.append(contentsOf: $0) }
    return all
}

/// The same document handed to `sink` in pieces of about 1 MiB (each valid during the call: no copy
/// is made), so that writing the summary of a million rows never holds all of it in memory.
/// `threads` above 1 formats the rows on that many threads (`scan --jobs`); the bytes are the same.
public func writeSummaryJSON(inputs: [InputReport], aggregates: Aggregates, context: SummaryContext, threads: Int = 1,
                             to sink: (UnsafeRawBufferPointer) -> Void) {
    writeSummaryJSON(inputs: inputs, tables: [aggregates], context: context, threads: threads, to: sink)
}

/// The summary of several tables' rows as if merged into one (`Aggregates.sorted(_:threads:)`):
/// the same bytes as merging them first, without the merged table.
public func writeSummaryJSON(inputs: [InputReport], tables: [Aggregates], context: SummaryContext, threads: Int = 1,
                             to sink: (UnsafeRawBufferPointer) -> Void) {
    var w = JSONWriter(pretty: true)
    w.reserveCapacity(flushBytes + 8_192)
    w.beginObject()
    w.field("schema", summarySchema)
    w.field("generated_by", context.tool)
    w.beginObject("assumptions")
    w.field("business_hours", context.hours.description)
    w.field("day", "UTC")
    w.field("policy", context.policySource)
    w.field("local_times", context.localTimes)
    w.endObject()
    w.beginObject("geoip")
    if let g = context.geoip {
        w.field("database", g.databaseType)
        w.field("path", g.path)
        w.field("build_epoch", Int64(exactly: g.buildEpoch))
        w.field("attribution", g.attribution)
    } else {
        w.field("database", nil as String?)
    }
    w.endObject()
    w.beginArray("input")
    for r in inputs {
        w.beginObject()
        w.field("file", r.file)
        w.field("format", r.format)
        w.field("error", r.error)
        w.field("records", r.records)
        w.field("observations", r.observations)
        w.field("matched", r.matched)
        w.field("skipped", r.skipped)
        writeSamples("skipped_samples", r.skippedSamples, to: &w)
        w.field("packets", r.packets)
        w.field("drops", r.drops)
        w.beginObject("caps_hit")
        for (k, v) in r.capsHit.sorted(by: { $0.key < $1.key }) { w.field(k, v) }
        w.endObject()
        w.beginObject("not_analyzed")
        for (k, v) in r.notAnalyzed.sorted(by: { $0.key < $1.key }) { w.field(k, v) }
        w.endObject()
        w.beginObject("anomalies")
        for (k, v) in r.anomalies.sorted(by: { $0.key < $1.key }) { w.field(k, v) }
        w.endObject()
        writeSamples("anomaly_samples", r.anomalySamples, to: &w)
        w.endObject()
    }
    w.endArray()
    // Connections per UTC hour of day, 0...23 (the report's chart); merged by adding.
    w.beginArray("by_hour")
    for h in 0..<24 { w.value(tables.reduce(0) { $0 + $1.hours[h] }) }
    w.endArray()
    w.beginArray("aggregates")
    let rows = Aggregates.sorted(tables, threads: threads)
    let row = w.fieldOpenings(rowKeys)
    if threads <= 1 {
        var facts = ServiceFactsBytes()
        for i in rows.indices {
            writeRow(rows, i, row, &w, &facts)
            if w.byteCount >= flushBytes { w.drain(into: sink) }
        }
    } else {
        // Blocks of rows, each cut into `threads` runs formatted at once into writers that continue
        // the document where it stands, then joined in order: the same bytes as one thread writes.
        // Each thread's writer keeps its buffer from block to block: grown anew per block, the
        // buffers' page faults (serialised in the kernel) made two threads slower than one.
        w.drain(into: sink)
        var parts = (0..<threads).map { _ in w.continuation(afterItems: true) }
        var facts = [ServiceFactsBytes](repeating: ServiceFactsBytes(), count: threads)
        var start = 0
        while start < rows.count {
            let (from, end) = (start, min(rows.count, start + rowsPerBlock))
            for p in parts.indices { parts[p].continue(w, afterItems: p > 0 || from > 0) }
            parts.withUnsafeMutableBufferPointer { buffer in
                facts.withUnsafeMutableBufferPointer { factsBuffer in
                    let slots = ThreadSlots(buffer), factSlots = ThreadSlots(factsBuffer)
                    DispatchQueue.concurrentPerform(iterations: slots.buffer.count) { p in
                        let share = (end - from + slots.buffer.count - 1) / slots.buffer.count
                        let first = from + p * share, last = min(end, first + share)
                        guard first < last else { return }
                        // Moved onto this thread's stack while it writes: the slots sit side by side,
                        // and a writer's state changes with every field, so writing them in place had
                        // each thread steal the other's cache line (two threads took longer than one).
                        let writerSlot = slots.buffer.baseAddress! + p, factsSlot = factSlots.buffer.baseAddress! + p
                        var writer = writerSlot.move(), rowFacts = factsSlot.move()
                        for i in first..<last { writeRow(rows, i, row, &writer, &rowFacts) }
                        writerSlot.initialize(to: writer)
                        factsSlot.initialize(to: rowFacts)
                    }
                }
            }
            for p in parts.indices { w.drain(continuation: &parts[p], into: sink) }
            start = end
        }
    }
    w.endArray()
    w.endObject()
    w.appendNewline()
    w.drain(into: sink)
}

private let flushBytes = 1 << 20

/// Rows asked for ahead of the one being written (`SortedAggregateRows.prefetch`).
private let prefetchDistance = 4

/// Rows formatted per block when the summary is written on several threads (a block's text is held
/// whole: about 1 KB a row).
private let rowsPerBlock = 16_384

/// One value per thread (a writer, its row facts); each thread touches only its own slot.
private struct ThreadSlots<T>: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<T>
    init(_ buffer: UnsafeMutableBufferPointer<T>) { self.buffer = buffer }
}

/// A service's fields of a row (vendor, service, tier, tier_visible_in_name, category) as written,
/// by the object rows share for that service: made once per service and thread, then copied.
/// They were five escape checks and copies in every row. Found by the object's identity, which
/// reading retains nothing.
private struct ServiceFactsBytes {
    private var last: (ObjectIdentifier, [UInt8])?
    private var known: [ObjectIdentifier: [UInt8]] = [:]

    mutating func bytes(_ id: ObjectIdentifier, _ make: () -> [UInt8]) -> [UInt8] {
        if let (lastID, bytes) = last, lastID == id { return bytes }
        let bytes = known[id] ?? make()
        known[id] = bytes
        last = (id, bytes)
        return bytes
    }
}

/// Row `i` of `rows`, the row `prefetchDistance` ahead asked for.
private func writeRow(_ rows: SortedAggregateRows, _ i: Int, _ row: JSONWriter.FieldOpenings, _ w: inout JSONWriter,
                      _ facts: inout ServiceFactsBytes) {
    rows.prefetch(i + prefetchDistance)
    rows.withRow(i) { key, values in writeRow(key, values, row, &w, &facts) }
}

/// One aggregate row, its fields opened by `row`: the merge of `values` (the row's values in one or
/// more tables; service facts and country are the first's), read where they are
/// (`SortedAggregateRows.withRow`): copying a row retained the strings and objects rows share, and
/// with threads writing rows at once each retain was an atomic on a cache line every thread wrote.
private func writeRow(_ key: UnsafePointer<AggregateKey>, _ values: UnsafeBufferPointer<UnsafePointer<AggregateValue>>,
                      _ row: JSONWriter.FieldOpenings, _ w: inout JSONWriter, _ facts: inout ServiceFactsBytes) {
    let first = values[0]
    var f = first.pointee.figures
    for v in values.dropFirst() { f.merge(v.pointee.figures) }
    w.beginObject()
    w.open(row, 0); w.rawValue(key.pointee.day)
    w.open(row, 1); w.rawValue(key.pointee.user)
    w.open(row, 2); w.rawValue(key.pointee.serviceID)
    w.open(row, 3); w.rawValue(key.pointee.region)
    let serviceFields = facts.bytes(ObjectIdentifier(first.pointee.match)) {
        let match = first.pointee.match
        return w.bytes { x in
            x.open(row, 4); x.rawValue(match.vendor)
            x.open(row, 5); x.rawValue(match.service)
            x.open(row, 6); x.rawValue(match.tier)
            x.open(row, 7); x.rawValue(match.tierInName)
            x.open(row, 8); x.rawValue(match.category)
        }
    }
    w.rawBytes(serviceFields)
    w.open(row, 9); w.rawValue(f.approved)
    w.open(row, 10); w.rawValue(first.pointee.country)
    w.open(row, 11); w.rawValue(Region(country: first.pointee.country, how: f.how).group.rawValue)
    w.open(row, 12); w.rawValue(f.how.rawValue)
    w.open(row, 13); w.rawValue(f.connections)
    w.open(row, 14); w.rawValue(f.lookups)
    // A sum is only written when at least one observation measured it; all unknown is null.
    w.open(row, 15); w.rawValue(f.bytesUpUnknown == f.connections ? nil : f.bytesUp)
    w.open(row, 16); w.rawValue(f.bytesUpUnknown)
    w.open(row, 17); w.rawValue(f.bytesDownUnknown == f.connections ? nil : f.bytesDown)
    w.open(row, 18); w.rawValue(f.bytesDownUnknown)
    w.open(row, 19); w.rawValue(f.firstSeen)
    w.open(row, 20); w.rawValue(f.lastSeen)
    w.open(row, 21); w.rawValue(f.offHoursConnections)
    w.open(row, 22); w.rawValue(f.weakOnly)
    w.beginArray("evidence")
    if values.count == 1 {
        writeEvidence(first.pointee.evidenceList, &w)
    } else if !AggregateValue.evidenceByFile(values, { j, n in writeEvidence(values[j].pointee.evidenceList, first: n, &w) }) {
        var merged = first.pointee.evidenceList
        for v in values.dropFirst() { merged.merge(v.pointee.evidenceList) }
        writeEvidence(merged, &w)
    }
    w.endArray()
    w.endObject()
}

/// The references of `list` (its first `first`, when given) into the open evidence array.
private func writeEvidence(_ list: EvidenceList, first: Int = .max, _ w: inout JSONWriter) {
    switch list.entries {
    case .positions(let file, let numbers):
        w.values(file, separatedBy: 0x3A, numbers.prefix(first))
    case .references(let references):
        // Runs of references into one file (the list is ordered by file): the file escaped once per run.
        var k = 0
        while k < min(references.count, first) {
            guard case .position(let file, _) = references[k] else {
                if case .text(let text) = references[k] { w.value(text) }
                k += 1
                continue
            }
            var numbers: [Int] = []
            while k < min(references.count, first), case .position(let f, let n) = references[k], f == file {
                numbers.append(n)
                k += 1
            }
            w.values(file, separatedBy: 0x3A, numbers)
        }
    }
}

/// The fields of an aggregate row, in the order written (the "evidence" list follows).
private let rowKeys = ["day", "user", "service_id", "region", "vendor", "service", "tier", "tier_visible_in_name", "category",
                       "approved", "country", "region_group", "how", "connections", "lookups", "bytes_up", "bytes_up_unknown",
                       "bytes_down", "bytes_down_unknown", "first_seen", "last_seen", "off_hours_connections", "weak_only"]
