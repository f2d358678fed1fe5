import Glibc
import ShadowScopeCore

/// Splits a byte stream into lines in a reused buffer: no String per line. Lines end at LF; a CR
/// before it is dropped. A line longer than `maxLineBytes` is reported as too long and skipped whole.
public struct LineReader {
    /// Longest line we parse; real proxy lines are under 8 KB, a 64 KB cap bounds a hostile one.
    public static let maxLineBytes = 65_536
    static let chunkSize = 1 << 20

    public enum Line {
        case text(UnsafeRawBufferPointer)
        case tooLong(length: Int)
        /// A line with a NUL byte in it (a binary file, or a corrupted one): never text to parse.
        case containsNUL
    }

    public struct ReadError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Reads `fd` to its end, calling `body` with each line and its 1-based number. `prefix` holds
    /// bytes already read from `fd` (for sniffing) that come first.
    public static func forEachLine(fd: Int32, prefix: [UInt8] = [], _ body: (Line, Int) -> Void) throws(ReadError) {
        var source = PrefixedSource(prefix: prefix, inner: FileDescriptorSource(fd: fd))
        try forEachLine(source: &source, body)
    }

    /// Reads `source` to its end, calling `body` with each line and its 1-based number (`firstLine` for
    /// the first: a part of a file cut at line boundaries goes on counting where the part before ends). When the
    /// source fails midway (a truncated gzip member), the lines before are delivered first.
    /// `skipLines`, given the buffered text from a line start and that line's number, may take whole
    /// lines in bulk instead: it returns the bytes and lines it took (and those lines never reach
    /// `body`), or nil to be asked no more.
    public static func forEachLine(source: inout some ByteSource, firstLine: Int = 1,
                                   skipLines: (UnsafeRawBufferPointer, Int) -> (bytes: Int, lines: Int)? = { _, _ in nil },
                                   _ body: (Line, Int) -> Void) throws(ReadError) {
        var buffer = [UInt8](repeating: 0, count: chunkSize + maxLineBytes + 1)
        var filled = 0
        var lineNumber = firstLine - 1
        var skippingLongLine = false
        var longLength = 0
        var failure: ByteSourceError? = nil
        var skipping = true
        while true {
            // Fill after what is left of the previous chunk.
            var n = 0
            if failure == nil {
                let start = filled
                let result = buffer.withUnsafeMutableBytes { raw in
                    Result { () throws(ByteSourceError) in try source.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[start...])) }
                }
                switch result {
                case .success(let count): n = count
                case .failure(let error): failure = error  // deliver what is buffered as if the input ended, then report
                }
            }
            let atEOF = n == 0
            filled += n
            var start = 0
            buffer.withUnsafeBytes { raw in
                // Where the next NUL is (or `filled`), found when a line needs it: one memchr per NUL,
                // not one per line. While `skipLines` takes most lines, only the few it leaves are looked at.
                var nextNUL = -1
                func hasNUL(_ from: Int, _ to: Int) -> Bool {
                    if skipping { return memchr(raw.baseAddress! + from, 0, to - from) != nil }
                    if nextNUL < from {
                        let p = from < filled ? memchr(raw.baseAddress! + from, 0, filled - from) : nil
                        nextNUL = p.map { raw.baseAddress!.distance(to: UnsafeRawPointer($0)) } ?? filled
                    }
                    return nextNUL < to
                }
                while start < filled {
                    if skipping && !skippingLongLine {
                        if let (bytes, lines) = skipLines(UnsafeRawBufferPointer(rebasing: raw[start..<filled]), lineNumber + 1) {
                            start += bytes
                            lineNumber += lines
                            if start == filled { break }
                        } else {
                            skipping = false
                        }
                    }
                    guard let nl = memchr(raw.baseAddress! + start, 0x0A, filled - start) else { break }
                    let end = raw.baseAddress!.distance(to: UnsafeRawPointer(nl))
                    lineNumber += 1
                    if skippingLongLine {
                        body(.tooLong(length: longLength + end - start), lineNumber)
                        skippingLongLine = false
                    } else {
                        var stop = end
                        if stop > start && raw[stop - 1] == 0x0D { stop -= 1 }
                        if end - start > maxLineBytes {
                            body(.tooLong(length: end - start), lineNumber)
                        } else if hasNUL(start, end) {
                            body(.containsNUL, lineNumber)
                        } else {
                            body(.text(UnsafeRawBufferPointer(rebasing: raw[start..<stop])), lineNumber)
                        }
                    }
                    start = end + 1
                }
            }
            if atEOF {
                if filled > start {
                    lineNumber += 1  // last line without a newline
                    if skippingLongLine {
                        body(.tooLong(length: longLength + filled - start), lineNumber)
                    } else {
                        buffer.withUnsafeBytes { raw in
                            var stop = filled
                            if raw[stop - 1] == 0x0D { stop -= 1 }
                            let line = UnsafeRawBufferPointer(rebasing: raw[start..<stop])
                            body(memchr(line.baseAddress!, 0, line.count) == nil ? .text(line) : .containsNUL, lineNumber)
                        }
                    }
                }
                if let failure { throw ReadError(description: failure.description) }
                return
            }
            // Keep the unfinished line; if it is already over the cap, stop keeping its bytes.
            let rest = filled - start
            if skippingLongLine || rest > maxLineBytes {
                if !skippingLongLine { longLength = 0 }
                longLength += rest
                skippingLongLine = true
                filled = 0
            } else {
                if start > 0 {
                    buffer.withUnsafeMutableBytes { raw in
                        raw.baseAddress!.copyMemory(from: raw.baseAddress! + start, byteCount: rest)
                    }
                }
                filled = rest
            }
        }
    }
}
