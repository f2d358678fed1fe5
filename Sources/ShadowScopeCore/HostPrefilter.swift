#if arch(x86_64)
import _Builtin_intrinsics.intel
#endif

/// Turns away, in two word loads and one bit, a host that no catalog name can match: one bit per
/// `lastTwoLabelsKey` of every catalog pattern's last two labels (64 Kbit, 8 KB: stays in cache). Most
/// hosts in a proxy log are not AI services. The log scanner's bulk line counter asks it inline for
/// every line, before any call; `rejects` is exactly the part of `ServiceMatcher.mayMatch` that needs
/// no catalog look-up.
public struct HostPrefilter: @unchecked Sendable {  // the bits are written once, before it is shared
    @usableFromInline let bits: UnsafePointer<UInt64>
    private let owner: Bits

    private final class Bits {
        let words = UnsafeMutablePointer<UInt64>.allocate(capacity: HostPrefilter.words)
        init() { words.initialize(repeating: 0, count: HostPrefilter.words) }
        deinit { words.deallocate() }
    }

    @usableFromInline static let words = 1 << 10

    /// A filter passing exactly the hosts whose last two labels are those of one of `names`.
    public init(names: some Sequence<String>) {
        owner = Bits()
        for name in names {
            let key = Array(name.utf8).withUnsafeBytes { lastTwoLabelsKey($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, $0.count) }
            owner.words[Int(key >> 6)] |= 1 << (key & 63)
        }
        bits = UnsafePointer(owner.words)
    }

    /// True when no catalog name can match `host` (raw bytes, any case): its last two labels are none
    /// of theirs. A host ending in a dot, or empty, is never rejected here (it is normalised first).
    @inlinable @inline(__always)
    public func rejects(_ host: UnsafeRawBufferPointer) -> Bool {
        let n = host.count
        guard n > 0, let base = host.baseAddress, base.load(fromByteOffset: n - 1, as: UInt8.self) != 0x2E else { return false }
        let key = lastTwoLabelsKey(base, n)
        return bits[Int(key >> 6)] & (1 << (key & 63)) == 0
    }

    /// `rejects` for the host `text[start..<end]` of a buffer whose bytes from `text` up to `end` may all
    /// be read: when sixteen of them end at `end`, the key takes one 16-byte load (the log scanner's
    /// bulk counter asks this for every line). Transparent: the optimiser's inliner declines calls in
    /// a function as large as that counter, and the call spilled its registers.
    @_transparent
    public func rejects(_ text: UnsafeRawPointer, from start: Int, to end: Int) -> Bool {
        let n = end &- start
        guard n > 0, text.load(fromByteOffset: end &- 1, as: UInt8.self) != 0x2E else { return false }
        let key = end >= 16 ? lastTwoLabelsKey(windowEndingAt: text + end, count: n) : lastTwoLabelsKey(text + start, n)
        return bits[Int(key >> 6)] & (1 << (key & 63)) == 0
    }
}

/// `lastTwoLabelsKey` of the `n` bytes before `end`, where the sixteen bytes before `end` may be read
/// (bytes before the name's first are loaded and masked off): the window's dots found with one compare.
@inlinable @inline(__always)
public func lastTwoLabelsKey(windowEndingAt end: UnsafeRawPointer, count n: Int) -> UInt64 {
    #if arch(x86_64)
    let window = _mm_loadu_si128((end - 16).assumingMemoryBound(to: __m128i.self))
    let first = n >= 16 ? 0 : 16 &- n  // the window's first byte of the name
    var dots = UInt32(truncatingIfNeeded: _mm_movemask_epi8(_mm_cmpeq_epi8(window, _mm_set1_epi8(0x2E)))) & (0xFFFF << UInt32(first)) & 0xFFFF
    // The bytes after the second dot from the right are kept (all the name's, without one).
    var keepFrom = first
    if dots != 0 {
        dots &= ~(UInt32(1) << UInt32(31 &- dots.leadingZeroBitCount))
        if dots != 0 { keepFrom = 32 &- dots.leadingZeroBitCount }
    }
    let folded = _mm_or_si128(window, _mm_set1_epi8(0x20))
    let low = UInt64(bitPattern: _mm_cvtsi128_si64(folded))
    let high = UInt64(bitPattern: _mm_cvtsi128_si64(_mm_unpackhi_epi64(folded, folded)))
    let a = keepFrom >= 8 ? 0 : low & (~0 << UInt64(8 &* keepFrom))
    let b = keepFrom <= 8 ? high : high & (~0 << UInt64(8 &* (keepFrom &- 8)))  // 0 when the dot is the last byte
    let h = (a &* 0x9E37_79B9_7F4A_7C15 ^ b) &* 0xC2B2_AE3D_27D4_EB4F
    return h >> 48
    #else
    return lastTwoLabelsKey(end - n, n)
    #endif
}

