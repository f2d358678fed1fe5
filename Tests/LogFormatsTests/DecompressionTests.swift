import Foundation
import ShadowScopeCore
import TestSupport
import XCTest

@testable import LogFormats

/// Compressed inputs made by the real command-line compressors (gzip, zstd, bzip2, xz from Debian).
final class DecompressionTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("decomp-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// Runs a compressor over `input` and returns the path of its output.
    func compress(_ tool: String, _ args: [String], _ input: String, to name: String) throws -> String {
        let out = dir + "/" + name
        let r = try runProgram("/bin/sh", ["-c", "\(tool) \(args.joined(separator: " ")) < '\(input)' > '\(out)'"])
        XCTAssertEqual(r.status, 0, "\(tool): \(r.stderr)")
        return out
    }

    func decompressAll(_ path: String) throws -> (Data, Error?) {
        let fd = open(path, O_RDONLY)
        defer { close(fd) }
        var raw: any ByteSource = FileDescriptorSource(fd: fd)
        let magic = try readPrefix(&raw, count: 8)
        guard let c = Compression(magic: magic) else { throw XCTSkip("no magic") }
        var source = c.source(over: PrefixedSource(prefix: magic, inner: raw))
        var out = Data()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let result = buffer.withUnsafeMutableBytes { b in Result { () throws(ByteSourceError) in try source.read(into: b) } }
            switch result {
            case .success(0): return (out, nil)
            case .success(let n): out.append(contentsOf: buffer[0..<n])
            case .failure(let e): return (out, e)
            }
        }
    }

    func testEachCompressorRoundTripsTheFixtureLog() throws {
        let log = TestPaths.fixture("squid-access.log")
        let original = try Data(contentsOf: URL(fileURLWithPath: log))
        for (tool, args, name, kind) in [("gzip", ["-c"], "a.gz", Compression.gzip), ("zstd", ["-q", "-c"], "a.zst", .zstd),
                                         ("bzip2", ["-c"], "a.bz2", .bzip2), ("xz", ["-c"], "a.xz", .xz)] {
            let path = try compress(tool, args, log, to: name)
            let head = try Data(contentsOf: URL(fileURLWithPath: path)).prefix(8)
            XCTAssertEqual(Compression(magic: head), kind, tool)
            let (data, error) = try decompressAll(path)
            XCTAssertNil(error, tool)
            XCTAssertEqual(data, original, tool)
        }
    }

    func testConcatenatedMembersAreAllRead() throws {
        let log = TestPaths.fixture("squid-access.log")
        let original = try Data(contentsOf: URL(fileURLWithPath: log))
        for (tool, args, name) in [("gzip", ["-c"], "m.gz"), ("zstd", ["-q", "-c"], "m.zst"), ("bzip2", ["-c"], "m.bz2"), ("xz", ["-c"], "m.xz")] {
            let one = try compress(tool, args, log, to: "one-" + name)
            let both = dir + "/" + name
            var data = try Data(contentsOf: URL(fileURLWithPath: one))
            data.append(data)
            try data.write(to: URL(fileURLWithPath: both))
            let (out, error) = try decompressAll(both)
            XCTAssertNil(error, tool)
            XCTAssertEqual(out, original + original, tool)
        }
    }

    func testTruncatedStreamsDeliverWhatTheyHoldThenFail() throws {
        // A file large enough to span several deflate blocks.
        let big = dir + "/big.log"
        let line = try String(contentsOfFile: TestPaths.fixture("squid-access.log"), encoding: .utf8)
        try String(repeating: line, count: 400).write(toFile: big, atomically: true, encoding: .utf8)
        for (tool, args, name) in [("gzip", ["-c"], "t.gz"), ("zstd", ["-q", "-c"], "t.zst"), ("bzip2", ["-c"], "t.bz2"), ("xz", ["-c"], "t.xz")] {
            let whole = try compress(tool, args, big, to: name)
            let data = try Data(contentsOf: URL(fileURLWithPath: whole))
            let cut = dir + "/cut-" + name
            try data.prefix(data.count * 2 / 3).write(to: URL(fileURLWithPath: cut))
            let (out, error) = try decompressAll(cut)
            XCTAssertNotNil(error, tool)
            XCTAssertTrue("\(error!)".contains("truncated") || "\(error!)".contains("corrupt"), "\(tool): \(error!)")
            XCTAssertLessThan(out.count, line.utf8.count * 400, tool)
        }
    }

    func testGzipTrailingGarbageIsIgnoredAndReported() throws {
        let gz = try compress("gzip", ["-c"], TestPaths.fixture("squid-access.log"), to: "g.gz")
        var data = try Data(contentsOf: URL(fileURLWithPath: gz))
        data.append(contentsOf: [0, 0, 0, 0, 0, 0, 0, 0])
        try data.write(to: URL(fileURLWithPath: gz))
        let fd = open(gz, O_RDONLY)
        defer { close(fd) }
        let source = GzipSource(FileDescriptorSource(fd: fd))
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var total = 0
        while let n = try? buffer.withUnsafeMutableBytes({ try source.read(into: $0) }), n > 0 { total += n }
        XCTAssertEqual(total, try Data(contentsOf: URL(fileURLWithPath: TestPaths.fixture("squid-access.log"))).count)
        XCTAssertEqual(source.members, 1)
        XCTAssertEqual(source.warnings, [SourceWarning("gzip.trailing-bytes", "8 byte(s) after member 1 are not a gzip member: ignored")])
    }

    func testCorruptGzipIsAnErrorNotACrash() throws {
        let gz = try compress("gzip", ["-c"], TestPaths.fixture("squid-access.log"), to: "c.gz")
        var data = try Data(contentsOf: URL(fileURLWithPath: gz))
        for i in stride(from: 20, to: data.count - 8, by: 7) { data[i] ^= 0x5A }
        try data.write(to: URL(fileURLWithPath: gz))
        let (_, error) = try decompressAll(gz)
        XCTAssertTrue("\(error.map { "\($0)" } ?? "")".hasPrefix("gzip: member 1 is corrupt"), "\(String(describing: error))")
    }

    func testDecompressionBombIsStopped() throws {
        // 200 MiB of zeros compresses to about 200 KiB: over the 1000x ratio once past 64 MiB.
        let bomb = dir + "/bomb.gz"
        let r = try runProgram("/bin/sh", ["-c", "head -c 209715200 /dev/zero | gzip -c > '\(bomb)'"])
        XCTAssertEqual(r.status, 0)
        let (out, error) = try decompressAll(bomb)
        XCTAssertTrue("\(error.map { "\($0)" } ?? "")".contains("decompression bomb"), "\(String(describing: error))")
        XCTAssertLessThan(out.count, 209_715_200)
    }
}

