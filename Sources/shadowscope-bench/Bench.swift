import ArgumentParser

@main
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shadowscope-bench",
        abstract: "Benchmarks for `make bench`: release build, generated inputs, figures on stdout.",
        subcommands: [MatcherBench.self, AggregatesBench.self, SquidLogGenerator.self, PcapGenerator.self]
    )
}
