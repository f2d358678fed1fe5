import ShadowScopeCore

/// What a log parser makes of one line.
public enum LineResult {
    /// Boxed: an observation is about three hundred bytes, and a result passed up from the parser
    /// through a protocol witness and a closure was copied whole eight times; a box is one allocation.
    indirect case observation(Observation)
    /// Not a record (blank, comment, header): not counted as skipped.
    case ignored
    /// A line we could not use, with the reason shown in the summary's sampled skips.
    case skipped(String)
    /// A record whose observation the parser holds until later lines complete it (a dnsmasq query
    /// waiting for its answers); it comes out of a later `parse` or of `finish`.
    case held
}

/// One log format: a name for `--format` and the summary, a content sniffer, and a parser per input.
public protocol LogFormat: Sendable {
    var name: String { get }
    /// True when `line` is unmistakably this format (used on the first lines of a file).
    func recognizes(_ line: UnsafeRawBufferPointer) -> Bool
    /// A parser for one input, fed its lines in order: it may carry state from line to line (a W3C
    /// `#Fields` layout, dnsmasq queries waiting for their answers).
    func makeParser() -> any LineParser
}

/// Parses the lines of one input, in order.
public protocol LineParser {
    mutating func parse(_ line: UnsafeRawBufferPointer, source: SourceRef) -> LineResult
    /// The input ended: observations the parser still holds.
    mutating func finish() -> [Observation]
    /// The host field's raw bytes when they can be found without parsing the whole line, or nil.
    /// The scanner uses it to skip building records for hosts outside the catalog.
    func quickHost(_ line: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer?
    /// How many lines at the start of `text` `quickHost` and `isRelevant` would drop one by one, and
    /// the bytes they take (up to and including the last one's LF), counted in bulk; nil when the
    /// format has no bulk counter. Stops at the first line that needs a closer look; `nextIsRelevant`
    /// says that line is a plain record whose host `isRelevant` accepted, so nobody need ask again.
    /// A host `prefilter` rejects is irrelevant without calling `isRelevant` (which must agree).
    func skipIrrelevantLines(_ text: UnsafeRawBufferPointer, prefilter: HostPrefilter?,
                             isRelevant: (UnsafeRawBufferPointer) -> Bool) -> (bytes: Int, lines: Int, nextIsRelevant: Bool)?
}

extension LineParser {
    public func quickHost(_ line: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? { nil }
    public func skipIrrelevantLines(_ text: UnsafeRawBufferPointer, prefilter: HostPrefilter?,
                                    isRelevant: (UnsafeRawBufferPointer) -> Bool) -> (bytes: Int, lines: Int, nextIsRelevant: Bool)? { nil }
}

/// A format whose lines stand alone is its own parser.
public protocol StatelessLogFormat: LogFormat, LineParser {}

extension StatelessLogFormat {
    public func makeParser() -> any LineParser { self }
    public func finish() -> [Observation] { [] }
}

/// Every format we read, in the order detection tries them.
/// Strict, single-shape recognisers come first; W3C last, as it also accepts bare `date time ...` lines.
/// Squid custom logformats are never sniffed (they need `--logformat`).
/// The JSON formats need a `{` and their own member names; the CSV, key=value and DNS-debug ones a
/// vendor-specific shape (quoted timestamp, `,YYYY/MM/DD HH:MM:SS,`, `date= ... logid=`, `PACKET`).
/// A delimited Zscaler feed needs its field list and is never sniffed.
public let allLogFormats: [any LogFormat] = [
    SquidNative(), ZeekTSV(), ZeekJSON(), SuricataEve(), ZscalerNSS(),
    UmbrellaCSV(), PaloAltoCSV(), FortiGateKV(), WindowsDNSDebug(),
    BindQueryLog(), Dnsmasq(), W3CExtended(),
]

/// Picks the format of a text input from its first lines: the first format that recognises most of
/// the non-blank lines among the first few.
public func detectLogFormat(sample: UnsafeRawBufferPointer) -> (any LogFormat)? {
    var lines: [UnsafeRawBufferPointer] = []
    var start = 0
    var i = 0
    while i < sample.count && lines.count < 10 {
        if sample[i] == 0x0A {
            var stop = i
            if stop > start && sample[stop - 1] == 0x0D { stop -= 1 }
            if stop > start { lines.append(UnsafeRawBufferPointer(rebasing: sample[start..<stop])) }
            start = i + 1
        }
        i += 1
    }
    if lines.isEmpty && sample.count > start { lines.append(UnsafeRawBufferPointer(rebasing: sample[start...])) }
    guard !lines.isEmpty else { return nil }
    for format in allLogFormats {
        let hits = lines.filter { format.recognizes($0) }.count
        if hits * 2 > lines.count { return format }
    }
    return nil
}
