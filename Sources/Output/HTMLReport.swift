import ShadowScopeCore

/// The report for an analyst and their manager (`--report FILE.html`): one self-contained page,
/// inline CSS and inline SVG charts, no script and nothing fetched, so it opens offline and can be
/// mailed. Every string that came from input (hosts, users, file names, reasons) is HTML-escaped.
/// `alerts` is nil when they are not known (a merged summary does not keep them).
public func htmlReport(inputs: [InputReport], aggregates: Aggregates, alerts: [Alert]?, context: SummaryContext) -> [UInt8] {
    var page = HTMLPage()
    let rows = Array(aggregates.sorted)
    page.head(title: "ShadowScope: AI service use")
    page.header(rows: rows, inputs: inputs, alerts: alerts, context: context)
    page.keyFigures(rows: rows, alerts: alerts)
    page.services(rows: rows)
    page.users(rows: rows, alerts: alerts)
    page.pairs(rows: rows)
    page.hours(aggregates.hours, businessHours: context.hours)
    page.regions(rows: rows)
    page.alerts(alerts)
    page.inputs(inputs)
    page.footer(context: context)
    return Array(page.text.utf8)
}

/// `&`, `<`, `>`, `"` and `'` as entities; other control characters than tab and newline as U+FFFD.
func htmlEscape(_ s: String) -> String {
    var out = ""
    out.reserveCapacity(s.utf8.count)
    for c in s.unicodeScalars {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        case "\t", "\n": out.unicodeScalars.append(c)
        default:
            if c.value < 0x20 || c.value == 0x7F { out += "\u{FFFD}" } else { out.unicodeScalars.append(c) }
        }
    }
    return out
}

/// 1234567 → `1,234,567`.
func grouped(_ n: Int64) -> String {
    let digits = String(n.magnitude)
    var out = ""
    for (i, d) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out += "," }
        out.append(d)
    }
    return n < 0 ? "-" + out : out
}

/// 104078 → `101.6 KiB`, for chart labels (tables give exact bytes).
func humanBytes(_ n: Int64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
    var v = Double(n), u = 0
    while v >= 1024 && u < units.count - 1 { v /= 1024; u += 1 }
    if u == 0 { return "\(n) B" }
    let tenths = (v * 10).rounded() / 10
    return "\(tenths) \(units[u])"
}

/// Totals over several summary rows.
private struct Totals {
    var connections: Int64 = 0
    var lookups: Int64 = 0
    var bytesUp: Int64 = 0
    var upUnknown: Int64 = 0
    var bytesDown: Int64 = 0
    var offHours: Int64 = 0
    var users: Set<String> = []
    var services: Set<String> = []

    mutating func add(_ k: AggregateKey, _ v: AggregateValue) {
        connections += v.connections
        lookups += v.lookups
        bytesUp += v.bytesUp
        upUnknown += v.bytesUpUnknown
        bytesDown += v.bytesDown
        offHours += v.offHoursConnections
        users.insert(k.user)
        services.insert(k.serviceID)
    }

    /// Exact upload, `unknown` when no connection measured it, `+ n unknown` when some did not.
    var uploadCell: String {
        if connections == 0 { return "–" }
        if upUnknown == connections { return "unknown" }
        return grouped(bytesUp) + (upUnknown > 0 ? "<br><span class=note>+ \(grouped(upUnknown)) unknown</span>" : "")
    }

    /// Orders by upload, then connections, then look-ups (descending); ties keep the caller's order.
    func outranks(_ o: Totals) -> Bool {
        if bytesUp != o.bytesUp { return bytesUp > o.bytesUp }
        if connections != o.connections { return connections > o.connections }
        return lookups > o.lookups
    }
}

private func serviceName(_ m: ServiceMatchSummary) -> String {
    m.service.hasPrefix(m.vendor) ? m.service : "\(m.vendor) \(m.service)"
}

