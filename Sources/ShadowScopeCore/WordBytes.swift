/// The high bit of each zero byte of `v`, and no other bit: exact, as no carry crosses from one byte
/// to the next. With `v = word ^ (b repeated)` it marks the bytes of `word` equal to `b`; the log
/// scanners and the host matcher test eight bytes at a time with it.
@inlinable @inline(__always)
public func zeroByteHighBits(_ v: UInt64) -> UInt64 {
    ~((v & 0x7F7F_7F7F_7F7F_7F7F) &+ 0x7F7F_7F7F_7F7F_7F7F | v) & 0x8080_8080_8080_8080
}

/// Offset of the first occurrence of `needle` in `line` at or after `from`.
@inlinable
public func find(_ line: UnsafeRawBufferPointer, _ needle: [UInt8], from: Int = 0) -> Int? {
    guard let first = needle.first, needle.count <= line.count else { return nil }
    var i = max(from, 0)
    while i + needle.count <= line.count {
        if line[i] == first {
            var k = 1
            while k < needle.count && line[i + k] == needle[k] { k += 1 }
            if k == needle.count { return i }
        }
        i += 1
    }
    return nil
}
