import Foundation
import XCTest

@testable import LogFormats

/// A plain log is mapped into memory and its lines parsed in place; these check that the mapped path
/// gives exactly the lines the read path gives, and that a file cut short under the scan ends it
/// with an error instead of SIGBUS.
final class MappedFileTests: XCTestCase {
    /// What the line reader delivered: each line's kind, bytes and number, and the lines taken in bulk.
    struct Delivered: Equatable {
        var lines: [String] = []
        var bulk: [String] = []
        var error: String?
    }

    /// Bulk-takes lines that start with "skip " (never one with a NUL byte, as the contract says),
    /// stopping at the first other line or an unfinished one; never gives up.
    static func skipLines(_ text: UnsafeRawBufferPointer, _ number: Int, into out: inout Delivered) -> (bytes: Int, lines: Int)? {
        var at = 0, lines = 0
        while text.count - at >= 5, text[at..<at + 5].elementsEqual("skip ".utf8) {
            guard let nl = text[at...].firstIndex(of: 0x0A),
                  !text[at..<nl].contains(0), nl - at <= LineReader.maxLineBytes else { break }
            out.bulk.append("\(number + lines):\(nl - at)")
            at = nl + 1
            lines += 1
        }
        return (at, lines)  // (0, 0): nothing here, but ask again at the next line
    }

    static func record(_ line: LineReader.Line, _ number: Int, into out: inout Delivered) {
        switch line {
        case .text(let bytes): out.lines.append("\(number) text \(String(decoding: bytes, as: UTF8.self))")
        case .tooLong(let length): out.lines.append("\(number) long \(length)")
        case .containsNUL: out.lines.append("\(number) NUL")
        }
    }

    func readThroughFileDescriptor(_ path: String, firstLine: Int = 1) throws -> Delivered {
        let fd = open(path, O_RDONLY)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        var out = Delivered()
        var source = FileDescriptorSource(fd: fd)
        do {
            try LineReader.forEachLine(source: &source, firstLine: firstLine, skipLines: { Self.skipLines($0, $1, into: &out) }) {
                Self.record($0, $1, into: &out)
            }
        } catch { out.error = error.description }
        return out
    }

    /// Reads `path` mapped; `atLine` runs as each line is delivered (with the open file), before the
    /// reader goes on.
    func readMapped(_ path: String, start: Int = 0, end: Int? = nil, firstLine: Int = 1, window: Int,
                    atLine: (Int, Int32) -> Void = { _, _ in }) throws -> Delivered {
        let fd = open(path, O_RDWR)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        let file = try XCTUnwrap(MappedFile(fd: fd, start: start, end: end, minimumBytes: 1))
        var out = Delivered()
        do {
            try LineReader.forEachLine(mapped: file, firstLine: firstLine, window: window,
                                       skipLines: { Self.skipLines($0, $1, into: &out) }) {
                Self.record($0, $1, into: &out)
                atLine($1, fd)
            }
        } catch { out.error = error.description }
        return out
    }

    /// Lines of every kind the reader tells apart: short and long text, bulk-taken runs, CRLF, a CR
    /// alone, NUL bytes, lines over the cap (one of several MB), and a last line without a newline.
    func hostileLog(seed: UInt64) -> [UInt8] {
        var rng = SplitMix(seed)
        var out: [UInt8] = []
        for k in 0..<4_000 {
            if k % 1_000 == 500 {
                out += [UInt8](repeating: 0x79, count: 2_500_000) + [0x0A]
                continue
            }
            switch rng.next() % 16 {
            case 0: out += Array("skip \(k) taken in bulk\n".utf8)
            case 1: out += Array("crlf line \(k)\r\n".utf8)
            case 2: out += Array("nul \(k) \u{0} inside\n".utf8)
            case 3: out += [UInt8](repeating: 0x78, count: LineReader.maxLineBytes + Int(rng.next() % 3) - 1) + [0x0A]
            case 5: out += [0x0A]
            case 6: out += Array("cr alone \(k)\r\r\n".utf8)
            default: out += Array("line \(k) ".utf8) + [UInt8](repeating: 0x61, count: Int(rng.next() % 300)) + [0x0A]
            }
        }
        out += Array("last line without a newline".utf8)
        return out
    }