private func groupName(_ g: Region.Group) -> String {
    switch g {
    case .euEEA: return "EU/EEA"
    case .nonEU: return "non-EU"
    case .unknown: return "unknown"
    }
}

private func howName(_ h: Region.How) -> String {
    switch h {
    case .host: return "host name"
    case .geoip: return "GeoIP"
    case .unknown: return "not known"
    }
}

private func severityName(_ s: Int) -> String {
    s >= Severity.high ? "high" : s >= Severity.medium ? "medium" : "low"
}

/// The page as it is written: sections in order, each a heading and a table or a chart.
private struct HTMLPage {
    var text = ""
    /// Rows a table shows before it says how many more there are.
    static let maxTableRows = 25
    static let maxAlerts = 200

    mutating func add(_ s: String) { text += s; text += "\n" }

    mutating func head(title: String) {
        add("<!DOCTYPE html>")
        add("<html lang=\"en\"><head><meta charset=\"utf-8\">")
        add("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
        add("<title>\(htmlEscape(title))</title>")
        add("<style>")
        add("""
            :root { --ink: #1d2330; --muted: #5d6677; --line: #d9dee7; --bg: #f5f7fa; --bar: #3b6fd8; --bar2: #9db7ea;
                    --high: #b42318; --medium: #b54708; --low: #4f6480; --ok: #1f7a45; }
            * { box-sizing: border-box; }
            body { margin: 0; background: var(--bg); color: var(--ink);
                   font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
            main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 40px; }
            h1 { font-size: 24px; margin: 0 0 4px; }
            h2 { font-size: 17px; margin: 0 0 10px; }
            section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px 20px; margin: 0 0 18px; }
            dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 10px 0 0; }
            dl.meta dt { color: var(--muted); }
            dl.meta dd { margin: 0; overflow-wrap: anywhere; }
            .cards { display: grid; grid-template-columns: repeat(5, 1fr); gap: 12px; margin: 0 0 18px; }
            .card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; }
            .card b { display: block; font-size: 22px; }
            .card span { color: var(--muted); font-size: 12px; }
            table { border-collapse: collapse; width: 100%; }
            th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
            th { font-size: 12px; color: var(--muted); font-weight: 600; white-space: nowrap; }
            td { overflow-wrap: break-word; }
            section { overflow-x: auto; }
            td.name { min-width: 180px; }
            td.barcell { width: 110px; }
            td.short { white-space: nowrap; }
            td.num, th.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
            tbody tr:nth-child(even) { background: #fafbfd; }
            code { font: 12px/1.4 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
            .note { color: var(--muted); font-size: 12px; }
            .tag { display: inline-block; padding: 0 6px; border-radius: 10px; font-size: 12px; white-space: nowrap; }
            .yes { background: #e3f4ea; color: var(--ok); }
            .no { background: #fde8e7; color: var(--high); }
            .guess { background: #eef1f6; color: var(--muted); }
            .sev-high { background: var(--high); color: #fff; }
            .sev-medium { background: var(--medium); color: #fff; }
            .sev-low { background: var(--low); color: #fff; }
            .evidence { margin: 2px 0 0; padding-left: 16px; color: var(--muted); }
            .two { display: grid; grid-template-columns: 1fr 1fr; gap: 18px; margin: 0 0 14px; }
            svg.chart { width: 100%; height: auto; }
            svg text { font: 11px system-ui, sans-serif; fill: var(--muted); }
            footer { color: var(--muted); font-size: 12px; }
            @media print { body { background: #fff; } section { break-inside: avoid; } }
            """)
        add("</style></head><body><main>")
    }

    mutating func header(rows: [(key: AggregateKey, value: AggregateValue)], inputs: [InputReport], alerts: [Alert]?,
                         context: SummaryContext) {
        add("<header><section>")
        add("<h1>AI service use</h1>")
        var period = "no AI service seen"
        if let first = rows.map(\.value.firstSeen).min(), let last = rows.map(\.value.lastSeen).max() {
            let days = Set(rows.map(\.key.day)).count
            period = "\(short(first)) – \(short(last)) UTC (\(days) day\(days == 1 ? "" : "s"))"
        }
        add("<dl class=meta>")
        add("<dt>Period covered</dt><dd>\(htmlEscape(period))</dd>")
        let names = inputs.map { "<code>\(htmlEscape($0.file))</code>" }.joined(separator: ", ")
        add("<dt>Inputs</dt><dd>\(inputs.count): \(names)</dd>")
        add("<dt>Policy</dt><dd><code>\(htmlEscape(context.policySource))</code></dd>")
        add("<dt>Business hours</dt><dd>\(htmlEscape(context.hours.description))</dd>")
        if let g = context.geoip {
            add("<dt>GeoIP</dt><dd>\(htmlEscape(g.databaseType)) <span class=note>(<code>\(htmlEscape(g.path))</code>)</span></dd>")
        } else {
            add("<dt>GeoIP</dt><dd>none: destination countries are known only where the host name binds them</dd>")
        }
        add("<dt>Generated by</dt><dd>\(htmlEscape(context.tool))</dd>")
        add("</dl></section></header>")
    }

    /// `2026-11-25T12:10:02.127Z` → `2026-11-25 12:10`.
    func short(_ t: Timestamp) -> String {
        let s = t.rfc3339
        return String(s.prefix(10)) + " " + String(s.dropFirst(11).prefix(5))
    }

    mutating func keyFigures(rows: [(key: AggregateKey, value: AggregateValue)], alerts: [Alert]?) {
        var t = Totals()
        for (k, v) in rows { t.add(k, v) }
        let unapproved = Set(rows.filter { !$0.value.approved }.map(\.key.serviceID)).count
        add("<div class=cards>")
        add("<div class=card><b>\(t.services.count)</b><span>AI services seen, \(unapproved) not approved</span></div>")
        add("<div class=card><b>\(t.users.count)</b><span>users or client addresses</span></div>")
        add("<div class=card><b>\(grouped(t.connections))</b><span>connections, \(grouped(t.lookups)) DNS look-ups</span></div>")
        let unknown = t.upUnknown > 0 ? ", \(grouped(t.upUnknown)) conn. size unknown" : ""
        add("<div class=card><b>\(humanBytes(t.bytesUp))</b><span>uploaded (measured)\(unknown)</span></div>")
        if let alerts {
            let high = alerts.filter { $0.severity >= Severity.high }.count
            add("<div class=card><b>\(alerts.count)</b><span>alerts, \(high) high</span></div>")
        } else {
            add("<div class=card><b>–</b><span>alerts: not kept in merged summaries</span></div>")
        }
        add("</div>")
    }

    /// A bar `value / max` of `width` pixels, as inline SVG.
    func bar(_ value: Int64, of max: Int64, width: Int = 100) -> String {
        let w = max > 0 ? Int((Double(value) / Double(max) * Double(width)).rounded()) : 0
        return "<svg width=\"\(width)\" height=\"10\" role=\"img\" aria-label=\"\(humanBytes(value))\">"
            + "<rect width=\"\(width)\" height=\"10\" rx=\"2\" fill=\"#eef1f6\"/>"
            + "<rect width=\"\(w)\" height=\"10\" rx=\"2\" fill=\"#3b6fd8\"/></svg>"
    }

    mutating func more(_ total: Int, shown: Int, what: String) {
        if total > shown { add("<p class=note>\(total - shown) more \(what) not shown; the summary JSON has them all.</p>") }
    }

    mutating func services(rows: [(key: AggregateKey, value: AggregateValue)]) {
        var totals: [String: Totals] = [:]
        var match: [String: ServiceMatchSummary] = [:]
        var approved: [String: Bool] = [:]
        var order: [String] = []
        for (k, v) in rows {
            if totals[k.serviceID] == nil { order.append(k.serviceID) }
            totals[k.serviceID, default: Totals()].add(k, v)
            match[k.serviceID] = v.match
            approved[k.serviceID] = (approved[k.serviceID] ?? false) || v.approved
        }
        order.sort { a, b in
            let x = totals[a] ?? Totals(), y = totals[b] ?? Totals()
            return x.outranks(y) || (!y.outranks(x) && a.utf8.lexicographicallyPrecedes(b.utf8))
        }
        let maxUp = order.compactMap { totals[$0]?.bytesUp }.max() ?? 0
        add("<section id=services><h2>Top services by upload</h2>")
        if order.isEmpty { add("<p>No AI service was seen.</p></section>"); return }
        add("<table><thead><tr><th>Service</th><th>Tier</th><th>Approved</th><th class=num>Users</th><th class=num title=\"connections\">Conn.</th>"
            + "<th class=num title=\"DNS look-ups\">DNS</th><th class=num>Bytes up</th><th></th><th class=num>Bytes down</th></tr></thead><tbody>")
        var guessed = false
        for id in order.prefix(Self.maxTableRows) {
            guard let t = totals[id], let m = match[id] else { continue }
            var tier = htmlEscape(m.tier)
            if !m.tierInName {
                guessed = true
                tier += "<br><span class=\"tag guess\" title=\"the same host serves several tiers\">tier not visible in the name</span>"
            }
            let ok = approved[id] == true ? "<span class=\"tag yes\">approved</span>" : "<span class=\"tag no\">not approved</span>"
            add("<tr><td class=name>\(htmlEscape(serviceName(m)))<br><span class=note>\(htmlEscape(id)) · \(htmlEscape(m.category))</span></td>"
                + "<td>\(tier)</td><td>\(ok)</td><td class=num>\(t.users.count)</td><td class=num>\(grouped(t.connections))</td>"
                + "<td class=num>\(grouped(t.lookups))</td><td class=num>\(t.uploadCell)</td><td class=barcell>\(bar(t.bytesUp, of: maxUp))</td>"
                + "<td class=num>\(grouped(t.bytesDown))</td></tr>")
        }
        add("</tbody></table>")
        more(order.count, shown: Self.maxTableRows, what: "services")
        if guessed {
            add("<p class=note>“tier not visible in the name”: the host serves several tiers (chatgpt.com serves free and business "
                + "accounts alike), so the tier shown is the catalog's guess.</p>")
        }
        add("</section>")
    }

    mutating func users(rows: [(key: AggregateKey, value: AggregateValue)], alerts: [Alert]?) {
        var totals: [String: Totals] = [:]
        for (k, v) in rows { totals[k.user, default: Totals()].add(k, v) }
        var alertCount: [String: Int] = [:]
        for a in alerts ?? [] { alertCount[a.user, default: 0] += 1 }
        let order = totals.keys.sorted { a, b in
            let x = totals[a] ?? Totals(), y = totals[b] ?? Totals()
            return x.outranks(y) || (!y.outranks(x) && a.utf8.lexicographicallyPrecedes(b.utf8))
        }
        let maxUp = order.compactMap { totals[$0]?.bytesUp }.max() ?? 0
        add("<section id=users><h2>Users by upload</h2>")
        if order.isEmpty { add("<p>No AI service was seen.</p></section>"); return }
        add("<p class=note>A user is the name the source gave (proxy login), else the client address.</p>")
        add("<table><thead><tr><th>User</th><th class=num>Services</th><th class=num>Connections</th><th class=num>DNS look-ups</th>"
            + "<th class=num>Bytes up</th><th></th><th class=num>Off-hours conn.</th><th class=num>Alerts</th></tr></thead><tbody>")
        for user in order.prefix(Self.maxTableRows) {
            guard let t = totals[user] else { continue }
            let alertCell = alerts == nil ? "–" : String(alertCount[user] ?? 0)
            add("<tr><td>\(htmlEscape(user))</td><td class=num>\(t.services.count)</td><td class=num>\(grouped(t.connections))</td>"
                + "<td class=num>\(grouped(t.lookups))</td><td class=num>\(t.uploadCell)</td><td class=barcell>\(bar(t.bytesUp, of: maxUp))</td>"
                + "<td class=num>\(grouped(t.offHours))</td><td class=num>\(alertCell)</td></tr>")
        }
        add("</tbody></table>")
        more(order.count, shown: Self.maxTableRows, what: "users")
        add("</section>")
    }

    /// User × service over all days and regions: who sent how much where.
    mutating func pairs(rows: [(key: AggregateKey, value: AggregateValue)]) {
        struct Pair: Hashable { var user: String; var service: String }
        var totals: [Pair: Totals] = [:]
        var info: [Pair: (match: ServiceMatchSummary, approved: Bool, countries: Set<String>)] = [:]
        for (k, v) in rows where v.connections > 0 {
            let p = Pair(user: k.user, service: k.serviceID)
            totals[p, default: Totals()].add(k, v)
            var i = info[p] ?? (v.match, false, [])
            i.approved = i.approved || v.approved
            i.countries.insert(v.country ?? "unknown")
            info[p] = i
        }
        let order = totals.keys.sorted { a, b in
            let x = totals[a] ?? Totals(), y = totals[b] ?? Totals()
            if x.outranks(y) != y.outranks(x) { return x.outranks(y) }
            if a.user != b.user { return a.user.utf8.lexicographicallyPrecedes(b.user.utf8) }
            return a.service.utf8.lexicographicallyPrecedes(b.service.utf8)
        }
        add("<section id=pairs><h2>Uploads by user and service</h2>")
        if order.isEmpty { add("<p>No connection to an AI service was seen.</p></section>"); return }
        add("<table><thead><tr><th>User</th><th>Service</th><th>Tier</th><th>Approved</th><th>Destination</th>"
            + "<th class=num>Connections</th><th class=num>Bytes up</th><th class=num>Bytes down</th></tr></thead><tbody>")
        for p in order.prefix(Self.maxTableRows) {
            guard let t = totals[p], let i = info[p] else { continue }
            let ok = i.approved ? "<span class=\"tag yes\">approved</span>" : "<span class=\"tag no\">not approved</span>"
            add("<tr><td>\(htmlEscape(p.user))</td><td>\(htmlEscape(serviceName(i.match)))</td><td>\(htmlEscape(i.match.tier))</td>"
                + "<td>\(ok)</td><td>\(htmlEscape(i.countries.sorted().joined(separator: ", ")))</td><td class=num>\(grouped(t.connections))</td>"
                + "<td class=num>\(t.uploadCell)</td><td class=num>\(grouped(t.bytesDown))</td></tr>")
        }
        add("</tbody></table>")
        more(order.count, shown: Self.maxTableRows, what: "user × service pairs")
        add("</section>")
    }

    /// 1, 2, 5, 10, 20, 50, ... at or above `n`.
    func niceCeiling(_ n: Int64) -> Int64 {
        var step: Int64 = 1
        while true {
            for m in [Int64(1), 2, 5] where step * m >= n { return step * m }
            if step > Int64.max / 100 { return n }
            step *= 10
        }
    }

    mutating func hours(_ hours: [Int64], businessHours: BusinessHours) {
        let total = hours.reduce(0, +)
        add("<section id=hours><h2>Use by hour of day (UTC)</h2>")
        if total == 0 {
            add("<p>No connection to an AI service was seen.</p></section>")
            return
        }
        let width = 1080, height = 230, left = 44, right = 8, top = 14, bottom = 34
        let plotW = width - left - right, plotH = height - top - bottom
        // Four grid steps of a round size: 26 connections → steps of 10, axis to 40.
        let peak = max(hours.max() ?? 1, 1)
        let top0 = 4 * niceCeiling((peak + 3) / 4)
        var svg = "<svg class=chart width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" role=\"img\" "
            + "aria-label=\"Connections per UTC hour\">"
        for i in 0...4 {
            let v = top0 * Int64(i) / 4
            let y = top + plotH - Int((Double(v) / Double(top0) * Double(plotH)).rounded())
            svg += "<line x1=\"\(left)\" y1=\"\(y)\" x2=\"\(width - right)\" y2=\"\(y)\" stroke=\"#e3e7ee\"/>"
            svg += "<text x=\"\(left - 6)\" y=\"\(y + 4)\" text-anchor=\"end\">\(grouped(v))</text>"
        }
        let slot = Double(plotW) / 24
        for (h, n) in hours.prefix(24).enumerated() {
            let x = Double(left) + Double(h) * slot
            let barH = Int((Double(n) / Double(top0) * Double(plotH)).rounded())
            let y = top + plotH - barH
            if n > 0 {
                svg += "<rect x=\"\(Int(x + slot * 0.15))\" y=\"\(y)\" width=\"\(Int(slot * 0.7))\" height=\"\(barH)\" rx=\"2\" fill=\"#3b6fd8\">"
                    + "<title>\(h < 10 ? "0" : "")\(h):00–\(h < 10 ? "0" : "")\(h):59 UTC: \(grouped(n)) connections</title></rect>"
                svg += "<text x=\"\(Int(x + slot / 2))\" y=\"\(y - 3)\" text-anchor=\"middle\">\(grouped(n))</text>"
            }
            svg += "<text x=\"\(Int(x + slot / 2))\" y=\"\(top + plotH + 16)\" text-anchor=\"middle\">\(h < 10 ? "0" : "")\(h)</text>"
        }
        svg += "<line x1=\"\(left)\" y1=\"\(top + plotH)\" x2=\"\(width - right)\" y2=\"\(top + plotH)\" stroke=\"#8a94a6\"/>"
        svg += "<text x=\"\(left + plotW / 2)\" y=\"\(height - 2)\" text-anchor=\"middle\">hour (UTC)</text></svg>"
        add(svg)
        add("<p class=note>\(grouped(total)) connections (DNS look-ups not counted). Business hours in the policy: "
            + "\(htmlEscape(businessHours.description)); off-hours use is judged in that time zone.</p>")
        add("</section>")
    }

    mutating func regions(rows: [(key: AggregateKey, value: AggregateValue)]) {
        var groups: [Region.Group: Totals] = [:]
        struct Place: Hashable { var country: String; var how: Region.How }
        var places: [Place: Totals] = [:]
        var placeServices: [Place: Set<String>] = [:]
        for (k, v) in rows {
            let region = Region(country: v.country, how: v.how)
            groups[region.group, default: Totals()].add(k, v)
            let p = Place(country: v.country ?? "unknown", how: v.how)
            places[p, default: Totals()].add(k, v)
            placeServices[p, default: []].insert(serviceName(v.match))
        }
        add("<section id=regions><h2>Destinations by region</h2>")
        if rows.isEmpty { add("<p>No AI service was seen.</p></section>"); return }
        add("<div class=two><div>")
        add("<table><thead><tr><th>Region</th><th class=num>Connections</th><th class=num>Bytes up</th><th class=num>Share of connections</th></tr></thead><tbody>")
        let allConnections = max(groups.values.reduce(0) { $0 + $1.connections }, 1)
        var stack = "<svg width=\"520\" height=\"26\" role=\"img\" aria-label=\"Connections by region\">"
        var x = 0.0
        let colors: [Region.Group: String] = [.euEEA: "#1f7a45", .nonEU: "#b54708", .unknown: "#a3acba"]
        for g in [Region.Group.euEEA, .nonEU, .unknown] {
            let t = groups[g] ?? Totals()
            let share = Double(t.connections) / Double(allConnections)
            add("<tr><td><span class=tag style=\"background:\(colors[g] ?? "#999");color:#fff\">\(groupName(g))</span></td>"
                + "<td class=num>\(grouped(t.connections))</td><td class=num>\(t.uploadCell)</td>"
                + "<td class=num>\(Int((share * 100).rounded())) %</td></tr>")
            let w = share * 520
            if w > 0 { stack += "<rect x=\"\(Int(x.rounded()))\" y=\"0\" width=\"\(Int(w.rounded()))\" height=\"26\" fill=\"\(colors[g] ?? "#999")\"/>" }
            x += w
        }
        stack += "</svg>"
        add("</tbody></table>")
        add("</div><div>")
        add(stack)
        add("<p class=note>EU/EEA: the 27 EU states with Iceland, Liechtenstein and Norway. “Host name”: the service's host "
            + "binds the region (e.g. an EU endpoint); “GeoIP”: from the server address; “not known”: a proxy log without the "
            + "server address, or an address outside the database.</p>")
        add("</div></div>")
        let order = places.keys.sorted { a, b in
            let x = places[a] ?? Totals(), y = places[b] ?? Totals()
            if x.connections != y.connections { return x.connections > y.connections }
            if a.country != b.country { return a.country.utf8.lexicographicallyPrecedes(b.country.utf8) }
            return a.how.rawValue < b.how.rawValue
        }
        add("<table><thead><tr><th>Country</th><th>Region</th><th>How known</th><th class=num>Connections</th>"
            + "<th class=num>DNS look-ups</th><th class=num>Bytes up</th><th>Services</th></tr></thead><tbody>")
        for p in order.prefix(Self.maxTableRows) {
            guard let t = places[p] else { continue }
            let group = Region(country: p.country == "unknown" ? nil : p.country, how: p.how).group
            add("<tr><td class=short>\(htmlEscape(p.country))</td><td class=short>\(groupName(group))</td><td class=short>\(howName(p.how))</td>"
                + "<td class=num>\(grouped(t.connections))</td><td class=num>\(grouped(t.lookups))</td><td class=num>\(t.uploadCell)</td>"
                + "<td>\(htmlEscape((placeServices[p] ?? []).sorted().joined(separator: ", ")))</td></tr>")
        }
        add("</tbody></table>")
        more(order.count, shown: Self.maxTableRows, what: "countries")
        add("</section>")
    }

    mutating func alerts(_ alerts: [Alert]?) {
        add("<section id=alerts><h2>Alerts</h2>")
        guard let alerts else {
            add("<p>Summaries do not keep alerts, so a merged report has none: see each scan's <code>--alerts</code> output or report.</p></section>")
            return
        }
        if alerts.isEmpty { add("<p>No alert was raised.</p></section>"); return }
        var byRule: [String: (name: String, severity: Int, count: Int)] = [:]
        for a in alerts { byRule[a.ruleID, default: (a.ruleName, a.severity, 0)].count += 1 }
        let rules = byRule.keys.sorted { a, b in
            let x = byRule[a]?.severity ?? 0, y = byRule[b]?.severity ?? 0
            return x != y ? x > y : a < b
        }
        add("<p>" + rules.map { r in
            let e = byRule[r] ?? ("", 0, 0)
            return "<span class=\"tag sev-\(severityName(e.severity))\">\(e.count)</span> <code>\(htmlEscape(r))</code>"
        }.joined(separator: " &nbsp; ") + "</p>")
        // Highest severity first; within it, the order the scan raised them (input order, then rows).
        let ordered = alerts.enumerated().sorted { a, b in
            a.element.severity != b.element.severity ? a.element.severity > b.element.severity : a.offset < b.offset
        }.map(\.element)
        add("<table><thead><tr><th>Severity</th><th>Rule</th><th>User</th><th>Service</th><th>When (UTC)</th>"
            + "<th>What happened and evidence</th></tr></thead><tbody>")
        for a in ordered.prefix(Self.maxAlerts) {
            let sev = severityName(a.severity)
            var evidence = a.evidence.prefix(AggregateValue.maxEvidence).map { "<li><code>\(htmlEscape($0))</code></li>" }.joined()
            if a.evidence.count > AggregateValue.maxEvidence { evidence += "<li>…</li>" }
            let dest = [a.destinationDomain, a.destinationIP, a.country].compactMap { $0 }.joined(separator: " · ")
            add("<tr><td><span class=\"tag sev-\(sev)\">\(sev)</span></td><td><code>\(htmlEscape(a.ruleID))</code></td>"
                + "<td>\(htmlEscape(a.user))</td><td>\(htmlEscape(a.vendor)) <span class=note>\(htmlEscape(a.serviceID)) (\(htmlEscape(a.tier)))</span>"
                + (dest.isEmpty ? "" : "<br><span class=note>\(htmlEscape(dest))</span>") + "</td>"
                + "<td class=num>\(htmlEscape(short(a.windowStart)))</td>"
                + "<td>\(htmlEscape(a.message))<ul class=evidence>\(evidence)</ul></td></tr>")
        }
        add("</tbody></table>")
        more(alerts.count, shown: Self.maxAlerts, what: "alerts")
        add("</section>")
    }

    mutating func inputs(_ inputs: [InputReport]) {
        add("<section id=inputs><h2>Inputs</h2>")
        add("<table><thead><tr><th>File</th><th>Format</th><th class=num>Records</th><th class=num>Observations</th>"
            + "<th class=num>Matched</th><th class=num>Skipped</th><th>Notes</th></tr></thead><tbody>")
        for r in inputs {
            var notes: [String] = []
            if let e = r.error { notes.append("<b>not read:</b> \(htmlEscape(e))") }
            if !r.skippedSamples.isEmpty {
                notes.append("skipped, for example:<ul class=evidence>" + r.skippedSamples.map {
                    "<li><code>\(htmlEscape($0.location))</code>: \(htmlEscape($0.reason))</li>"
                }.joined() + "</ul>")
            }
            if let drops = r.drops, drops > 0 { notes.append("\(grouped(Int64(drops))) packets dropped") }
            for (k, v) in r.capsHit.sorted(by: { $0.key < $1.key }) { notes.append("limit <code>\(htmlEscape(k))</code> hit \(v)×") }
            for (k, v) in r.notAnalyzed.sorted(by: { $0.key < $1.key }) { notes.append("\(v) \(htmlEscape(k)) not analysed") }
            if !r.anomalySamples.isEmpty {
                let counts = r.anomalies.sorted(by: { $0.key < $1.key }).map { "<code>\(htmlEscape($0.key))</code> \($0.value)×" }
                notes.append("read despite oddities (\(counts.joined(separator: ", "))), for example:<ul class=evidence>"
                    + r.anomalySamples.map { "<li><code>\(htmlEscape($0.location))</code>: \(htmlEscape($0.reason))</li>" }.joined() + "</ul>")
            }
            add("<tr><td><code>\(htmlEscape(r.file))</code></td><td>\(htmlEscape(r.format))</td><td class=num>\(grouped(Int64(r.records)))</td>"
                + "<td class=num>\(grouped(Int64(r.observations)))</td><td class=num>\(grouped(Int64(r.matched)))</td>"
                + "<td class=num>\(grouped(Int64(r.skipped)))</td><td>\(notes.joined(separator: "<br>"))</td></tr>")
        }
        add("</tbody></table></section>")
    }

    mutating func footer(context: SummaryContext) {
        add("<footer>")
        add("<p>Bytes up are the sizes the sources measured; “unknown” counts connections whose source did not say "
            + "(a native Squid log has no request size). Only hosts in the signature catalog are counted.</p>")
        if let credit = context.geoip?.attribution { add("<p>\(htmlEscape(credit))</p>") }
        add("</footer>")
        add("</main></body></html>")
    }
}
