/// One record in a spool file:
///
/// ```
/// magic "SSR1" (4 bytes) | payload length (UInt32 big endian) | CRC-32 of the payload (UInt32 BE) | payload
/// ```
///
/// The magic lets a reader find the next record after damage; the CRC tells a whole record from a torn
/// or overwritten one. The decoder never trusts the length: it is bounded by `maxPayload` and checked
/// against the bytes present.
public enum SpoolRecord {
    public static let magic: [UInt8] = [0x53, 0x53, 0x52, 0x31]  // "SSR1"
    public static let headerLength = 12
    /// An alert message is a few KiB; a length above this is damage, not a record.
    public static let maxPayload = 1 << 20

    public static func encode(_ payload: some Collection<UInt8>) -> [UInt8] {
        var out = magic
        out.reserveCapacity(headerLength + payload.count)
        appendBigEndian(UInt32(truncatingIfNeeded: payload.count), to: &out)
        appendBigEndian(crc32(payload), to: &out)
        out.append(contentsOf: payload)
        return out
    }

    static func appendBigEndian(_ v: UInt32, to out: inout [UInt8]) {
        out.append(UInt8(truncatingIfNeeded: v >> 24))
        out.append(UInt8(truncatingIfNeeded: v >> 16))
        out.append(UInt8(truncatingIfNeeded: v >> 8))
        out.append(UInt8(truncatingIfNeeded: v))
    }

    /// What the bytes at the front of a buffer hold.
    public enum Decoded: Equatable {
        /// A whole record: the payload, and the record's length in the file.
        case record(ArraySlice<UInt8>, length: Int)
        /// A record that may be whole once more bytes are read (at the end of the file: a torn write).
        case needMoreData
        /// Not a record here (bad magic, length above the limit, CRC mismatch): skip to the next magic.
        case invalid
    }

    public static func decode(_ bytes: ArraySlice<UInt8>) -> Decoded {
        var cursor = ByteCursor(bytes)
        guard let m = cursor.read(count: 4) else {
            return magic.starts(with: bytes) ? .needMoreData : .invalid
        }
        guard m.elementsEqual(magic) else { return .invalid }
        guard let length32 = cursor.readUInt32(), let crc = cursor.readUInt32() else { return .needMoreData }
        guard let length = Int(exactly: length32), length <= maxPayload else { return .invalid }
        guard let payload = cursor.read(count: length) else { return .needMoreData }
        guard crc32(payload) == crc else { return .invalid }
        return .record(payload, length: headerLength + length)
    }

    /// Where the next magic starts at or after `from` (relative to `bytes.startIndex`), or the index
    /// from which a magic might still begin once more bytes arrive.
    public static func nextMagic(in bytes: ArraySlice<UInt8>, from: Int) -> Int {
        var i = bytes.startIndex + from
        while i < bytes.endIndex {
            if bytes[i] == magic[0], magic.starts(with: bytes[i...].prefix(4)) { return i - bytes.startIndex }
            i += 1
        }
        return bytes.count
    }
}

/// Reads big-endian integers and byte runs from a slice; every read returns nil when too few bytes
/// remain and moves only on success.
struct ByteCursor {
    private var rest: ArraySlice<UInt8>

    init(_ bytes: ArraySlice<UInt8>) { rest = bytes }

    mutating func read(count: Int) -> ArraySlice<UInt8>? {
        guard count >= 0, rest.count >= count else { return nil }
        let out = rest.prefix(count)
        rest = rest.dropFirst(count)
        return out
    }

    mutating func readUInt32() -> UInt32? {
        guard let b = read(count: 4) else { return nil }
        return b.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    }
}

/// CRC-32 (IEEE 802.3, the one zlib and gzip use), table-driven.
public func crc32(_ bytes: some Sequence<UInt8>) -> UInt32 {
    var c: UInt32 = 0xFFFF_FFFF
    for b in bytes { c = crcTable[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
    return c ^ 0xFFFF_FFFF
}

private let crcTable: [UInt32] = (UInt32(0)..<256).map { (n: UInt32) -> UInt32 in
    var c = n
    for _ in 0..<8 { c = c & 1 == 1 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
    return c
}
