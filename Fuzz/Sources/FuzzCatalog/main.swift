// Signature catalog YAML: one vendor file through CatalogLoader (schema checks, patterns, regions).
import CFuzzerDriver
import Glibc
import Signatures

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeRawBufferPointer(start: data, count: size), as: UTF8.self)
    if let catalog = try? CatalogLoader.load(files: [(path: "signatures/fuzz.yaml", text: text)]) {
        _ = HostMatcher(catalog: catalog)
    }
    return 0
}

var fuzzArgc = CommandLine.argc
var fuzzArgv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&fuzzArgc, &fuzzArgv) { data, size in
    guard let data else { return 0 }
    return fuzz(data, size)
})
