import ArgumentParser
import Foundation
import Output
import ShadowScopeCore

struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Merge summaries of disjoint inputs (days, files, gateways) into the summary of their union.",
        discussion: "Aggregates add up row by row; the inputs of all summaries are listed in order."
    )

    @Argument(help: ArgumentHelp("Summary JSON files written by `shadowscope scan` or `merge`, or - for standard input.", valueName: "SUMMARY"))
    var summaries: [String]

    @Option(help: ArgumentHelp("Write the merged summary to FILE, or - for stdout (the default unless --table).", valueName: "FILE"))
    var summary: String?

    @Flag(help: "Print the merged summary as a text table on standard output.")
    var table = false

    @Option(help: ArgumentHelp("Write a self-contained HTML report of the merged summary to FILE (summaries keep no alerts).", valueName: "FILE"))
    var report: String?

    func run() throws {
        var inputs: [InputReport] = []
        var aggregates = Aggregates()
        var geoip: GeoIPInfo? = nil
        var policySource: String? = nil
        var localTimes: String? = nil
        for path in summaries {
            let data: Data?
            if path == "-" { data = FileHandle.standardInput.readDataToEndOfFile() } else { data = FileManager.default.contents(atPath: path) }
            guard let data else {
                printError("\(path): cannot read")
                throw ExitCode(Exit.unreadable)
            }
            do {
                let s = try SummaryReader(json: data, file: path)
                inputs += s.inputs
                aggregates.merge(s.aggregates)
                geoip = geoip ?? s.geoip
                policySource = policySource ?? s.policySource
                localTimes = localTimes ?? s.localTimes
            } catch {
                printError(error.description)
                throw ExitCode(Exit.usage)
            }
        }
        var context = SummaryContext(tool: "shadowscope \(ShadowScope.version)", geoip: geoip, hours: BusinessHours(),
                                     policySource: policySource ?? Policy().source)
        context.localTimes = localTimes ?? SummaryContext.localTimesAsUTC
        if let path = summary ?? (table || report == "-" ? nil : "-") {
            do {
                let out = try OutputFile(path: path)
                writeSummaryJSON(inputs: inputs, aggregates: aggregates, context: context) { out.write($0) }
                out.close()
            } catch {
                printError(error.description)
                throw ExitCode(Exit.usage)
            }
        }
        if table { print(summaryTable(aggregates, geoAttribution: geoip?.attribution), terminator: "") }
        // --report: the HTML page for people; alerts are not in summaries, so it says so.
        if let report {
            do {
                let out = try OutputFile(path: report)
                out.write(htmlReport(inputs: inputs, aggregates: aggregates, alerts: nil, context: context))
                out.close()
            } catch {
                printError(error.description)
                throw ExitCode(Exit.usage)
            }
        }
    }
}
