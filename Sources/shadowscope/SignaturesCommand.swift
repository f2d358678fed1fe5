import ArgumentParser
import Foundation
import Output
import ShadowScopeCore
import Signatures

struct SignaturesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "signatures",
        abstract: "Check the signature catalog, or look up what host names mean.",
        subcommands: [Check.self, Match.self]
    )

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a catalog; every problem is printed as FILE:LINE: message (exit 2 if any)."
        )

        @Argument(help: ArgumentHelp("Catalog directory (default: the bundled signatures/).", valueName: "DIR"))
        var directory: String?

        func run() throws {
            guard let dir = directory ?? Defaults.signaturesDirectory() else {
                printError("no signature catalog found; name the directory")
                throw ExitCode(Exit.usage)
            }
            do {
                let catalog = try CatalogLoader.load(directory: dir)
                let patterns = catalog.services.reduce(0) { $0 + $1.hosts.count }
                print("\(dir): OK, \(catalog.vendors.count) vendors, \(catalog.services.count) services, \(patterns) host patterns")
            } catch {
                FileHandle.standardError.write(Data((error.description + "\n").utf8))
                throw ExitCode(Exit.usage)
            }
        }
    }

    struct Match: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print one JSON line per host: host, service_id (null when unknown), vendor, service, tier, category, region, evidence."
        )

        @Option(help: ArgumentHelp("Catalog directory (default: the bundled signatures/).", valueName: "DIR"))
        var signatures: String?

        @Argument(help: ArgumentHelp("Host names; a trailing dot, upper case and a :port are ignored.", valueName: "HOST"))
        var hosts: [String]

        func run() throws {
            guard let dir = signatures ?? Defaults.signaturesDirectory() else {
                printError("no signature catalog found; pass --signatures DIR")
                throw ExitCode(Exit.usage)
            }
            let catalog: Catalog
            do { catalog = try CatalogLoader.load(directory: dir) } catch {
                FileHandle.standardError.write(Data((error.description + "\n").utf8))
                throw ExitCode(Exit.usage)
            }
            let matcher = HostMatcher(catalog: catalog)
            var w = JSONWriter()
            for raw in hosts {
                let bare = raw.split(separator: ":").first.map(String.init) ?? raw
                let host = normalizeHost(Array(bare.utf8))
                let m = host.flatMap { matcher.match(host: $0) }
                w.reset()
                w.beginObject()
                w.field("host", host ?? raw)
                w.field("service_id", m?.serviceID)
                w.field("vendor", m?.vendor)
                w.field("service", m?.service)
                w.field("tier", m?.tier)
                w.field("tier_visible_in_name", m?.tierInName)
                w.field("category", m?.category)
                w.field("region", m?.regionToken)
                w.field("region_country", m?.regionCountry)
                w.field("evidence", m?.evidence.rawValue)
                w.endObject()
                print(String(decoding: w.bytes, as: UTF8.self))
            }
        }
    }
}
