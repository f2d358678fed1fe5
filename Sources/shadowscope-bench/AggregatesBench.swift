import ArgumentParser
import Foundation
import Output
import ShadowScopeCore
import Signatures

/// Matched observations counted into the summary's rows per second on one core: the work every
/// matched log line and every matched flow ends in. Users pick services Zipf-like with three
/// favourites each (as `gen-squid` draws them), so most observations land in a row that exists.
/// Then what follows a scan: the rows of two halves merged (`--jobs 2`), and the summary written
/// on one thread and on two.
struct AggregatesBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "aggregates", abstract: "Aggregate row updates per second.")

    @Option(help: "Catalog directory.") var signatures: String = "signatures"
    @Option(help: "Matched observations to count.") var count: Int = 1_000_000
    @Option(help: "Distinct users.") var users: Int = 5_000
    @Option(help: "Passes (the best pass is reported).") var passes: Int = 5

    func run() throws {
        let catalog = try CatalogLoader.load(directory: signatures)
        let services = catalog.services
        var rng = SplitMix64(seed: 7)
        let favourites = (0..<users).map { _ in (0..<3).map { _ in Int(rng.next() % UInt64(services.count)) } }
        let file = "bench-data/squid-v2-2000000000.log"
        let start = Timestamp(microseconds: 1_795_000_000_000_000)
        var work: [(Observation, Attribution)] = []
        work.reserveCapacity(count)
        for i in 0..<count {
            let u = Int(rng.next() % UInt64(users))
            let s = rng.next() % 4 == 0 ? Int(rng.next() % UInt64(services.count)) : favourites[u][Int(rng.next() % 3)]
            let svc = services[s]
            var o = Observation(timestamp: Timestamp(microseconds: start.microseconds + Int64(i) * 30_000),
                                source: SourceRef(file: file, position: .line(i * 50 + 1)))
            o.bytesUp = Int64(rng.next() % 100_000)
            o.bytesDown = Int64(rng.next() % 1_000_000)
            o.hostSource = .proxyConnect
            let match = ServiceMatch(serviceID: svc.id, vendor: svc.vendor, service: svc.name, tier: svc.tier.rawValue,
                                     category: svc.category.rawValue, tierInName: svc.tierInName, evidence: .strong)
            work.append((o, Attribution(match: match, user: "user\(u)", region: .unknown)))
        }
        let policy = Policy()
        var best = Double.infinity
        var rows = 0
        for _ in 0..<passes {
            var aggregates = Aggregates()
            let t0 = DispatchTime.now().uptimeNanoseconds
            for (o, a) in work { aggregates.add(o, a, policy: policy) }
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
            rows = aggregates.rows.count
        }
        print("aggregates: \(count) matched observations, \(users) users, \(services.count) services: \(rows) rows")
        print(String(format: "aggregates: %.2f M observations/s on one core (%.0f ns each, best of %d passes)",
                     Double(count) / best / 1e6, best / Double(count) * 1e9, passes))

        // Two halves, each counted on its own, merged as `scan --jobs 2` merges them: two files, as
        // when two captures are scanned (the rows' evidence then names two files).
        var halves = [Aggregates(), Aggregates()]
        for (i, (o, a)) in work.enumerated() {
            var o = o
            if i >= count / 2 { o.source.file += ".half1" }
            halves[i < count / 2 ? 0 : 1].add(o, a, policy: policy)
        }
        var bestMerge = Double.infinity
        var merged = Aggregates()
        for _ in 0..<passes {
            var m = halves[0]
            m.shiftEvidenceNumbers(in: "", by: 1)  // changes nothing, but the table is then this copy's own
            let t0 = DispatchTime.now().uptimeNanoseconds
            m.merge(halves[1])
            bestMerge = min(bestMerge, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
            merged = m
        }
        print(String(format: "aggregates: merging %d rows into %d: %.3f s (%.0f ns a row, best of %d)",
                     halves[1].rows.count, halves[0].rows.count, bestMerge, bestMerge / Double(halves[1].rows.count) * 1e9, passes))

        for threads in [1, 2] {
            var bestSort = Double.infinity
            for _ in 0..<passes {
                var copy = merged
                copy.shiftEvidenceNumbers(in: "", by: 1)  // changes nothing, but the sorted order is computed again
                let t0 = DispatchTime.now().uptimeNanoseconds
                copy.sortRows(threads: threads)
                bestSort = min(bestSort, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
            }
            print(String(format: "aggregates: sorting %d rows on %d thread(s): %.3f s (best of %d)", merged.rows.count, threads, bestSort, passes))
        }

        let context = SummaryContext(tool: "bench", geoip: nil, hours: policy.hours)
        for threads in [1, 2] {
            var bestWrite = Double.infinity
            var bytes = 0
            for _ in 0..<passes {
                bytes = 0
                let t0 = DispatchTime.now().uptimeNanoseconds
                writeSummaryJSON(inputs: [], aggregates: merged, context: context, threads: threads) { bytes += $0.count }
                bestWrite = min(bestWrite, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
            }
            print(String(format: "aggregates: summary of %d sorted rows (%.0f MB) on %d thread(s): %.3f s (%.0f MB/s, best of %d)",
                         merged.rows.count, Double(bytes) / 1e6, threads, bestWrite, Double(bytes) / bestWrite / 1e6, passes))
        }
        // What `scan --jobs 2` does with two inputs when only the summary is asked for: the halves
        // sorted and written as they are, their rows of the same key merged as they are written.
        for threads in [1, 2] {
            var bestWrite = Double.infinity
            var bytes = 0
            for _ in 0..<passes {
                bytes = 0
                let copies = halves.map { half in
                    var copy = half
                    copy.shiftEvidenceNumbers(in: "", by: 1)  // changes nothing, but nothing is sorted yet
                    return copy
                }
                let t0 = DispatchTime.now().uptimeNanoseconds
                writeSummaryJSON(inputs: [], tables: copies, context: context, threads: threads) { bytes += $0.count }
                bestWrite = min(bestWrite, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
            }
            print(String(format: "aggregates: summary of the two halves unmerged (%.0f MB) on %d thread(s), sorting included: %.3f s (best of %d)",
                         Double(bytes) / 1e6, threads, bestWrite, passes))
        }
    }
}
