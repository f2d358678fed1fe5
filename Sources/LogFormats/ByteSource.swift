import Glibc

/// A stream of bytes: a file, standard input, or a decompressor over another source.
public protocol ByteSource {
    /// Fills the start of `buffer`; returns how many bytes, 0 at the end. Throws when the bytes
    /// cannot be read or decoded (the caller counts that input as partly unreadable).
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(ByteSourceError) -> Int
    /// Oddities met so far that did not stop the reading (bytes after the last gzip member, ...).
    var warnings: [SourceWarning] { get }
}

extension ByteSource {
    public var warnings: [SourceWarning] { [] }
}

/// An oddity a byte source met and read past, for the summary's anomalies: a stable name and what happened.
public struct SourceWarning: Sendable, Equatable, CustomStringConvertible {
    public var name: String
    public var detail: String
    public init(_ name: String, _ detail: String) {
        self.name = name
        self.detail = detail
    }
    public var description: String { "\(name): \(detail)" }
}

public struct ByteSourceError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// An open file descriptor.
public struct FileDescriptorSource: ByteSource {
    let fd: Int32

    public init(fd: Int32) { self.fd = fd }

    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(ByteSourceError) -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        while true {
            let n = Glibc.read(fd, base, buffer.count)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw ByteSourceError(String(cString: strerror(errno)))
        }
    }
}

/// Bytes `start..<end` of an open file, read with pread (several can share one descriptor).
public struct FileRangeSource: ByteSource {
    let fd: Int32
    var offset: Int
    let end: Int

    public init(fd: Int32, start: Int, end: Int) {
        self.fd = fd
        self.offset = start
        self.end = end
    }

    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(ByteSourceError) -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0, offset < end else { return 0 }
        while true {
            let n = pread(fd, base, min(buffer.count, end - offset), off_t(offset))
            if n >= 0 {
                offset += n
                return n
            }
            if errno == EINTR { continue }
            throw ByteSourceError(String(cString: strerror(errno)))
        }
    }
}

/// The compression a stream's first bytes announce (by magic number, never by file name).
public enum Compression: String, Sendable {
    case gzip, zstd, bzip2, xz

    public init?(magic prefix: some Collection<UInt8>) {
        let p = Array(prefix.prefix(6))
        if p.starts(with: [0x1F, 0x8B]) { self = .gzip }
        else if p.starts(with: [0x28, 0xB5, 0x2F, 0xFD]) { self = .zstd }
        else if p.starts(with: [0x42, 0x5A, 0x68]) { self = .bzip2 }
        else if p.starts(with: [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) { self = .xz }
        else { return nil }
    }

    /// A decompressing source over `inner`.
    public func source(over inner: any ByteSource) -> any ByteSource {
        switch self {
        case .gzip: return GzipSource(inner)
        case .zstd: return ZstdSource(inner)
        case .bzip2: return Bzip2Source(inner)
        case .xz: return XzSource(inner)
        }
    }
}

/// Limits every decompressor shares.
public enum DecompressionLimits {
    /// Output above this many times the input (after the first 64 MiB) is treated as a bomb: real
    /// logs compress 5-20x; a crafted stream of zeros reaches 1000x and more.
    public static let maxExpansionRatio = 1000
    static let ratioCheckAfter = 64 << 20
    static let inputChunk = 1 << 20

    static func checkRatio(input: Int, output: Int, format: String) throws(ByteSourceError) {
        if output > ratioCheckAfter && output / max(input, 1) > maxExpansionRatio {
            throw ByteSourceError("\(format): decompression bomb: \(output) bytes out of \(input) (over \(maxExpansionRatio)x), stopped")
        }
    }
}

/// Compressed input held for a decoder: refilled from the inner source in 1 MiB reads.
struct InputBuffer {
    var inner: any ByteSource
    var bytes: UnsafeMutableRawBufferPointer
    var start = 0
    var end = 0
    var ended = false
    var total = 0

    init(_ inner: any ByteSource) {
        self.inner = inner
        bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: DecompressionLimits.inputChunk, alignment: 16)
    }

    func free() { bytes.deallocate() }

    var available: Int { end - start }

    /// Reads more when empty; false at the end of the inner source.
    mutating func refillIfEmpty() throws(ByteSourceError) -> Bool {
        if start < end { return true }
        if ended { return false }
        start = 0
        end = try inner.read(into: bytes)
        total += end
        if end == 0 { ended = true }
        return end > 0
    }
}

/// Bytes already taken from a source (to sniff its format), then the rest of that source.
public struct PrefixedSource: ByteSource {
    private var prefix: [UInt8]
    private var offset = 0
    private var inner: any ByteSource

    public init(prefix: [UInt8], inner: any ByteSource) {
        self.prefix = prefix
        self.inner = inner
    }

    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(ByteSourceError) -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        if offset < prefix.count {
            let n = min(buffer.count, prefix.count - offset)
            prefix.withUnsafeBytes { base.copyMemory(from: $0.baseAddress! + offset, byteCount: n) }
            offset += n
            return n
        }
        return try inner.read(into: buffer)
    }

    public var warnings: [SourceWarning] { inner.warnings }
}

/// Reads up to `count` bytes (fewer only at the end of the source).
public func readPrefix(_ source: inout some ByteSource, count: Int) throws(ByteSourceError) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: count)
    var filled = 0
    while filled < count {
        let start = filled
        let result = out.withUnsafeMutableBytes { raw in
            Result { () throws(ByteSourceError) in try source.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[start...])) }
        }
        let n = try result.get()
        if n == 0 { break }
        filled += n
    }
    out.removeSubrange(filled...)
    return out
}
