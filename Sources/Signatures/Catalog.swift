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
    public var category: Category
    public var source: String
    public var processingRegions: [String]
    public var regionsSource: String?
    public var hosts: [HostPattern]
    public var uploadPaths: [String]
    public var location: CatalogLocation
}

/// An exact host (`chatgpt.com`) or a suffix pattern (`*.chatgpt.com`: any host strictly below it).
public struct HostPattern: Sendable {
    public var pattern: String
    public var evidence: ServiceMatch.Evidence
    public var source: String
    public var location: CatalogLocation

    public var isSuffix: Bool { pattern.hasPrefix("*.") }
    /// The host part: `chatgpt.com` for both `chatgpt.com` and `*.chatgpt.com`.
    public var name: String { isSuffix ? String(pattern.dropFirst(2)) : pattern }
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
