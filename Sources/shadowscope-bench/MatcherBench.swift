import ArgumentParser
import Foundation
import ShadowScopeCore
import Signatures

/// Host lookups per second on one core over a realistic mix: mostly non-AI names (Zipf-distributed
/// over a few thousand sites and their subdomains) with about 2% AI names drawn from the catalog.
struct MatcherBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "matcher", abstract: "Catalog lookups per second.")

    @Option(help: "Catalog directory.") var signatures: String = "signatures"
    @Option(help: "Distinct lookups in the mix.") var count: Int = 1_000_000
    @Option(help: "Passes over the mix (the best pass is reported).") var passes: Int = 5
    @Option(help: "Share of AI hosts in the mix, in percent.") var aiPercent: Int = 2

    func run() throws {
        let catalog = try CatalogLoader.load(directory: signatures)
        let matcher = HostMatcher(catalog: catalog)
        var rng = SplitMix64(seed: 2026)
        let aiHosts = catalog.services.flatMap(\.hosts).map { h -> String in
            switch h.kind {
            case .exact(let name): return name
            case .suffix(let name): return "edge-\(rng.next() % 90).\(name)"
            case .region(let left, let before, let after, let fixed):
                return (left + [before + "eu-west-1" + after, fixed]).joined(separator: ".")
            }
        }
        let tlds = ["com", "net", "org", "io", "de", "co.uk", "fr", "cloud"]
        let sites = (0..<5000).map { "site\($0)-\(["news", "shop", "cdn", "mail", "static", "app"][$0 % 6]).\(tlds[$0 % tlds.count])" }
        // Zipf-like: the n-th site is picked with weight 1/n.
        let weights = (1...sites.count).map { 1.0 / Double($0) }
        var cumulative: [Double] = []
        var total = 0.0
        for w in weights { total += w; cumulative.append(total) }
        var hosts: [String] = []
        hosts.reserveCapacity(count)
        for _ in 0..<count {
            if Int(rng.next() % 100) < aiPercent {
                hosts.append(aiHosts[Int(rng.next() % UInt64(aiHosts.count))])
            } else {
                let x = Double(rng.next() % 1_000_000_000) / 1e9 * total
                var lo = 0, hi = cumulative.count - 1
                while lo < hi { let mid = (lo + hi) / 2; if cumulative[mid] < x { lo = mid + 1 } else { hi = mid } }
                let prefix = ["www", "api", "img\(rng.next() % 20)", "login", "static"][Int(rng.next() % 5)]
                hosts.append(prefix + "." + sites[lo])
            }
        }
        let bytes = hosts.reduce(0) { $0 + $1.utf8.count }
        var best = Double.infinity
        var matched = 0
        for _ in 0..<passes {
            matched = 0
            let start = DispatchTime.now().uptimeNanoseconds
            for h in hosts where matcher.match(host: h) != nil { matched += 1 }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            best = min(best, seconds)
        }
        // The same names as bytes in one buffer, as decoders hold them before making any String.
        var flat: [UInt8] = []
        var ends: [Int] = []
        for h in hosts { flat += h.utf8; ends.append(flat.count) }
        var bestBytes = Double.infinity
        var matchedBytes = 0
        flat.withUnsafeBytes { raw in
            for _ in 0..<passes {
                matchedBytes = 0
                var from = 0
                let start = DispatchTime.now().uptimeNanoseconds
                for end in ends {
                    if matcher.match(bytes: UnsafeRawBufferPointer(rebasing: raw[from..<end])) != nil { matchedBytes += 1 }
                    from = end
                }
                bestBytes = min(bestBytes, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
        }
        precondition(matchedBytes == matched, "byte and String lookups disagree")
        let rate = Double(count) / best
        print("matcher: \(catalog.services.count) services, \(matcher.patternCount) patterns; \(count) lookups "
              + "(\(aiPercent)% AI, avg \(bytes / max(count, 1)) bytes), \(matched) matched")
        print(String(format: "matcher: %.1f M lookups/s on one core from String (%.0f ns per lookup, best of %d passes)",
                     rate / 1e6, best / Double(count) * 1e9, passes))
        print(String(format: "matcher: %.1f M lookups/s on one core from bytes (%.0f ns per lookup, best of %d passes)",
                     Double(count) / bestBytes / 1e6, bestBytes / Double(count) * 1e9, passes))
    }
}

struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
