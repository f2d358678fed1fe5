import ShadowScopeCore

/// The signature catalog: AI services and the host names that reveal them (DESIGN.md "Catalog").
public struct Catalog: Sendable {
    public var vendors: [Vendor]
    public var services: [Service] { vendors.flatMap(\.services) }

    public init(vendors: [Vendor]) { self.vendors = vendors }
}

public struct Vendor: Sendable {
    public var id: String
    public var name: String
    public var website: String
    /// Region tokens in this vendor's host names (`eu`, `us-east-1`) → ISO country code or `EU`.
    public var regionCodes: [String: String]
    public var services: [Service]
    /// The file it was loaded from, for error messages.
    public var file: String
}

public enum Tier: String, Sendable, CaseIterable {
    case consumer, business, api
}

public enum Category: String, Sendable, CaseIterable {
    case chatAssistant = "chat-assistant"
    case codingAssistant = "coding-assistant"
    case aiSearch = "ai-search"
    case imageGeneration = "image-generation"
    case videoGeneration = "video-generation"
    case audioGeneration = "audio-generation"
    case transcription
    case meetingAssistant = "meeting-assistant"
    case writingAssistant = "writing-assistant"
    case modelAPI = "model-api"
    case inferencePlatform = "inference-platform"
    case agentPlatform = "agent-platform"
    case suiteFeature = "suite-feature"
    case aiConsole = "ai-console"
}

public struct Service: Sendable {
    public var id: String
    public var vendor: String
    public var name: String
    public var tier: Tier
    /// True when the host names themselves reveal the tier; false when one host serves several tiers.
    public var tierInName: Bool
    /// Whether a host of this service shows its tier: declared so, or an API (API endpoints serve
    /// API keys only, so the name itself says "API").
    public var tierVisibleInName: Bool { tierInName || tier == .api }
    public var category: Category
    public var source: String
    public var processingRegions: [String]
    public var regionsSource: String?
    public var hosts: [HostPattern]
    public var uploadPaths: [String]
    public var location: CatalogLocation
}

/// An exact host (`chatgpt.com`), a suffix pattern (`*.chatgpt.com`: any host strictly below it),
/// or a region pattern (`bedrock-runtime.{region}.amazonaws.com`, `{region}-aiplatform.googleapis.com`)
/// whose `{region}` token the vendor's `region_codes` map to a country.
public struct HostPattern: Sendable {
    public var pattern: String
    public var evidence: ServiceMatch.Evidence
    public var source: String
    public var location: CatalogLocation

    public static let regionPlaceholder = "{region}"

    public enum Kind: Sendable, Equatable {
        case exact(String)
        case suffix(String)
        /// Labels left of the region label, the text around `{region}` in its label, and the fixed
        /// labels to its right (`amazonaws.com`).
        case region(left: [String], before: String, after: String, fixed: String)
    }

    public var kind: Kind {
        if pattern.hasPrefix("*.") { return .suffix(String(pattern.dropFirst(2))) }
        guard HostPatternSyntax.placeholders(in: pattern) > 0 else { return .exact(pattern) }
        let labels = pattern.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard let i = labels.firstIndex(where: { HostPatternSyntax.placeholders(in: $0) > 0 }) else { return .exact(pattern) }
        let parts = labels[i].components(separatedBy: Self.regionPlaceholder)
        return .region(left: Array(labels[..<i]), before: parts.first ?? "", after: parts.last ?? "",
                       fixed: labels[(i + 1)...].joined(separator: "."))
    }
}

public struct CatalogLocation: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var description: String { "\(file):\(line)" }
}

/// A problem in the catalog, named by file and line.
public struct CatalogError: Error, Sendable, CustomStringConvertible, Equatable {
    public var location: CatalogLocation
    public var message: String
    public var description: String { "\(location): \(message)" }
}

/// All problems found while loading, so `signatures check` can list them at once.
public struct CatalogErrors: Error, Sendable, CustomStringConvertible {
    public var errors: [CatalogError]
    public var description: String { errors.map(\.description).joined(separator: "\n") }
}
