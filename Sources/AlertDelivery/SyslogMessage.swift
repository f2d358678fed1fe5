import Glibc
import Output
import ShadowScopeCore

/// RFC 5424 messages carrying one alert each, and RFC 6587 octet-counting frames.
///
/// `<PRI>1 TIMESTAMP HOSTNAME shadowscope PROCID alert - BOM{alert JSON}`
///
/// - PRI = facility × 8 + severity. The facility defaults to 4, "security/authorization messages"
///   (RFC 5424 table 1): an alert about data leaving the company is security information, and a
///   receiver can route it without parsing the JSON. The severity is mapped from ECS `event.severity`
///   (see `syslogSeverity(ecs:)`).
/// - TIMESTAMP is when the alert was raised (written to the spool), UTC, milliseconds; the alert's own
///   time is `@timestamp` inside the JSON.
/// - STRUCTURED-DATA is the NILVALUE `-`: an SD-ID of our own would need a private enterprise number,
///   and `event.id` is in the JSON already.
/// - MSG is the exact line `--alerts` writes (without its newline), preceded by the UTF-8 BOM: RFC 5424
///   §6.4 says a MSG encoded in UTF-8 MUST start with it, and the JSON may hold non-ASCII user or host
///   names. rsyslog keeps the BOM in `%msg%`.
public struct SyslogMessageFormat: Sendable, Equatable {
    public static let authFacility = 4
    public static let appName = "shadowscope"
    public static let msgID = "alert"
    public static let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
    /// RFC 5424 §6.2.4: HOSTNAME is at most 255 PRINTUSASCII characters; PROCID at most 128.
    public static let maxHostnameLength = 255
    public static let maxProcIDLength = 128

    public var facility: Int
    public var hostname: String
    public var procID: String

    /// `hostname` and `procID` are cut to what RFC 5424 allows (printable US-ASCII, no space, bounded
    /// length); an empty value becomes the NILVALUE `-`.
    public init(hostname: String, procID: String, facility: Int = SyslogMessageFormat.authFacility) {
        self.facility = min(max(facility, 0), 23)
        self.hostname = Self.headerField(hostname, max: Self.maxHostnameLength)
        self.procID = Self.headerField(procID, max: Self.maxProcIDLength)
    }

    /// This machine's host name and this process's id.
    public static func local(facility: Int = SyslogMessageFormat.authFacility) -> SyslogMessageFormat {
        var name = [CChar](repeating: 0, count: 256)
        let host = gethostname(&name, name.count - 1) == 0
            ? String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "-"
        return SyslogMessageFormat(hostname: host, procID: String(getpid()), facility: facility)
    }

    static func headerField(_ s: String, max: Int) -> String {
        let printable = s.utf8.prefix { $0 >= 33 && $0 <= 126 }.prefix(max)
        return printable.isEmpty ? "-" : String(decoding: printable, as: UTF8.self)
    }

    /// One RFC 5424 message (no framing) whose MSG is `json` behind a BOM.
    public func message(json: some Collection<UInt8>, ecsSeverity: Int, at time: Timestamp) -> [UInt8] {
        let pri = facility * 8 + syslogSeverity(ecs: ecsSeverity)
        var out: [UInt8] = []
        out.reserveCapacity(json.count + 96)
        out.append(contentsOf: "<\(pri)>1 \(time.rfc3339) \(hostname) \(Self.appName) \(procID) \(Self.msgID) - ".utf8)
        out.append(contentsOf: Self.bom)
        out.append(contentsOf: json)
        return out
    }

    /// The message for one alert: MSG holds exactly what `writeAlert` produces.
    public func message(for alert: Alert, at time: Timestamp) -> [UInt8] {
        var w = JSONWriter()
        writeAlert(alert, into: &w)
        return message(json: w.bytes, ecsSeverity: alert.severity, at: time)
    }
}

/// ECS `event.severity` (ShadowScope uses 21 low, 47 medium, 73 high; Elastic's scale adds 99 critical)
/// to an RFC 5424 severity: ≥ 99 critical (2), ≥ 73 error (3), ≥ 47 warning (4), ≥ 21 notice (5),
/// lower informational (6). Nothing maps to emergency or alert: those mean the system itself is failing.
public func syslogSeverity(ecs: Int) -> Int {
    switch ecs {
    case 99...: return 2
    case 73...: return 3
    case 47...: return 4
    case 21...: return 5
    default: return 6
    }
}

/// RFC 6587 §3.4.1 octet counting: `MSG-LEN SP SYSLOG-MSG`, the length in decimal without leading zeros
/// (MSG-LEN starts with a non-zero digit, so a message is never empty; ours never are).
public func octetCountingFrame(_ message: some Collection<UInt8>) -> [UInt8] {
    var out = Array(String(message.count).utf8)
    out.reserveCapacity(out.count + 1 + message.count)
    out.append(0x20)
    out.append(contentsOf: message)
    return out
}

/// Reads one octet-counted frame from the front of `bytes` (what a receiver does; the tests use it to
/// check our framing, whole and drip-fed).
public enum OctetCountedFrame: Equatable {
    /// The frame is not complete yet.
    case needMoreData
    /// Not an octet-counted frame (no digits, a leading zero, a length above `maxFrameLength`).
    case invalid
    /// The message and how many bytes of the input the frame took.
    case frame(ArraySlice<UInt8>, consumed: Int)

    /// RFC 6587 leaves the maximum to the receiver; rsyslog's default maximum message is 8 KiB, ours 1 MiB.
    public static let maxFrameLength = 1 << 20

    public init(parsing bytes: ArraySlice<UInt8>) {
        var length = 0
        var digits = 0
        var i = bytes.startIndex
        while i < bytes.endIndex, bytes[i] != 0x20 {
            let b = bytes[i]
            guard b >= 0x30 && b <= 0x39, digits < 8, !(digits == 0 && b == 0x30) else { self = .invalid; return }
            length = length * 10 + Int(b - 0x30)
            digits += 1
            i += 1
        }
        guard i < bytes.endIndex else { self = digits < 8 ? .needMoreData : .invalid; return }
        guard digits > 0, length <= Self.maxFrameLength else { self = .invalid; return }
        let start = i + 1
        guard bytes.endIndex - start >= length else { self = .needMoreData; return }
        self = .frame(bytes[start..<(start + length)], consumed: start + length - bytes.startIndex)
    }
}
