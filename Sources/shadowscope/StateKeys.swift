import Foundation
import Output
import ShadowScopeCore

/// The key an input's contribution is kept under in `--state`: the file's absolute path and its
/// first 64 KiB, so scanning the same log again (even after lines were appended) replaces what it
/// contributed before instead of counting it twice. Standard input has no name: its key is its
/// aggregates, so the same content piped twice is still one contribution.
func stateKey(for path: String, aggregates: Aggregates) -> String {
    if path != "-", let handle = FileHandle(forReadingAtPath: path) {
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 64 << 10)) ?? Data()
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
        return "file:" + sha256Hex(Array(absolute.utf8) + [0] + Array(head))
    }
    var text = ""
    for (k, v) in aggregates.sorted {
        text += "\(k.day)|\(k.user)|\(k.serviceID)|\(k.region)|\(v.connections)|\(v.lookups)|\(v.bytesUp)|\(v.bytesDown)|\(v.firstSeen.microseconds)\n"
    }
    return "stdin:" + sha256Hex(Array(text.utf8))
}
