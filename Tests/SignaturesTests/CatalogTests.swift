import ShadowScopeCore
import TestSupport
import XCTest

@testable import Signatures

final class BundledCatalogTests: XCTestCase {
    func testBundledCatalogLoadsWithoutErrors() throws {
        let catalog = try CatalogLoader.load(directory: TestPaths.signatures)
        XCTAssertGreaterThanOrEqual(catalog.vendors.count, 5)
        for service in catalog.services {
            XCTAssertFalse(service.source.isEmpty, service.id)
            for host in service.hosts { XCTAssertTrue(host.source.hasPrefix("https://"), "\(service.id) \(host.pattern)") }
        }
    }

    /// Consumer and API tiers of the same vendor are told apart by host.
    func testConsumerAndAPITiersAreToldApart() throws {
        let matcher = HostMatcher(catalog: try CatalogLoader.load(directory: TestPaths.signatures))
        let expected: [(String, String, String)] = [
            ("chatgpt.com", "openai-chatgpt", "consumer"),
            ("api.openai.com", "openai-api", "api"),
            ("claude.ai", "anthropic-claude", "consumer"),
            ("api.anthropic.com", "anthropic-api", "api"),
            ("gemini.google.com", "google-gemini-app", "consumer"),
            ("generativelanguage.googleapis.com", "google-gemini-api", "api"),
            ("copilot.microsoft.com", "microsoft-copilot", "consumer"),
            ("myres.openai.azure.com", "microsoft-azure-openai", "api"),
            ("chat.deepseek.com", "deepseek-chat", "consumer"),
            ("api.deepseek.com", "deepseek-api", "api"),
        ]
        for (host, id, tier) in expected {
            let m = matcher.match(host: host)
            XCTAssertEqual(m?.serviceID, id, host)
            XCTAssertEqual(m?.tier, tier, host)
        }
        XCTAssertNil(matcher.match(host: "www.example.org"))
        XCTAssertNil(matcher.match(host: "github.com"))
    }
}

final class HostMatcherTests: XCTestCase {
    let yaml = """
        vendor: Example AI
        vendor_id: example
        website: https://example.ai
        services:
          - id: example-chat
            name: Example Chat
            tier: consumer
            category: chat-assistant
            source: https://example.ai/chat
            hosts:
              - pattern: chat.example.ai
                source: https://example.ai/hosts
              - pattern: "*.example.ai"
                evidence: weak
                source: https://example.ai/hosts
          - id: example-business
            name: Example Business
            tier: business
            tier_in_name: true
            category: chat-assistant
            source: https://example.ai/business
            hosts:
              - pattern: "*.business.example.ai"
                source: https://example.ai/hosts
        """

    func matcher() throws -> HostMatcher {
        HostMatcher(catalog: try CatalogLoader.load(files: [("example.yaml", yaml)]))
    }

    func testExactHostMatches() throws {
        XCTAssertEqual(try matcher().match(host: "chat.example.ai")?.serviceID, "example-chat")
        XCTAssertEqual(try matcher().match(host: "chat.example.ai")?.evidence, .strong)
    }

    func testSuffixMatchesHostsStrictlyBelowOnly() throws {
        let m = try matcher()
        XCTAssertEqual(m.match(host: "cdn.example.ai")?.evidence, .weak)
        XCTAssertEqual(m.match(host: "a.b.c.example.ai")?.serviceID, "example-chat")
        XCTAssertNil(m.match(host: "example.ai"), "*.example.ai must not match example.ai itself")
        XCTAssertNil(m.match(host: "notexample.ai"), "a suffix matches only at a label boundary")
        XCTAssertNil(m.match(host: "example.ai.evil.com"))
    }

    func testLongestSuffixWins() throws {
        let m = try matcher()
        XCTAssertEqual(m.match(host: "acme.business.example.ai")?.serviceID, "example-business")
        XCTAssertEqual(m.match(host: "acme.business.example.ai")?.tierInName, true)
        XCTAssertEqual(m.match(host: "business.example.ai")?.serviceID, "example-chat")
    }

