import Foundation
import ShadowScopeCore
import Yams

/// Reads `signatures/*.yaml` (one file per vendor), checks every rule of the schema and reports
/// each problem with its file and line. Unknown keys are errors, so a typo never passes silently.
public enum CatalogLoader {
    /// `threads`: files parsed at once (a scan's `--jobs`); the catalog and its errors do not depend on it.
    public static func load(directory: String, threads: Int = 1) throws(CatalogErrors) -> Catalog {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue else {
            throw CatalogErrors(errors: [CatalogError(location: CatalogLocation(file: directory, line: 0),
                                                      message: "not a directory")])
        }
        let names = ((try? fm.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }
            .sorted()
        var files: [(path: String, text: String)] = []
        var errors: [CatalogError] = []
        for name in names {
            let path = (directory as NSString).appendingPathComponent(name)
            guard let data = fm.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                errors.append(CatalogError(location: CatalogLocation(file: path, line: 0), message: "cannot read file as UTF-8"))
                continue
            }
            files.append((path, text))
        }
        if files.isEmpty && errors.isEmpty {
            errors.append(CatalogError(location: CatalogLocation(file: directory, line: 0), message: "no .yaml files"))
        }
        do {
            return try load(files: files, priorErrors: errors, threads: threads)
        } catch {
            throw error
        }
    }

    /// Loads catalog files given as text; `path` names them in errors and must end in `<vendor_id>.yaml`.
    /// Files are parsed on up to `threads` threads (each file on its own; YAML parsing is most of a
    /// scan's start-up), their vendors and errors then taken in file order.
    public static func load(files: [(path: String, text: String)], priorErrors: [CatalogError] = [],
                            threads: Int = 1) throws(CatalogErrors) -> Catalog {
        var errors = priorErrors
        var vendors: [Vendor] = []
        let parsed = UnsafeMutableBufferPointer<(vendor: Vendor?, errors: [CatalogError])>.allocate(capacity: files.count)
        defer {
            parsed.deinitialize()
            parsed.deallocate()
        }
        let slots = ParsedFiles(parsed)
        @Sendable func parse(_ k: Int) {
            var parser = VendorFileParser(path: files[k].path)
            let vendor = parser.parse(files[k].text)
            (slots.buffer.baseAddress! + k).initialize(to: (vendor, parser.errors))
        }
        let workers = min(max(threads, 1), files.count)
        if workers <= 1 {
            for k in files.indices { parse(k) }
        } else {
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                for k in stride(from: w, to: files.count, by: workers) { parse(k) }
            }
        }
        for result in parsed {
            if let vendor = result.vendor { vendors.append(vendor) }
            errors += result.errors
        }
        errors += crossFileErrors(vendors)
        guard errors.isEmpty else { throw CatalogErrors(errors: errors) }
        return Catalog(vendors: vendors)
    }

    /// Each file's parse, written by the thread that parsed it (every slot by exactly one).
    private struct ParsedFiles: @unchecked Sendable {
        let buffer: UnsafeMutableBufferPointer<(vendor: Vendor?, errors: [CatalogError])>
        init(_ buffer: UnsafeMutableBufferPointer<(vendor: Vendor?, errors: [CatalogError])>) { self.buffer = buffer }
    }

    /// Rules that span files: unique service ids, and each host pattern in exactly one service.
    static func crossFileErrors(_ vendors: [Vendor]) -> [CatalogError] {
        var errors: [CatalogError] = []
        var serviceIDs: [String: CatalogLocation] = [:]
        var patterns: [String: (service: Service, location: CatalogLocation)] = [:]
        for service in vendors.flatMap(\.services) {
            if let first = serviceIDs[service.id] {
                errors.append(CatalogError(location: service.location, message: "duplicate service id '\(service.id)' (first at \(first))"))
            } else {
                serviceIDs[service.id] = service.location
            }
            for host in service.hosts {
                if let first = patterns[host.pattern] {
                    let what = first.service.tier == service.tier ? "duplicate host pattern" : "conflicting tiers for host pattern"
                    errors.append(CatalogError(location: host.location,
                        message: "\(what) '\(host.pattern)': already in \(first.service.id) (\(first.service.tier.rawValue)) at \(first.location)"))
                } else {
                    patterns[host.pattern] = (service, host.location)
                }
            }
        }
        return errors
    }
}

/// Parses one vendor file from Yams' node tree, which keeps line numbers.
struct VendorFileParser {
    let path: String
    var errors: [CatalogError] = []
    private var regionCodes: [String: String] = [:]

    init(path: String) { self.path = path }

