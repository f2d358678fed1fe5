/// What one input yielded: counted records and sampled skips, for the summary's `input` section.
/// Every record that is not used is counted here with a reason: nothing is dropped silently.
public struct InputReport: Sendable {
    public static let maxSamples = 5

    public struct Sample: Sendable, Equatable {
        public var location: String
        public var reason: String
        public init(location: String, reason: String) {
            self.location = location
            self.reason = reason
        }
    }

    public var file: String
    public var format: String
    /// Lines or packets read.
    public var records: Int = 0
    /// Observations produced.
    public var observations: Int = 0
    /// Observations whose host matched the catalog.
    public var matched: Int = 0
    public var skipped: Int = 0
    public var skippedSamples: [Sample] = []
    /// Packets only: frames read, and those whose headers we could not use.
    public var packets: Int? = nil
    public var drops: Int? = nil
    /// Named limits that were reached, with how often.
    public var capsHit: [String: Int] = [:]
    /// Records this version reads but does not analyse yet (UDP, ARP, ...), by kind: counted, not lost.
    public var notAnalyzed: [String: Int] = [:]
    /// Oddities in records that were still used (a DNS compression loop, an SNI that is not a host
    /// name, bytes after the last gzip member, ...), by stable name, with the first few sampled.
    public var anomalies: [String: Int] = [:]
    public var anomalySamples: [Sample] = []
    /// Set when the input could not be read at all (exit status 3).
    public var error: String? = nil

    public init(file: String, format: String) {
        self.file = file
        self.format = format
    }

    public mutating func skip(at location: String, reason: String) {
        skipped += 1
        if skippedSamples.count < InputReport.maxSamples {
            skippedSamples.append(Sample(location: location, reason: reason))
        }
    }

    /// Counts an oddity named `name` (e.g. `dns.pointer-loop`) at `location` (file:line or file:frame).
    public mutating func noteAnomaly(_ name: String, at location: String, detail: String? = nil) {
        anomalies[name, default: 0] += 1
        if anomalySamples.count < InputReport.maxSamples {
            anomalySamples.append(Sample(location: location, reason: detail.map { "\(name): \($0)" } ?? name))
        }
    }

    /// Adds what a later part of the same input found (a file scanned in parts, in order): counts add,
    /// samples keep the first ones, the first error stands.
    public mutating func absorb(_ later: InputReport) {
        records += later.records
        observations += later.observations
        matched += later.matched
        skipped += later.skipped
        skippedSamples = Array((skippedSamples + later.skippedSamples).prefix(InputReport.maxSamples))
        if let p = later.packets { packets = (packets ?? 0) + p }
        if let d = later.drops { drops = (drops ?? 0) + d }
        capsHit.merge(later.capsHit, uniquingKeysWith: +)
        notAnalyzed.merge(later.notAnalyzed, uniquingKeysWith: +)
        anomalies.merge(later.anomalies, uniquingKeysWith: +)
        anomalySamples = Array((anomalySamples + later.anomalySamples).prefix(InputReport.maxSamples))
        if error == nil { error = later.error }
    }

    /// Adds `offset` to the line number of every sample at `file:line` in this report's file: a part
    /// of a file numbered from 1, once the lines before it are counted.
    public mutating func shiftLineNumbers(by offset: Int) {
        guard offset != 0 else { return }
        for k in skippedSamples.indices {
            skippedSamples[k].location = EvidenceList.shifted(skippedSamples[k].location, in: file, by: offset)
        }
        for k in anomalySamples.indices {
            anomalySamples[k].location = EvidenceList.shifted(anomalySamples[k].location, in: file, by: offset)
        }
    }

    public mutating func hitCap(_ name: String) {
        capsHit[name, default: 0] += 1
    }
}