    func testEmptyAndOddHostsDoNotMatch() throws {
        let m = try matcher()
        for host in ["", ".", "ai", "..example.ai"] where host != "..example.ai" {
            XCTAssertNil(m.match(host: host), host)
        }
    }
}

/// Every catalog error names the file and the line a person must fix.
final class MayMatchTests: XCTestCase {
    /// HostMatcher's own `mayMatch` (the log scanner's per-line test) answers as the definition does:
    /// true for a trailing dot (the caller parses the line fully); for a name in lower case, whether it
    /// matches; for one with upper case, true at least whenever its lower-case form matches (it may
    /// say true for more, never for less). Tried on every catalog host, their subdomains (short and
    /// over the 16 bytes the last-two-labels filter sees), near misses, and random names.
    func testMayMatchAgreesWithItsDefinition() throws {
        let catalog = try CatalogLoader.load(directory: TestPaths.signatures)
        let matcher = HostMatcher(catalog: catalog)
        var names = ["", ".", "a", "com", "ai", "openai.com.", "OpenAI.com", "api.OPENAI.com", "x.y", "..", "a..b", "claude.ai",
                     "CLAUDE.AI", "Api.Anthropic.Com", "chatgpt.com.evil", "openai.com.", "a.b.c.d.e.f.g.h.i.j.openai.com"]
        for service in catalog.services {
            for host in service.hosts {
                let text = host.pattern.replacingOccurrences(of: "*.", with: "").replacingOccurrences(of: "{region}", with: "eu-west-1")
                names += [text, "www." + text, text + ".evil.com", "x" + text, String(text.dropFirst()), text.uppercased(),
                          "a-rather-long-subdomain-label." + text, "x." + text.capitalized, "0123456789abcdef." + text]
            }
        }
        var rng = SystemRandomNumberGenerator()
        let letters = Array("abcdefghijklmnopqrstuvwxyz0123456789-.A".utf8)
        for _ in 0..<3_000 {
            names.append(String(decoding: (0..<Int.random(in: 1...30, using: &rng)).map { _ in letters.randomElement(using: &rng)! }, as: UTF8.self))
        }
        var upperKept = 0, rejected = 0
        let prefilter = try XCTUnwrap(matcher.hostPrefilter)
        for name in names {
            let bytes = Array(name.utf8)
            let may = bytes.withUnsafeBytes { matcher.mayMatch(rawHost: $0) }
            // The prefilter the log scanner asks inline turns a host away only when mayMatch would, and
            // only when no case of it matches.
            if bytes.withUnsafeBytes({ prefilter.rejects($0) }) {
                rejected += 1
                XCTAssertFalse(may, name)
                XCTAssertNil(Array(name.lowercased().utf8).withUnsafeBytes { matcher.match(bytes: $0) }, name)
            }
            if bytes.isEmpty || bytes.last == 0x2E {
                XCTAssertTrue(may, name)
            } else if bytes.contains(where: { (0x41...0x5A).contains($0) }) {
                let lower = Array(name.lowercased().utf8)
                if lower.withUnsafeBytes({ matcher.match(bytes: $0) }) != nil { XCTAssertTrue(may, name); upperKept += 1 }
            } else {
                XCTAssertEqual(may, bytes.withUnsafeBytes { matcher.match(bytes: $0) } != nil, name)
            }
        }
        XCTAssertGreaterThan(upperKept, 100)
        XCTAssertGreaterThan(rejected, 2_500, "most random names are turned away without a look-up")
    }

