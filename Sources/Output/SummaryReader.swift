import Foundation
import ShadowScopeCore

/// Reads a summary this tool wrote back into inputs and aggregates, so `shadowscope merge` can add
/// summaries of disjoint inputs (another day's file, another gateway) into the summary of the union.
public struct SummaryReader {
    public struct ReadError: Error, CustomStringConvertible {
        public var description: String
    }

    public var inputs: [InputReport] = []
    public var aggregates = Aggregates()
    public var geoip: GeoIPInfo?
    public var policySource: String?
    public var localTimes: String?

    public init(json data: Data, file: String) throws(ReadError) {
        guard let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ReadError(description: "\(file): not a JSON object")
        }
        guard root["schema"] as? String == summarySchema else {
            throw ReadError(description: "\(file): schema is not \(summarySchema)")
        }
        policySource = (root["assumptions"] as? [String: Any])?["policy"] as? String
        localTimes = (root["assumptions"] as? [String: Any])?["local_times"] as? String
        if let g = root["geoip"] as? [String: Any], let type = g["database"] as? String {
            geoip = GeoIPInfo(path: g["path"] as? String ?? "", databaseType: type,
                              buildEpoch: (g["build_epoch"] as? NSNumber)?.uint64Value ?? 0, attribution: g["attribution"] as? String)
        }
        for (n, i) in ((root["input"] as? [[String: Any]]) ?? []).enumerated() {
            guard let name = i["file"] as? String, let format = i["format"] as? String else {
                throw ReadError(description: "\(file): input \(n + 1) has no file or format")
            }
            var r = InputReport(file: name, format: format)
            r.error = i["error"] as? String
            r.records = i["records"] as? Int ?? 0
            r.observations = i["observations"] as? Int ?? 0
            r.matched = i["matched"] as? Int ?? 0
            r.skipped = i["skipped"] as? Int ?? 0
            r.skippedSamples = ((i["skipped_samples"] as? [[String: String]]) ?? []).map {
                InputReport.Sample(location: $0["at"] ?? "", reason: $0["reason"] ?? "")
            }
            r.packets = i["packets"] as? Int
            r.drops = i["drops"] as? Int
            r.capsHit = i["caps_hit"] as? [String: Int] ?? [:]
            r.notAnalyzed = i["not_analyzed"] as? [String: Int] ?? [:]
            r.anomalies = i["anomalies"] as? [String: Int] ?? [:]
            r.anomalySamples = ((i["anomaly_samples"] as? [[String: String]]) ?? []).map {
                InputReport.Sample(location: $0["at"] ?? "", reason: $0["reason"] ?? "")
            }
            inputs.append(r)
        }
        // Summaries written before `by_hour` existed have none: their hours count as zero.
        aggregates.addHourCounts(((root["by_hour"] as? [Int]) ?? []).map { Int64($0) })
        for (n, row) in ((root["aggregates"] as? [[String: Any]]) ?? []).enumerated() {
            guard let day = row["day"] as? String, let user = row["user"] as? String, let id = row["service_id"] as? String,
                  let region = row["region"] as? String, let first = (row["first_seen"] as? String).flatMap(Timestamp.init(rfc3339:)),
                  let last = (row["last_seen"] as? String).flatMap(Timestamp.init(rfc3339:)),
                  let how = (row["how"] as? String).flatMap(Region.How.init(rawValue:)) else {
                throw ReadError(description: "\(file): aggregate row \(n + 1) lacks a key field or a valid time")
            }
            var v = AggregateValue(
                firstSeen: first, lastSeen: last,
                match: ServiceMatchSummary(vendor: row["vendor"] as? String ?? "", service: row["service"] as? String ?? "",
                                           tier: row["tier"] as? String ?? "", category: row["category"] as? String ?? "",
                                           tierInName: row["tier_visible_in_name"] as? Bool ?? false),
                country: row["country"] as? String, how: how, approved: row["approved"] as? Bool ?? false)
            v.connections = Int64(row["connections"] as? Int ?? 0)
            v.lookups = Int64(row["lookups"] as? Int ?? 0)
            v.bytesUp = Int64(row["bytes_up"] as? Int ?? 0)
            v.bytesUpUnknown = Int64(row["bytes_up_unknown"] as? Int ?? 0)
            v.bytesDown = Int64(row["bytes_down"] as? Int ?? 0)
            v.bytesDownUnknown = Int64(row["bytes_down_unknown"] as? Int ?? 0)
            v.offHoursConnections = Int64(row["off_hours_connections"] as? Int ?? 0)
            v.weakOnly = row["weak_only"] as? Bool ?? false
            v.evidenceList = EvidenceList(normalizing: row["evidence"] as? [String] ?? [])
            aggregates.insert(AggregateKey(day: day, user: user, serviceID: id, region: region), v)
        }
    }
}
