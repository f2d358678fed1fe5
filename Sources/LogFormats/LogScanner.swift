import Glibc
import ShadowScopeCore

/// Reads a text log line by line with one format, counting every line that is not used.
public struct LogScanner {
    public var format: any LogFormat
    /// When set, a line whose host the format can find quickly (`LineParser.quickHost`) and for which
    /// this returns false is counted as an observation but not parsed further: the scanner's caller
    /// wants only records about catalog hosts. Nil: every line is parsed.
    public var isRelevant: ((UnsafeRawBufferPointer) -> Bool)?
    /// With `isRelevant`: hosts it would reject without a look-up (`ServiceMatcher.hostPrefilter`), asked
    /// inline by the bulk line counter before any call.
    public var prefilter: HostPrefilter?
    /// `--timezone`: the zone of times written without one; nil takes them as UTC.
    public var localZone: LocalTimeZone?
    /// Whether lines the parser can count in bulk (`LineParser.skipIrrelevantLines`) are; off only in
    /// tests that check the bulk count against the line-by-line one.
    var bulkSkipping = true

    public init(format: any LogFormat, isRelevant: ((UnsafeRawBufferPointer) -> Bool)? = nil) {
        self.format = format
        self.isRelevant = isRelevant
    }

    public func scan(fd: Int32, prefix: [UInt8], file: String, report: inout InputReport,
                     emit: (Observation) -> Void) {
        var source = PrefixedSource(prefix: prefix, inner: FileDescriptorSource(fd: fd))
        scan(source: &source, file: file, report: &report, emit: emit)
    }

    /// Scans `source`, whose first line is line `firstLine`, to its end. Returns how many lines were
    /// read, or nil when reading failed before the end.
    @discardableResult
    public func scan(source: inout some ByteSource, file: String, firstLine: Int = 1, report: inout InputReport,
                     emit emitRaw: (Observation) -> Void) -> Int? {
        var lastLine = firstLine - 1
        var parser = format.makeParser()
        var zone = localZone
        func emit(_ observation: Observation) {
            guard observation.localTime, var z = zone else { return emitRaw(observation) }
            var o = observation
            o.timestamp = z.utc(fromLocal: o.timestamp)
            zone = z
            o.localTime = false
            emitRaw(o)
        }
        var relevantLine = 0  // a line the bulk counter stopped at for its relevant host: not asked again
        do {
            try LineReader.forEachLine(source: &source, firstLine: firstLine, skipLines: { text, number in
                // Lines the parser counts in bulk are records and observations, just not parsed.
                guard bulkSkipping, let isRelevant,
                      let (bytes, lines, nextIsRelevant) = parser.skipIrrelevantLines(text, prefilter: prefilter, isRelevant: isRelevant)
                else { return nil }
                report.records += lines
                report.observations += lines
                lastLine = number + lines - 1
                if nextIsRelevant { relevantLine = number + lines }
                return (bytes, lines)
            }) { line, number in
                lastLine = number
                report.records += 1
                switch line {
                case .tooLong(let length):
                    report.skip(at: "\(file):\(number)", reason: "line of \(length) bytes is over the \(LineReader.maxLineBytes)-byte limit")
                    report.hitCap("line-length")
                case .containsNUL:
                    report.skip(at: "\(file):\(number)", reason: "NUL byte in line")
                case .text(let bytes):
                    if let isRelevant, number != relevantLine, let host = parser.quickHost(bytes), !isRelevant(host) {
                        report.observations += 1
                        return
                    }
                    switch parser.parse(bytes, source: SourceRef(file: file, position: .line(number))) {
                    case .observation(let o):
                        report.observations += 1
                        emit(o)
                    case .ignored:
                        report.records -= 1
                    case .held:
                        break
                    case .skipped(let reason):
                        report.skip(at: "\(file):\(number)", reason: reason)
                    }
                }
            }
            for o in parser.finish() {
                report.observations += 1
                emit(o)
            }
            return lastLine - (firstLine - 1)
        } catch {
            for o in parser.finish() {
                report.observations += 1
                emit(o)
            }
            // The lines before the failure were read and counted; say where reading stopped.
            report.skip(at: "\(file):\(lastLine + 1)", reason: "input unreadable from here on: \(error)")
            report.hitCap("input-truncated")
            return nil
        }
    }
}