/// A 16-bit hash of a name's last two labels with ASCII letters folded to lower case, from at most
/// its last 16 bytes: the same for a host as for the catalog name it ends in when that name's
/// last two labels are the host's (and for any case of it, so upper case needs no first pass).
/// The last 16 bytes are two words; the bytes up to the second dot from the right are masked off.
@inlinable @inline(__always)
public func lastTwoLabelsKey(_ base: UnsafeRawPointer, _ n: Int) -> UInt64 {
    var w0: UInt64 = 0, w1: UInt64 = 0  // bytes n-16..<n-8 and n-8..<n; missing bytes stay 0
    if n >= 16 {
        w0 = (base + n - 16).loadUnaligned(as: UInt64.self)
        w1 = (base + n - 8).loadUnaligned(as: UInt64.self)
    } else if n >= 8 {
        w0 = base.loadUnaligned(as: UInt64.self) << UInt64(8 * (16 - n))
        w1 = (base + n - 8).loadUnaligned(as: UInt64.self)
    } else if n > 0 {
        withUnsafeMutableBytes(of: &w1) { $0.baseAddress!.advanced(by: 8 - n).copyMemory(from: base, byteCount: n) }
    }
    w0 = UInt64(littleEndian: w0)
    w1 = UInt64(littleEndian: w1)
    let valid0: UInt64 = n >= 16 ? ~0 : (n > 8 ? ~0 << UInt64(8 * (16 - n)) : 0)
    let valid1: UInt64 = n >= 8 ? ~0 : ~0 << UInt64(8 * (8 - n))
    let dots: UInt64 = 0x2E2E_2E2E_2E2E_2E2E
    let d0 = zeroByteHighBits(w0 ^ dots) & valid0, d1 = zeroByteHighBits(w1 ^ dots) & valid1
    var keep0 = valid0, keep1 = valid1
    // The second dot from the right, if the window has one: keep only the bytes after it.
    var second: (word: Int, byte: Int)? = nil
    if d1 != 0 {
        let rest = d1 & ~(UInt64(1) << UInt64(63 - d1.leadingZeroBitCount))
        if rest != 0 { second = (1, (63 - rest.leadingZeroBitCount) / 8) } else if d0 != 0 { second = (0, (63 - d0.leadingZeroBitCount) / 8) }
    } else if d0 != 0 {
        let rest = d0 & ~(UInt64(1) << UInt64(63 - d0.leadingZeroBitCount))
        if rest != 0 { second = (0, (63 - rest.leadingZeroBitCount) / 8) }
    }
    if let (word, byte) = second {
        let above: UInt64 = ~0 << UInt64(8 * (byte + 1))  // 0 when the dot is the word's last byte
        if word == 1 { keep1 &= above; keep0 = 0 } else { keep0 &= above }
    }
    let a = (w0 | 0x2020_2020_2020_2020) & keep0
    let b = (w1 | 0x2020_2020_2020_2020) & keep1
    let h = (a &* 0x9E37_79B9_7F4A_7C15 ^ b) &* 0xC2B2_AE3D_27D4_EB4F
    return h >> 48
}
