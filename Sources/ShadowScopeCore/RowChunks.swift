import CPrefetch

/// A growing array kept in fixed-size chunks, for the aggregate table's keys and values. A flat
/// array that doubles copies every row into fresh memory each time it grows, and merging one
/// table into another first copied all of its rows to make room: on this project's VMs most of
/// that time was the kernel handing out and zeroing new pages. Here a row, once written, stays
/// where it is; growing adds a chunk, and a merged table takes the rows it does not have and
/// nothing else.
///
/// A value type: copies share chunks until one of them changes a chunk (which it then copies).
/// Each chunk is its own allocation, so an element's address (`address`) holds while the chunk
/// lives: threads writing the summary read rows through it without retaining anything.
struct RowChunks<Element>: RandomAccessCollection {
    /// 8,192 rows a chunk: a chunk of values is about 1.2 MB, so chunks are few, and a table's
    /// unused part (in its last chunk) is at most that.
    static var shift: Int { 13 }
    static var chunkSize: Int { 1 << shift }

    private var chunks: [Chunk] = []
    private(set) var count = 0

    /// `capacity` elements allocated once, the first `count` of them initialised.
    private final class Chunk {
        let base: UnsafeMutablePointer<Element>
        let capacity: Int
        var count = 0

        init(capacity: Int) {
            base = .allocate(capacity: capacity)
            self.capacity = capacity
        }

        /// A chunk of `capacity` holding copies of this one's elements.
        func copy(capacity: Int) -> Chunk {
            let made = Chunk(capacity: capacity)
            made.base.initialize(from: base, count: count)
            made.count = count
            return made
        }

        deinit {
            base.deinitialize(count: count)
            base.deallocate()
        }
    }

    init() {}

    var startIndex: Int { 0 }
    var endIndex: Int { count }

    subscript(i: Int) -> Element {
        @inline(__always) _read { yield chunks[i >> Self.shift].base[i & (Self.chunkSize - 1)] }
        @inline(__always) _modify {
            let c = i >> Self.shift
            if !isKnownUniquelyReferenced(&chunks[c]) { chunks[c] = chunks[c].copy(capacity: chunks[c].capacity) }
            yield &chunks[c].base[i & (Self.chunkSize - 1)]
        }
    }

    /// Where element `i` is: valid while a value holding its chunk lives and leaves it unchanged.
    @inline(__always)
    func address(_ i: Int) -> UnsafePointer<Element> {
        UnsafePointer(chunks[i >> Self.shift].base + (i & (Self.chunkSize - 1)))
    }

    /// Asks the processor to start loading element `i` (every cache line of it).
    @inline(__always)
    func prefetch(_ i: Int) {
        let element = UnsafeRawPointer(address(i))
        for offset in stride(from: 0, to: MemoryLayout<Element>.size, by: 64) { shadowscope_prefetch(element + offset) }
    }

    @inline(__always)
    mutating func append(_ e: Element) {
        let c = count >> Self.shift
        if c == chunks.count {
            // The first chunk grows as an array does (most tables are small); later ones are made whole.
            chunks.append(Chunk(capacity: chunks.isEmpty ? 16 : Self.chunkSize))
        } else if !isKnownUniquelyReferenced(&chunks[c]) || chunks[c].count == chunks[c].capacity {
            let capacity = chunks[c].count == chunks[c].capacity ? Swift.min(2 * chunks[c].capacity, Self.chunkSize) : chunks[c].capacity
            chunks[c] = chunks[c].copy(capacity: capacity)
        }
        let chunk = chunks[c]
        (chunk.base + chunk.count).initialize(to: e)
        chunk.count += 1
        count += 1
    }
}

// Copies never share a chunk they change (each copies it first), and a chunk is only read by
// several threads while no value changes it.
extension RowChunks: @unchecked Sendable where Element: Sendable {}
