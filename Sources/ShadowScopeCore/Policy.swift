/// What the organisation allows (`--policy FILE`): approved services and tiers, where data may be
/// processed, business hours, and the upload sizes that deserve an alert.
public struct Policy: Sendable {
    /// Service ids (`openai-api`) that are approved.
    public var approvedServices: Set<String> = []
    /// Tiers (`business`, `api`) approved for every service of one of `approvedVendors`, or of any
    /// vendor when `approvedVendors` is empty.
    public var approvedTiers: Set<String> = []
    public var approvedVendors: Set<String> = []
    /// Country codes or `EU` (the EU/EEA group) where data may go; empty = anywhere.
    public var allowedRegions: Set<String> = []
    public var hours = BusinessHours()
    /// One connection uploading more than this raises `large-upload-connection`.
    public var largeUploadConnectionBytes: Int64 = 50 << 20
    /// One user's day uploading more than this to one service raises `large-upload-day`.
    public var largeUploadDayBytes: Int64 = 200 << 20
    /// When a user's day is far above that user's own earlier days (`unusual-upload`).
    public var unusualUpload = UnusualUploadPolicy()
    /// Where the policy came from, for the summary.
    public var source: String = "built-in default (nothing approved)"

    public init() {}

    public func isApproved(serviceID: String, vendor: String, tier: String) -> Bool {
        if approvedServices.contains(serviceID) { return true }
        guard approvedTiers.contains(tier) else { return false }
        return approvedVendors.isEmpty || approvedVendors.contains(vendor)
    }

    /// True when the policy approves some business or API tier of `vendor`: then its consumer tier
    /// is the wrong door for company data.
    public func approvesBusinessTier(ofVendor vendor: String, catalogTiers: [(id: String, tier: String)]) -> Bool {
        catalogTiers.contains { ($0.tier == "business" || $0.tier == "api") && isApproved(serviceID: $0.id, vendor: vendor, tier: $0.tier) }
    }

    public func regionAllowed(_ region: Region) -> Bool? {
        guard !allowedRegions.isEmpty, let country = region.country else { return nil }  // unknown: cannot say
        if allowedRegions.contains(country) { return true }
        return region.group == .euEEA && allowedRegions.contains("EU")
    }
}
