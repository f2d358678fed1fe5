import Foundation
import ShadowScopeCore
import Yams

/// Reads a policy file (`--policy FILE`, YAML); every problem names the file and line.
///
/// ```yaml
/// approved_services: [openai-api, microsoft-365-copilot]
/// approved_tiers: [business, api]        # for every vendor, or only approved_vendors
/// approved_vendors: [Microsoft]
/// allowed_regions: [EU, US]              # country codes or EU (the EU/EEA)
/// business_hours: { start: 8, end: 18, days: [mon, tue, wed, thu, fri], time_zone: Europe/Berlin }
/// thresholds: { upload_connection_bytes: 52428800, upload_day_bytes: 209715200 }
/// unusual_upload: { factor: 3, min_bytes: 10485760, min_history_days: 5, lookback_days: 30 }
/// ```
public enum PolicyLoader {
    public static func load(path: String, catalog: Catalog) throws(CatalogErrors) -> Policy {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CatalogErrors(errors: [CatalogError(location: CatalogLocation(file: path, line: 0), message: "cannot read the policy file")])
        }
        return try load(text: String(decoding: data, as: UTF8.self), file: path, catalog: catalog)
    }

    public static func load(text: String, file: String, catalog: Catalog) throws(CatalogErrors) -> Policy {
        var errors: [CatalogError] = []
        func fail(_ node: Node?, _ message: String) {
            errors.append(CatalogError(location: CatalogLocation(file: file, line: node?.mark?.line ?? 0), message: message))
        }
        var policy = Policy()
        policy.source = file
        if let refusal = YAMLShape.check(text) {
            throw CatalogErrors(errors: [CatalogError(location: CatalogLocation(file: file, line: refusal.line), message: refusal.message)])
        }
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch {
            throw CatalogErrors(errors: [CatalogError(location: CatalogLocation(file: file, line: 0), message: "YAML syntax: \(error)")])
        }
        guard let root else { return policy }
        guard case .mapping(let map) = root else {
            throw CatalogErrors(errors: [CatalogError(location: CatalogLocation(file: file, line: root.mark?.line ?? 0), message: "a policy is a mapping of keys to values")])
        }
        let serviceIDs = Set(catalog.services.map(\.id))
        let vendors = Set(catalog.vendors.map(\.name))
        func strings(_ node: Node, _ key: String) -> [(String, Node)] {
            guard case .sequence(let seq) = node else { fail(node, "'\(key)' must be a list"); return [] }
            return seq.compactMap { item in
                if case .scalar(let s) = item, !s.string.isEmpty { return (s.string, item) }
                fail(item, "'\(key)' items must be strings")
                return nil
            }
        }
        func int(_ node: Node, _ key: String, _ range: ClosedRange<Int64>) -> Int64? {
            // Decimal digits (underscores allowed as in 10_000_000), read with overflow checks. Not Yams'
            // `Node.int`: it also reads YAML 1.1 base-60 numbers (`1:30`) and traps when one overflows.
            let text = node.scalar.map { $0.string.replacingOccurrences(of: "_", with: "") } ?? ""
            guard let v = Int64(text), range.contains(v) else {
                fail(node, "'\(key)' must be a whole number in \(range.lowerBound)...\(range.upperBound)")
                return nil
            }
            return v
        }
        for (k, v) in map {
            let key = k.string ?? ""
            switch key {
            case "approved_services":
                for (id, node) in strings(v, key) {
                    if serviceIDs.contains(id) { policy.approvedServices.insert(id) } else { fail(node, "unknown service id '\(id)' (see `shadowscope signatures match`)") }
                }
            case "approved_tiers":
                for (t, node) in strings(v, key) {
                    if Tier(rawValue: t) != nil { policy.approvedTiers.insert(t) } else { fail(node, "tier '\(t)' is not one of consumer, business, api") }
                }
            case "approved_vendors":
                for (name, node) in strings(v, key) {
                    if vendors.contains(name) { policy.approvedVendors.insert(name) } else { fail(node, "unknown vendor '\(name)'") }
                }
            case "allowed_regions":
                for (r, node) in strings(v, key) {
                    if r == "EU" || (r.count == 2 && r.allSatisfy { $0.isASCII && $0.isUppercase }) { policy.allowedRegions.insert(r) } else {
                        fail(node, "region '\(r)' must be an ISO 3166 country code or EU")
                    }
                }
            case "business_hours":
                guard case .mapping(let h) = v else { fail(v, "business_hours must be a mapping"); continue }
                for (hk, hv) in h {
                    switch hk.string ?? "" {
                    case "start": if let n = int(hv, "start", 0...23) { policy.hours.startHour = Int(n) }
                    case "end": if let n = int(hv, "end", 1...24) { policy.hours.endHour = Int(n) }
                    case "days":
                        let names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
                        var days = Set<Int>()
                        for (d, node) in strings(hv, "days") {
                            if let i = names.firstIndex(of: d.lowercased()) { days.insert(i) } else { fail(node, "day '\(d)' is not one of \(names.joined(separator: ", "))") }
                        }
                        policy.hours.weekdays = days
                    case "time_zone":
                        guard let name = hv.string, let zone = TimeZone(identifier: name) else {
                            fail(hv, "time_zone must be an IANA name such as Europe/Berlin or UTC")
                            continue
                        }
                        policy.hours.zoneName = name
                        policy.hours.offsetAt = { @Sendable t in
                            Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(t.seconds))))
                        }
                    default:
                        fail(hk, "unknown key '\(hk.string ?? "")' in business_hours (allowed: start, end, days, time_zone)")
                    }
                }
            case "thresholds":
                guard case .mapping(let t) = v else { fail(v, "thresholds must be a mapping"); continue }
                for (tk, tv) in t {
                    switch tk.string ?? "" {
                    case "upload_connection_bytes": if let n = int(tv, "upload_connection_bytes", 1...Int64.max) { policy.largeUploadConnectionBytes = n }
                    case "upload_day_bytes": if let n = int(tv, "upload_day_bytes", 1...Int64.max) { policy.largeUploadDayBytes = n }
                    default: fail(tk, "unknown key '\(tk.string ?? "")' in thresholds (allowed: upload_connection_bytes, upload_day_bytes)")
                    }
                }
            case "unusual_upload":
                guard case .mapping(let u) = v else { fail(v, "unusual_upload must be a mapping"); continue }
                for (uk, uv) in u {
                    switch uk.string ?? "" {
                    case "factor":
                        guard let f = uv.float, f > 0, f <= 1000 else { fail(uv, "'factor' must be a number in 0...1000"); continue }
                        policy.unusualUpload.factor = f
                    case "min_bytes": if let n = int(uv, "min_bytes", 0...Int64.max) { policy.unusualUpload.minBytes = n }
                    case "min_history_days": if let n = int(uv, "min_history_days", 1...366) { policy.unusualUpload.minHistoryDays = Int(n) }
                    case "lookback_days": if let n = int(uv, "lookback_days", 1...366) { policy.unusualUpload.lookbackDays = Int(n) }
                    default: fail(uk, "unknown key '\(uk.string ?? "")' in unusual_upload (allowed: factor, min_bytes, min_history_days, lookback_days)")
                    }
                }
            default:
                fail(k, "unknown key '\(key)' (allowed: approved_services, approved_tiers, approved_vendors, allowed_regions, business_hours, thresholds, unusual_upload)")
            }
        }
        if policy.hours.endHour <= policy.hours.startHour {
            errors.append(CatalogError(location: CatalogLocation(file: file, line: 0), message: "business_hours: end must be after start"))
        }
        guard errors.isEmpty else { throw CatalogErrors(errors: errors) }
        return policy
    }
}
