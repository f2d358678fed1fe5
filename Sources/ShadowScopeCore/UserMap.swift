/// Who is behind a client address when the source does not say: a list of addresses and CIDR ranges
/// mapped to user names (`--users FILE`); the longest matching prefix wins, IPv4 and IPv6 alike.
public struct UserMap: Sendable {
    /// Per prefix length, the masked network → user; lengths are tried longest first.
    private var v4: [Int: [UInt32: String]] = [:]
    private var v6: [Int: [IPAddress: String]] = [:]
    private var v4Lengths: [Int] = []
    private var v6Lengths: [Int] = []
    public private(set) var count = 0

    public struct ParseError: Error, Sendable, CustomStringConvertible, Equatable {
        public var file: String
        public var line: Int
        public var message: String
        public var description: String { "\(file):\(line): \(message)" }
    }

    public init() {}

    /// Reads `network,user` lines: `10.1.2.3,alice`, `10.20.0.0/16,finance-team`, `2001:db8::/32,lab`.
    /// Blank lines, `#` comments and a `network,user` header are skipped; anything else that does not
    /// parse is an error naming the line.
    public init(csv text: String, file: String) throws(ParseError) {
        var number = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            let line = rawLine.trimmingCharacters(in: " \t\r")
            if line.isEmpty || line.hasPrefix("#") { continue }
            let cells = line.split(separator: ",", maxSplits: 1, omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: " \t\"") }
            if number == 1 && cells.first?.lowercased() == "network" { continue }
            guard cells.count == 2, !cells[1].isEmpty else {
                throw ParseError(file: file, line: number, message: "expected 'address-or-CIDR,user'")
            }
            guard let (network, length) = Self.parseCIDR(cells[0]) else {
                throw ParseError(file: file, line: number, message: "'\(cells[0])' is not an IPv4/IPv6 address or CIDR range")
            }
            insert(network, length, cells[1])
        }
    }

    public mutating func insert(_ network: IPAddress, _ length: Int, _ user: String) {
        switch Self.mask(network, length) {
        case .v4(let a):
            if v4[length] == nil { v4Lengths.append(length); v4Lengths.sort(by: >) }
            v4[length, default: [:]][a] = user
        case let masked:
            if v6[length] == nil { v6Lengths.append(length); v6Lengths.sort(by: >) }
            v6[length, default: [:]][masked] = user
        }
        count += 1
    }

    /// The user of the most specific range that holds `address`.
    public func user(for address: IPAddress) -> String? {
        switch address {
        case .v4:
            for length in v4Lengths {
                if case .v4(let a) = Self.mask(address, length), let u = v4[length]?[a] { return u }
            }
        case .v6:
            for length in v6Lengths {
                if let u = v6[length]?[Self.mask(address, length)] { return u }
            }
        }
        return nil
    }

    static func parseCIDR(_ text: String) -> (IPAddress, Int)? {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let address = IPAddress(parts[0]) else { return nil }
        let maxLength = address.isV4 ? 32 : 128
        guard parts.count == 2 else { return (address, maxLength) }
        guard let length = Int(parts[1]), length >= 0, length <= maxLength else { return nil }
        return (address, length)
    }

    static func mask(_ address: IPAddress, _ length: Int) -> IPAddress {
        switch address {
        case .v4(let a):
            return .v4(length == 0 ? 0 : a & (UInt32.max << UInt32(32 - length)))
        case .v6(let hi, let lo):
            if length <= 64 {
                return .v6(length == 0 ? 0 : hi & (UInt64.max << UInt64(64 - length)), 0)
            }
            return .v6(hi, length == 128 ? lo : lo & (UInt64.max << UInt64(128 - length)))
        }
    }
}

private extension Substring {
    func trimmingCharacters(in set: String) -> String {
        let chars = Set(set)
        var s = self
        while let f = s.first, chars.contains(f) { s.removeFirst() }
        while let l = s.last, chars.contains(l) { s.removeLast() }
        return String(s)
    }
}

private extension String {
    func trimmingCharacters(in set: String) -> String { Substring(self).trimmingCharacters(in: set) }
}
