import Foundation
import Glibc
import LogFormats

/// Bytes `start..<end` of a file, whose first line is line `firstLine` of the file; nil when not
/// counted yet: the part is then numbered from 1 and its references are moved to their place in the
/// file when the parts' results merge (`FileResult(parts:)`).
struct FilePart: Sendable, Equatable {
    var start: Int
    var end: Int
    var firstLine: Int?
}

/// Cuts a large plain log into `count` parts at line boundaries, so that one file is parsed on all
/// cores. Skips and evidence must name the same lines as a whole scan. A summary's references can be
/// moved after the scan (each part counts its own lines), so by default nothing is counted first;
/// observation lines are written as they come, so for them (`countLines`) each part's first line
/// number comes from counting the newlines before it: a pass over the file, shared by the threads,
/// that cost a third of a two-thread scan.
enum FileParts {
    /// The parts of `path`, or nil when the file is too small to be worth cutting or cannot be read.
    static func plan(_ path: String, count: Int, minimumBytes: Int, countLines: Bool) -> [FilePart]? {
        var st = stat()
        guard count > 1, stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        let size = Int(st.st_size)
        guard size >= max(minimumBytes, 2) else { return nil }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        // Each cut moves forward to just after the next newline; cuts that meet collapse.
        var bounds = [0]
        for k in 1..<count {
            guard let nl = nextNewline(fd, from: max(size * k / count, bounds.last!), size: size) else { break }
            if nl + 1 > bounds.last! && nl + 1 < size { bounds.append(nl + 1) }
        }
        bounds.append(size)
        let ranges = zip(bounds, bounds.dropFirst()).map { (start: $0, end: $1) }
        guard ranges.count > 1 else { return nil }
        guard countLines else {
            return ranges.enumerated().map { FilePart(start: $1.start, end: $1.end, firstLine: $0 == 0 ? 1 : nil) }
        }
        // Newlines per part, counted in parallel; each part's first line is one past those before it.
        let counts = UnsafeMutableBufferPointer<Int>.allocate(capacity: ranges.count)
        defer { counts.deallocate() }
        let shared = SendableCounts(counts)
        DispatchQueue.concurrentPerform(iterations: ranges.count - 1) { i in  // the last part's own count is not needed
            shared.buffer[i] = newlines(fd, ranges[i].start, ranges[i].end) ?? -1
        }
        guard !counts.prefix(ranges.count - 1).contains(-1) else { return nil }
        var line = 1
        var parts: [FilePart] = []
        for (i, r) in ranges.enumerated() {
            parts.append(FilePart(start: r.start, end: r.end, firstLine: line))
            if i < ranges.count - 1 { line += counts[i] }
        }
        return parts
    }

    private struct SendableCounts: @unchecked Sendable {  // each thread writes its own index
        let buffer: UnsafeMutableBufferPointer<Int>
        init(_ buffer: UnsafeMutableBufferPointer<Int>) { self.buffer = buffer }
    }

    /// The offset of the first newline at or after `from`, or nil when there is none.
    static func nextNewline(_ fd: Int32, from: Int, size: Int) -> Int? {
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var offset = from
        while offset < size {
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(offset)) }
            guard n > 0 else { return nil }
            if let at = buffer.prefix(n).firstIndex(of: 0x0A) { return offset + at }
            offset += n
        }
        return nil
    }

    /// The newlines in `start..<end`, or nil on a read error.
    static func newlines(_ fd: Int32, _ start: Int, _ end: Int) -> Int? {
        let chunk = 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
        defer { buffer.deallocate() }
        var offset = start, total = 0
        while offset < end {
            let n = pread(fd, buffer.baseAddress, min(chunk, end - offset), off_t(offset))
            guard n > 0 else { return nil }
            total += countNewlines(buffer.baseAddress!, n)
            offset += n
        }
        return total
    }
}
