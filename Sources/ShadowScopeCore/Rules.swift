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
        for (k, v) in aggregates.sorted where !v.weakOnly {
            guard let dayStart = Timestamp(rfc3339: k.day + "T00:00:00Z") else { continue }
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
                                    "\(k.user) used \(what) \(v.offHoursConnections) time(s) outside \(policy.hours.description) on \(k.day)"))
            }
            if v.connections > 0, policy.regionAllowed(Region(country: v.country, how: v.how)) == false {
                alerts.append(alert("region-not-allowed", "Data sent to a region outside the allowed ones", Severity.medium,
                                    "\(k.user) sent data to \(what) in \(v.country ?? "?") (\(v.how.rawValue)) on \(k.day); allowed: \(policy.allowedRegions.sorted().joined(separator: ", "))"))
            }
        }
        return alerts
    }
}
