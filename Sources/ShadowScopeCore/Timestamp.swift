#if canImport(Glibc)
import Glibc
#endif
/// A point in time as microseconds since the Unix epoch, UTC. Formatting is done by hand
/// (civil-from-days) because it runs once per output record.
public struct Timestamp: Hashable, Comparable, Sendable {
    public var microseconds: Int64

    public init(microseconds: Int64) { self.microseconds = microseconds }
    public init(seconds: Int64, microseconds: Int64 = 0) { self.microseconds = seconds &* 1_000_000 &+ microseconds }

    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.microseconds < b.microseconds }

    /// The wall clock, for "when was this recorded" (never for what a record says happened).
    public static var now: Timestamp {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Timestamp(seconds: Int64(ts.tv_sec), microseconds: Int64(ts.tv_nsec / 1000))
    }

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
        guard (0...9999).contains(c.year) else { return "\(pad(Int(c.year), 4))-\(pad(c.month, 2))-\(pad(c.day, 2))" }
        return String(unsafeUninitializedCapacity: 10) { out in
            Self.writeDate(c, out)
            return 10
        }
    }

    /// `YYYY-MM-DD` of a year 0...9999 at the start of `out`.
    @inline(__always)
    private static func writeDate(_ c: (year: Int64, month: Int, day: Int, secondOfDay: Int), _ out: UnsafeMutableBufferPointer<UInt8>) {
        digits(Int(c.year), 4, out, 0)
        out[4] = 0x2D
        digits(c.month, 2, out, 5)
        out[7] = 0x2D
        digits(c.day, 2, out, 8)
    }

    /// Writes `value` as `width` decimal digits (zero-padded; `value` must fit) at `out[at...]`.
    @inline(__always)
    private static func digits(_ value: Int, _ width: Int, _ out: UnsafeMutableBufferPointer<UInt8>, _ at: Int) {
        var v = value
        var i = at + width - 1
        while i >= at {
            out[i] = 0x30 &+ UInt8(truncatingIfNeeded: v % 10)
            v /= 10
            i -= 1
        }
    }

    /// Parses what `rfc3339` writes (`2026-11-25T12:00:00.123Z`, fraction optional, `Z` only).
    public init?(rfc3339 text: String) {
        let b = Array(text.utf8)
        func num(_ r: Range<Int>) -> Int64? {
            guard r.upperBound <= b.count else { return nil }
            var v: Int64 = 0
            for i in r {
                guard b[i] >= 0x30 && b[i] <= 0x39 else { return nil }
                v = v * 10 + Int64(b[i] - 0x30)
            }
            return v
        }
        guard b.count >= 20, b[4] == 0x2D, b[7] == 0x2D, b[10] == 0x54, b[13] == 0x3A, b[16] == 0x3A, b.last == 0x5A,
              let y = num(0..<4), let m = num(5..<7), let d = num(8..<10), let hh = num(11..<13), let mm = num(14..<16),
              let ss = num(17..<19), (1...12).contains(m), (1...31).contains(d), hh < 24, mm < 60, ss < 61
        else { return nil }
        var micros: Int64 = 0
        if b[19] == 0x2E {
            let digits = b.count - 21
            guard digits >= 1, digits <= 6, let f = num(20..<(b.count - 1)) else { return nil }
            micros = f
            for _ in digits..<6 { micros *= 10 }
        } else if b.count != 20 {
            return nil
        }
        // Howard Hinnant's days_from_civil.
        let yy = m <= 2 ? y - 1 : y
        let era = floorDiv(yy, 400)
        let yoe = yy - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        self.init(seconds: days * 86_400 + hh * 3600 + mm * 60 + ss, microseconds: micros)
    }

    /// RFC 3339 UTC with milliseconds: `2026-11-25T12:00:00.123Z`.
    public var rfc3339: String {
        // One allocation for the 24 bytes, not one String per part: this runs for every output record.
        let text = String(unsafeUninitializedCapacity: 24) { writeRFC3339(into: $0) ?? 0 }
        if !text.isEmpty { return text }
        let c = civil
        let ms = Int(floorMod(microseconds, 1_000_000) / 1000)
        return "\(pad(Int(c.year), 4))-\(pad(c.month, 2))-\(pad(c.day, 2))T"
            + "\(pad(c.secondOfDay / 3600, 2)):\(pad(c.secondOfDay / 60 % 60, 2)):\(pad(c.secondOfDay % 60, 2)).\(pad(ms, 3))Z"
    }
}

extension Timestamp {
    /// `rfc3339`'s 24 bytes written into `out` (which has room for them); nil, nothing written, for a
    /// year outside 0...9999. Writers of many records copy these without making a String.
    public func writeRFC3339(into out: UnsafeMutableBufferPointer<UInt8>) -> Int? {
        let c = civil
        guard (0...9999).contains(c.year), out.count >= 24 else { return nil }
        let ms = Int(floorMod(microseconds, 1_000_000) / 1000)
        Self.writeDate(c, out)
        out[10] = 0x54
        Self.digits(c.secondOfDay / 3600, 2, out, 11)
        out[13] = 0x3A
        Self.digits(c.secondOfDay / 60 % 60, 2, out, 14)
        out[16] = 0x3A
        Self.digits(c.secondOfDay % 60, 2, out, 17)
        out[19] = 0x2E
        Self.digits(ms, 3, out, 20)
        out[23] = 0x5A
        return 24
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
