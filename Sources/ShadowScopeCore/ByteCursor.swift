/// The one way untrusted bytes are read: every read checks the bounds and returns nil when too few
/// bytes remain, moving the cursor only on success (as NIO's ByteBuffer does). Big-endian, as on the wire.
///
/// The reads are inlinable: the packet decoders in other modules called each one (DNS names, TLS
/// and QUIC fields), a few percent of a capture scan in calls alone.
public struct ByteCursor {
    public let bytes: UnsafeRawBufferPointer
    /// Where the next read starts (`offset`); moved only by the reads.
    @usableFromInline var next: Int
    /// Offset of this cursor's first byte within the outermost buffer, for error messages.
    public let origin: Int

    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer, origin: Int = 0) {
        self.bytes = bytes
        self.next = 0
        self.origin = origin
    }

    @inlinable public var offset: Int { next }
    @inlinable public var remaining: Int { bytes.count - next }
    @inlinable public var isAtEnd: Bool { next >= bytes.count }
    /// Absolute position, for `DecodeError.offset`.
    @inlinable public var position: Int { origin + next }

    @inlinable @inline(__always)
    public mutating func readU8() -> UInt8? {
        guard remaining >= 1 else { return nil }
        defer { next += 1 }
        return bytes[next]
    }

    @inlinable @inline(__always)
    public mutating func readU16() -> UInt16? {
        guard remaining >= 2 else { return nil }
        defer { next += 2 }
        return UInt16(bytes[next]) << 8 | UInt16(bytes[next + 1])
    }

    @inlinable @inline(__always)
    public mutating func readU24() -> UInt32? {
        guard remaining >= 3 else { return nil }
        defer { next += 3 }
        return UInt32(bytes[next]) << 16 | UInt32(bytes[next + 1]) << 8 | UInt32(bytes[next + 2])
    }

    @inlinable @inline(__always)
    public mutating func readU32() -> UInt32? {
        guard remaining >= 4 else { return nil }
        defer { next += 4 }
        return UInt32(bytes[next]) << 24 | UInt32(bytes[next + 1]) << 16
            | UInt32(bytes[next + 2]) << 8 | UInt32(bytes[next + 3])
    }

    @inlinable @inline(__always)
    public mutating func readU64() -> UInt64? {
        guard remaining >= 8, let hi = readU32(), let lo = readU32() else { return nil }
        return UInt64(hi) << 32 | UInt64(lo)
    }

    /// The next `count` bytes as a view into the same memory.
    @inlinable @inline(__always)
    public mutating func readBytes(_ count: Int) -> UnsafeRawBufferPointer? {
        guard count >= 0, remaining >= count else { return nil }
        defer { next += count }
        return UnsafeRawBufferPointer(rebasing: bytes[next..<next + count])
    }

    /// A cursor over the next `count` bytes (a length-prefixed block), consuming them here.
    @inlinable @inline(__always)
    public mutating func readCursor(_ count: Int) -> ByteCursor? {
        let start = position
        guard let sub = readBytes(count) else { return nil }
        return ByteCursor(sub, origin: start)
    }

    @inlinable @inline(__always)
    public mutating func skip(_ count: Int) -> Bool {
        guard count >= 0, remaining >= count else { return false }
        next += count
        return true
    }

    /// The byte `ahead` positions from the cursor, without moving it.
    @inlinable @inline(__always)
    public func peekU8(ahead: Int = 0) -> UInt8? {
        guard ahead >= 0, remaining > ahead else { return nil }
        return bytes[next + ahead]
    }

    /// Everything not read yet, without moving the cursor.
    @inlinable public var rest: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[next...])
    }
}

/// Why bytes could not be decoded. Equality uses only the code, so tests match on it.
public struct DecodeError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        public init(_ name: String) { self.name = name }
        public var description: String { name }
    }
    public var code: Code
    /// Byte offset in the decoded unit (packet payload, record) where the problem was found.
    public var offset: Int
    public var reason: String
    public var file: String
    public var line: Int

    public init(_ code: Code, at offset: Int, _ reason: String = "", file: String = #fileID, line: Int = #line) {
        self.code = code
        self.offset = offset
        self.reason = reason
        self.file = file
        self.line = line
    }

    public static func == (a: DecodeError, b: DecodeError) -> Bool { a.code == b.code }

    public var description: String {
        reason.isEmpty ? "\(code) at byte \(offset)" : "\(code) at byte \(offset): \(reason)"
    }
}