final class ThreadedSourceTests: XCTestCase {
    /// A source that yields `total` bytes in odd-sized reads, then fails if asked to.
    struct Counting: ByteSource {
        var total: Int
        var produced = 0
        var failAtEnd: Bool
        mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(ByteSourceError) -> Int {
            if produced == total {
                if failAtEnd { throw ByteSourceError("boom after \(total)") }
                return 0
            }
            let n = min(buffer.count, total - produced, 7_777)
            for i in 0..<n { buffer[i] = UInt8(truncatingIfNeeded: produced + i) }
            produced += n
            return n
        }
    }

    func drain(_ source: inout some ByteSource) -> ([UInt8], ByteSourceError?) {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 100_003)
        while true {
            let r = buffer.withUnsafeMutableBytes { b in Result { () throws(ByteSourceError) in try source.read(into: b) } }
            switch r {
            case .success(0): return (out, nil)
            case .success(let n): out += buffer[0..<n]
            case .failure(let e): return (out, e)
            }
        }
    }

    /// More chunks than the source keeps (depth + 1), so every chunk is refilled a few times.
    func testBytesArriveWholeAndInOrderThenTheErrorFollows() {
        let total = 3 * (ThreadedSource.depth + 1) * ThreadedSource.chunkSize + 12_345
        var ok = ThreadedSource(Counting(total: total, failAtEnd: false)) as any ByteSource
        let (bytes, error) = drain(&ok)
        XCTAssertNil(error)
        XCTAssertEqual(bytes.count, total)
        XCTAssertTrue(bytes.enumerated().allSatisfy { $0.element == UInt8(truncatingIfNeeded: $0.offset) })
        var failing = ThreadedSource(Counting(total: total, failAtEnd: true)) as any ByteSource
        let (partial, failure) = drain(&failing)
        XCTAssertEqual(partial.count, total, "everything before the failure is delivered")
        XCTAssertEqual(failure?.description, "boom after \(total)")
    }

    /// A reader that stops after one read (an input abandoned on an error): stop() returns, and the
    /// producer, blocked on a full queue, exits.
    func testStoppingEarlyEndsTheProducer() {
        for _ in 0..<20 {
            let source = ThreadedSource(Counting(total: 20 * ThreadedSource.chunkSize, failAtEnd: false))
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = buffer.withUnsafeMutableBytes { try? source.read(into: $0) }
            XCTAssertEqual(n, 4096)
            source.stop()
        }
    }
}
