import Foundation
import Glibc
import LogFormats
import PacketDecoding
import ShadowScopeCore

/// One input as the scanner sees it: a name for messages, its bytes (decompressed when the first
/// bytes say gzip, zstd, bzip2 or xz) and the first of those bytes, already read so the format is
/// told from the content, never from the file name.
struct InputSource {
    /// Bytes read to sniff the format: enough for several log lines.
    static let sniffBytes = 64 * 1024

    var name: String
    private var fd: Int32
    var compression: Compression?
    /// The first (decompressed) bytes.
    var prefix: [UInt8]
    /// Everything after `prefix`.
    private var rest: any ByteSource
    /// The decompressing thread, stopped before the file it reads is closed.
    private var decompressor: ThreadedSource?

    var isCapture: Bool { looksLikeCapture(prefix) }

    static func open(_ path: String) -> Result<InputSource, InputError> {
        let fd = path == "-" ? 0 : Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(InputError(file: path, reason: String(cString: strerror(errno)))) }
        var raw: any ByteSource = FileDescriptorSource(fd: fd)
        var decompressor: ThreadedSource? = nil
        do {
            var rawPrefix = try readPrefix(&raw, count: 8)
            var compression = Compression(magic: rawPrefix)
            var content: any ByteSource = PrefixedSource(prefix: rawPrefix, inner: raw)
            if let c = compression {
                // Inflate on a thread of its own, a few MB ahead of the parser.
                let threaded = ThreadedSource(c.source(over: content))
                decompressor = threaded
                content = threaded
            }
            let prefix = try readPrefix(&content, count: sniffBytes)
            if compression == nil { rawPrefix = [] } else if prefix.isEmpty { compression = nil }
            return .success(InputSource(name: path, fd: fd, compression: compression, prefix: prefix, rest: content,
                                        decompressor: decompressor))
        } catch {
            decompressor?.stop()
            if fd != 0 { Glibc.close(fd) }
            return .failure(InputError(file: path, reason: error.description))
        }
    }

    func close() {
        decompressor?.stop()
        if fd != 0 { Glibc.close(fd) }
    }

    /// All the (decompressed) bytes, from the first.
    var content: any ByteSource { PrefixedSource(prefix: prefix, inner: rest) }

    /// A libpcap reader over this input. A plain file is reopened by path; stdin and compressed
    /// captures go through a pipe that a thread fills with the bytes.
    func pcapReader() throws(PcapReader.OpenError) -> PcapReader {
        if fd != 0 && compression == nil { return try PcapReader(path: name) }
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0, let stream = fdopen(fds[0], "r") else {
            throw PcapReader.OpenError(file: name, reason: "cannot create a pipe: \(String(cString: strerror(errno)))")
        }
        let writeEnd = fds[1]
        let feeder = PipeFeeder(source: content, fd: writeEnd)
        let thread = Thread { feeder.run() }
        thread.start()
        return try PcapReader(stream: stream, name: name)
    }
}

/// Copies a byte source into a pipe on its own thread (libpcap reads only from a FILE).
private final class PipeFeeder: @unchecked Sendable {
    var source: any ByteSource
    let fd: Int32

    init(source: any ByteSource, fd: Int32) {
        self.source = source
        self.fd = fd
    }

    func run() {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
        defer {
            buffer.deallocate()
            Glibc.close(fd)
        }
        while true {
            // A decompression error ends the stream; libpcap then reports a truncated capture.
            guard let n = try? source.read(into: buffer), n > 0 else { return }
            var offset = 0
            while offset < n {
                let w = write(fd, buffer.baseAddress! + offset, n - offset)
                if w < 0 && errno == EINTR { continue }
                if w <= 0 { return }
                offset += w
            }
        }
    }
}

struct InputError: Error, CustomStringConvertible {
    var file: String
    var reason: String
    var description: String { "\(file): \(reason)" }
}

/// Expands directories (recursively, sorted) into the files they hold; other paths stay as given.
func expandInputs(_ paths: [String]) -> [String] {
    var out: [String] = []
    for p in paths {
        var isDir: ObjCBool = false
        if p != "-", FileManager.default.fileExists(atPath: p, isDirectory: &isDir), isDir.boolValue {
            let files = (FileManager.default.enumerator(atPath: p)?.allObjects as? [String] ?? []).sorted()
            for f in files {
                let full = (p as NSString).appendingPathComponent(f)
                var sub: ObjCBool = false
                if FileManager.default.fileExists(atPath: full, isDirectory: &sub), !sub.boolValue { out.append(full) }
            }
        } else {
            out.append(p)
        }
    }
    return out
}
