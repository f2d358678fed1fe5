import ArgumentParser
import Foundation
import ShadowScopeCore
import Signatures

/// Writes a realistic Squid native access.log for the log benchmark: about 5,000 sites with
/// Zipf-like popularity plus 2% AI hosts from the catalog, also Zipf-like (a few services take most
/// of the traffic, as in any organisation; each user keeps to three favourites 90% of the time),
/// CONNECT and GET mixed, 2,000 users.
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
        // Rank i (from 1) has weight 1/i; a draw is a binary search in the running sums.
        func zipf(_ count: Int) -> [Double] {
            var sums: [Double] = []
            var total = 0.0
            for i in 1...count { total += 1.0 / Double(i); sums.append(total) }
            return sums
        }
        func draw(_ sums: [Double], _ rng: inout SplitMix64) -> Int {
            let x = Double(rng.next() % 1_000_000_000) / 1e9 * sums[sums.count - 1]
            var lo = 0, hi = sums.count - 1
            while lo < hi { let mid = (lo + hi) / 2; if sums[mid] < x { lo = mid + 1 } else { hi = mid } }
            return lo
        }
        let siteWeights = zipf(sites.count)
        // The AI hosts' popularity order: a fixed shuffle of the catalog's (alphabetical) order.
        var shuffle = SplitMix64(seed: 11)
        let aiRanked = aiHosts.shuffled(using: &shuffle)
        let aiWeights = zipf(aiRanked.count)
        let favourites = (0..<2000).map { _ in (0..<3).map { _ in aiRanked[draw(aiWeights, &shuffle)] } }
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
            let userNumber = Int(rng.next() % 2000)
            if rng.next() % 100 < 2 {
                host = rng.next() % 10 < 9 ? favourites[userNumber][Int(rng.next() % 3)] : aiRanked[draw(aiWeights, &rng)]
            } else {
                host = ["www.", "api.", "img.", ""][Int(rng.next() % 4)] + sites[draw(siteWeights, &rng)]
            }
            let client = "10.\(rng.next() % 256).\(rng.next() % 256).\(rng.next() % 254 + 1)"
            let user = "user\(userNumber)"
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
