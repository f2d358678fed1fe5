import Glibc

/// Alerts waiting for the syslog receiver, on disk, so that they survive the receiver being away and
/// shadowscope being restarted.
///
/// A spool directory holds:
/// - `records-G`: append-only `SpoolRecord`s (each with length and CRC-32), generation G;
/// - `state`: `shadowscope-spool/1 generation=G offset=N`, the end of the last acknowledged record,
///   replaced atomically (temporary file, fsync, rename, fsync of the directory);
/// - `lock`: held with `flock` while a shadowscope uses the spool, so two never interleave.
///
/// Appends are one `write` followed by `fsync`. When every record is acknowledged the spool is compacted:
/// `state` moves to generation G+1 offset 0 first, then `records-G` is removed (a crash in between
/// leaves a file that the next open removes). On open, the records after the acknowledged offset are
/// checked: a torn last record (a crash during a write) is cut off and counted; damaged stretches
/// between whole records are skipped and counted; a `state` file that cannot be read, or points past
/// the end, sends everything again (at-least-once) and is reported. Nothing in the files can make it crash.
public final class AlertSpool {
    public let directory: String
    /// What recovery found when the spool was opened.
    public private(set) var damage = SpoolDamage()

    private var generation: UInt64 = 0
    private var acknowledged: UInt64 = 0
    private var fd: Int32 = -1
    private var lockFD: Int32 = -1
    private var size: UInt64 = 0
    /// Offsets and payload lengths of the records after `acknowledged`, in file order.
    private var index: [(offset: UInt64, length: Int)] = []
    private var indexStart = 0

    /// Bytes read at a time while checking the file on open.
    static let scanChunk = 4 << 20
    public static let stateFormat = "shadowscope-spool/1"

    public init(directory: String) throws(SpoolError) {
        self.directory = directory
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw SpoolError(.cannotOpen, directory, "cannot create the spool directory: \(errnoText())")
        }
        lockFD = open(path("lock"), O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lockFD >= 0 else { throw SpoolError(.cannotOpen, path("lock"), "cannot open: \(errnoText())") }
        guard flock(lockFD, LOCK_EX | LOCK_NB) == 0 else {
            let reason = errno == EWOULDBLOCK ? "another shadowscope is using this spool" : errnoText()
            Glibc.close(lockFD)
            throw SpoolError(.inUse, directory, reason)
        }
        do throws(SpoolError) {
            try recover()
        } catch {
            close()
            throw error
        }
    }

    deinit { close() }

    public func close() {
        if fd >= 0 { Glibc.close(fd); fd = -1 }
        if lockFD >= 0 { Glibc.close(lockFD); lockFD = -1 }  // releases the flock
    }

    /// Records appended and not yet acknowledged.
    public var pendingCount: Int { index.count - indexStart }

    /// Appends records (each one RFC 5424 message) and makes them durable before returning. On a failed
    /// write the file is cut back to what it was, so no partial record stays behind.
    public func append(_ payloads: [[UInt8]]) throws(SpoolError) {
        guard !payloads.isEmpty else { return }
        var bytes: [UInt8] = []
        var added: [(offset: UInt64, length: Int)] = []
        for p in payloads {
            guard p.count <= SpoolRecord.maxPayload else {
                throw SpoolError(.recordTooLarge, recordsPath, "a record of \(p.count) bytes is above the limit of \(SpoolRecord.maxPayload)")
            }
            added.append((size + UInt64(bytes.count), p.count))
            bytes += SpoolRecord.encode(p)
        }
        if fd < 0 { try openRecords() }
        let before = size
        let ok = bytes.withUnsafeBytes { buf -> Bool in
            var done = 0
            while done < buf.count {
                guard let base = buf.baseAddress else { return false }
                let n = write(fd, base + done, buf.count - done)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                done += n
            }
            return true
        }
        guard ok, fsync(fd) == 0 else {
            let reason = errnoText()
            _ = ftruncate(fd, off_t(before))
            throw SpoolError(.io, recordsPath, "cannot write to the spool: \(reason)")
        }
        size += UInt64(bytes.count)
        index += added
    }

