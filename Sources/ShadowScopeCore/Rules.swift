/// An alert a rule raised (DESIGN.md "Alert"); `Output` writes it with ECS field names and derives
/// its id from `idMaterial`, so the same input always gives the same ids.
public struct Alert: Sendable, Equatable {
    public var ruleID: String
    public var ruleName: String
    /// ECS `event.severity`: 21 low, 47 medium, 73 high.
    public var severity: Int
    public var message: String
    public var user: String
    public var sourceIP: String?
    public var destinationDomain: String?
    public var destinationIP: String?
    public var country: String?
    public var uploadBytes: Int64?
    public var downloadBytes: Int64?
    public var serviceID: String
    public var vendor: String
    public var tier: String
    public var windowStart: Timestamp
    public var windowEnd: Timestamp
    public var evidence: [String]

    public init(ruleID: String, ruleName: String, severity: Int, message: String, user: String, sourceIP: String? = nil,
                destinationDomain: String? = nil, destinationIP: String? = nil, country: String? = nil, uploadBytes: Int64? = nil,
                downloadBytes: Int64? = nil, serviceID: String, vendor: String, tier: String, windowStart: Timestamp,
                windowEnd: Timestamp, evidence: [String]) {
        self.ruleID = ruleID
        self.ruleName = ruleName
        self.severity = severity
        self.message = message
        self.user = user
        self.sourceIP = sourceIP
        self.destinationDomain = destinationDomain
        self.destinationIP = destinationIP
        self.country = country
        self.uploadBytes = uploadBytes
        self.downloadBytes = downloadBytes
        self.serviceID = serviceID
        self.vendor = vendor
        self.tier = tier
        self.windowStart = windowStart
        self.windowEnd = windowEnd
        self.evidence = evidence
    }

    /// Rule, user, service and window: what makes two alerts the same alert.
    public var idMaterial: String {
        "\(ruleID)|\(user)|\(serviceID)|\(windowStart.microseconds)|\(windowEnd.microseconds)"
    }
}

public enum Severity {
    public static let low = 21
    public static let medium = 47
    public static let high = 73
}

/// The rules. Per-connection rules look at each observation; per-day rules at the aggregates when
/// the input ends. Weak evidence (CDNs, logins) never raises an alert alone.
public struct Rules: Sendable {
    public var policy: Policy
    /// Every service of each vendor with its tier, to tell "consumer tier while a business tier is approved".
    public var tiersByVendor: [String: [(id: String, tier: String)]]

    public init(policy: Policy, tiersByVendor: [String: [(id: String, tier: String)]]) {
        self.policy = policy
        self.tiersByVendor = tiersByVendor
    }

    /// `large-upload-connection`: one connection to an AI service uploading more than the threshold.
    public func check(_ o: Observation, _ a: Attribution) -> Alert? {
        guard let m = a.match, m.evidence == .strong, let up = o.bytesUp, up > policy.largeUploadConnectionBytes,
              o.hostSource != .dnsQuery else { return nil }
        let end = Timestamp(microseconds: o.timestamp.microseconds + (o.durationMs ?? 0) * 1000)
        return Alert(ruleID: "large-upload-connection", ruleName: "Large upload to an AI service in one connection",
                     severity: Severity.high,
                     message: "\(a.user) uploaded \(up) bytes to \(m.vendor) \(m.service) (\(m.tier)) in one connection",
                     user: a.user, sourceIP: o.clientIP?.description ?? o.clientName, destinationDomain: o.host,
                     destinationIP: o.serverIP?.description, country: a.region.country, uploadBytes: up, downloadBytes: o.bytesDown,
                     serviceID: m.serviceID, vendor: m.vendor, tier: m.tier, windowStart: o.timestamp, windowEnd: end,
                     evidence: [o.source.description])
    }

    /// The per-day rules over the aggregates, in row order.
    public func check(_ aggregates: Aggregates) -> [Alert] {
        var alerts: [Alert] = []
        var lastDay: (text: String, start: Timestamp?) = ("", nil)  // rows come sorted by day: parse each day once
        let hoursText = policy.hours.description, allowedText = policy.allowedRegions.sorted().joined(separator: ", ")
        for (k, v) in aggregates.sorted where !v.weakOnly {
            if k.day != lastDay.text { lastDay = (k.day, Timestamp(rfc3339: k.day + "T00:00:00Z")) }
            guard let dayStart = lastDay.start else { continue }
            let dayEnd = Timestamp(microseconds: dayStart.microseconds + 86_400_000_000)
            func alert(_ id: String, _ name: String, _ severity: Int, _ message: String) -> Alert {
                Alert(ruleID: id, ruleName: name, severity: severity, message: message, user: k.user, sourceIP: nil,
                      destinationDomain: nil, destinationIP: nil, country: v.country,
                      uploadBytes: v.bytesUpUnknown == v.connections ? nil : v.bytesUp,
                      downloadBytes: v.bytesDownUnknown == v.connections ? nil : v.bytesDown,
                      serviceID: k.serviceID, vendor: v.match.vendor, tier: v.match.tier, windowStart: dayStart, windowEnd: dayEnd,
                      evidence: v.evidence)
            }
            let what = "\(v.match.vendor) \(v.match.service) (\(v.match.tier))"
            if !v.approved {
                if v.match.tier == "consumer",
                   policy.approvesBusinessTier(ofVendor: v.match.vendor, catalogTiers: tiersByVendor[v.match.vendor] ?? []) {
                    alerts.append(alert("consumer-tier-instead-of-approved", "Consumer tier used where a business tier is approved",
                                        Severity.high, "\(k.user) used \(what) on \(k.day) although the vendor's business tier is approved"))
                } else {
                    alerts.append(alert("unapproved-service", "Use of an unapproved AI service", Severity.medium,
                                        "\(k.user) used \(what), which is not approved, on \(k.day) (\(v.connections) connections, \(v.lookups) lookups)"))
                }
            }
            if v.bytesUp > policy.largeUploadDayBytes {
                alerts.append(alert("large-upload-day", "Large daily upload to an AI service", Severity.high,
                                    "\(k.user) uploaded \(v.bytesUp) bytes to \(what) on \(k.day)"))
            }
            if v.offHoursConnections > 0 {
                alerts.append(alert("off-hours-use", "AI service used outside business hours", Severity.low,
                                    "\(k.user) used \(what) \(v.offHoursConnections) time(s) outside \(hoursText) on \(k.day)"))
            }
            if v.connections > 0, policy.regionAllowed(Region(country: v.country, how: v.how)) == false {
                alerts.append(alert("region-not-allowed", "Data sent to a region outside the allowed ones", Severity.medium,
                                    "\(k.user) sent data to \(what) in \(v.country ?? "?") (\(v.how.rawValue)) on \(k.day); allowed: \(allowedText)"))
            }
        }
        return alerts
    }

