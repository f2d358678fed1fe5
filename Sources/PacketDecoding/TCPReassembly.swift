/// One direction of a TCP stream put back in order, for the bytes a decoder needs (the ClientHello or
/// HTTP head at the start, DNS messages over TCP). Segments may come out of order, overlap, or be
/// retransmitted; bytes past the window are not held. Reassembly only: it never looks at the bytes.
///
/// `base` is the sequence number of `contiguous[0]`. Bytes at or past `contiguous.count` that arrived
/// early wait in `pending` (offsets from `base`) until the gap before them is filled.
struct TCPReassembly {
    /// Most early segments held at once: 1-byte segments must not make a 16 KiB window cost megabytes.
    static let maxPendingSegments = 64

    /// Most bytes held past `base`, in order and out of order together.
    let window: Int
    private(set) var base: UInt32
    /// In-order bytes from `base`.
    private(set) var contiguous: [UInt8] = []
    /// Early segments, sorted by offset; they never reach back into `contiguous`.
    private var pending: [(offset: Int, bytes: [UInt8])] = []
    /// Bytes held in `pending` (overlaps counted twice: the bound is on memory).
    private(set) var pendingBytes = 0

    init(base: UInt32, window: Int) {
        self.base = base
        self.window = window
    }

    /// Bytes this reassembly holds: what the caller charges against a global budget.
    var heldBytes: Int { contiguous.count + pendingBytes }

    /// True while some early bytes wait for a gap to be filled.
    var hasGap: Bool { !pending.isEmpty }

    enum AddResult: Equatable {
        /// `contiguous` grew.
        case grew
        /// Nothing new in order (a retransmission, an early segment now pending, or bytes before `base`).
        case unchanged
        /// Part of the segment lay past the window, or it was one early segment too many, and was not kept.
        case dropped
    }

    /// Takes a segment's payload starting at sequence number `seq`.
    mutating func add(seq: UInt32, _ payload: UnsafeRawBufferPointer) -> AddResult {
        guard !payload.isEmpty else { return .unchanged }
        // Signed distance from base: within ±2 GiB, as TCP's own sequence arithmetic (RFC 9293 §3.4).
        var start = Int(Int32(bitPattern: seq &- base))
        var bytes = payload
        if start < 0 {  // retransmitted or stale bytes before base: keep only what lies past it
            guard bytes.count > -start else { return .unchanged }
            bytes = UnsafeRawBufferPointer(rebasing: bytes[(-start)...])
            start = 0
        }
        var result = AddResult.unchanged
        if start + bytes.count > window {
            result = .dropped
            guard start < window else { return result }
            bytes = UnsafeRawBufferPointer(rebasing: bytes[..<(window - start)])
        }
        let end = start + bytes.count
        let have = contiguous.count
        if start <= have {
            if end > have {
                contiguous.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[(have - start)...]))
                drainPending()
                return .grew
            }
            return result
        }
        // Early bytes: keep them sorted by offset until the gap closes.
        guard pending.count < Self.maxPendingSegments else { return .dropped }
        let index = pending.firstIndex { $0.offset > start } ?? pending.endIndex
        pending.insert((start, Array(bytes)), at: index)
        pendingBytes += bytes.count
        return result
    }

    /// Moves pending segments that now touch the in-order bytes into them.
    private mutating func drainPending() {
        while let first = pending.first, first.offset <= contiguous.count {
            pending.removeFirst()
            pendingBytes -= first.bytes.count
            let end = first.offset + first.bytes.count
            if end > contiguous.count {
                contiguous.append(contentsOf: first.bytes[(contiguous.count - first.offset)...])
            }
        }
    }

    /// Drops `count` bytes from the front; past the end of the in-order bytes it skips ahead (base moves
    /// over bytes not here yet), so a stream decoder can step over a message it will not hold.
    mutating func consume(_ count: Int) {
        guard count > 0 else { return }
        contiguous.removeFirst(min(count, contiguous.count))
        base = base &+ UInt32(truncatingIfNeeded: count)
        var kept: [(offset: Int, bytes: [UInt8])] = []
        pendingBytes = 0
        for p in pending {
            let start = p.offset - count
            guard start + p.bytes.count > 0 else { continue }
            let bytes = start < 0 ? Array(p.bytes[(-start)...]) : p.bytes
            kept.append((max(0, start), bytes))
            pendingBytes += bytes.count
        }
        pending = kept
        drainPending()
    }

    /// Frees everything held.
    mutating func release() {
        contiguous = []
        pending = []
        pendingBytes = 0
    }
}