    /// Up to `limit` records after the acknowledged offset, oldest first, each with the file offset just
    /// past it (what `acknowledge(through:)` takes). A record damaged since the spool was opened is
    /// skipped and counted.
    public func pending(limit: Int) -> [(payload: [UInt8], end: UInt64)] {
        var out: [(payload: [UInt8], end: UInt64)] = []
        var i = indexStart
        while i < index.count && out.count < limit {
            let entry = index[i]
            i += 1
            var record = [UInt8](repeating: 0, count: SpoolRecord.headerLength + entry.length)
            let n = record.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(entry.offset)) }
            guard n == record.count, case .record(let payload, _) = SpoolRecord.decode(record[...]) else {
                damage.skippedRegions += 1
                damage.skippedBytes += record.count
                continue
            }
            out.append((Array(payload), entry.offset + UInt64(record.count)))
        }
        return out
    }

    /// Marks every record ending at or before `end` as delivered; `state` is replaced atomically. When
    /// nothing is left the record file is compacted away.
    public func acknowledge(through end: UInt64) throws(SpoolError) {
        var i = indexStart
        while i < index.count, index[i].offset + UInt64(SpoolRecord.headerLength + index[i].length) <= end { i += 1 }
        guard i > indexStart else { return }
        indexStart = i
        if indexStart == index.count {
            let old = recordsPath
            try writeState(generation: generation + 1, offset: 0)
            generation += 1
            acknowledged = 0
            if fd >= 0 { Glibc.close(fd); fd = -1 }
            unlink(old)
            size = 0
            index = []
            indexStart = 0
        } else {
            let offset = index[indexStart].offset
            try writeState(generation: generation, offset: offset)
            acknowledged = offset
        }
        if indexStart > 4096 && indexStart * 2 > index.count {
            index.removeFirst(indexStart)
            indexStart = 0
        }
    }

    // MARK: - files

    private func path(_ name: String) -> String { directory + "/" + name }
    private var recordsPath: String { path("records-\(generation)") }

    private func openRecords() throws(SpoolError) {
        fd = open(recordsPath, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SpoolError(.cannotOpen, recordsPath, "cannot open: \(errnoText())") }
    }

    private func writeState(generation g: UInt64, offset: UInt64) throws(SpoolError) {
        let tmp = path("state.tmp"), final = path("state")
        let text = Array("\(Self.stateFormat) generation=\(g) offset=\(offset)\n".utf8)
        let t = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard t >= 0 else { throw SpoolError(.io, tmp, "cannot create: \(errnoText())") }
        let n = text.withUnsafeBytes { write(t, $0.baseAddress, $0.count) }
        let synced = n == text.count && fsync(t) == 0
        Glibc.close(t)
        guard synced, rename(tmp, final) == 0 else { throw SpoolError(.io, final, "cannot replace: \(errnoText())") }
        let d = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if d >= 0 { fsync(d); Glibc.close(d) }
    }

    /// Reads `state`; nil when it is missing. Damage (unreadable, wrong format) is reported and nil returned.
    private func readState() -> (generation: UInt64, offset: UInt64)? {
        let f = open(path("state"), O_RDONLY | O_CLOEXEC)
        guard f >= 0 else { return nil }
        defer { Glibc.close(f) }
        var buf = [UInt8](repeating: 0, count: 256)
        let n = buf.withUnsafeMutableBytes { read(f, $0.baseAddress, $0.count) }
        guard n > 0, n < buf.count else { damage.stateFileReset = true; return nil }
        let fields = String(decoding: buf.prefix(n), as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard fields.count == 3, fields[0] == Self.stateFormat,
              fields[1].hasPrefix("generation="), let g = UInt64(fields[1].dropFirst("generation=".count)),
              fields[2].hasPrefix("offset="), let o = UInt64(fields[2].dropFirst("offset=".count))
        else { damage.stateFileReset = true; return nil }
        return (g, o)
    }

    /// Generations of the `records-G` files in the directory.
    private func recordGenerations() -> [UInt64] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var out: [UInt64] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name.hasPrefix("records-"), let g = UInt64(name.dropFirst("records-".count)) { out.append(g) }
        }
        return out.sorted()
    }

    private func recover() throws(SpoolError) {
        let generations = recordGenerations()
        if let state = readState() {
            (generation, acknowledged) = (state.generation, state.offset)
        } else {
            // No state (a new spool) or a damaged one: start at the oldest record file, from its beginning.
            (generation, acknowledged) = (generations.first ?? 0, 0)
        }
        for g in generations where g < generation { unlink(path("records-\(g)")) }  // compacted away
        try openRecords()
        var st = stat()
        guard fstat(fd, &st) == 0, let fileSize = UInt64(exactly: st.st_size) else {
            throw SpoolError(.io, recordsPath, "cannot stat: \(errnoText())")
        }
        size = fileSize
        if acknowledged > size {
            damage.stateFileReset = true
            acknowledged = 0
        }
        // A state that was reset must be replaced now: left as it was, its offset would point into the
        // records appended from here on, and the next open would skip them (found by FuzzSpool).
        if damage.stateFileReset { try writeState(generation: generation, offset: 0) }
        try scan()
    }

    /// Indexes the records after `acknowledged`, skipping damaged stretches and cutting off a torn tail.
    private func scan() throws(SpoolError) {
        var buffer: [UInt8] = []
        var bufferOffset = acknowledged  // file offset of buffer[0]
        var position = 0                 // within buffer
        var atEOF = false
        var lastGoodEnd = acknowledged
        var badStart: UInt64? = nil

        func refill() throws(SpoolError) {
            buffer.removeFirst(position)
            bufferOffset += UInt64(position)
            position = 0
            let old = buffer.count
            // No more than the file holds: a spool of a few records is not read through a 4 MiB buffer.
            let left = size > bufferOffset + UInt64(old) ? size - (bufferOffset + UInt64(old)) : 0
            let want = Int(min(UInt64(Self.scanChunk), left))
            if want == 0 { atEOF = true; return }
            buffer += [UInt8](repeating: 0, count: want)
            let n = buffer.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return -1 }
                return pread(fd, base + old, want, off_t(bufferOffset + UInt64(old)))
            }
            guard n >= 0 else { throw SpoolError(.io, recordsPath, "cannot read: \(errnoText())") }
            buffer.removeLast(want - n)
            if n == 0 { atEOF = true }
        }

        try refill()
        while true {
            let rest = buffer[position...]
            if rest.isEmpty {
                if atEOF { break }
                try refill()
                continue
            }
            switch SpoolRecord.decode(rest) {
            case .record(_, let length):
                let offset = bufferOffset + UInt64(position)
                if let b = badStart {
                    damage.skippedRegions += 1
                    damage.skippedBytes += Int(offset - b)
                    badStart = nil
                }
                index.append((offset, length - SpoolRecord.headerLength))
                position += length
                lastGoodEnd = offset + UInt64(length)
            case .needMoreData where !atEOF:
                try refill()
            case .needMoreData, .invalid:
                // Damage, or (at the end) a record cut short: look for the next record.
                if badStart == nil { badStart = bufferOffset + UInt64(position) }
                // nextMagic also stops at a partial magic at the end of the buffer, so a record that
                // straddles the chunk boundary is decoded after the next refill.
                position += SpoolRecord.nextMagic(in: rest, from: 1)
            }
        }
        if size > lastGoodEnd {
            // No whole record after lastGoodEnd: a torn write. Cut it off so appends start clean.
            damage.tornBytes = Int(size - lastGoodEnd)
            guard ftruncate(fd, off_t(lastGoodEnd)) == 0 else {
                throw SpoolError(.io, recordsPath, "cannot cut off a torn record: \(errnoText())")
            }
            size = lastGoodEnd
        }
    }
}