    mutating func parse(_ text: String) -> Vendor? {
        if let refusal = YAMLShape.check(text) {
            fail(line: refusal.line, refusal.message)
            return nil
        }
        let root: Node?
        do {
            // No implicit tag rules: they are seven regular expressions run on every scalar (most of a
            // scan's start-up time), and the catalog reads every scalar as text except `tier_in_name`.
            root = try Yams.compose(yaml: text, .basic, .default, .utf8)
        } catch let error as YamlError {
            fail(line: Self.line(of: error), "YAML syntax: \(Self.problem(of: error))")
            return nil
        } catch {
            fail(line: 0, "YAML syntax: \(error)")
            return nil
        }
        guard let root, let map = mapping(root, "vendor file") else {
            fail(line: 1, "empty file: expected vendor, vendor_id, website, services")
            return nil
        }
        let fields = Fields(map, allowed: ["vendor", "vendor_id", "website", "region_codes", "region_codes_source", "services"],
                            parser: &self)
        guard let name = string(fields, "vendor"), let vendorID = string(fields, "vendor_id"),
              let website = string(fields, "website"), let servicesNode = fields.require("services", parser: &self)
        else { return nil }
        let base = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        if vendorID != base {
            fail(line: fields.line("vendor_id"), "vendor_id '\(vendorID)' must equal the file name '\(base)'")
        }
        if !Self.isID(vendorID) { fail(line: fields.line("vendor_id"), "vendor_id '\(vendorID)' may only hold a-z, 0-9 and '-'") }
        checkURL(website, line: fields.line("website"), key: "website")
        regionCodes = parseRegionCodes(fields)
        guard case .sequence(let seq) = servicesNode, !seq.isEmpty else {
            fail(line: line(servicesNode), "services must be a non-empty list")
            return nil
        }
        var services: [Service] = []
        for node in seq {
            if let s = parseService(node, vendor: name, vendorID: vendorID) { services.append(s) }
        }
        return Vendor(id: vendorID, name: name, website: website, regionCodes: regionCodes, services: services, file: path)
    }

    private mutating func parseRegionCodes(_ f: Fields) -> [String: String] {
        guard let node = f.value("region_codes") else { return [:] }
        guard case .mapping(let map) = node, !map.isEmpty else {
            fail(line: line(node), "region_codes must map region tokens to country codes")
            return [:]
        }
        if f.value("region_codes_source") == nil {
            fail(line: line(node), "region_codes needs a region_codes_source URL")
        } else if let src = string(f, "region_codes_source") {
            checkURL(src, line: f.line("region_codes_source"), key: "region_codes_source")
        }
        var codes: [String: String] = [:]
        for (k, v) in map {
            guard case .scalar(let key) = k, case .scalar(let value) = v,
                  !key.string.isEmpty, key.string.utf8.allSatisfy({ HostPatternSyntax.isLabelByte($0) }) else {
                fail(line: line(k), "region_codes keys must be lower-case host-name tokens")
                continue
            }
            guard Self.isCountryOrEU(value.string) else {
                fail(line: line(v), "region code '\(value.string)' must be an ISO 3166 code (US, DE, ...) or EU")
                continue
            }
            codes[key.string] = value.string
        }
        return codes
    }

    /// A YAML 1.1 boolean as Yams' default resolver reads one: an unquoted true/yes/on or false/no/off.
    static func plainBool(_ node: Node) -> Bool? {
        guard case .scalar(let s) = node, s.style == .plain || s.style == .any else { return nil }
        switch s.string {
        case "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON": return true
        case "false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF": return false
        default: return nil
        }
    }

    static func isCountryOrEU(_ s: String) -> Bool {
        s == "EU" || (s.count == 2 && s.allSatisfy { $0.isASCII && $0.isUppercase })
    }

