import CMapGuard
import Glibc
import Synchronization

/// Bytes `start..<end` of a regular file, mapped into memory so the line reader parses them where
/// the page cache holds them: `read` copied every byte once more (a tenth of a plain log's scan).
/// The pages behind the reader are let go as it moves on (`release(before:)`), so memory stays at a
/// window's worth. A file truncated under the scan reads as zeros past its new end instead of killing
/// the process with SIGBUS (`CMapGuard`), and `shrank` says so.
public final class MappedFile {
    /// Files smaller than this are read: mapping and unmapping cost more than copying them.
    public static let minimumBytes = 1 << 20

    /// Bytes of mapped files the line reader has taken so far, in this process: the kernel's count
    /// of bytes read (`rchar`) does not see them, and progress on a terminal adds them to it.
    public static let bytesTaken = Atomic<Int>(0)

    private let mapping: UnsafeMutableRawPointer
    private let mappingLength: Int
    private let guardSlot: Int32
    private let fd: Int32
    private let end: Int
    /// The mapped bytes of `start..<end`.
    public let bytes: UnsafeRawBufferPointer
    /// How far `release(before:)` has let go, from `bytes`' start (page-aligned in the file).
    private var released = 0
    private let pageOffset: Int
    private let pageSize: Int

    /// Maps `start..<end` of `fd` (nil `end`: to the file's end). Nil when `fd` is not a regular file,
    /// the range is under `minimumBytes`, or the mapping or its guard cannot be set up: read it then.
    /// `fd` must stay open while this lives.
    public init?(fd: Int32, start: Int = 0, end: Int? = nil, minimumBytes: Int = MappedFile.minimumBytes) {
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        let size = Int(st.st_size)
        let end = min(end ?? size, size)
        guard start >= 0, end - start >= max(minimumBytes, 1) else { return nil }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard page > 0 else { return nil }
        let alignedStart = start - start % page
        let length = end - alignedStart
        guard let mapped = mmap(nil, length, PROT_READ, MAP_PRIVATE, fd, off_t(alignedStart)),
              mapped != UnsafeMutableRawPointer(bitPattern: -1) else { return nil }
        let slot = shadowscope_map_guard_add(mapped, length)
        guard slot >= 0 else {
            munmap(mapped, length)
            return nil
        }
        // Read ahead of the reader, and drop pages behind it early.
        madvise(mapped, length, MADV_SEQUENTIAL)
        mapping = mapped
        mappingLength = length
        guardSlot = slot
        self.fd = fd
        self.end = end
        pageOffset = start - alignedStart
        pageSize = page
        bytes = UnsafeRawBufferPointer(start: mapped + pageOffset, count: end - start)
    }

    deinit {
        shadowscope_map_guard_remove(guardSlot)
        munmap(mapping, mappingLength)
    }

    /// Lets go of the pages wholly before `offset` (from `bytes`' start): they are not read again.
    public func release(before offset: Int) {
        let upTo = (pageOffset + offset) / pageSize * pageSize
        guard upTo > released else { return }
        madvise(mapping + released, upTo - released, MADV_DONTNEED)
        released = upTo
    }

    /// Whether the file now ends before the mapped range does: a page past its end was read (and read
    /// as zeros), or it is shorter than when it was mapped.
    public var shrank: Bool {
        if shadowscope_map_guard_faulted(guardSlot) != 0 { return true }
        var st = stat()
        return fstat(fd, &st) == 0 && Int(st.st_size) < end
    }

    /// The file's size now, for the message that says it shrank.
    public var currentSize: Int? {
        var st = stat()
        return fstat(fd, &st) == 0 ? Int(st.st_size) : nil
    }

    /// How many of `bytes` the file still holds (all when its size cannot be told).
    public var bytesLeft: Int {
        guard let size = currentSize else { return bytes.count }
        return min(max(size - (end - bytes.count), 0), bytes.count)
    }
}

/// A mapped file as a byte source. The line reader parses its bytes in place; anything else reads
/// copies of them like any source's.
public struct MappedFileSource: ByteSource {
    public let file: MappedFile
    private var offset = 0

    public init(_ file: MappedFile) { self.file = file }

    /// Maps `start..<end` of `fd` (see `MappedFile.init`); nil when it should be read instead.
    public init?(fd: Int32, start: Int = 0, end: Int? = nil) {
        guard let file = MappedFile(fd: fd, start: start, end: end) else { return nil }
        self.file = file
    }

    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(ByteSourceError) -> Int {
        guard let base = buffer.baseAddress else { return 0 }
        let n = min(buffer.count, file.bytes.count - offset)
        guard n > 0 else { return 0 }
        base.copyMemory(from: file.bytes.baseAddress! + offset, byteCount: n)
        offset += n
        return n
    }
}
