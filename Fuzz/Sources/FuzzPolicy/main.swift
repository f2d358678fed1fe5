// Policy YAML (--policy) against a small fixed catalog.
import CFuzzerDriver
import Glibc
import Signatures

let catalog: Catalog = {
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

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeRawBufferPointer(start: data, count: size), as: UTF8.self)
    _ = try? PolicyLoader.load(text: text, file: "policy.yaml", catalog: catalog)
    return 0
}

var fuzzArgc = CommandLine.argc
var fuzzArgv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&fuzzArgc, &fuzzArgv) { data, size in
    guard let data else { return 0 }
    return fuzz(data, size)
})
