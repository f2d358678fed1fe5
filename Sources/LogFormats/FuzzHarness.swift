import ShadowScopeCore

/// The fuzz harnesses for log reading, one function per libFuzzer target of `Fuzz/` (issue 9), public
/// so that the fuzz targets and the regression tests run the same code. Each takes arbitrary bytes and
/// must return without trapping.
public enum LogFuzzHarness {
    public static let targets: [String: @Sendable (UnsafeRawBufferPointer) -> Void] = [
        "FuzzLogs": logs, "FuzzDecompress": decompress,
    ]

    /// A byte source over a copy of some bytes that returns at most `chunk` bytes per read.
    struct ChunkedMemorySource: ByteSource {
        let bytes: [UInt8]
        var offset = 0
        let chunk: Int
        mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(ByteSourceError) -> Int {
            let n = min(chunk, buffer.count, bytes.count - offset)
            guard n > 0, let dst = buffer.baseAddress else { return 0 }
            bytes.withUnsafeBytes { src in dst.copyMemory(from: src.baseAddress! + offset, byteCount: n) }
            offset += n
            return n
        }
    }

    /// Every sniffable format and Squid's built-in and a long custom logformat.
    static let formats: [any LogFormat] = {
        var all = allLogFormats
        for name in ["squid", "common", "combined", "referrer", "useragent"] {
            if let f = try? SquidCustom(logformat: name) { all.append(f) }
        }
        if let f = try? SquidCustom(logformat: "%ts.%03tu %6tr %>a %Ss/%03>Hs %<st %rm %ru %[un %Sh/%<a %mt %>st %{Host}>h") {
            all.append(f)
        }
        return all
    }()

    /// The first byte picks a format; the rest is read through LineReader in chunks of a size taken
    /// from the second byte, and every line goes to that format's parser. The sniffer sees the same bytes.
    /// When the second byte is odd the scanner also drops hosts outside a stand-in catalog (hosts whose
    /// length is a multiple of three), the quick path `scan` takes: `quickHost` and the bulk counter.
    @Sendable public static func logs(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= 2 else { return }
        let format = formats[Int(bytes[0]) % formats.count]
        let text = UnsafeRawBufferPointer(rebasing: bytes[2...])
        _ = detectLogFormat(sample: text)
        var source = ChunkedMemorySource(bytes: Array(text), chunk: Int(bytes[1]) + 1)
        var report = InputReport(file: "fuzz", format: format.name)
        let relevant: ((UnsafeRawBufferPointer) -> Bool)? = bytes[1] & 1 == 1 ? { $0.count % 3 == 0 } : nil
        LogScanner(format: format, isRelevant: relevant).scan(source: &source, file: "fuzz", report: &report) { o in _ = o.host }
    }

    /// The input goes to the decompressor its magic names (gzip, zstd, bzip2, xz; without a known magic
    /// the first byte picks one), drained and dropped. Stops at 16 MiB of output: more says nothing new
    /// about the decoders and costs fuzzing time; the expansion limit (past 64 MiB) is tested in the
    /// unit tests.
    @Sendable public static func decompress(_ bytes: UnsafeRawBufferPointer) {
        guard let first = bytes.first else { return }
        let kinds: [Compression] = [.gzip, .zstd, .bzip2, .xz]
        let kind = Compression(magic: bytes) ?? kinds[Int(first) % kinds.count]
        var source = kind.source(over: ChunkedMemorySource(bytes: Array(bytes), chunk: 4096))
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
        defer { out.deallocate() }
        var total = 0
        while total < 16 << 20 {
            guard let n = try? source.read(into: out), n > 0 else { break }
            total += n
        }
    }
}
