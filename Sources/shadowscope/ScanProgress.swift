import Foundation
import Glibc

/// A progress line on standard error while `scan` reads its inputs (by default when standard error
/// is a terminal): bytes read of the inputs' total size, the rate, and the time left. The bytes are
/// the kernel's count of what this process has read (`rchar` in /proc/self/io, compressed bytes for
/// compressed inputs), so the scanning threads do nothing for it; a few bytes read twice (a
/// capture piped through a decompressor) can only make it run ahead, so it stops at 99% until done.
final class ScanProgress: Sendable {
    /// The inputs' total size; nil when one has none known (stdin, a pipe).
    private let total: Int64?
    private let baseline: Int64
    private let started = DispatchTime.now().uptimeNanoseconds
    private let wake = DispatchSemaphore(value: 0)
    private let exited = DispatchSemaphore(value: 0)
    static let interval = 0.5

    /// Nil when the kernel's count cannot be read (no /proc).
    init?(inputs: [String]) {
        guard let now = Self.bytesRead() else { return nil }
        baseline = now
        var sum: Int64 = 0
        var known = true
        for path in inputs {
            var st = stat()
            if path != "-", stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG { sum += Int64(st.st_size) } else { known = false }
        }
        total = known ? sum : nil
    }

    /// Shows the line now, then every `interval` seconds on a thread of its own until `stop`.
    func start() {
        show()
        let thread = Thread { [self] in
            while wake.wait(timeout: .now() + Self.interval) == .timedOut { show() }
            exited.signal()
        }
        thread.start()
    }

    /// Erases the line once the thread has shown its last: nothing is shown after this returns.
    func stop() {
        wake.signal()
        exited.wait()
        write(2, "\r\u{1B}[K", 4)
    }

    private func show() {
        // Reading /proc/self/io counts too (about 100 bytes a look): under 64 KB shows as nothing yet.
        let counted = max(0, (Self.bytesRead() ?? baseline) - baseline)
        let read = counted < 65_536 ? 0 : counted
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        let text = Self.line(read: read, total: total, seconds: seconds)
        let bytes = Array(("\r\u{1B}[K" + text).utf8)
        _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }

    /// `scanning: 1.2 of 4.0 GB (30%), 1.4 GB/s, about 2 s left`; without a total, bytes and rate.
    static func line(read: Int64, total: Int64?, seconds: Double) -> String {
        let rate = seconds > 0.2 ? Double(read) / seconds : 0
        let rateText = rate > 0 ? ", \(size(rate))/s" : ""
        guard let total, total > 0 else { return "scanning: \(size(Double(read))) read\(rateText)" }
        let shown = min(read, total)
        let percent = min(99, Int(Double(shown) * 100 / Double(total)))
        var text = "scanning: \(size(Double(shown), unitOf: Double(total))) of \(size(Double(total))) (\(percent)%)\(rateText)"
        if rate > 0 {
            let left = Int((Double(total - shown) / rate).rounded(.up))
            text += left < 60 ? ", about \(left) s left" : ", about \(left / 60) min \(left % 60) s left"
        }
        return text
    }

    /// `712 KB`, `1.4 MB`, `23.0 GB`: decimal units, one decimal from MB on. `unitOf` picks the unit
    /// from another size (a count shown in the unit of its total), with the unit left off.
    static func size(_ bytes: Double, unitOf reference: Double? = nil) -> String {
        let units: [(Double, String)] = [(1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "KB")]
        let scale = reference ?? bytes
        for (factor, name) in units where scale >= factor {
            let value = factor >= 1e6 ? String(format: "%.1f", bytes / factor) : String(Int(bytes / factor))
            return reference == nil ? "\(value) \(name)" : value
        }
        return reference == nil ? "\(Int(bytes)) B" : String(Int(bytes))
    }

    /// `rchar` of /proc/self/io: bytes this process has read with read(2) and its kin.
    static func bytesRead() -> Int64? {
        let fd = open("/proc/self/io", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 512)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return nil }
        let text = String(decoding: buffer[..<n], as: UTF8.self)
        for line in text.split(separator: "\n") where line.hasPrefix("rchar:") {
            return Int64(line.dropFirst(6).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }
}