    /// The log scan's relevance check keeps the match it looked up (`RelevanceMemo`) for the
    /// attribution of the same record: it answers as `mayMatch`, and gives a match only for the host
    /// it was found for — the host's own match — whatever was asked in between, never for another.
    func testRelevanceMemoGivesOnlyTheMatchOfTheHostItWasFoundFor() throws {
        let matcher = HostMatcher(catalog: try CatalogLoader.load(directory: TestPaths.signatures))
        let memo = RelevanceMemo(matcher)
        let names = ["chatgpt.com", "api.openai.com", "example.com", "CLAUDE.AI", "claude.ai", "claude.ai.", "claude.a",
                     "laude.ai", "gemini.google.com", "", "x", "google.com", "chatgpt.com", "eu.api.openai.com",
                     String(repeating: "a.", count: 140) + "claude.ai"]
        var kept: String? = nil
        var given = 0
        for name in names {
            let bytes = Array(name.utf8)
            let (may, found) = bytes.withUnsafeBytes { matcher.relevance(rawHost: $0) }
            XCTAssertEqual(may, bytes.withUnsafeBytes { matcher.mayMatch(rawHost: $0) }, name)
            if let found { XCTAssertEqual(found, matcher.match(host: name), name) }
            XCTAssertEqual(bytes.withUnsafeBytes { memo.mayMatch(rawHost: $0) }, may, name)
            if found != nil && bytes.count <= 256 { kept = name }
            // Every name asked so far: the memo's answer is nil or that name's own match.
            for asked in names {
                guard let m = memo.match(for: asked) else { continue }
                XCTAssertEqual(asked, kept, "only the last host a check matched")
                XCTAssertEqual(m, matcher.match(host: asked), asked)
                given += 1
            }
        }
        XCTAssertGreaterThan(given, 5)
        XCTAssertNil(memo.match(for: "claude.ai."), "the same letters and more are another host")
    }

    /// The last-two-labels key is the same for a host as for the catalog name it ends in, at every
    /// length around the 8 and 16 bytes it loads, and folds case.
    func testLastTwoKeyOfAHostIsItsCatalogNamesKey() {
        func key(_ s: String) -> UInt64 { Array(s.utf8).withUnsafeBytes { lastTwoLabelsKey($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, $0.count) } }
        for length in 1...24 {
            let label = String(repeating: "q", count: length)
            for name in ["\(label).com", "ab.\(label)"] {
                XCTAssertEqual(key("www." + name), key(name), name)
                XCTAssertEqual(key("a.b.c.sub-domain-0123456789." + name), key(name), name)
                XCTAssertEqual(key(name.uppercased()), key(name), name)
            }
        }
        XCTAssertNotEqual(key("openai.com"), key("openai.co"))
        XCTAssertNotEqual(key("api.openai.com"), key("api.openai.org"))
    }

    /// The key read through a 16-byte window ending at the name (the bulk log counter's), and the
    /// prefilter asked that way, against the word-by-word key: every length to 40, dots anywhere (the
    /// last byte and the window's first included), any case, and other bytes before the name.
    func testWindowKeyIsTheWordByWordKey() {
        var rng = SystemRandomNumberGenerator()
        let letters = Array("ab.Z.q-0.".utf8)
        let prefilter = HostPrefilter(names: ["api.openai.com", "claude.ai", "b.q", "ab"])
        var rejected = 0, passed = 0
        for round in 0..<20_000 {
            let n = round % 41
            let name = (0..<n).map { _ in letters.randomElement(using: &rng)! }
            let before = (0..<Int.random(in: 0...20, using: &rng)).map { _ in letters.randomElement(using: &rng)! }
            let text = before + name + (0..<Int.random(in: 0...3, using: &rng)).map { _ in UInt8(0x20) }
            let end = before.count + n
            let scalar = name.withUnsafeBytes { lastTwoLabelsKey($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, n) }
            let expectedRejects = name.withUnsafeBytes { prefilter.rejects($0) }
            text.withUnsafeBytes { raw in
                if end >= 16 {
                    XCTAssertEqual(lastTwoLabelsKey(windowEndingAt: raw.baseAddress! + end, count: n), scalar,
                                   String(decoding: text, as: UTF8.self) + " / " + String(decoding: name, as: UTF8.self))
                }
                XCTAssertEqual(prefilter.rejects(raw.baseAddress!, from: before.count, to: end), expectedRejects)
            }
            if expectedRejects { rejected += 1 } else { passed += 1 }
        }
        XCTAssertGreaterThan(rejected, 1_000)
        XCTAssertGreaterThan(passed, 1_000)
    }
}

