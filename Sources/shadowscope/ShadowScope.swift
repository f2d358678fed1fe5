import ArgumentParser
import Foundation

/// Exit statuses scripts can rely on (README "Exit status").
enum Exit {
    static let usage: Int32 = 2        // bad flag, bad configuration: message names the flag or file:line
    static let unreadable: Int32 = 3   // some input could not be read at all; the rest was processed
    static let spooled: Int32 = 4      // --syslog: some alerts wait in the spool, not yet delivered (3 wins over 4)
}

@main
struct ShadowScope: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "shadowscope",
        abstract: "Find use of AI services in packet captures and proxy logs, and how much data went to each.",
        discussion: """
            Exit status: 0 done; 2 usage or configuration error; 3 some input could not be read \
            (or, with --format forced, no record of it reads as that format; named on stderr; the \
            rest was still processed and reported); 4 with --syslog, some \
            alerts are waiting in the spool (the receiver did not take them in time; the next run \
            sends them first).
            """,
        version: version,
        subcommands: [Scan.self, Capture.self, Merge.self, SignaturesCommand.self],
        defaultSubcommand: nil
    )

    /// ArgumentParser exits 64 on usage errors; the contract says 2.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code == .success || code == .failure { exit(withError: error) }
            if code.rawValue == ExitCode.validationFailure.rawValue {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(Exit.usage)
            }
            exit(withError: error)
        }
    }
}

/// Ends the process at once with `status`, once every output is written and closed. Returning would
/// free the aggregates, their sorted copy and the flow records one string at a time: on a large scan
/// that took a tenth of the run, and the kernel takes the memory back whole anyway.
func exitWithoutTeardown(_ status: Int32) -> Never {
    fflush(nil)  // every C stream: what print() wrote to standard output
    Foundation.exit(status)
}

/// A configuration problem (unreadable catalog, GeoIP file, output path): exit status 2.
struct ConfigurationError: Error, CustomStringConvertible {
    var description: String
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data(("shadowscope: " + message + "\n").utf8))
}
