import CPrefetch

/// A growing array kept in fixed-size chunks, for the aggregate table's keys and values. A flat
/// array that doubles copies every row into fresh memory each time it grows, and merging one
/// table into another first copied all of its rows to make room: on this project's VMs most of
/// that time was the kernel handing out and zeroing new pages. Here a row, once written, stays
/// where it is; growing adds a chunk, and a merged table takes the rows it does not have and
/// nothing else.
struct RowChunks<Element>: RandomAccessCollection {
    /// 8,192 rows a chunk: a chunk of values is about 1.2 MB, so chunks are few, and a table's
    /// unused part (in its last chunk) is at most that.
    static var shift: Int { 13 }
    static var chunkSize: Int { 1 << shift }

    private var chunks: [[Element]] = []
    private(set) var count = 0

    init() {}

    var startIndex: Int { 0 }
    var endIndex: Int { count }

    subscript(i: Int) -> Element {
        @inline(__always) _read { yield chunks[i >> Self.shift][i & (Self.chunkSize - 1)] }
        @inline(__always) _modify { yield &chunks[i >> Self.shift][i & (Self.chunkSize - 1)] }
    }

    /// Asks the processor to start loading element `i` (every cache line of it).
    @inline(__always)
    func prefetch(_ i: Int) {
        chunks[i >> Self.shift].withUnsafeBufferPointer { chunk in
            let element = UnsafeRawPointer(chunk.baseAddress! + (i & (Self.chunkSize - 1)))
            for offset in stride(from: 0, to: MemoryLayout<Element>.size, by: 64) { shadowscope_prefetch(element + offset) }
        }
    }

    @inline(__always)
    mutating func append(_ e: Element) {
        if count & (Self.chunkSize - 1) == 0 { addChunk() }
        chunks[chunks.count - 1].append(e)
        count += 1
    }

    /// The first chunk grows as an array does (most tables are small); later ones are made whole.
    private mutating func addChunk() {
        var chunk: [Element] = []
        if !chunks.isEmpty { chunk.reserveCapacity(Self.chunkSize) }
        chunks.append(chunk)
    }
}

extension RowChunks: Sendable where Element: Sendable {}
