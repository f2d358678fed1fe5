import ShadowScopeCore

/// VXLAN (RFC 7348 §5): an 8-byte header on UDP port 4789, then the inner Ethernet frame.
enum VXLAN {
    static let port: UInt16 = 4789
    static let headerLength = 8

    static let truncated = DecodeError.Code("vxlan.truncated")
    static let badFlags = DecodeError.Code("vxlan.bad-flags")

    /// The inner frame's network payload. `payload` is the UDP payload; `origin` its offset in the frame.
    static func decode(_ payload: UnsafeRawBufferPointer, origin: Int) throws(DecodeError) -> NetworkPayload {
        var c = ByteCursor(payload, origin: origin)
        guard let flags = c.readU8(), c.skip(headerLength - 1) else { throw DecodeError(truncated, at: c.position, "VXLAN header") }
        // The I flag says the VNI is valid; RFC 7348 requires it set.
        guard flags & 0x08 != 0 else { throw DecodeError(badFlags, at: origin, "flags 0x\(String(flags, radix: 16)) without I") }
        return try LinkLayer.decode(c.rest, linkType: .ethernet, origin: c.position)
    }
}
