/// What the organisation did before the input at hand, for the rules that compare a day with the
/// past: a user's daily uploads (unusual-upload) and when each service was first seen (first-seen).
/// Filled from `--state DIR` and from the earlier days of the input itself.
public struct UsageHistory: Sendable, Equatable {
    /// Days (`YYYY-MM-DD`, UTC) some input covered: a covered day without a user's row is a day
    /// that user uploaded nothing, which is history too.
    public var coveredDays: Set<String> = []
    /// user → day → bytes uploaded to AI services (strong evidence only) that day.
    public var uploads: [String: [String: Int64]] = [:]
    /// service id → the first time it was seen in the organisation, and by whom.
    public var firstSeen: [String: (at: Timestamp, user: String)] = [:]

    public init() {}

    public static func == (a: UsageHistory, b: UsageHistory) -> Bool {
        a.coveredDays == b.coveredDays && a.uploads == b.uploads
            && a.firstSeen.mapValues { "\($0.at.microseconds)|\($0.user)" } == b.firstSeen.mapValues { "\($0.at.microseconds)|\($0.user)" }
    }

    /// Adds what `aggregates` say: their days, each user's daily uploads, each service's first use.
    public mutating func add(_ aggregates: Aggregates) {
        for (k, v) in aggregates.rows where !v.weakOnly {
            coveredDays.insert(k.day)
            if v.connections > 0 { uploads[k.user, default: [:]][k.day, default: 0] += v.bytesUp }
            noteSeen(k.serviceID, at: v.firstSeen, by: k.user)
        }
    }

    /// Keeps the earliest sighting; ties go to the smaller user name so the result is deterministic.
    public mutating func noteSeen(_ serviceID: String, at: Timestamp, by user: String) {
        if let e = firstSeen[serviceID], (e.at.microseconds, e.user) <= (at.microseconds, user) { return }
        firstSeen[serviceID] = (at, user)
    }
}

/// Thresholds of the rule that compares a user's day with that user's own past days.
public struct UnusualUploadPolicy: Sendable, Equatable {
    /// A day is unusual above median + factor × spread, the spread being 1.4826 × the median absolute
    /// deviation (the standard deviation, for normal data, but not moved by one huge day).
    public var factor: Double = 3
    /// Below this a day is never unusual, whatever the history: a few megabytes are noise.
    public var minBytes: Int64 = 10 << 20
    /// Fewer covered days than this in the look-back window: too little history to judge.
    public var minHistoryDays = 5
    public var lookbackDays = 30

    public init() {}
}

public enum UploadStatistics {
    /// Median of `values` (the mean of the middle two for an even count); 0 for none.
    public static func median(_ values: [Int64]) -> Double {
        guard !values.isEmpty else { return 0 }
        let s = values.sorted()
        let mid = s.count / 2
        return s.count % 2 == 1 ? Double(s[mid]) : (Double(s[mid - 1]) + Double(s[mid])) / 2
    }

    /// 1.4826 × the median absolute deviation from the median.
    public static func spread(_ values: [Int64], median m: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let deviations = values.map { abs(Double($0) - m) }.sorted()
        let mid = deviations.count / 2
        let mad = deviations.count % 2 == 1 ? deviations[mid] : (deviations[mid - 1] + deviations[mid]) / 2
        return 1.4826 * mad
    }
}

/// The day `day` moved by `delta` days, `YYYY-MM-DD`; nil for a malformed day.
public func shiftDay(_ day: String, by delta: Int) -> String? {
    guard let t = Timestamp(rfc3339: day + "T00:00:00Z") else { return nil }
    return Timestamp(microseconds: t.microseconds + Int64(delta) * 86_400_000_000).day
}
