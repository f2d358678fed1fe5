import ArgumentParser
import Foundation
import ShadowScopeCore
import Signatures

/// Writes a realistic Squid native access.log for the log benchmark: about 5,000 sites with
/// Zipf-like popularity plus 2% AI hosts from the catalog, CONNECT and GET mixed, 2,000 users.
struct SquidLogGenerator: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gen-squid", abstract: "Generate a Squid native log.")

    @Option(help: "Approximate size in bytes.") var bytes: Int = 2_000_000_000
    @Option(help: "Catalog directory (AI hosts are drawn from it).") var signatures: String = "signatures"
    @Option(help: "Output file.") var output: String

    func run() throws {
        let catalog = try CatalogLoader.load(directory: signatures)
        let aiHosts = catalog.services.flatMap(\.hosts).compactMap { h -> String? in
            if case .exact(let name) = h.kind { return name }
            return nil
        }
        var rng = SplitMix64(seed: 7)
        let sites = (0..<5000).map { "site\($0)-\(["news", "shop", "cdn", "mail"][$0 % 4]).\(["com", "net", "org", "de"][$0 % 4])" }
        var cumulative: [Double] = []
        var total = 0.0
        for i in 1...sites.count { total += 1.0 / Double(i); cumulative.append(total) }
        guard let out = FileHandle(forWritingAtPath: output) ?? {
            FileManager.default.createFile(atPath: output, contents: nil)
            return FileHandle(forWritingAtPath: output)
        }() else { throw ValidationError("cannot write \(output)") }
        var buffer = ""
        buffer.reserveCapacity(1 << 22)
        var written = 0
        var t = 1_795_606_324_000  // ms
        while written < bytes {
            t += Int(rng.next() % 20)
            let host: String
            if rng.next() % 100 < 2 {
                host = aiHosts[Int(rng.next() % UInt64(aiHosts.count))]
            } else {
                let x = Double(rng.next() % 1_000_000_000) / 1e9 * total
                var lo = 0, hi = cumulative.count - 1
                while lo < hi { let mid = (lo + hi) / 2; if cumulative[mid] < x { lo = mid + 1 } else { hi = mid } }
                host = ["www.", "api.", "img.", ""][Int(rng.next() % 4)] + sites[lo]
            }
            let client = "10.\(rng.next() % 256).\(rng.next() % 256).\(rng.next() % 254 + 1)"
            let user = "user\(rng.next() % 2000)"
            let size = rng.next() % 900_000 + 100
            let elapsed = String(rng.next() % 9999 + 1)
            let pad = String(repeating: " ", count: max(0, 6 - elapsed.count))
            let server = "203.0.113.\(rng.next() % 254 + 1)"
            if rng.next() % 10 < 6 {
                buffer += "\(t / 1000).\(String(t % 1000 + 1000).dropFirst()) \(pad)\(elapsed) \(client) TCP_TUNNEL/200 \(size) CONNECT \(host):443 \(user) HIER_DIRECT/\(server) -\n"
            } else {
                buffer += "\(t / 1000).\(String(t % 1000 + 1000).dropFirst()) \(pad)\(elapsed) \(client) TCP_MISS/200 \(size) GET http://\(host)/path/\(rng.next() % 99999)?q=\(rng.next() % 999) \(user) HIER_DIRECT/\(server) text/html\n"
            }
            if buffer.utf8.count >= 1 << 22 {
                out.write(Data(buffer.utf8))
                written += buffer.utf8.count
                buffer.removeAll(keepingCapacity: true)
            }
        }
        out.write(Data(buffer.utf8))
        try out.close()
    }
}