final class UpperCaseTestTests: XCTestCase {
    /// The eight-bytes-at-a-time upper-case test against the byte-by-byte definition, on every length up
    /// to 40 and bytes from the whole range (the edges 0x40, 0x41, 0x5A, 0x5B, and their high-bit twins).
    func testWordTestAgreesWithTheDefinition() {
        var rng = SystemRandomNumberGenerator()
        let edges: [UInt8] = [0x40, 0x41, 0x5A, 0x5B, 0x61, 0x7A, 0xC0, 0xC1, 0xDA, 0xDB, 0x00, 0xFF]
        for n in 0...40 {
            for _ in 0..<400 {
                let bytes = (0..<n).map { _ in Bool.random(using: &rng) ? edges.randomElement(using: &rng)! : UInt8.random(in: 0x61...0x7A, using: &rng) }
                let expected = bytes.contains { (0x41...0x5A).contains($0) }
                XCTAssertEqual(bytes.withUnsafeBytes { HostMatcher.hasUpperCase($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, n) }, expected, "\(bytes)")
            }
        }
    }
}

final class CatalogErrorTests: XCTestCase {
    func errors(_ files: [(String, String)]) -> [String] {
        do {
            _ = try CatalogLoader.load(files: files)
            return []
        } catch {
            return error.errors.map(\.description)
        }
    }

    let header = "vendor: Acme\nvendor_id: acme\nwebsite: https://acme.ai\nservices:\n"

    func service(id: String = "acme-chat", tier: String = "consumer", pattern: String = "chat.acme.ai",
                 extra: String = "", source: String = "    source: https://acme.ai\n") -> String {
        "  - id: \(id)\n    name: Acme\n    tier: \(tier)\n    category: chat-assistant\n" + source + extra
            + "    hosts:\n      - pattern: \"\(pattern)\"\n        source: https://acme.ai/hosts\n"
    }

    /// Parsed on several threads (`scan --jobs`), the catalog's files give the same catalog, and the
    /// same errors in the same file order, as on one.
    func testFilesParsedOnSeveralThreadsGiveTheSameCatalogAndErrors() throws {
        let one = try CatalogLoader.load(directory: TestPaths.signatures)
        let three = try CatalogLoader.load(directory: TestPaths.signatures, threads: 3)
        XCTAssertEqual(three.vendors.map(\.id), one.vendors.map(\.id))
        XCTAssertEqual(three.services.map { "\($0.id) \($0.hosts.map(\.pattern))" }, one.services.map { "\($0.id) \($0.hosts.map(\.pattern))" })
        let other = "vendor: Beta\nvendor_id: beta\nwebsite: https://beta.ai\nservices:\n"
            + service(id: "beta-chat").replacingOccurrences(of: "acme-chat", with: "beta-chat")
        let files = [("acme.yaml", header + service(extra: "    teir: api\n")), ("beta.yaml", other),
                     ("gamma.yaml", "vendor: [unclosed\n"), ("delta.yaml", header + service(pattern: "*.ai")),
                     ("epsilon.yaml", header + service(source: ""))]
        func errors(threads: Int) -> [String] {
            do {
                _ = try CatalogLoader.load(files: files, threads: threads)
                return []
            } catch {
                return error.errors.map(\.description)
            }
        }
        let serial = errors(threads: 1)
        // Each file's own errors in file order (beta.yaml has none of its own), then those across files.
        XCTAssertEqual(serial.map { String($0.prefix(while: { $0 != ":" })) },
                       ["acme.yaml", "gamma.yaml", "delta.yaml", "delta.yaml", "epsilon.yaml", "epsilon.yaml", "beta.yaml", "delta.yaml"])
        for threads in [2, 3, 8] { XCTAssertEqual(errors(threads: threads), serial, "\(threads) threads") }
    }

