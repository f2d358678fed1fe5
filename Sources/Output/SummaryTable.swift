import ShadowScopeCore

/// The summary's rows as a fixed-width text table for a person at a terminal: who used which AI
/// service, how much went up and down, and where it went. Unknown sizes print as `unknown`.
public func summaryTable(_ aggregates: Aggregates, geoAttribution: String?) -> String {
    let header = ["DAY", "USER", "SERVICE", "TIER", "WHERE", "CONN", "BYTES UP", "BYTES DOWN", "DNS"]
    var rows: [[String]] = []
    for (k, v) in aggregates.sorted {
        let up = v.connections == 0 ? "-" : v.bytesUpUnknown == v.connections ? "unknown" : String(v.bytesUp) + (v.bytesUpUnknown > 0 ? "+?" : "")
        let down = v.connections == 0 ? "-" : v.bytesDownUnknown == v.connections ? "unknown" : String(v.bytesDown) + (v.bytesDownUnknown > 0 ? "+?" : "")
        let region = Region(country: v.country, how: v.how)
        let place = v.country.map { "\($0) (\(region.group == .euEEA ? "EU/EEA" : "non-EU"), \(v.how.rawValue))" } ?? "unknown"
        let name = v.match.service.hasPrefix(v.match.vendor) ? v.match.service : "\(v.match.vendor) \(v.match.service)"
        // A consumer tier whose host also serves business accounts (chatgpt.com): say it is a guess.
        let tier = v.match.tierInName ? v.match.tier : v.match.tier + "*"
        rows.append([k.day, k.user, name, tier, place,
                     String(v.connections), up, down, String(v.lookups)])
    }
    let rightAligned: Set<Int> = [5, 6, 7, 8]
    var widths = header.map(\.count)
    for r in rows { for (i, cell) in r.enumerated() { widths[i] = max(widths[i], cell.count) } }
    func format(_ r: [String]) -> String {
        r.enumerated().map { i, cell in
            let pad = String(repeating: " ", count: widths[i] - cell.count)
            return rightAligned.contains(i) ? pad + cell : cell + pad
        }.joined(separator: "  ").trimmingSuffixSpaces()
    }
    var out = format(header) + "\n"
    for r in rows { out += format(r) + "\n" }
    if rows.isEmpty { out += "(no AI service seen)\n" }
    if aggregates.rows.values.contains(where: { !$0.match.tierInName }) {
        out += "\n* tier not visible in the host name (the same host serves several tiers)\n"
    }
    if let geoAttribution { out += "\nGeoIP: \(geoAttribution)\n" }
    return out
}

private extension String {
    func trimmingSuffixSpaces() -> String {
        var s = self
        while s.last == " " { s.removeLast() }
        return s
    }
}