@available(*, unavailable)
extension AlertSpool: Sendable {}

/// What opening a spool found and repaired.
public struct SpoolDamage: Sendable, Equatable, CustomStringConvertible {
    /// Bytes of an incomplete last record, cut off (a crash during a write).
    public var tornBytes = 0
    /// Damaged stretches between whole records, skipped, and their bytes.
    public var skippedRegions = 0
    public var skippedBytes = 0
    /// `state` could not be read or pointed past the end: every record is sent again.
    public var stateFileReset = false

    public init() {}

    public var isEmpty: Bool { self == SpoolDamage() }

    public var description: String {
        var parts: [String] = []
        if tornBytes > 0 { parts.append("dropped a torn last record (\(tornBytes) bytes)") }
        if skippedRegions > 0 { parts.append("skipped \(skippedRegions) damaged stretch(es) (\(skippedBytes) bytes)") }
        if stateFileReset { parts.append("the state file was unreadable; records are sent again from the start") }
        return parts.joined(separator: "; ")
    }
}

/// A spool that cannot be used; the message names the file.
public struct SpoolError: Error, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable { case cannotOpen, inUse, io, recordTooLarge }
    public var code: Code
    public var path: String
    public var reason: String

    init(_ code: Code, _ path: String, _ reason: String) {
        self.code = code
        self.path = path
        self.reason = reason
    }

    public static func == (a: SpoolError, b: SpoolError) -> Bool { a.code == b.code }

    public var description: String { "\(path): \(reason)" }
}

func errnoText() -> String { String(cString: strerror(errno)) }
