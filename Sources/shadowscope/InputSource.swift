import Foundation
import Glibc
import LogFormats
import PacketDecoding
import ShadowScopeCore

/// One input as the scanner sees it: a name for messages, an open descriptor and the first bytes,
/// already read so the format can be told from content rather than from the file name.
struct InputSource {
    /// Bytes read to sniff the format: enough for several log lines.
    static let sniffBytes = 64 * 1024

    var name: String
    var fd: Int32
    var prefix: [UInt8]
    var isStdin: Bool

    /// What the first bytes say the input is.
    enum Kind: Equatable {
        case capture
        case compressed(String)
        case text
    }

    var kind: Kind {
        if looksLikeCapture(prefix) { return .capture }
        let magics: [(String, [UInt8])] = [
            ("gzip", [0x1F, 0x8B]), ("zstd", [0x28, 0xB5, 0x2F, 0xFD]), ("bzip2", [0x42, 0x5A, 0x68]),
            ("xz", [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]),
        ]
        for (name, magic) in magics where prefix.starts(with: magic) { return .compressed(name) }
        return .text
    }

    static func open(_ path: String) -> Result<InputSource, InputError> {
        let fd: Int32
        if path == "-" {
            fd = 0
        } else {
            fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return .failure(InputError(file: path, reason: String(cString: strerror(errno)))) }
        }
        var prefix = [UInt8](repeating: 0, count: sniffBytes)
        var filled = 0
        while filled < sniffBytes {
            let n = prefix.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, sniffBytes - filled) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 {
                let reason = String(cString: strerror(errno))
                if fd != 0 { Glibc.close(fd) }
                return .failure(InputError(file: path, reason: reason))
            }
            if n == 0 { break }
            filled += n
        }
        prefix.removeSubrange(filled...)
        return .success(InputSource(name: path, fd: fd, prefix: prefix, isStdin: path == "-"))
    }

    func close() {
        if fd != 0 { Glibc.close(fd) }
    }

    /// A libpcap reader over this input. A file is reopened by path; stdin goes through a pipe that a
    /// thread fills with the sniffed bytes and then the rest of stdin.
    func pcapReader() throws(PcapReader.OpenError) -> PcapReader {
        if !isStdin { return try PcapReader(path: name) }
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0, let stream = fdopen(fds[0], "r") else {
            throw PcapReader.OpenError(file: name, reason: "cannot create a pipe: \(String(cString: strerror(errno)))")
        }
        let writeEnd = fds[1]
        let first = prefix
        let thread = Thread {
            var ok = first.withUnsafeBytes { writeAll(writeEnd, $0) }
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            while ok {
                let n = buffer.withUnsafeMutableBytes { read(0, $0.baseAddress!, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                ok = buffer.withUnsafeBytes { writeAll(writeEnd, UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            }
            Glibc.close(writeEnd)
        }
        thread.start()
        return try PcapReader(stream: stream, name: name)
    }
}

private func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
    var offset = 0
    while offset < bytes.count {
        let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return false }
        offset += n
    }
    return true
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
