/// A point in time as microseconds since the Unix epoch, UTC. Formatting is done by hand
/// (civil-from-days) because it runs once per output record.
public struct Timestamp: Hashable, Comparable, Sendable {
    public var microseconds: Int64

    public init(microseconds: Int64) { self.microseconds = microseconds }
    public init(seconds: Int64, microseconds: Int64 = 0) { self.microseconds = seconds &* 1_000_000 &+ microseconds }

    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.microseconds < b.microseconds }

    public var seconds: Int64 { floorDiv(microseconds, 1_000_000) }

    /// Civil date (year, month, day) and seconds within the day, UTC.
    public var civil: (year: Int64, month: Int, day: Int, secondOfDay: Int) {
        let secs = seconds
        let days = floorDiv(secs, 86_400)
        let sod = Int(secs - days * 86_400)
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468
        let era = floorDiv(z, 146_097)
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = Int(doy - (153 * mp + 2) / 5 + 1)
        let m = Int(mp < 10 ? mp + 3 : mp - 9)
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        return (y, m, d, sod)
    }

    /// 0 = Monday ... 6 = Sunday.
    public var weekday: Int {
        let days = floorDiv(seconds, 86_400)
        return Int(((days % 7) + 7 + 3) % 7)  // 1970-01-01 was a Thursday
    }

    /// `YYYY-MM-DD`, the UTC day.
    public var day: String {
        let c = civil
        return "\(pad(Int(c.year), 4))-\(pad(c.month, 2))-\(pad(c.day, 2))"
    }

    /// RFC 3339 UTC with milliseconds: `2026-11-25T12:00:00.123Z`.
    public var rfc3339: String {
        let c = civil
        let ms = Int(floorMod(microseconds, 1_000_000) / 1000)
        return "\(pad(Int(c.year), 4))-\(pad(c.month, 2))-\(pad(c.day, 2))T"
            + "\(pad(c.secondOfDay / 3600, 2)):\(pad(c.secondOfDay / 60 % 60, 2)):\(pad(c.secondOfDay % 60, 2)).\(pad(ms, 3))Z"
    }
}

@inline(__always) func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}

@inline(__always) func floorMod(_ a: Int64, _ b: Int64) -> Int64 { a - floorDiv(a, b) * b }

private func pad(_ v: Int, _ width: Int) -> String {
    let s = String(v)
    return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
}
