import ShadowScopeCore

/// Reads a text log line by line with one format, counting every line that is not used.
public struct LogScanner {
    public var format: any LogFormat

    public init(format: any LogFormat) { self.format = format }

    public func scan(fd: Int32, prefix: [UInt8], file: String, report: inout InputReport,
                     emit: (Observation) -> Void) {
        do {
            try LineReader.forEachLine(fd: fd, prefix: prefix) { line, number in
                report.records += 1
                switch line {
                case .tooLong(let length):
                    report.skip(at: "\(file):\(number)", reason: "line of \(length) bytes is over the \(LineReader.maxLineBytes)-byte limit")
                    report.hitCap("line-length")
                case .text(let bytes):
                    if bytes.contains(0) {
                        report.skip(at: "\(file):\(number)", reason: "NUL byte in line")
                        return
                    }
                    switch format.parse(bytes, source: SourceRef(file: file, position: .line(number))) {
                    case .observation(let o):
                        report.observations += 1
                        emit(o)
                    case .ignored:
                        report.records -= 1
                    case .skipped(let reason):
                        report.skip(at: "\(file):\(number)", reason: reason)
                    }
                }
            }
        } catch {
            report.skip(at: file, reason: "read error: \(error)")
            report.error = "read error: \(error)"
        }
    }
}