    private mutating func parseService(_ node: Node, vendor: String, vendorID: String) -> Service? {
        guard let map = mapping(node, "service") else { return nil }
        let f = Fields(map, allowed: ["id", "name", "tier", "tier_in_name", "category", "source", "processing_regions",
                                      "regions_source", "hosts", "upload_paths"], parser: &self)
        let at = CatalogLocation(file: path, line: line(node))
        guard let id = string(f, "id"), let name = string(f, "name"), let tierText = string(f, "tier"),
              let categoryText = string(f, "category") else { return nil }
        guard let source = string(f, "source") else {
            return nil  // "service without a source" was reported by `string`
        }
        checkURL(source, line: f.line("source"), key: "source")
        if !Self.isID(id) || !id.hasPrefix(vendorID + "-") {
            fail(line: f.line("id"), "service id '\(id)' must start with '\(vendorID)-' and hold only a-z, 0-9 and '-'")
        }
        guard let tier = Tier(rawValue: tierText) else {
            fail(line: f.line("tier"), "tier '\(tierText)' is not one of \(Tier.allCases.map(\.rawValue).joined(separator: ", "))")
            return nil
        }
        guard let category = Category(rawValue: categoryText) else {
            fail(line: f.line("category"), "category '\(categoryText)' is not one of \(Category.allCases.map(\.rawValue).joined(separator: ", "))")
            return nil
        }
        var tierInName = false
        if let n = f.value("tier_in_name") {
            if let b = Self.plainBool(n) { tierInName = b } else { fail(line: line(n), "tier_in_name must be true or false") }
        }
        let regions = stringList(f, "processing_regions") ?? []
        for r in regions where !Self.isCountryOrEU(r) {
            fail(line: f.line("processing_regions"), "processing region '\(r)' must be an ISO 3166 code (US, DE, ...) or EU")
        }
        var regionsSource: String? = nil
        if f.value("regions_source") != nil {
            regionsSource = string(f, "regions_source")
            if let r = regionsSource { checkURL(r, line: f.line("regions_source"), key: "regions_source") }
        } else if !regions.isEmpty {
            fail(line: f.line("processing_regions"), "processing_regions needs a regions_source URL")
        }
        let uploadPaths = stringList(f, "upload_paths") ?? []
        for p in uploadPaths where !p.hasPrefix("/") {
            fail(line: f.line("upload_paths"), "upload path '\(p)' must start with '/'")
        }
        var hosts: [HostPattern] = []
        if let hostsNode = f.require("hosts", parser: &self) {
            if case .sequence(let seq) = hostsNode, !seq.isEmpty {
                for h in seq { if let hp = parseHost(h) { hosts.append(hp) } }
            } else {
                fail(line: line(hostsNode), "hosts must be a non-empty list")
            }
        }
        return Service(id: id, vendor: vendor, name: name, tier: tier, tierInName: tierInName, category: category,
                       source: source, processingRegions: regions, regionsSource: regionsSource, hosts: hosts,
                       uploadPaths: uploadPaths, location: at)
    }

    private mutating func parseHost(_ node: Node) -> HostPattern? {
        guard let map = mapping(node, "host") else { return nil }
        let f = Fields(map, allowed: ["pattern", "source", "evidence"], parser: &self)
        guard let pattern = string(f, "pattern"), let source = string(f, "source") else { return nil }
        checkURL(source, line: f.line("source"), key: "source")
        var evidence = ServiceMatch.Evidence.strong
        if f.value("evidence") != nil, let e = string(f, "evidence") {
            if let v = ServiceMatch.Evidence(rawValue: e) { evidence = v } else {
                fail(line: f.line("evidence"), "evidence '\(e)' must be strong or weak")
            }
        }
        if let problem = HostPatternSyntax.problem(pattern) {
            fail(line: f.line("pattern"), "invalid host pattern '\(pattern)': \(problem)")
            return nil
        }
        if HostPatternSyntax.placeholders(in: pattern) > 0 && regionCodes.isEmpty {
            fail(line: f.line("pattern"), "host pattern '\(pattern)' uses {region} but the vendor has no region_codes")
        }
        return HostPattern(pattern: pattern, evidence: evidence, source: source,
                           location: CatalogLocation(file: path, line: f.line("pattern")))
    }

    // MARK: helpers

    mutating func fail(line: Int, _ message: String) {
        errors.append(CatalogError(location: CatalogLocation(file: path, line: line), message: message))
    }

    func line(_ node: Node) -> Int { node.mark?.line ?? 0 }

    private mutating func mapping(_ node: Node, _ what: String) -> Node.Mapping? {
        if case .mapping(let m) = node { return m }
        fail(line: line(node), "\(what) must be a mapping of keys to values")
        return nil
    }

    private mutating func string(_ f: Fields, _ key: String) -> String? {
        guard let node = f.require(key, parser: &self) else { return nil }
        guard case .scalar(let s) = node, !s.string.isEmpty else {
            fail(line: line(node), "'\(key)' must be a non-empty string")
            return nil
        }
        return s.string
    }

    private mutating func stringList(_ f: Fields, _ key: String) -> [String]? {
        guard let node = f.value(key) else { return nil }
        guard case .sequence(let seq) = node else {
            fail(line: line(node), "'\(key)' must be a list")
            return nil
        }
        var out: [String] = []
        for item in seq {
            if case .scalar(let s) = item, !s.string.isEmpty { out.append(s.string) } else {
                fail(line: line(item), "'\(key)' items must be non-empty strings")
            }
        }
        return out
    }