    func testUnknownKeyNamesFileAndLine() {
        XCTAssertEqual(errors([("acme.yaml", header + service(extra: "    teir: api\n"))]),
                       ["acme.yaml:10: unknown key 'teir' (allowed: category, hosts, id, name, processing_regions, regions_source, source, tier, tier_in_name, upload_paths)"])
    }

    func testServiceWithoutSourceIsAnError() {
        XCTAssertEqual(errors([("acme.yaml", header + service(source: ""))]),
                       ["acme.yaml:5: missing required key 'source'"])
    }

    func testInvalidPatternsAreRejectedWithLine() {
        let bad = errors([("acme.yaml", header + service(pattern: "*.ai"))])
        XCTAssertEqual(bad, ["acme.yaml:11: invalid host pattern '*.ai': a suffix pattern needs at least two labels after '*.' (no '*.com')"])
        XCTAssertEqual(errors([("acme.yaml", header + service(pattern: "Chat.Acme.ai"))]).first,
                       "acme.yaml:11: invalid host pattern 'Chat.Acme.ai': only lower-case a-z, 0-9, '-' and '_' are allowed")
        XCTAssertEqual(errors([("acme.yaml", header + service(pattern: "localhost"))]).first,
                       "acme.yaml:11: invalid host pattern 'localhost': a host needs at least two labels")
        XCTAssertEqual(errors([("acme.yaml", header + service(pattern: "chat.*.acme.ai"))]).first,
                       "acme.yaml:11: invalid host pattern 'chat.*.acme.ai': '*' is only allowed as the whole first label ('*.example.com')")
    }

    func testDuplicateHostAcrossFilesNamesBothPlaces() {
        let other = "vendor: Beta\nvendor_id: beta\nwebsite: https://beta.ai\nservices:\n"
            + service(id: "beta-chat").replacingOccurrences(of: "acme-chat", with: "beta-chat")
        XCTAssertEqual(errors([("acme.yaml", header + service()), ("beta.yaml", other)]),
                       ["beta.yaml:11: duplicate host pattern 'chat.acme.ai': already in acme-chat (consumer) at acme.yaml:11"])
    }

    func testConflictingTiersForOneHostAreReported() {
        let two = header + service() + service(id: "acme-api", tier: "api")
        XCTAssertEqual(errors([("acme.yaml", two)]),
                       ["acme.yaml:19: conflicting tiers for host pattern 'chat.acme.ai': already in acme-chat (consumer) at acme.yaml:11"])
    }

    /// `tier_in_name` is read as YAML 1.1 reads an unquoted boolean; anything else names its line.
    func testTierInNameTakesOnlyAnUnquotedBoolean() throws {
        for (text, value) in [("true", true), ("yes", true), ("ON", true), ("false", false), ("No", false)] {
            let catalog = try CatalogLoader.load(files: [("acme.yaml", header + service(extra: "    tier_in_name: \(text)\n"))])
            XCTAssertEqual(HostMatcher(catalog: catalog).match(host: "chat.acme.ai")?.tierInName, value, text)
        }
        for text in ["\"true\"", "'yes'", "1", "maybe", "tRUE"] {
            XCTAssertEqual(errors([("acme.yaml", header + service(extra: "    tier_in_name: \(text)\n"))]),
                           ["acme.yaml:10: tier_in_name must be true or false"], text)
        }
    }

    func testBadTierAndVendorFileNameMismatch() {
        XCTAssertEqual(errors([("acme.yaml", header + service(tier: "free"))]),
                       ["acme.yaml:7: tier 'free' is not one of consumer, business, api"])
        XCTAssertEqual(errors([("other.yaml", header + service())]),
                       ["other.yaml:2: vendor_id 'acme' must equal the file name 'other'"])
    }

    func testYAMLSyntaxErrorNamesLine() {
        let broken = header + service() + "  - id: [unclosed\n"
        let e = errors([("acme.yaml", broken)])
        XCTAssertEqual(e.count, 1)
        XCTAssertTrue(e[0].hasPrefix("acme.yaml:1"), e[0])
        XCTAssertTrue(e[0].contains("YAML syntax"), e[0])
    }

