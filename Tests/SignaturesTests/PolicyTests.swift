import ShadowScopeCore
import TestSupport
import XCTest

@testable import Signatures

final class PolicyLoaderTests: XCTestCase {
    func catalog() throws -> Catalog { try CatalogLoader.load(directory: TestPaths.signatures) }

    func testTheCommentedExamplePolicyLoads() throws {
        let p = try PolicyLoader.load(path: TestPaths.fixture("policy.yaml"), catalog: catalog())
        XCTAssertEqual(p.approvedServices, ["microsoft-365-copilot", "microsoft-github-copilot-business"])
        XCTAssertTrue(p.isApproved(serviceID: "openai-api", vendor: "OpenAI", tier: "api"))
        XCTAssertFalse(p.isApproved(serviceID: "openai-chatgpt", vendor: "OpenAI", tier: "consumer"))
        XCTAssertFalse(p.isApproved(serviceID: "deepseek-api", vendor: "DeepSeek", tier: "api"), "api tier approved for two vendors only")
        XCTAssertEqual(p.allowedRegions, ["EU", "US"])
        XCTAssertEqual(p.largeUploadConnectionBytes, 100_000)
        var unusual = UnusualUploadPolicy()
        (unusual.factor, unusual.minBytes, unusual.minHistoryDays, unusual.lookbackDays) = (3, 10_485_760, 5, 30)
        XCTAssertEqual(p.unusualUpload, unusual)
        // Europe/Berlin: 2026-11-25 07:30 UTC is 08:30 local (CET, UTC+1): inside business hours.
        XCTAssertFalse(p.hours.isOffHours(Timestamp(rfc3339: "2026-11-25T07:30:00Z")!))
        XCTAssertTrue(p.hours.isOffHours(Timestamp(rfc3339: "2026-11-25T17:30:00Z")!), "18:30 in Berlin")
        // Summer time: 2026-07-01 06:30 UTC is 08:30 CEST.
        XCTAssertFalse(p.hours.isOffHours(Timestamp(rfc3339: "2026-07-01T06:30:00Z")!))
    }

    /// Whole numbers are decimal, with optional underscores; a YAML 1.1 base-60 number (`1:30`) is an
    /// error that names file and line, and one too large for 64 bits is refused, never a trap (Yams'
    /// own reading of `709111111111055555:5` overflowed: found by FuzzPolicy).
    func testWholeNumbersAreDecimalAndOverflowIsAnError() throws {
        let ok = try PolicyLoader.load(text: "thresholds: {upload_day_bytes: 50_000_000}\nbusiness_hours: {start: 7, end: +19}\n",
                                       file: "p.yaml", catalog: catalog())
        XCTAssertEqual(ok.largeUploadDayBytes, 50_000_000)
        XCTAssertEqual(ok.hours.startHour, 7)
        XCTAssertEqual(ok.hours.endHour, 19)
        let text = "business_hours:\n start: 709111111111055555:5\n end: 1:30\nthresholds: {upload_day_bytes: 99999999999999999999}\n"
        XCTAssertThrowsError(try PolicyLoader.load(text: text, file: "p.yaml", catalog: catalog())) { error in
            XCTAssertEqual((error as? CatalogErrors)?.errors.map(\.description), [
                "p.yaml:2: 'start' must be a whole number in 0...23",
                "p.yaml:3: 'end' must be a whole number in 1...24",
                "p.yaml:4: 'upload_day_bytes' must be a whole number in 1...9223372036854775807",
            ])
        }
    }

    /// The policy loader refuses list keys and aliases before Yams composes the file, as the catalog
    /// loader does (Yams takes exponential time on nested duplicate keys and on aliases of aliases).
    func testListKeysAndAliasesAreRefusedWithTheLine() throws {
        for (text, expected) in [
            ("thresholds: {upload_day_bytes: 5}\n[[[x]], a]: 1\n", "p.yaml:2: mapping keys must be plain strings, not lists or mappings"),
            ("approved_services: &ids [openai-api]\napproved_vendors: *ids\n", "p.yaml:2: aliases (*name) are not allowed; write the value out"),
        ] {
            XCTAssertThrowsError(try PolicyLoader.load(text: text, file: "p.yaml", catalog: catalog())) { error in
                XCTAssertEqual((error as? CatalogErrors)?.errors.map(\.description), [expected])
            }
        }
    }

