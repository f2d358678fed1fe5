/// The payload bytes one direction of a TCP connection carried, from sequence numbers (as Zeek's
/// conn.log `orig_bytes`/`resp_bytes`): the span from the first payload byte to the highest byte seen,
/// so retransmissions count once. 32-bit sequence numbers are unwrapped against a moving anchor,
/// which keeps flows over 4 GiB right as long as segments stay within 1 GiB of each other.
///
/// UDP flows use it as a plain sum of datagram payload bytes (`addDatagram`), so a flow carries one pair.
struct SequenceSpan {
    // The flags sit beside the 32-bit anchor: 32 bytes, not 40 (a flow holds two).
    private var anchor: UInt32 = 0
    private var started = false
    /// A SYN fixed the start: payload begins at ISN + 1 and nothing may lie before it.
    private var fixedStart = false
    private var anchorOffset: Int64 = 0
    private var low: Int64 = 0
    private var high: Int64 = 0

    var bytes: Int64 { high - low }

    /// The sequence number of the first payload byte when a SYN fixed it (ISN + 1), else nil.
    var startSequence: UInt32? { fixedStart ? anchor &- UInt32(truncatingIfNeeded: anchorOffset) : nil }

    /// The next in-order sequence number after everything seen (valid once started).
    var nextSequence: UInt32? { started ? anchor &+ UInt32(truncatingIfNeeded: high - anchorOffset) : nil }

    mutating func syn(_ seq: UInt32) {
        guard !fixedStart else { return }
        if started && bytes > 0 { return }  // payload already counted from a mid-stream start: keep it
        anchor = seq &+ 1
        anchorOffset = 0
        low = 0
        high = 0
        started = true
        fixedStart = true
    }

    /// A UDP datagram of `length` payload bytes: counted as it is, no sequence numbers.
    mutating func addDatagram(_ length: Int64) {
        high += length
    }

    mutating func payload(_ seq: UInt32, length: Int) {
        guard length > 0 else { return }
        if !started {
            anchor = seq
            anchorOffset = 0
            low = 0
            high = 0
            started = true
        }
        var start = anchorOffset + Int64(Int32(bitPattern: seq &- anchor))
        let end = start + Int64(length)
        if fixedStart {
            if end <= 0 { return }  // entirely before the ISN: a stray or keep-alive probe
            start = max(start, 0)
        } else {
            low = min(low, start)
        }
        high = max(high, end)
        if high - anchorOffset > 1 << 30 {
            anchor = anchor &+ UInt32(truncatingIfNeeded: high - anchorOffset)
            anchorOffset = high
        }
    }
}
