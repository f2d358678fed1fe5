import ShadowScopeCore
#if arch(x86_64)
import _Builtin_intrinsics.intel
#endif

/// Which of 64 bytes are line feeds, separators (space or LF) or the control bytes a text line must
/// not hold unexamined (tab, CR, NUL and the other bytes below CR but LF), as bit masks: bit i is
/// byte i. Log scanners walk these masks a field or a line at a time instead of testing every byte.
struct ByteClasses {
    var newline: UInt64
    /// A space or a line feed: what ends a field.
    var separator: UInt64
    /// A byte below 0x0E other than LF: tab, CR, NUL, and rarer controls (which a line-by-line parse
    /// then examines too).
    var control: UInt64

    /// The classes of the 64 bytes at `p` (all of which must be readable).
    @inline(__always) init(_ p: UnsafeRawPointer) {
        #if arch(x86_64)
        // SSE2, which every x86-64 has: sixteen bytes compared per instruction.
        // A byte is at most CR when the unsigned maximum of it and CR is CR: one compare for all controls,
        // gathered for the block and made a mask only when there is one (most blocks have none).
        let lf = _mm_set1_epi8(0x0A), sp = _mm_set1_epi8(0x20), cr = _mm_set1_epi8(0x0D)
        var n: UInt64 = 0, s: UInt64 = 0
        var anyControl = _mm_setzero_si128()
        for k in 0..<4 {
            let v = _mm_loadu_si128((p + 16 * k).assumingMemoryBound(to: __m128i.self))
            let newlines = _mm_cmpeq_epi8(v, lf)
            n |= UInt64(UInt16(truncatingIfNeeded: _mm_movemask_epi8(newlines))) << (16 * k)
            s |= UInt64(UInt16(truncatingIfNeeded: _mm_movemask_epi8(_mm_or_si128(newlines, _mm_cmpeq_epi8(v, sp))))) << (16 * k)
            anyControl = _mm_or_si128(anyControl, _mm_andnot_si128(newlines, _mm_cmpeq_epi8(_mm_max_epu8(v, cr), cr)))
        }
        newline = n; separator = s
        control = _mm_movemask_epi8(anyControl) == 0 ? 0 : Self(portable: p).control
        #else
        self.init(portable: p)
        #endif
    }

    /// The same, eight bytes at a time with word arithmetic, for CPUs without SSE2 (and tested on all).
    @inline(__always) init(portable p: UnsafeRawPointer) {
        // A byte equal to b is a zero byte of (word ^ b repeated).
        var n: UInt64 = 0, s: UInt64 = 0, c: UInt64 = 0
        for k in 0..<8 {
            let w = UInt64(littleEndian: (p + 8 * k).loadUnaligned(as: UInt64.self))
            let newlines = zeroByteHighBits(w ^ 0x0A0A_0A0A_0A0A_0A0A)
            n |= Self.gather(newlines) << (8 * k)
            s |= Self.gather(newlines | zeroByteHighBits(w ^ 0x2020_2020_2020_2020)) << (8 * k)
            // Bytes below 0x0E, exactly (no carry crosses bytes: the low seven bits plus 0x72 stay below
            // 0x100, reaching 0x80 when they are at least 0x0E); LF then removed.
            let below = ~(((w & 0x7F7F_7F7F_7F7F_7F7F) &+ 0x7272_7272_7272_7272) | w) & 0x8080_8080_8080_8080
            c |= Self.gather(below & ~newlines) << (8 * k)
        }
        newline = n; separator = s; control = c
    }

    /// Eight per-byte high bits → eight adjacent bits (byte i's → bit i).
    @inline(__always) static func gather(_ highBits: UInt64) -> UInt64 {
        ((highBits >> 7) &* 0x0102_0408_1020_4080) >> 56
    }
}

/// The first byte of `base[from..<to]` that ends a URL's host or makes it unusual (`/ : ? # @ [`),
/// or `to`. `readable` is how many bytes from `base` may be read: sixteen are compared at a time
/// while that many remain readable.
@inline(__always)
func firstHostDelimiter(_ base: UnsafeRawPointer, from: Int, to: Int, readable: Int) -> Int {
    var k = from
    #if arch(x86_64)
    let slash = _mm_set1_epi8(0x2F), colon = _mm_set1_epi8(0x3A), question = _mm_set1_epi8(0x3F)
    let hash = _mm_set1_epi8(0x23), at = _mm_set1_epi8(0x40), bracket = _mm_set1_epi8(0x5B)
    while k < to && k &+ 16 <= readable {
        let v = _mm_loadu_si128((base + k).assumingMemoryBound(to: __m128i.self))
        let hits = _mm_or_si128(_mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, slash), _mm_cmpeq_epi8(v, colon)),
                                             _mm_or_si128(_mm_cmpeq_epi8(v, question), _mm_cmpeq_epi8(v, hash))),
                                _mm_or_si128(_mm_cmpeq_epi8(v, at), _mm_cmpeq_epi8(v, bracket)))
        let mask = UInt32(truncatingIfNeeded: _mm_movemask_epi8(hits))
        if mask != 0 { return min(k &+ mask.trailingZeroBitCount, to) }
        k &+= 16
    }
    #endif
    while k < to {
        switch base.load(fromByteOffset: k, as: UInt8.self) {
        case 0x2F, 0x3A, 0x3F, 0x23, 0x40, 0x5B: return k
        default: k &+= 1
        }
    }
    return to
}

/// How many LF bytes `base[0..<count]` holds. Sixteen bytes per compare; the per-byte counts (a
/// compare's 0xFF is -1) are summed in bytes for up to 255 rounds, then widened: no branch per line.
public func countNewlines(_ base: UnsafeRawPointer, _ count: Int) -> Int {
    var total = 0
    var k = 0
    #if arch(x86_64)
    let lf = _mm_set1_epi8(0x0A), zero = _mm_setzero_si128()
    while count &- k >= 16 {
        var sums = _mm_setzero_si128()
        var rounds = 0
        while rounds < 255 && count &- k >= 16 {
            let v = _mm_loadu_si128((base + k).assumingMemoryBound(to: __m128i.self))
            sums = _mm_sub_epi8(sums, _mm_cmpeq_epi8(v, lf))
            k &+= 16
            rounds &+= 1
        }
        // Sum the sixteen byte counts: two 64-bit halves of sums of absolute differences from zero.
        let wide = _mm_sad_epu8(sums, zero)
        total &+= Int(_mm_cvtsi128_si64(wide)) &+ Int(_mm_cvtsi128_si64(_mm_unpackhi_epi64(wide, wide)))
    }
    #endif
    while k < count {
        if base.load(fromByteOffset: k, as: UInt8.self) == 0x0A { total &+= 1 }
        k &+= 1
    }
    return total
}