    /// Yams sorts duplicate keys with a `<` that compares nested lists twice per level, so four keys
    /// `[[[...z...]], a]` 40 deep took 2^40 steps (22 deep: 2.8 s); it hashes every key, so an alias of
    /// aliases as a key is walked in full (7 levels of ten: 1.6 s). Both shapes are refused first, with
    /// the line, in time linear in the file (found by FuzzCatalog).
    func testListKeysAndAliasesAreRefusedBeforeYamsSeesThem() {
        let deep = String(repeating: "[", count: 40) + "z" + String(repeating: "]", count: 40)
        let listKeys = header + ["a", "a", "b", "b"].map { "[\(deep), \($0)]: 1\n" }.joined()
        XCTAssertEqual(errors([("acme.yaml", listKeys)]), ["acme.yaml:5: mapping keys must be plain strings, not lists or mappings"])
        let explicitKey = header + service() + "? - - - nested\n: value\n"
        XCTAssertEqual(errors([("acme.yaml", explicitKey)]), ["acme.yaml:13: mapping keys must be plain strings, not lists or mappings"])
        let mappingKey = header + "{a: b}: c\n"
        XCTAssertEqual(errors([("acme.yaml", mappingKey)]), ["acme.yaml:5: mapping keys must be plain strings, not lists or mappings"])
        var laughs = header + "l0: &l0 [z, z, z, z, z, z, z, z, z, z]\n"
        for level in 1..<12 { laughs += "l\(level): &l\(level) [" + Array(repeating: "*l\(level - 1)", count: 10).joined(separator: ", ") + "]\n" }
        laughs += "*l11 : 1\n"
        XCTAssertEqual(errors([("acme.yaml", laughs)]), ["acme.yaml:6: aliases (*name) are not allowed; write the value out"])
    }

    /// The shape check refuses only lists and mappings as keys, and aliases: a scalar key written with
    /// `?`, an anchor without an alias and flow lists as values still load; syntax errors are left to Yams.
    func testScalarKeysAnchorsAndFlowValuesStillLoad() throws {
        let text = header + service(extra: "    processing_regions: [US, EU]\n    regions_source: &src https://acme.ai/regions\n")
            .replacingOccurrences(of: "    name: Acme\n", with: "    ? name\n    : Acme\n")
        let catalog = try CatalogLoader.load(files: [("acme.yaml", text)])
        XCTAssertEqual(catalog.services.map(\.id), ["acme-chat"])
        XCTAssertEqual(catalog.services.first?.name, "Acme")
        XCTAssertEqual(YAMLShape.check(""), nil)
        XCTAssertEqual(YAMLShape.check("a: [unclosed\n"), nil, "syntax errors are left to Yams, which names them")
    }

    func testProcessingRegionsNeedASource() {
        XCTAssertEqual(errors([("acme.yaml", header + service(extra: "    processing_regions: [US]\n"))]),
                       ["acme.yaml:10: processing_regions needs a regions_source URL"])
    }
}

final class RegionPatternTests: XCTestCase {
    let yaml = """
        vendor: Cloud
        vendor_id: cloud
        website: https://cloud.example
        region_codes:
          eu-central-1: DE
          us-east-1: US
          eu: EU
        region_codes_source: https://cloud.example/regions
        services:
          - id: cloud-models
            name: Cloud Models
            tier: api
            category: model-api
            source: https://cloud.example/models
            hosts:
              - pattern: "model-runtime.{region}.cloud.example"
                source: https://cloud.example/endpoints
              - pattern: "{region}-ai.cloudapis.example"
                source: https://cloud.example/endpoints
              - pattern: "{region}.api.cloud.example"
                source: https://cloud.example/endpoints
              - pattern: "*.cloud.example"
                evidence: weak
                source: https://cloud.example/endpoints
        """

    func matcher() throws -> HostMatcher {
        HostMatcher(catalog: try CatalogLoader.load(files: [("cloud.yaml", yaml)]))
    }