    private mutating func checkURL(_ url: String, line: Int, key: String) {
        if !(url.hasPrefix("https://") || url.hasPrefix("http://")) || url.utf8.contains(UInt8(ascii: " ")) {
            fail(line: line, "'\(key)' must be an http(s) URL, got '\(url)'")
        }
    }

    static func isID(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }
    }

    static func line(of error: YamlError) -> Int {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): return mark.line
        default: return 0
        }
    }

    static func problem(of error: YamlError) -> String {
        switch error {
        case .scanner(_, let p, _, _), .parser(_, let p, _, _), .composer(_, let p, _, _): return p
        default: return "\(error)"
        }
    }
}

/// The keys of one YAML mapping, checked against the allowed set when built.
struct Fields {
    private var values: [String: Node] = [:]
    private let owner: Node.Mapping

    init(_ map: Node.Mapping, allowed: Set<String>, parser: inout VendorFileParser) {
        owner = map
        for (k, v) in map {
            guard case .scalar(let key) = k else {
                parser.fail(line: k.mark?.line ?? 0, "keys must be plain strings")
                continue
            }
            if !allowed.contains(key.string) {
                parser.fail(line: k.mark?.line ?? 0, "unknown key '\(key.string)' (allowed: \(allowed.sorted().joined(separator: ", ")))")
            } else if values[key.string] != nil {
                parser.fail(line: k.mark?.line ?? 0, "key '\(key.string)' appears twice")
            } else {
                values[key.string] = v
            }
        }
    }

    func value(_ key: String) -> Node? { values[key] }

    func require(_ key: String, parser: inout VendorFileParser) -> Node? {
        if let v = values[key] { return v }
        parser.fail(line: owner.mark?.line ?? 0, "missing required key '\(key)'")
        return nil
    }

    func line(_ key: String) -> Int { values[key]?.mark?.line ?? owner.mark?.line ?? 0 }
}

/// What makes a host pattern valid: lower-case LDH labels, an exact host or `*.` plus two or more labels.
enum HostPatternSyntax {
    static func isLabelByte(_ c: UInt8) -> Bool {
        (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == 0x2D || c == 0x5F
    }

    /// How many times `{region}` appears in `pattern`. Counted on the bytes: Foundation's substring
    /// search, once per host pattern, was a twelfth of loading the catalog.
    static func placeholders(in pattern: String) -> Int {
        var pattern = pattern
        let needle = Array(HostPattern.regionPlaceholder.utf8)
        return pattern.withUTF8 { utf8 in
            var count = 0, from = 0
            while let at = find(UnsafeRawBufferPointer(utf8), needle, from: from) {
                count += 1
                from = at + needle.count
            }
            return count
        }
    }

    static func problem(_ pattern: String) -> String? {
        var name = Substring(pattern)
        let regions = placeholders(in: pattern)
        if pattern.hasPrefix("*.") {
            name = name.dropFirst(2)
            if name.split(separator: ".", omittingEmptySubsequences: false).count < 2 {
                return "a suffix pattern needs at least two labels after '*.' (no '*.com')"
            }
            if regions > 0 { return "a pattern is either '*.' or {region}, not both" }
        }
        if regions > 1 { return "{region} may appear only once" }
        if regions == 1 {
            let labels = pattern.split(separator: ".", omittingEmptySubsequences: false)
            guard let i = labels.firstIndex(where: { $0.contains(HostPattern.regionPlaceholder) }), labels.count - i - 1 >= 2 else {
                return "a region pattern needs at least two fixed labels right of the {region} label"
            }
            name = Substring(pattern.replacingOccurrences(of: HostPattern.regionPlaceholder, with: "r"))
        }
        if name.isEmpty { return "empty" }
        // Byte tests, not `String.contains`: Foundation's substring search was a tenth of start-up.
        if !name.utf8.contains(UInt8(ascii: ".")) { return "a host needs at least two labels" }
        if name.count > 253 { return "longer than 253 characters" }
        if name.utf8.contains(UInt8(ascii: "*")) { return "'*' is only allowed as the whole first label ('*.example.com')" }
        if name.utf8.contains(where: { $0 == UInt8(ascii: "{") || $0 == UInt8(ascii: "}") }) { return "the only placeholder is {region}" }
        for label in name.split(separator: ".", omittingEmptySubsequences: false) {
            if label.isEmpty { return "empty label (leading, trailing or double dot)" }
            if label.count > 63 { return "label longer than 63 characters" }
            if label.hasPrefix("-") || label.hasSuffix("-") { return "label starts or ends with '-'" }
            if !label.utf8.allSatisfy(isLabelByte) {
                return "only lower-case a-z, 0-9, '-' and '_' are allowed"
            }
        }
        return nil
    }
}