    func testErrorsNameFileAndLine() throws {
        let text = "approved_services: [openai-api, no-such-service]\nallowed_regions: [Europe]\nbusiness_hours: {start: 25}\nthreshold: 1\nunusual_upload: {factor: -1, lookback_days: 400, median: 2}\n"
        XCTAssertThrowsError(try PolicyLoader.load(text: text, file: "p.yaml", catalog: catalog())) { error in
            XCTAssertEqual((error as? CatalogErrors)?.errors.map(\.description), [
                "p.yaml:1: unknown service id 'no-such-service' (see `shadowscope signatures match`)",
                "p.yaml:2: region 'Europe' must be an ISO 3166 country code or EU",
                "p.yaml:3: 'start' must be a whole number in 0...23",
                "p.yaml:4: unknown key 'threshold' (allowed: approved_services, approved_tiers, approved_vendors, allowed_regions, business_hours, thresholds, unusual_upload)",
                "p.yaml:5: 'factor' must be a number in 0...1000",
                "p.yaml:5: 'lookback_days' must be a whole number in 1...366",
                "p.yaml:5: unknown key 'median' in unusual_upload (allowed: factor, min_bytes, min_history_days, lookback_days)",
            ])
        }
    }
}

final class RulesTests: XCTestCase {
    func match(_ id: String, vendor: String, tier: String, evidence: ServiceMatch.Evidence = .strong) -> ServiceMatch {
        ServiceMatch(serviceID: id, vendor: vendor, service: id, tier: tier, category: "chat-assistant", tierInName: false, evidence: evidence)
    }

    func rules(_ policy: Policy) -> Rules {
        Rules(policy: policy, tiersByVendor: ["OpenAI": [("openai-chatgpt", "consumer"), ("openai-api", "api")]])
    }

    func observation(up: Int64, at iso: String = "2026-11-25T12:00:00Z") -> Observation {
        var o = Observation(timestamp: Timestamp(rfc3339: iso)!, source: SourceRef(file: "f.pcap", position: .frame(7)))
        o.hostSource = .tlsSNI
        o.bytesUp = up
        o.bytesDown = 10
        return o
    }

    func testEachDayRuleFiresOnItsCondition() {
        var policy = Policy()
        policy.approvedTiers = ["api"]
        policy.approvedVendors = ["OpenAI"]
        policy.allowedRegions = ["EU"]
        policy.largeUploadDayBytes = 1_000
        var a = Aggregates()
        let chatgpt = Attribution(match: match("openai-chatgpt", vendor: "OpenAI", tier: "consumer"), user: "alice", region: Region(country: "US", how: .geoip))
        let api = Attribution(match: match("openai-api", vendor: "OpenAI", tier: "api"), user: "alice", region: Region(country: "DE", how: .geoip))
        let cdn = Attribution(match: match("openai-chatgpt", vendor: "OpenAI", tier: "consumer", evidence: .weak), user: "bob", region: .unknown)
        a.add(observation(up: 600), chatgpt, policy: policy)
        a.add(observation(up: 600, at: "2026-11-25T22:00:00Z"), chatgpt, policy: policy)
        a.add(observation(up: 5), api, policy: policy)
        a.add(observation(up: 5_000_000), cdn, policy: policy)
        let alerts = rules(policy).check(a)
        XCTAssertEqual(alerts.map(\.ruleID), ["consumer-tier-instead-of-approved", "large-upload-day", "off-hours-use", "region-not-allowed"])
        XCTAssertTrue(alerts.allSatisfy { $0.user == "alice" && $0.serviceID == "openai-chatgpt" }, "weak evidence alone never alerts")
        XCTAssertEqual(alerts[1].uploadBytes, 1_200)
        XCTAssertEqual(alerts[0].windowStart, Timestamp(rfc3339: "2026-11-25T00:00:00Z"))
        XCTAssertEqual(alerts[0].evidence, ["f.pcap:7"])
    }

    func testLargeUploadConnectionAboveThresholdOnly() {
        var policy = Policy()
        policy.largeUploadConnectionBytes = 100_000
        let att = Attribution(match: match("openai-api", vendor: "OpenAI", tier: "api"), user: "u", region: .unknown)
        XCTAssertNil(rules(policy).check(observation(up: 100_000), att))
        XCTAssertEqual(rules(policy).check(observation(up: 100_001), att)?.ruleID, "large-upload-connection")
    }
}