    /// The rules that compare with the past. `past` holds what came before this input (from
    /// `--state`, without this input's own earlier contribution); this input's earlier days count as
    /// history for its later ones. `firstSeen` is raised only when `past` is the organisation's
    /// history (`--state`): without it every service of the input would look new.
    public func check(_ aggregates: Aggregates, past: UsageHistory, firstSeen: Bool) -> [Alert] {
        var history = past
        history.add(aggregates)
        var alerts: [Alert] = []
        // unusual-upload: one user's day, all AI services together, against that user's own days.
        var dayTotals: [String: [String: (bytes: Int64, top: (key: AggregateKey, value: AggregateValue)?)]] = [:]
        for (k, v) in aggregates.sorted where !v.weakOnly && v.connections > 0 {
            var entry = dayTotals[k.user, default: [:]][k.day] ?? (0, nil)
            entry.bytes += v.bytesUp
            if v.bytesUp > entry.top?.value.bytesUp ?? -1 { entry.top = (k, v) }
            dayTotals[k.user, default: [:]][k.day] = entry
        }
        let u = policy.unusualUpload
        for user in dayTotals.keys.sorted() {
            for (day, entry) in dayTotals[user, default: [:]].sorted(by: { $0.key < $1.key }) {
                guard entry.bytes >= u.minBytes, let top = entry.top, let from = shiftDay(day, by: -u.lookbackDays) else { continue }
                let days = history.coveredDays.filter { $0 >= from && $0 < day }
                guard days.count >= u.minHistoryDays else { continue }
                let values = days.map { history.uploads[user]?[$0] ?? 0 }
                let m = UploadStatistics.median(values)
                let threshold = m + u.factor * UploadStatistics.spread(values, median: m)
                guard Double(entry.bytes) > threshold else { continue }
                guard let start = Timestamp(rfc3339: day + "T00:00:00Z") else { continue }
                let v = top.value
                alerts.append(Alert(
                    ruleID: "unusual-upload", ruleName: "Unusual upload volume for this user", severity: Severity.medium,
                    message: "\(user) uploaded \(entry.bytes) bytes to AI services on \(day), above \(Int64(threshold)) (median \(Int64(m)) of \(days.count) earlier days); most to \(v.match.vendor) \(v.match.service) (\(v.match.tier))",
                    user: user, sourceIP: nil, destinationDomain: nil, destinationIP: nil, country: v.country,
                    uploadBytes: entry.bytes, downloadBytes: nil, serviceID: top.key.serviceID, vendor: v.match.vendor,
                    tier: v.match.tier, windowStart: start, windowEnd: Timestamp(microseconds: start.microseconds + 86_400_000_000),
                    evidence: v.evidence))
            }
        }
        guard firstSeen else { return alerts }
        // first-seen: a service this input uses that the organisation's history has not seen before.
        var earliest: [String: (key: AggregateKey, value: AggregateValue)] = [:]
        for (k, v) in aggregates.sorted where !v.weakOnly {
            if let e = earliest[k.serviceID], (e.value.firstSeen.microseconds, e.key.user) <= (v.firstSeen.microseconds, k.user) { continue }
            earliest[k.serviceID] = (k, v)
        }
        for (id, row) in earliest.sorted(by: { $0.key < $1.key }) {
            if let known = past.firstSeen[id], known.at.microseconds <= row.value.firstSeen.microseconds { continue }
            let v = row.value
            guard let start = Timestamp(rfc3339: row.key.day + "T00:00:00Z") else { continue }
            alerts.append(Alert(
                ruleID: "first-seen", ruleName: "AI service seen for the first time in the organisation", severity: Severity.low,
                message: "\(v.match.vendor) \(v.match.service) (\(v.match.tier)) was used for the first time in the organisation, by \(row.key.user) at \(v.firstSeen.rfc3339)",
                user: row.key.user, sourceIP: nil, destinationDomain: nil, destinationIP: nil, country: v.country,
                uploadBytes: nil, downloadBytes: nil, serviceID: id, vendor: v.match.vendor, tier: v.match.tier,
                windowStart: start, windowEnd: Timestamp(microseconds: start.microseconds + 86_400_000_000),
                evidence: v.evidence))
        }
        return alerts
    }
}
