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

/// The same document handed to `sink` in pieces of about 1 MiB, so that writing the summary of a
/// million rows never holds all of it in memory.
/// `threads` above 1 formats the rows on that many threads (`scan --jobs`); the bytes are the same.
public func writeSummaryJSON(inputs: [InputReport], aggregates: Aggregates, context: SummaryContext, threads: Int = 1,
                             to sink: ([UInt8]) -> Void) {
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
    for n in aggregates.hours { w.value(n) }
    w.endArray()
    w.beginArray("aggregates")
    aggregates.sortRows(threads: threads)
    let rows = aggregates.sorted
    let row = w.fieldOpenings(rowKeys)
    if threads <= 1 {
        for i in rows.indices {
            writeRow(rows[i], row, &w)
            if w.byteCount >= flushBytes { w.drain(into: sink) }
        }
    } else {
        // Blocks of rows, each cut into `threads` runs formatted at once into writers that continue
        // the document where it stands, then joined in order: the same bytes as one thread writes.
        // Each thread's writer keeps its buffer from block to block: grown anew per block, the
        // buffers' page faults (serialised in the kernel) made two threads slower than one.
        w.drain(into: sink)
        var parts = (0..<threads).map { _ in w.continuation(afterItems: true) }
        var start = 0
        while start < rows.count {
            let (from, end) = (start, min(rows.count, start + rowsPerBlock))
            for p in parts.indices { parts[p].continue(w, afterItems: p > 0 || from > 0) }
            parts.withUnsafeMutableBufferPointer { buffer in
                let slots = WriterSlots(buffer)
                DispatchQueue.concurrentPerform(iterations: slots.buffer.count) { p in
                    let share = (end - from + slots.buffer.count - 1) / slots.buffer.count
                    let first = from + p * share, last = min(end, first + share)
                    if first < last { for i in first..<last { writeRow(rows[i], row, &slots.buffer[p]) } }
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

/// Rows formatted per block when the summary is written on several threads (a block's text is held
/// whole: about 1 KB a row).
private let rowsPerBlock = 16_384

/// One writer per thread; each thread touches only its own slot.
private struct WriterSlots: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<JSONWriter>
    init(_ buffer: UnsafeMutableBufferPointer<JSONWriter>) { self.buffer = buffer }
}

/// One aggregate row, its fields opened by `row`.
private func writeRow(_ r: (key: AggregateKey, value: AggregateValue), _ row: JSONWriter.FieldOpenings, _ w: inout JSONWriter) {
    let (k, v) = r
    w.beginObject()
    w.open(row, 0); w.rawValue(k.day)
    w.open(row, 1); w.rawValue(k.user)
    w.open(row, 2); w.rawValue(k.serviceID)
    w.open(row, 3); w.rawValue(k.region)
    w.open(row, 4); w.rawValue(v.match.vendor)
    w.open(row, 5); w.rawValue(v.match.service)
    w.open(row, 6); w.rawValue(v.match.tier)
    w.open(row, 7); w.rawValue(v.match.tierInName)
    w.open(row, 8); w.rawValue(v.match.category)
    w.open(row, 9); w.rawValue(v.approved)
    w.open(row, 10); w.rawValue(v.country)
    w.open(row, 11); w.rawValue(Region(country: v.country, how: v.how).group.rawValue)
    w.open(row, 12); w.rawValue(v.how.rawValue)
    w.open(row, 13); w.rawValue(v.connections)
    w.open(row, 14); w.rawValue(v.lookups)
    // A sum is only written when at least one observation measured it; all unknown is null.
    w.open(row, 15); w.rawValue(v.bytesUpUnknown == v.connections ? nil : v.bytesUp)
    w.open(row, 16); w.rawValue(v.bytesUpUnknown)
    w.open(row, 17); w.rawValue(v.bytesDownUnknown == v.connections ? nil : v.bytesDown)
    w.open(row, 18); w.rawValue(v.bytesDownUnknown)
    w.open(row, 19); w.rawValue(v.firstSeen.rfc3339)
    w.open(row, 20); w.rawValue(v.lastSeen.rfc3339)
    w.open(row, 21); w.rawValue(v.offHoursConnections)
    w.open(row, 22); w.rawValue(v.weakOnly)
    w.beginArray("evidence")
    switch v.evidenceList.entries {
    case .positions(let file, let numbers):
        for n in numbers { w.value(file, separatedBy: 0x3A, n) }
    case .references(let references):
        for r in references {
            switch r {
            case .position(let file, let n): w.value(file, separatedBy: 0x3A, n)
            case .text(let text): w.value(text)
            }
        }
    }
    w.endArray()
    w.endObject()
}

/// The fields of an aggregate row, in the order written (the "evidence" list follows).
private let rowKeys = ["day", "user", "service_id", "region", "vendor", "service", "tier", "tier_visible_in_name", "category",
                       "approved", "country", "region_group", "how", "connections", "lookups", "bytes_up", "bytes_up_unknown",
                       "bytes_down", "bytes_down_unknown", "first_seen", "last_seen", "off_hours_connections", "weak_only"]
