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
    /// `body`), or nil to be asked no more. It must never take a line with a NUL byte.
    public static func forEachLine(source: inout some ByteSource, firstLine: Int = 1,
                                   skipLines: (UnsafeRawBufferPointer, Int) -> (bytes: Int, lines: Int)? = { _, _ in nil },
                                   _ body: (Line, Int) -> Void) throws(ReadError) {
        if let mapped = source as? MappedFileSource {
            return try forEachLine(mapped: mapped.file, firstLine: firstLine, skipLines: skipLines, body)
        }
        var splitter = Splitter(lineNumber: firstLine - 1)
        var buffer = [UInt8](repeating: 0, count: chunkSize + maxLineBytes + 1)
        var filled = 0
        var failure: ByteSourceError? = nil
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
            buffer.withUnsafeBytes { raw in _ = splitter.split(raw, from: &start, to: filled, skipLines: skipLines, body) }
            if atEOF {
                buffer.withUnsafeBytes { raw in _ = splitter.finish(raw, from: start, to: filled, body) }
                if let failure { throw ReadError(description: failure.description) }
                return
            }
            let rest = filled - start
            if splitter.keeps(rest: rest) {
                if start > 0 {
                    buffer.withUnsafeMutableBytes { raw in
                        raw.baseAddress!.copyMemory(from: raw.baseAddress! + start, byteCount: rest)
                    }
                }
                filled = rest
            } else {
                filled = 0
            }
        }
    }

    /// The bytes the line reader takes from a mapped file at a time: what it lets go of behind it
    /// then bounds the memory the mapping holds.
    static let mappedWindow = 4 << 20

    /// `forEachLine` over a mapped file: its lines are parsed where they lie, a window at a time. When the
    /// file shrinks under the scan, the lines wholly before its new end are delivered and the reading
    /// ends with an error; none of the zeros that stand in for the lost bytes reach `body`.
    static func forEachLine(mapped file: MappedFile, firstLine: Int, window: Int = mappedWindow,
                            skipLines: (UnsafeRawBufferPointer, Int) -> (bytes: Int, lines: Int)?,
                            _ body: (Line, Int) -> Void) throws(ReadError) {
        var splitter = Splitter(lineNumber: firstLine - 1)
        let raw = file.bytes
        var start = 0, filled = 0
        var end = raw.count
        var cut = false
        while true {
            if !cut && file.shrank {
                // Checked at each window and before a line with a NUL byte is passed on (the zeros).
                cut = true
                end = max(start, min(end, file.bytesLeft))
                filled = min(filled, end)
            }
            guard filled < end else { break }
            let before = filled
            filled = min(end, filled + window)
            MappedFile.bytesTaken.add(filled - before, ordering: .relaxed)
            _ = splitter.split(raw, from: &start, to: filled, skipLines: skipLines, body, stopBeforeNUL: { !cut && file.shrank })
            if !splitter.keeps(rest: filled - start) { start = filled }
            file.release(before: start)
        }
        if cut {
            let now = file.currentSize.map { "\($0) bytes" } ?? "unknown size"
            throw ReadError(description: "the file shrank while it was read (now \(now)); the rest of it is not counted")
        }
        _ = splitter.finish(raw, from: start, to: filled, body)
    }

    /// Cuts buffered text into lines, carrying what a line spanning two buffers needs.
    private struct Splitter {
        var lineNumber: Int
        var skippingLongLine = false
        var longLength = 0
        /// Whether `skipLines` is still asked.
        var skipping = true

        /// Delivers the whole lines of `raw[start..<filled]` and moves `start` past them. Before a line
        /// with a NUL byte or over the cap is delivered, `stopBeforeNUL` may end the splitting (true is
        /// returned, `start` at that line).
        mutating func split(_ raw: UnsafeRawBufferPointer, from start: inout Int, to filled: Int,
                            skipLines: (UnsafeRawBufferPointer, Int) -> (bytes: Int, lines: Int)?,
                            _ body: (Line, Int) -> Void, stopBeforeNUL: () -> Bool = { false }) -> Bool {
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
                if skippingLongLine {
                    if stopBeforeNUL() { return true }
                    lineNumber += 1
                    body(.tooLong(length: longLength + end - start), lineNumber)
                    skippingLongLine = false
                } else {
                    var stop = end
                    if stop > start && raw[stop - 1] == 0x0D { stop -= 1 }
                    if end - start > maxLineBytes {
                        if stopBeforeNUL() { return true }
                        lineNumber += 1
                        body(.tooLong(length: end - start), lineNumber)
                    } else if hasNUL(start, end) {
                        if stopBeforeNUL() { return true }
                        lineNumber += 1
                        body(.containsNUL, lineNumber)
                    } else {
                        lineNumber += 1
                        body(.text(UnsafeRawBufferPointer(rebasing: raw[start..<stop])), lineNumber)
                    }
                }
                start = end + 1
            }
            return false
        }

        /// Whether the unfinished line's `rest` bytes are kept for the next buffer; false once the
        /// line is over the cap: its bytes are then only counted.
        mutating func keeps(rest: Int) -> Bool {
            guard skippingLongLine || rest > maxLineBytes else { return true }
            if !skippingLongLine { longLength = 0 }
            longLength += rest
            skippingLongLine = true
            return false
        }

        /// The input ended: delivers its last line when it has no newline (true: `stopBeforeNUL` ended it).
        mutating func finish(_ raw: UnsafeRawBufferPointer, from start: Int, to filled: Int,
                             _ body: (Line, Int) -> Void, stopBeforeNUL: () -> Bool = { false }) -> Bool {
            guard filled > start else { return false }
            if skippingLongLine {
                if stopBeforeNUL() { return true }
                body(.tooLong(length: longLength + filled - start), lineNumber + 1)
                return false
            }
            var stop = filled
            if raw[stop - 1] == 0x0D { stop -= 1 }
            let line = UnsafeRawBufferPointer(rebasing: raw[start..<stop])
            if memchr(line.baseAddress!, 0, line.count) == nil {
                body(.text(line), lineNumber + 1)
            } else {
                if stopBeforeNUL() { return true }
                body(.containsNUL, lineNumber + 1)
            }
            return false
        }
    }
}
