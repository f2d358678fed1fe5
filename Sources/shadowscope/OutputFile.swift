import Foundation
import Glibc

/// An output stream: stdout for `-`, else a file created readable by its owner only (mode 0600),
/// since outputs name people and what they sent.
final class OutputFile: @unchecked Sendable {  // one writer at a time: each worker has its own
    let path: String
    private let fd: Int32
    private var buffer: [UInt8] = []

    /// `append`: keep what is there (a long-running capture's alerts across restarts).
    init(path: String, append: Bool = false) throws(ConfigurationError) {
        self.path = path
        if path == "-" {
            fd = 1
        } else {
            fd = Glibc.open(path, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC) | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw ConfigurationError(description: "\(path): cannot create output: \(String(cString: strerror(errno)))") }
            // An existing file keeps its mode on O_TRUNC: narrow it, but only a regular file. `--summary
            // /dev/null` run as root made /dev/null 0600, and apt's sandbox could no longer write to it.
            var st = stat()
            if fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG { fchmod(fd, 0o600) }
        }
        buffer.reserveCapacity(1 << 16)
    }

    func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { write($0) }
    }

    /// `bytes` need only be valid during the call.
    func write(_ bytes: UnsafeRawBufferPointer) {
        if bytes.count >= 1 << 16 {
            // A large piece (of a summary of many rows): straight out, not copied through the buffer.
            flush()
            writeAll(bytes)
            return
        }
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 16 { flush() }
    }

    func flush() {
        buffer.withUnsafeBytes { writeAll($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress else { return }
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, base + offset, bytes.count - offset)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }  // a closed pipe (`| head`): stop writing, the scan itself goes on
            offset += n
        }
    }

    /// Flushes and asks the kernel to put the bytes on disk: an alert written is an alert kept.
    func sync() {
        flush()
        if fd != 1 { fsync(fd) }
    }

    func close() {
        flush()
        if fd != 1 { Glibc.close(fd) }
    }
}
