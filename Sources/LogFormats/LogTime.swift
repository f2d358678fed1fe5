import Foundation
import ShadowScopeCore

// MARK: civil dates and times shared by the text log formats

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
/// The caller checks the ranges (month 1...12, day 1...31, year 1...9999), so nothing here overflows.
func daysFromCivil(year: Int64, month: Int, day: Int) -> Int64 {
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yoe = y - era * 400
    let m = Int64(month)
    let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    return era * 146_097 + doe - 719_468
}

/// True for a date that exists (30 February does not).
func isValidDate(year: Int64, month: Int, day: Int) -> Bool {
    guard year >= 1 && year <= 9999, month >= 1 && month <= 12, day >= 1 else { return false }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
    let lengths = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    return day <= lengths[month - 1]
}

/// A UTC timestamp from civil fields; nil when a field is out of range.
func civilTimestamp(year: Int64, month: Int, day: Int, hour: Int, minute: Int, second: Int,
                    microseconds: Int64 = 0, offsetSeconds: Int64 = 0) -> Timestamp? {
    guard isValidDate(year: year, month: month, day: day),
          hour >= 0 && hour <= 23, minute >= 0 && minute <= 59, second >= 0 && second <= 60,
          microseconds >= 0 && microseconds < 1_000_000 else { return nil }
    let days = daysFromCivil(year: year, month: month, day: day)
    let secs = days * 86_400 + Int64(hour * 3600 + minute * 60 + second) - offsetSeconds
    return Timestamp(seconds: secs, microseconds: microseconds)
}

/// `Jan`...`Dec` (any case) → 1...12.
func monthFromAbbreviation(_ b: UnsafeRawBufferPointer) -> Int? {
    guard b.count == 3 else { return nil }
    let key = (UInt32(b[0] | 0x20) << 16) | (UInt32(b[1] | 0x20) << 8) | UInt32(b[2] | 0x20)
    switch key {
    case 0x6A_616E: return 1   // jan
    case 0x66_6562: return 2   // feb
    case 0x6D_6172: return 3   // mar
    case 0x61_7072: return 4   // apr
    case 0x6D_6179: return 5   // may
    case 0x6A_756E: return 6   // jun
    case 0x6A_756C: return 7   // jul
    case 0x61_7567: return 8   // aug
    case 0x73_6570: return 9   // sep
    case 0x6F_6374: return 10  // oct
    case 0x6E_6F76: return 11  // nov
    case 0x64_6563: return 12  // dec
    default: return nil
    }
}

/// A cursor over one line for date and time fields: every read returns nil, leaving the position
/// unchanged, when the bytes do not fit.
struct TextCursor {
    let bytes: UnsafeRawBufferPointer
    var offset: Int

    init(_ bytes: UnsafeRawBufferPointer, offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    var isAtEnd: Bool { offset >= bytes.count }
    var peek: UInt8? { offset < bytes.count ? bytes[offset] : nil }

    /// Exactly `count` ASCII digits.
    mutating func digits(_ count: Int) -> Int? {
        guard count > 0, count <= 18, offset + count <= bytes.count else { return nil }
        var v = 0
        for i in offset..<(offset + count) {
            let c = bytes[i]
            guard c >= 0x30 && c <= 0x39 else { return nil }
            v = v * 10 + Int(c - 0x30)
        }
        offset += count
        return v
    }

    /// One to `max` ASCII digits.
    mutating func digits(upTo max: Int) -> (value: Int, count: Int)? {
        var n = 0
        var v = 0
        while n < max, offset + n < bytes.count, bytes[offset + n] >= 0x30, bytes[offset + n] <= 0x39 {
            v = v * 10 + Int(bytes[offset + n] - 0x30)
            n += 1
        }
        guard n > 0 else { return nil }
        offset += n
        return (v, n)
    }

    mutating func byte(_ b: UInt8) -> Bool {
        guard offset < bytes.count, bytes[offset] == b else { return false }
        offset += 1
        return true
    }

    /// A run of ASCII letters (month or weekday names), at most `max` long.
    mutating func letters(max: Int = 16) -> UnsafeRawBufferPointer? {
        let start = offset
        var i = offset
        while i < bytes.count, i - start < max, (bytes[i] | 0x20) >= 0x61, (bytes[i] | 0x20) <= 0x7A { i += 1 }
        guard i > start else { return nil }
        offset = i
        return UnsafeRawBufferPointer(rebasing: bytes[start..<i])
    }

    /// `+hhmm`, `-hhmm` or `+hh:mm` → seconds east of UTC; `Z` → 0.
    mutating func utcOffset() -> Int64? {
        if byte(0x5A) { return 0 }
        let save = offset
        let sign: Int64
        if byte(0x2B) { sign = 1 } else if byte(0x2D) { sign = -1 } else { return nil }
        guard let h = digits(2) else { offset = save; return nil }
        _ = byte(0x3A)
        guard let m = digits(2), h <= 23, m <= 59 else { offset = save; return nil }
        return sign * Int64(h * 3600 + m * 60)
    }

    /// `.123` / `,123456` → microseconds (0 when absent); nil for a separator without digits.
    mutating func fraction() -> Int64? {
        guard let c = peek, c == 0x2E || c == 0x2C else { return 0 }
        let save = offset
        offset += 1
        guard let (v, n) = digits(upTo: 9) else { offset = save; return nil }
        // Up to 9 digits (nanoseconds) to microseconds; `n..<6` would trap for n > 6 (found by FuzzLogs).
        var micros = Int64(v)
        for _ in min(n, 6)..<6 { micros *= 10 }
        for _ in 6..<max(6, n) { micros /= 10 }
        return micros
    }
}

/// `--timezone`: turns wall-clock times written without a zone into UTC, following the zone's
/// daylight-saving rules. The offset is looked up once per local hour, not per line.
public struct LocalTimeZone: Sendable {
    public let identifier: String
    private let zone: TimeZone
    private var cachedHour = Int64.min
    private var cachedOffset: Int64 = 0

    /// Nil for a name the system's zone database does not know.
    public init?(identifier: String) {
        guard let zone = TimeZone(identifier: identifier) else { return nil }
        self.identifier = identifier
        self.zone = zone
    }

    private func offset(at utcSeconds: Int64) -> Int64 {
        Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(utcSeconds))))
    }

    /// `local` holds a wall-clock time as if it were UTC; the result is the instant it names. A time in
    /// the hour skipped in spring is read with the offset before the change; in the hour repeated in
    /// autumn, the second occurrence (standard time) is taken: the log cannot tell which it was.
    public mutating func utc(fromLocal local: Timestamp) -> Timestamp {
        let hour = local.seconds >= 0 ? local.seconds / 3600 : (local.seconds - 3599) / 3600
        if hour != cachedHour {
            let guess = offset(at: local.seconds)
            cachedOffset = offset(at: local.seconds - guess)
            cachedHour = hour
        }
        return Timestamp(microseconds: local.microseconds - cachedOffset * 1_000_000)
    }
}