    func temporaryFile(_ bytes: [UInt8]) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("mapped-\(UUID()).log").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    func testMappedLinesAreTheLinesReadThroughTheFileDescriptor() throws {
        for seed in [1, 2, 3] as [UInt64] {
            let path = try temporaryFile(hostileLog(seed: seed))
            let read = try readThroughFileDescriptor(path)
            XCTAssertNil(read.error)
            XCTAssertGreaterThan(read.lines.count, 1_000)
            XCTAssertGreaterThan(read.bulk.count, 100)
            XCTAssertTrue(read.lines.contains { $0.hasSuffix("long 2500000") }, "a line over the cap spanning windows")
            XCTAssertEqual(read.lines.last?.hasSuffix("text last line without a newline"), true)
            // Windows smaller than a line, of odd sizes, and the default.
            for window in [4_093, 65_536, 1 << 20, LineReader.mappedWindow] {
                XCTAssertEqual(try readMapped(path, window: window), read, "seed \(seed), window \(window)")
            }
        }
    }

    func testAMappedPartStartsAtItsOffsetAndNumbersFromItsFirstLine() throws {
        let bytes = hostileLog(seed: 4)
        let path = try temporaryFile(bytes)
        // A cut just after a newline, away from any page boundary.
        let cut = try XCTUnwrap(bytes[5_001...].firstIndex(of: 0x0A)) + 1
        let partPath = try temporaryFile(Array(bytes[cut...]))
        let whole = try readThroughFileDescriptor(partPath, firstLine: 40)
        XCTAssertEqual(try readMapped(path, start: cut, firstLine: 40, window: 100_000), whole)
        // And a part that ends before the file does.
        let headPath = try temporaryFile(Array(bytes[..<cut]))
        XCTAssertEqual(try readMapped(path, end: cut, window: 999), try readThroughFileDescriptor(headPath))
    }

    /// `ftruncate` while the lines are read (when the first is delivered): the reads past the new end
    /// fault (SIGBUS, which would kill the process) or read the zeros the kernel puts after a file's
    /// end. Either way the lines before the cut come out, the cut line and nothing after it does, and
    /// the reading ends with an error that says the file shrank.
    func testAFileCutShortUnderTheScanEndsWithAnErrorAndOnlyTheLinesBeforeTheCut() throws {
        var bytes: [UInt8] = []
        for k in 0..<60_000 { bytes += Array(String(format: "line %06d of the log\n", k).utf8) }  // 23 bytes a line
        let path = try temporaryFile(bytes)
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        // At a page boundary, inside a page, at a line's end, before the second line.
        for newSize in [page * 40, page * 40 + 100, 23 * 30_000, 30] {
            let expected = (0..<max(newSize / 23, 1)).map { String(format: "%d text line %06d of the log", $0 + 1, $0) }
            for window in [page * 8, LineReader.mappedWindow] {
                try Data(bytes).write(to: URL(fileURLWithPath: path))
                let got = try readMapped(path, window: window) { number, fd in
                    if number == 1 { XCTAssertEqual(ftruncate(fd, off_t(newSize)), 0) }
                }
                XCTAssertEqual(got.lines.count, expected.count, "cut at \(newSize), window \(window): \(got.lines.suffix(2))")
                XCTAssertEqual(got.lines, expected, "cut at \(newSize), window \(window)")
                XCTAssertEqual(got.error, "the file shrank while it was read (now \(newSize) bytes); the rest of it is not counted")
            }
        }
        // Cut to nothing before the first read.
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let fd = open(path, O_RDWR)
        defer { close(fd) }
        let file = try XCTUnwrap(MappedFile(fd: fd, minimumBytes: 1))
        XCTAssertEqual(ftruncate(fd, 0), 0)
        var delivered = 0
        XCTAssertThrowsError(try LineReader.forEachLine(mapped: file, firstLine: 1, skipLines: { _, _ in nil }) { _, _ in delivered += 1 })
        XCTAssertEqual(delivered, 0)
    }

    func testSmallFilesAndOtherKindsOfFileAreReadNotMapped() throws {
        let path = try temporaryFile(Array(repeating: 0x0A, count: MappedFile.minimumBytes - 1))
        let fd = open(path, O_RDONLY)
        defer { close(fd) }
        XCTAssertNil(MappedFile(fd: fd), "under the minimum")
        XCTAssertNotNil(MappedFile(fd: fd, minimumBytes: 1))
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        defer { close(fds[0]); close(fds[1]) }
        XCTAssertNil(MappedFile(fd: fds[0], minimumBytes: 1), "a pipe")
    }
}

/// A small seeded generator, so a failing case can be replayed.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
