/// An IPv4 or IPv6 address, stored as bits so flow keys hash without allocating.
public enum IPAddress: Hashable, Sendable, Comparable {
    case v4(UInt32)
    case v6(UInt64, UInt64)

    /// Parses dotted IPv4 or RFC 4291 IPv6 text (with `::` and an embedded IPv4 tail); nil when invalid.
    @inlinable  // specialised where it is called: log parsers read one address per line
    public init?(_ text: some StringProtocol) {
        let bytes = Array(text.utf8)
        if let v4 = IPAddress.parseV4(bytes[...]) {
            self = .v4(v4)
        } else if let v6 = IPAddress.parseV6(bytes) {
            self = v6
        } else {
            return nil
        }
    }

    /// The same from text as bytes (a log field), without making a String first.
    @inlinable
    public init?(bytes: UnsafeRawBufferPointer) {
        if let v4 = IPAddress.parseV4(bytes) {
            self = .v4(v4)
        } else if let v6 = IPAddress.parseV6(Array(bytes)) {
            self = v6
        } else {
            return nil
        }
    }

    /// IPv4 from the four bytes in network order.
    public init(v4 b0: UInt8, _ b1: UInt8, _ b2: UInt8, _ b3: UInt8) {
        self = .v4(UInt32(b0) << 24 | UInt32(b1) << 16 | UInt32(b2) << 8 | UInt32(b3))
    }

    public var isV4: Bool { if case .v4 = self { return true } else { return false } }

    /// The 4 or 16 bytes in network order.
    public var bytes: [UInt8] {
        switch self {
        case .v4(let a):
            return [UInt8(truncatingIfNeeded: a >> 24), UInt8(truncatingIfNeeded: a >> 16),
                    UInt8(truncatingIfNeeded: a >> 8), UInt8(truncatingIfNeeded: a)]
        case .v6(let hi, let lo):
            var out = [UInt8]()
            out.reserveCapacity(16)
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: hi >> UInt64(shift))) }
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: lo >> UInt64(shift))) }
            return out
        }
    }

    public static func < (a: IPAddress, b: IPAddress) -> Bool {
        switch (a, b) {
        case (.v4(let x), .v4(let y)): return x < y
        case (.v4, .v6): return true
        case (.v6, .v4): return false
        case (.v6(let h1, let l1), .v6(let h2, let l2)): return (h1, l1) < (h2, l2)
        }
    }

    @inlinable
    static func parseV4(_ s: some Collection<UInt8>) -> UInt32? {
        var value: UInt32 = 0
        var octet: UInt32 = 0
        var digits = 0
        var parts = 0
        for c in s {
            if c >= 0x30 && c <= 0x39 {
                if digits > 0 && octet == 0 { return nil }  // no leading zeros: "01" is ambiguous (octal)
                octet = octet * 10 + UInt32(c - 0x30)
                digits += 1
                if digits > 3 || octet > 255 { return nil }
            } else if c == 0x2E {
                guard digits > 0, parts < 3 else { return nil }
                value = value << 8 | octet
                octet = 0; digits = 0; parts += 1
            } else {
                return nil
            }
        }
        guard digits > 0, parts == 3 else { return nil }
        return value << 8 | octet
    }

    @usableFromInline
    static func parseV6(_ s: [UInt8]) -> IPAddress? {
        guard s.count >= 2, s.count <= 45 else { return nil }
        var groups = [UInt16]()
        var gapIndex: Int? = nil
        var i = 0
        if s[0] == 0x3A {
            guard s[1] == 0x3A else { return nil }
            gapIndex = 0
            i = 2
        }
        while i < s.count {
            // An IPv4 tail takes the last 32 bits.
            if let dot = s[i...].firstIndex(of: 0x2E), !s[i..<dot].contains(0x3A) {
                guard let v4 = parseV4(s[i...]), groups.count <= 6 else { return nil }
                groups.append(UInt16(truncatingIfNeeded: v4 >> 16))
                groups.append(UInt16(truncatingIfNeeded: v4))
                i = s.count
                break
            }
            var value: UInt32 = 0
            var digits = 0
            while i < s.count, let h = hexValue(s[i]) {
                value = value << 4 | UInt32(h)
                digits += 1
                i += 1
                if digits > 4 { return nil }
            }
            guard digits > 0 else { return nil }
            groups.append(UInt16(truncatingIfNeeded: value))
            if i == s.count { break }
            guard s[i] == 0x3A else { return nil }
            i += 1
            if i < s.count, s[i] == 0x3A {
                guard gapIndex == nil else { return nil }
                gapIndex = groups.count
                i += 1
                if i == s.count { break }
            } else if i == s.count {
                return nil  // trailing single colon
            }
        }
        if let gap = gapIndex {
            guard groups.count < 8 else { return nil }
            groups.insert(contentsOf: [UInt16](repeating: 0, count: 8 - groups.count), at: gap)
        }
        guard groups.count == 8 else { return nil }
        var hi: UInt64 = 0, lo: UInt64 = 0
        for g in groups[0..<4] { hi = hi << 16 | UInt64(g) }
        for g in groups[4..<8] { lo = lo << 16 | UInt64(g) }
        return .v6(hi, lo)
    }

    @usableFromInline
    static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x61...0x66: return c - 0x61 + 10
        case 0x41...0x46: return c - 0x41 + 10
        default: return nil
        }
    }
}

extension IPAddress: CustomStringConvertible {
    /// Dotted IPv4, or RFC 5952 IPv6 (lower case, longest zero run of two or more groups compressed).
    public var description: String {
        switch self {
        case .v4(let a):
            // Digits written in place: this names the user of every matched flow without a user name,
            // and interpolation built four Strings to make one.
            return String(unsafeUninitializedCapacity: 15) { out in
                var n = 0
                for shift in stride(from: 24, through: 0, by: -8) {
                    let octet = Int((a >> UInt32(shift)) & 0xFF)
                    if octet >= 100 { out[n] = 0x30 + UInt8(octet / 100); n += 1 }
                    if octet >= 10 { out[n] = 0x30 + UInt8(octet / 10 % 10); n += 1 }
                    out[n] = 0x30 + UInt8(octet % 10)
                    n += 1
                    if shift > 0 { out[n] = 0x2E; n += 1 }
                }
                return n
            }
        case .v6(let hi, let lo):
            var groups = [UInt16]()
            for shift in stride(from: 48, through: 0, by: -16) { groups.append(UInt16(truncatingIfNeeded: hi >> UInt64(shift))) }
            for shift in stride(from: 48, through: 0, by: -16) { groups.append(UInt16(truncatingIfNeeded: lo >> UInt64(shift))) }
            var bestStart = -1, bestLen = 0, runStart = -1
            for (i, g) in groups.enumerated() {
                if g == 0 {
                    if runStart < 0 { runStart = i }
                    let len = i - runStart + 1
                    if len > bestLen { bestLen = len; bestStart = runStart }
                } else {
                    runStart = -1
                }
            }
            if bestLen < 2 { bestStart = -1 }
            var out = ""
            var i = 0
            while i < 8 {
                if i == bestStart {
                    out += "::"
                    i += bestLen
                    continue
                }
                if !out.isEmpty && !out.hasSuffix(":") { out += ":" }
                out += String(groups[i], radix: 16)
                i += 1
            }
            return out
        }
    }
}
