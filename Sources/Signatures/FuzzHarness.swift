/// The fuzz harnesses for the catalog and policy YAML, one function per libFuzzer target of `Fuzz/`
/// (issue 9), public so that the fuzz targets and the regression tests run the same code.
public enum SignatureFuzzHarness {
    public static let targets: [String: @Sendable (UnsafeRawBufferPointer) -> Void] = [
        "FuzzCatalog": catalog, "FuzzPolicy": policy,
    ]

    /// One vendor file through CatalogLoader (schema checks, patterns, regions) and the matcher.
    @Sendable public static func catalog(_ bytes: UnsafeRawBufferPointer) {
        let text = String(decoding: bytes, as: UTF8.self)
        if let catalog = try? CatalogLoader.load(files: [(path: "signatures/fuzz.yaml", text: text)]) {
            _ = HostMatcher(catalog: catalog)
        }
    }

    static let policyCatalog: Catalog = {
        let yaml = """
        vendor: Fuzz
        vendor_id: fuzz
        website: https://fuzz.example
        services:
          - id: fuzz-chat
            name: Fuzz Chat
            tier: consumer
            tier_in_name: false
            category: chat
            source: https://fuzz.example/
            processing_regions: []
            hosts:
              - pattern: chat.fuzz.example
                source: https://fuzz.example/
        """
        return (try? CatalogLoader.load(files: [(path: "signatures/fuzz.yaml", text: yaml)])) ?? Catalog(vendors: [])
    }()

    /// A policy file (--policy) against a small fixed catalog.
    @Sendable public static func policy(_ bytes: UnsafeRawBufferPointer) {
        _ = try? PolicyLoader.load(text: String(decoding: bytes, as: UTF8.self), file: "policy.yaml", catalog: policyCatalog)
    }
}