    func testRegionLabelBindsCountry() throws {
        let m = try matcher().match(host: "model-runtime.eu-central-1.cloud.example")
        XCTAssertEqual(m?.serviceID, "cloud-models")
        XCTAssertEqual(m?.regionToken, "eu-central-1")
        XCTAssertEqual(m?.regionCountry, "DE")
        XCTAssertEqual(m?.evidence, .strong, "a region pattern outranks the weak *.cloud.example")
    }

    func testRegionInsideALabel() throws {
        let m = try matcher().match(host: "us-east-1-ai.cloudapis.example")
        XCTAssertEqual(m?.regionToken, "us-east-1")
        XCTAssertEqual(m?.regionCountry, "US")
        XCTAssertEqual(try matcher().match(host: "eu.api.cloud.example")?.regionCountry, "EU")
    }

    func testUnknownRegionTokenStillMatchesWithoutCountry() throws {
        let m = try matcher().match(host: "model-runtime.mars-north-9.cloud.example")
        XCTAssertEqual(m?.serviceID, "cloud-models")
        XCTAssertEqual(m?.regionToken, "mars-north-9")
        XCTAssertNil(m?.regionCountry)
    }

    func testWrongLeftLabelsFallBackToSuffix() throws {
        let m = try matcher().match(host: "other.eu-central-1.cloud.example")
        XCTAssertEqual(m?.evidence, .weak)
        XCTAssertNil(m?.regionToken)
        XCTAssertNil(try matcher().match(host: "-ai.cloudapis.example"))
    }

    func testRegionPatternWithoutRegionCodesIsAnError() {
        let noCodes = yaml.replacingOccurrences(of: "region_codes:\n  eu-central-1: DE\n  us-east-1: US\n  eu: EU\nregion_codes_source: https://cloud.example/regions\n", with: "")
        XCTAssertThrowsError(try CatalogLoader.load(files: [("cloud.yaml", noCodes)])) { error in
            let text = (error as? CatalogErrors)?.description ?? ""
            XCTAssertTrue(text.contains("cloud.yaml:11: host pattern 'model-runtime.{region}.cloud.example' uses {region} but the vendor has no region_codes"), text)
        }
    }
}

final class HostPatternSyntaxTests: XCTestCase {
    /// `{region}` is counted on the bytes (no Foundation search): every occurrence, none inside a
    /// near miss, and the rules that depend on the count.
    func testRegionPlaceholdersAreCountedAndTheirRulesHold() {
        XCTAssertEqual(HostPatternSyntax.placeholders(in: ""), 0)
        XCTAssertEqual(HostPatternSyntax.placeholders(in: "{region}"), 1)
        XCTAssertEqual(HostPatternSyntax.placeholders(in: "{region}{region}"), 2)
        XCTAssertEqual(HostPatternSyntax.placeholders(in: "x{region}y.{region}.example.com"), 2)
        XCTAssertEqual(HostPatternSyntax.placeholders(in: "{regio}.{{region.region}"), 0)
        XCTAssertEqual(HostPatternSyntax.placeholders(in: "{{region}}"), 1)
        XCTAssertEqual(HostPatternSyntax.problem("{region}.{region}.example.com"), "{region} may appear only once")
        XCTAssertEqual(HostPatternSyntax.problem("*.{region}.example.com"), "a pattern is either '*.' or {region}, not both")
        XCTAssertEqual(HostPatternSyntax.problem("{region}.example"), "a region pattern needs at least two fixed labels right of the {region} label")
        XCTAssertNil(HostPatternSyntax.problem("ai-{region}.api.example.com"))
        XCTAssertEqual(HostPatternSyntax.problem("{regio}.example.com"), "the only placeholder is {region}")
        guard case .region(let left, let before, let after, let fixed) = HostPattern(
            pattern: "a.ai-{region}-x.api.example.com", evidence: .strong, source: "",
            location: CatalogLocation(file: "f", line: 1)).kind else { return XCTFail("not a region pattern") }
        XCTAssertEqual(left, ["a"])
        XCTAssertEqual([before, after, fixed], ["ai-", "-x", "api.example.com"])
    }
}
